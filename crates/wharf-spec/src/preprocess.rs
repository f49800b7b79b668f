//! The line-based passes ACR runs on the raw task text before any YAML parsing:
//! comment-line stripping, version detection and cutting out the `alias:` block.

use crate::source::Span;
use crate::source_map::MappedText;

/// Splits `text` into lines, each with its byte offset and without its line ending.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut offset = 0;
    text.split_inclusive('\n').map(move |raw| {
        let start = offset;
        offset += raw.len();
        let line = raw.strip_suffix('\n').unwrap_or(raw);
        let line = line.strip_suffix('\r').unwrap_or(line);
        (start, line)
    })
}

/// Drops every line whose trimmed text starts with `#`, as ACR does before anything
/// else — even inside YAML block scalars. Lines are re-terminated with `\n` (CRLF
/// becomes LF), and the last line always ends with `\n`, as ACR's line scanner does.
pub fn strip_comment_lines(text: &str) -> MappedText {
    let mut out = MappedText::new();
    for (start, line) in lines(text) {
        if line.trim_start().starts_with('#') {
            continue;
        }
        out.push_copied(line, start);
        let end = start + line.len();
        out.push_generated("\n", Span::new(end, end + usize::from(end < text.len())));
    }
    out
}

/// The `version` found by ACR's line scanner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionLine {
    /// The value, trimmed, with one pair of surrounding quotes removed.
    pub value: String,
    /// Whether the value was written in quotes. Older acr-builder releases compare
    /// the quoted text, which sorts before `v1.1.0`, and leave aliases off.
    pub quoted: bool,
    /// Where the value is.
    pub span: Span,
}

/// The version ACR uses to decide whether aliases are on: the first line that is
/// neither blank nor a comment must be `version: X` at column 0; otherwise there is none.
pub fn find_version(text: &str) -> Option<VersionLine> {
    for (start, line) in lines(text) {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if !line.starts_with("version") {
            return None;
        }
        let (key, value) = line.split_once(':')?;
        if key.trim() != "version" {
            return None;
        }
        let value_start = start + key.len() + 1;
        let lead = value.len() - value.trim_start().len();
        let trimmed = value.trim();
        let unquoted = strip_quotes(trimmed);
        let quote = usize::from(unquoted.len() != trimmed.len());
        let begin = value_start + lead + quote;
        return Some(VersionLine {
            value: unquoted.to_string(),
            quoted: quote == 1,
            span: Span::new(begin, begin + unquoted.len()),
        });
    }
    None
}

fn strip_quotes(s: &str) -> &str {
    for q in ['"', '\''] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return &s[1..s.len() - 1];
        }
    }
    s
}

/// The first version whose files get the alias pass. ACR compares version strings
/// as plain strings, so `V1.1.0` — a valid version, as versions are otherwise
/// compared case-insensitively — leaves aliases off. (Strings that sort after
/// `v1.1.0`, such as `v1.2.0`, would turn them on, but they are not valid versions.)
pub const ALIAS_VERSION: &str = "v1.1.0";

/// Whether ACR turns aliases on for this version string. Quotes are removed first,
/// as current acr-builder does.
pub fn aliases_enabled(version: Option<&VersionLine>) -> bool {
    version.is_some_and(|v| v.value.as_str() >= ALIAS_VERSION)
}

/// Whether only the removal of quotes turns aliases on: older acr-builder releases
/// compare the quoted text (`"v1.1.0"` sorts before `v1.1.0`) and leave them off.
pub fn quotes_enable_aliases(version: Option<&VersionLine>) -> bool {
    version.is_some_and(|v| v.quoted) && aliases_enabled(version)
}

/// The text split into the `alias:` block and everything else.
#[derive(Clone, Debug, Default)]
pub struct AliasSplit {
    /// The `alias:` block (its lines, still YAML), mapped to the input.
    pub alias: MappedText,
    /// Every other line, mapped to the input.
    pub rest: MappedText,
}

/// Cuts out the `alias:` block: it starts at a line matching `^alias\s*:` and ends
/// at the next line that looks like a top-level key (`^[^\s:]+[^:]*:`), as in ACR.
pub fn split_alias_block(text: &str) -> AliasSplit {
    let mut split = AliasSplit::default();
    let mut inside = false;
    for (start, raw) in text.split_inclusive('\n').scan(0, |offset, raw| {
        let start = *offset;
        *offset += raw.len();
        Some((start, raw))
    }) {
        let line = raw.trim_end_matches(['\n', '\r']);
        if !inside && is_alias_key_line(line) {
            inside = true;
        } else if inside && is_top_level_key_line(line) {
            inside = false;
        }
        let target = if inside {
            &mut split.alias
        } else {
            &mut split.rest
        };
        target.push_copied(raw, start);
    }
    split
}

fn is_alias_key_line(line: &str) -> bool {
    line.strip_prefix("alias")
        .is_some_and(|rest| rest.trim_start().starts_with(':'))
}

fn is_top_level_key_line(line: &str) -> bool {
    let Some(first) = line.chars().next() else {
        return false;
    };
    if first.is_whitespace() || first == ':' {
        return false;
    }
    line.contains(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_lines_go_even_inside_block_scalars() {
        let src = "# top\nsteps:\n  - cmd: |\n      # shell comment\n      echo hi # kept\n";
        let out = strip_comment_lines(src);
        assert_eq!(out.text(), "steps:\n  - cmd: |\n      echo hi # kept\n");
        // "echo" maps back to its place in the original.
        let at = out.text().find("echo").unwrap_or_default();
        assert_eq!(out.map_offset(at), src.find("echo").unwrap_or_default());
    }

    #[test]
    fn crlf_becomes_lf_and_last_line_is_terminated() {
        assert_eq!(strip_comment_lines("a: 1\r\nb: 2").text(), "a: 1\nb: 2\n");
    }

    #[test]
    fn version_must_be_the_first_significant_line() {
        let v = find_version(" # c\n\nversion  : \"v1.1.0\"  \nsteps:\n");
        assert_eq!(v.as_ref().map(|v| v.value.as_str()), Some("v1.1.0"));
        assert!(aliases_enabled(v.as_ref()));
        assert!(quotes_enable_aliases(v.as_ref()));
        let plain = find_version("version: v1.1.0\n");
        assert!(aliases_enabled(plain.as_ref()) && !quotes_enable_aliases(plain.as_ref()));
        assert!(!quotes_enable_aliases(
            find_version("version: 'v1.0.0'").as_ref()
        ));
        assert_eq!(find_version("steps: []\nversion: v1.1.0\n"), None);
        assert_eq!(find_version("versionOfTask: v1.1.0\n"), None);
        assert_eq!(find_version("  version: v1.1.0\n"), None);
        assert_eq!(
            find_version("version:foo:bar").map(|v| v.value),
            Some("foo:bar".into())
        );
        assert!(!aliases_enabled(find_version("version: V1.1.0").as_ref()));
        assert!(!aliases_enabled(find_version("version: v1.0.0").as_ref()));
    }

    #[test]
    fn alias_block_ends_at_next_top_level_key() {
        let src = "version: v1.1.0\nalias:\n  values:\n    a: b\nsteps:\n  - cmd: $a\n";
        let split = split_alias_block(src);
        assert_eq!(split.alias.text(), "alias:\n  values:\n    a: b\n");
        assert_eq!(split.rest.text(), "version: v1.1.0\nsteps:\n  - cmd: $a\n");
        let at = split.rest.text().find("$a").unwrap_or_default();
        assert_eq!(
            split.rest.map_offset(at),
            src.find("$a").unwrap_or_default()
        );
    }
}
