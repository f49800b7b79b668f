//! A small dotenv parser for `--secret-file`.
//!
//! Accepted syntax, one entry per line:
//!
//! ```text
//! # comment
//! KEY=value                 # unquoted: trimmed, ` #…` starts a comment
//! export KEY=value          # optional `export `
//! KEY = value               # blanks around `=` are fine
//! KEY='literal $value'      # single quotes: taken as is, may span lines
//! KEY="line one\nline two"  # double quotes: \n \r \t \" \\ \$ escapes, may span lines
//! KEY=                      # empty value
//! ```
//!
//! Values are literal: there is no `${VAR}` interpolation. A later entry for
//! the same key replaces an earlier one. Errors carry the 1-based line where
//! the entry starts and never the value.

/// A syntax error in a dotenv file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    /// 1-based line number.
    pub(crate) line: usize,
    /// What is wrong (never the value).
    pub(crate) reason: String,
}

/// Parse dotenv text into `(key, value)` pairs in file order.
pub(crate) fn parse(text: &str) -> Result<Vec<(String, String)>, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut entries = Vec::new();
    let mut next = 0;
    while let Some(raw) = lines.get(next) {
        let line_no = next + 1;
        next += 1;
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |reason: String| ParseError {
            line: line_no,
            reason,
        };
        let line = strip_export(line);
        let Some((key, rest)) = line.split_once('=') else {
            return Err(err("expected KEY=VALUE".to_owned()));
        };
        let key = key.trim_end();
        if let Err(reason) = crate::local::validate_id(key) {
            return Err(err(format!("invalid key: {reason}")));
        }
        let rest = rest.trim_start();
        let value = match rest.chars().next() {
            Some(quote @ ('\'' | '"')) => {
                let kind = if quote == '"' { "double" } else { "single" };
                let Some((value, after)) = take_quoted(&rest[1..], quote, &lines, &mut next) else {
                    return Err(err(format!("unterminated {kind}-quoted value for `{key}`")));
                };
                let after = after.trim_start();
                if !(after.is_empty() || after.starts_with('#')) {
                    return Err(err(format!(
                        "unexpected text after the closing {kind} quote of `{key}`"
                    )));
                }
                value
            }
            _ => unquoted(rest).to_owned(),
        };
        entries.push((key.to_owned(), value));
    }
    Ok(entries)
}

/// Drop a leading `export` keyword followed by blanks.
fn strip_export(line: &str) -> &str {
    match line.strip_prefix("export") {
        Some(rest) if rest.starts_with([' ', '\t']) => rest.trim_start(),
        _ => line,
    }
}

/// An unquoted value: up to an inline comment (`#` after a blank), trimmed.
fn unquoted(rest: &str) -> &str {
    let mut prev_blank = true;
    for (pos, c) in rest.char_indices() {
        if c == '#' && prev_blank {
            return rest[..pos].trim_end();
        }
        prev_blank = c == ' ' || c == '\t';
    }
    rest.trim_end()
}

/// Read a quoted value that starts right after the opening quote, continuing
/// on following lines (advancing `next`) until the closing quote. Returns the
/// value and the text after the closing quote, or `None` at end of input.
fn take_quoted<'a>(
    first: &'a str,
    quote: char,
    lines: &[&'a str],
    next: &mut usize,
) -> Option<(String, &'a str)> {
    let mut value = String::new();
    let mut current = first;
    loop {
        let mut chars = current.char_indices();
        while let Some((pos, c)) = chars.next() {
            if c == quote {
                return Some((value, &current[pos + c.len_utf8()..]));
            }
            if quote == '"' && c == '\\' {
                match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, 'r')) => value.push('\r'),
                    Some((_, 't')) => value.push('\t'),
                    Some((_, e @ ('"' | '\\' | '$'))) => value.push(e),
                    Some((_, other)) => {
                        value.push('\\');
                        value.push(other);
                    }
                    None => value.push('\\'),
                }
                continue;
            }
            value.push(c);
        }
        current = lines.get(*next)?;
        *next += 1;
        value.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Vec<(String, String)> {
        match parse(text) {
            Ok(entries) => entries,
            Err(e) => panic!("parse failed: {e:?}"),
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn plain_comments_blank_and_export() {
        let text =
            "\u{feff}# a comment\n\nA=1\n  export B = two words  \r\nexport\tC=3\nexporter=4\n";
        assert_eq!(
            ok(text),
            pairs(&[
                ("A", "1"),
                ("B", "two words"),
                ("C", "3"),
                ("exporter", "4")
            ])
        );
    }

    #[test]
    fn inline_comments_only_after_blanks() {
        assert_eq!(
            ok("A=abc # note\nB=abc#def\nC=#x\nD=\nE= \t\n"),
            pairs(&[
                ("A", "abc"),
                ("B", "abc#def"),
                ("C", ""),
                ("D", ""),
                ("E", "")
            ])
        );
    }

    #[test]
    fn single_quotes_are_literal() {
        assert_eq!(
            ok("A='a \\n $b # c' # comment\nB=''\nC='x=y'\n"),
            pairs(&[("A", "a \\n $b # c"), ("B", ""), ("C", "x=y")])
        );
    }

    #[test]
    fn double_quotes_have_escapes() {
        assert_eq!(
            ok(r##"A="l1\nl2\t\"q\" \\ \$HOME \x"
B="# not a comment" # comment
"##),
            pairs(&[
                ("A", "l1\nl2\t\"q\" \\ $HOME \\x"),
                ("B", "# not a comment")
            ])
        );
    }

    #[test]
    fn quoted_values_may_span_lines() {
        let text = "KEY=\"-----BEGIN-----\nabc\n-----END-----\"\nNEXT='a\r\nb'\nLAST=1\n";
        assert_eq!(
            ok(text),
            pairs(&[
                ("KEY", "-----BEGIN-----\nabc\n-----END-----"),
                ("NEXT", "a\nb"),
                ("LAST", "1")
            ])
        );
    }

    #[test]
    fn later_entries_come_later() {
        assert_eq!(ok("A=1\nA=2"), pairs(&[("A", "1"), ("A", "2")]));
    }

    #[test]
    fn errors_name_the_line_but_not_the_value() {
        let cases = [
            ("A=1\nhunter2\n", 2, "expected KEY=VALUE"),
            (
                "A=1\n\nB=\"hunter2\n",
                3,
                "unterminated double-quoted value for `B`",
            ),
            ("C='hunter2", 1, "unterminated single-quoted value for `C`"),
            (
                "D=\"x\" hunter2\n",
                1,
                "unexpected text after the closing double quote",
            ),
            ("my key=hunter2\n", 1, "invalid key"),
            ("=hunter2\n", 1, "invalid key"),
        ];
        for (text, line, reason) in cases {
            let Err(e) = parse(text) else {
                panic!("{text:?} should not parse");
            };
            assert_eq!(e.line, line, "{text:?}");
            assert!(e.reason.contains(reason), "{text:?}: {}", e.reason);
            assert!(!e.reason.contains("hunter2"), "{text:?}: {}", e.reason);
        }
    }
}
