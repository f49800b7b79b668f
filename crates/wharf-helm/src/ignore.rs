//! `.helmignore`: helm's own pattern language (`pkg/ignore`), not gitignore's.
//!
//! One pattern a line; blank lines and lines starting with `#` are skipped;
//! leading and trailing spaces are trimmed. A pattern is a Go `filepath.Match`
//! glob (`*`, `?`, `[a-z]`, `[^a-z]`, `\` escapes; `*` never crosses a `/`).
//! `**` is refused. A trailing `/` matches only directories. A pattern with no
//! `/` is matched against the file's base name, one with a `/` against its whole
//! path from the chart root (a leading `/` is dropped). `!pattern` negates —
//! with helm's semantics, which are not gitignore's: the first rule that decides
//! wins, and a negated rule decides for every path it does *not* match (it
//! ignores them). helm always adds `templates/.?*` (dot files in templates/)
//! after the file's own rules. An ignored directory is skipped whole.

use crate::error::{ChartError, Place};

/// helm's default rule, added after the chart's own.
pub const DEFAULT_RULE: &str = "templates/.?*";

/// The rules of a `.helmignore`, with helm's default rule.
#[derive(Clone, Debug, Default)]
pub struct IgnoreRules {
    patterns: Vec<Pattern>,
}

#[derive(Clone, Debug)]
struct Pattern {
    glob: String,
    negate: bool,
    must_dir: bool,
    kind: MatchKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MatchKind {
    /// Leading `/` or a `/` inside: the whole relative path.
    Path,
    /// No `/`: the base name only.
    BaseName,
}

impl IgnoreRules {
    /// Only helm's default rule.
    pub fn defaults() -> IgnoreRules {
        let mut rules = IgnoreRules::default();
        rules.add_defaults();
        rules
    }

    /// Parses a `.helmignore` (`file` names it in errors) and adds helm's
    /// default rule after its own.
    pub fn parse(file: &str, text: &str) -> Result<IgnoreRules, ChartError> {
        let mut rules = IgnoreRules::default();
        let mut offset = 0;
        for (i, raw_line) in text.split_inclusive('\n').enumerate() {
            let mut line = raw_line.trim_end_matches('\n').trim_end_matches('\r');
            if i == 0 {
                line = line.strip_prefix('\u{feff}').unwrap_or(line);
            }
            if let Err(message) = rules.add(line) {
                let lead = raw_line.len() - raw_line.trim_start().len();
                return Err(ChartError::Ignore {
                    place: Place::at(
                        file,
                        text,
                        offset + lead,
                        offset + raw_line.trim_end().len(),
                    ),
                    message,
                });
            }
            offset += raw_line.len();
        }
        rules.add_defaults();
        Ok(rules)
    }

    fn add_defaults(&mut self) {
        // The default rule is valid.
        let _ = self.add(DEFAULT_RULE);
    }

    fn add(&mut self, rule: &str) -> Result<(), String> {
        let rule = rule.trim();
        if rule.is_empty() || rule.starts_with('#') {
            return Ok(());
        }
        if rule.contains("**") {
            return Err(format!(
                "{rule:?}: double-star (**) syntax is not supported by .helmignore; use a pattern per directory level"
            ));
        }
        if let Err(e) = glob_match(rule, "abc") {
            return Err(format!("{rule:?}: {e}"));
        }
        let mut glob = rule;
        let negate = glob.starts_with('!');
        if negate {
            glob = &glob[1..];
        }
        let must_dir = glob.ends_with('/');
        if must_dir {
            glob = &glob[..glob.len() - 1];
        }
        let kind = if glob.contains('/') {
            MatchKind::Path
        } else {
            MatchKind::BaseName
        };
        let glob = glob.strip_prefix('/').unwrap_or(glob);
        self.patterns.push(Pattern {
            glob: glob.to_string(),
            negate,
            must_dir,
            kind,
        });
        Ok(())
    }

    /// Whether the file or directory at `path` (relative to the chart root, with
    /// `/` separators) is ignored.
    pub fn ignores(&self, path: &str, is_dir: bool) -> bool {
        if path.is_empty() || path == "." || path == "./" {
            return false;
        }
        for p in &self.patterns {
            let matched = || {
                let subject = match p.kind {
                    MatchKind::Path => path,
                    MatchKind::BaseName => base_name(path),
                };
                glob_match(&p.glob, subject).unwrap_or(false)
            };
            if p.negate {
                if p.must_dir && !is_dir {
                    return true;
                }
                if !matched() {
                    return true;
                }
                continue;
            }
            if p.must_dir && !is_dir {
                continue;
            }
            if matched() {
                return true;
            }
        }
        false
    }
}

/// Go's `filepath.Base` for a clean relative path.
fn base_name(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return if path.is_empty() { "." } else { "/" };
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

/// Go's `filepath.Match` on Unix: whether `name` matches the shell pattern
/// `pattern` in full; a malformed pattern is an error, whatever the name.
pub fn glob_match(pattern: &str, name: &str) -> Result<bool, &'static str> {
    let mut pattern = pattern;
    let mut name = name;
    'outer: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing * matches the rest, within one path element.
            return Ok(!name.contains('/'));
        }
        let (t, ok) = match_chunk(chunk, name)?;
        if ok && (t.is_empty() || !pattern.is_empty()) {
            name = t;
            continue;
        }
        if star {
            // Try every split of the name that the star could take, within
            // one path element.
            for (i, c) in name.char_indices() {
                if c == '/' {
                    break;
                }
                let (t, ok) = match_chunk(chunk, &name[i + c.len_utf8()..])?;
                if ok {
                    if pattern.is_empty() && !t.is_empty() {
                        continue;
                    }
                    name = t;
                    continue 'outer;
                }
            }
        }
        // No match: still report a malformed rest of the pattern.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, "")?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Splits off leading stars and the chunk up to the next star outside brackets.
fn scan_chunk(pattern: &str) -> (bool, &str, &str) {
    let stripped = pattern.trim_start_matches('*');
    let star = stripped.len() != pattern.len();
    let b = stripped.as_bytes();
    let mut in_range = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if i + 1 < b.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &stripped[..i], &stripped[i..])
}

const BAD_PATTERN: &str =
    "syntax error in pattern (an unclosed '[', an empty range or a trailing '\\')";

/// Matches `chunk` (no stars) against the start of `s`; the rest of `s` and
/// whether it matched. Scans the whole chunk, so a malformed one is an error.
fn match_chunk<'s>(chunk: &str, s: &'s str) -> Result<(&'s str, bool), &'static str> {
    let mut chunk = chunk;
    let mut s = s;
    let mut failed = false;
    while let Some(c0) = chunk.chars().next() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match c0 {
            '[' => {
                let mut r = '\0';
                if !failed && let Some(c) = s.chars().next() {
                    r = c;
                    s = &s[c.len_utf8()..];
                }
                chunk = &chunk[1..];
                let negated = chunk.starts_with('^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut ranges = 0;
                loop {
                    if chunk.starts_with(']') && ranges > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = get_esc(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if chunk.starts_with('-') {
                        let (h, rest) = get_esc(&chunk[1..])?;
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    ranges += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            '?' => {
                if !failed && let Some(c) = s.chars().next() {
                    if c == '/' {
                        failed = true;
                    }
                    s = &s[c.len_utf8()..];
                }
                chunk = &chunk[1..];
            }
            _ => {
                if c0 == '\\' {
                    chunk = &chunk[1..];
                    if chunk.is_empty() {
                        return Err(BAD_PATTERN);
                    }
                }
                let Some(pc) = chunk.chars().next() else {
                    return Err(BAD_PATTERN);
                };
                if !failed {
                    match s.chars().next() {
                        Some(sc) if sc == pc => s = &s[sc.len_utf8()..],
                        _ => failed = true,
                    }
                }
                chunk = &chunk[pc.len_utf8()..];
            }
        }
    }
    if failed {
        Ok(("", false))
    } else {
        Ok((s, true))
    }
}

/// One possibly escaped character of a bracket range.
fn get_esc(chunk: &str) -> Result<(char, &str), &'static str> {
    if chunk.is_empty() || chunk.starts_with('-') || chunk.starts_with(']') {
        return Err(BAD_PATTERN);
    }
    let chunk = match chunk.strip_prefix('\\') {
        Some("") => return Err(BAD_PATTERN),
        Some(rest) => rest,
        None => chunk,
    };
    let c = chunk.chars().next().ok_or(BAD_PATTERN)?;
    let rest = &chunk[c.len_utf8()..];
    if rest.is_empty() {
        return Err(BAD_PATTERN);
    }
    Ok((c, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        glob_match(p, n).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn go_filepath_match() {
        assert!(m("abc", "abc"));
        assert!(m("*", "abc"));
        assert!(m("*c", "abc"));
        assert!(m("a*", "a"));
        assert!(!m("a*", "ab/c"));
        assert!(m("a*/b", "abc/b"));
        assert!(!m("a*b*c*d*e*/f", "axbxcxdxe/xxx/f"));
        assert!(m("a*b?c*x", "abxbbxdbxebxczzx"));
        assert!(m("ab[c]", "abc"));
        assert!(m("ab[b-d]", "abc"));
        assert!(!m("ab[^c]", "abc"));
        assert!(m("ab[^b-d]", "abe"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a?b", "a/b"));
        assert!(m("[\\]a]", "]"));
        assert!(m("*.txt", "ü.txt"));
        assert!(m("a?c", "aüc"));
        for bad in ["[", "[^", "[a-", "ab[", "a\\", "[]a]", "[-]", "*x["] {
            assert!(glob_match(bad, "abc").is_err(), "{bad} should be malformed");
        }
    }

    #[test]
    fn helm_rules() {
        let rules = IgnoreRules::parse(
            ".helmignore",
            "# comment\n\n*.txt\n/docs/*.md\nsecrets/\nmast/a.txt\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(rules.ignores("a.txt", false));
        assert!(rules.ignores("cargo/a.txt", false));
        assert!(rules.ignores("docs/README.md", false));
        assert!(!rules.ignores("other/docs/README.md", false));
        assert!(rules.ignores("secrets", true));
        assert!(!rules.ignores("secrets", false));
        assert!(!rules.ignores("README.md", false));
        // helm's default rule: dot files in templates/.
        assert!(rules.ignores("templates/.dotfile", false));
        assert!(!rules.ignores("templates/a.yaml", false));
        assert!(!rules.ignores(".", true));
    }

    #[test]
    fn negation_is_helms_not_gitignores() {
        // A negated rule ignores everything it does not match.
        let rules =
            IgnoreRules::parse(".helmignore", "!keep.txt\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(rules.ignores("other.txt", false));
        assert!(!rules.ignores("keep.txt", false));
        // ...and a negated directory rule ignores every file.
        let rules = IgnoreRules::parse(".helmignore", "!dir/\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(rules.ignores("file", false));
    }

    #[test]
    fn bad_lines_are_located() {
        let err = IgnoreRules::parse(".helmignore", "ok\n  **/x\n").err();
        let Some(ChartError::Ignore { place, .. }) = err else {
            panic!("expected an ignore error")
        };
        assert_eq!((place.line, place.column), (2, 3));
        assert!(IgnoreRules::parse(".helmignore", "a[\n").is_err());
    }
}
