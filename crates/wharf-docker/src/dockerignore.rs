//! `.dockerignore`, read and matched as the Docker CLI does (moby `patternmatcher` and
//! buildkit's `dockerignore.ReadAll`): patterns are cleaned like Go's `filepath.Clean`,
//! `*` and `?` stay within one path component, `**` spans any number of them, `!`
//! re-includes, the last matching pattern wins, and a path is excluded when it or one
//! of its parent directories matches.

use regex::Regex;

/// One compiled pattern.
#[derive(Clone, Debug)]
struct Pattern {
    /// The cleaned pattern, without `!`.
    text: String,
    regex: Regex,
    exclusion: bool,
}

/// A set of `.dockerignore` patterns.
#[derive(Clone, Debug, Default)]
pub(crate) struct Matcher {
    patterns: Vec<Pattern>,
}

impl Matcher {
    /// Reads the contents of a `.dockerignore` file.
    pub(crate) fn from_dockerignore(text: &str) -> Result<Matcher, String> {
        Matcher::new(&read_patterns(text))
    }

    /// Compiles patterns (`!` marks exceptions).
    pub(crate) fn new(patterns: &[String]) -> Result<Matcher, String> {
        let mut out = Vec::new();
        for p in patterns {
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            let p = clean(p);
            let (exclusion, text) = match p.strip_prefix('!') {
                Some("") => return Err("illegal exclusion pattern: \"!\"".into()),
                Some(rest) => (true, rest.to_string()),
                None => (false, p),
            };
            let regex = compile(&text)
                .map_err(|e| format!("invalid .dockerignore pattern {text:?}: {e}"))?;
            out.push(Pattern {
                text,
                regex,
                exclusion,
            });
        }
        Ok(Matcher { patterns: out })
    }

    /// Adds a pattern at the end (so it wins over earlier ones).
    pub(crate) fn push(&mut self, pattern: &str) -> Result<(), String> {
        let more = Matcher::new(&[pattern.to_string()])?;
        self.patterns.extend(more.patterns);
        Ok(())
    }

    /// Whether there are no patterns at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `path` (relative, `/`-separated) is excluded: moby's
    /// `MatchesOrParentMatches`.
    pub(crate) fn excludes(&self, path: &str) -> bool {
        let mut matched = false;
        let parent = match path.rfind('/') {
            Some(i) => &path[..i],
            None => ".",
        };
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        for pattern in &self.patterns {
            // An inclusion cannot change an excluded path, nor an exclusion an included one.
            if pattern.exclusion != matched {
                continue;
            }
            let mut hit = pattern.regex.is_match(path);
            if !hit && parent != "." {
                for i in 0..parent_dirs.len() {
                    if pattern.regex.is_match(&parent_dirs[..=i].join("/")) {
                        hit = true;
                        break;
                    }
                }
            }
            if hit {
                matched = !pattern.exclusion;
            }
        }
        matched
    }

    /// Whether an excluded directory must still be walked because an exception may
    /// re-include something inside it (moby's `TarWithOptions`).
    pub(crate) fn must_descend(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        self.patterns
            .iter()
            .any(|p| p.exclusion && format!("{}/", p.text).starts_with(&prefix))
    }
}

/// The patterns of a `.dockerignore` file: comment lines (`#` first) and blank lines
/// dropped, each pattern trimmed and cleaned, a leading `/` removed.
pub(crate) fn read_patterns(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut p = String::new();
        if !pattern.is_empty() {
            p = clean(pattern);
            if p.len() > 1 && p.starts_with('/') {
                p.remove(0);
            }
        }
        out.push(if invert { format!("!{p}") } else { p });
    }
    out
}

/// Go's `filepath.Clean` for `/`-separated paths.
pub(crate) fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// moby's pattern-to-regexp translation.
fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    let mut re = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                // `**/` is treated as `**`.
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    re.push_str(".*");
                } else {
                    re.push_str("(.*/)?");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                re.push('\\');
                re.push(c);
            }
            '\\' => {
                if let Some(&next) = chars.get(i) {
                    i += 1;
                    re.push_str(&regex::escape(&next.to_string()));
                } else {
                    re.push_str("\\\\");
                }
            }
            c => re.push(c),
        }
    }
    re.push('$');
    Regex::new(&re)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(patterns: &[&str]) -> Matcher {
        Matcher::new(&patterns.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn reads_like_the_cli() {
        let p = read_patterns("\u{feff}# comment\n  \n/abs\n ! keep \nsub/../x/\n#x\n");
        assert_eq!(p, ["abs", "!keep", "x"]);
    }

    #[test]
    fn stars_stay_in_one_component() {
        let m = m(&["*.log", "build/*"]);
        assert!(m.excludes("a.log"));
        assert!(!m.excludes("dir/a.log"));
        assert!(m.excludes("build/x"));
        assert!(m.excludes("build/x/y"), "a parent matches");
        assert!(!m.excludes("build"));
    }

    #[test]
    fn double_star_spans_components() {
        let m = m(&["**/*.tmp", "docs/**"]);
        assert!(m.excludes("a.tmp"));
        assert!(m.excludes("a/b/c.tmp"));
        assert!(m.excludes("docs/x/y"));
        assert!(!m.excludes("doc"));
    }

    #[test]
    fn exceptions_and_last_match_wins() {
        let m = m(&["*.md", "!README.md", "README*"]);
        assert!(m.excludes("a.md"));
        assert!(m.excludes("README.md"));
        let m2 = Matcher::new(&["*.md".to_string(), "!README.md".to_string()])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!m2.excludes("README.md"));
    }

    #[test]
    fn directory_exceptions() {
        let m = m(&["vendor", "!vendor/keep"]);
        assert!(m.excludes("vendor"));
        assert!(m.excludes("vendor/other"));
        assert!(!m.excludes("vendor/keep"));
        assert!(m.must_descend("vendor"));
        assert!(!m.must_descend("other"));
    }

    #[test]
    fn question_mark_brackets_and_escapes() {
        let m = m(&["file?.txt", "[ab].c", "lit\\*"]);
        assert!(m.excludes("file1.txt"));
        assert!(!m.excludes("file/.txt"));
        assert!(m.excludes("a.c"));
        assert!(!m.excludes("c.c"));
        assert!(m.excludes("lit*"));
        assert!(!m.excludes("litx"));
        assert!(Matcher::new(&["[".to_string()]).is_err());
        assert!(Matcher::new(&["!".to_string()]).is_err());
    }

    #[test]
    fn go_clean() {
        assert_eq!(clean("a/./b/../c/"), "a/c");
        assert_eq!(clean("../x"), "../x");
        assert_eq!(clean("/../x"), "/x");
        assert_eq!(clean(""), ".");
        assert_eq!(clean("./"), ".");
    }
}
