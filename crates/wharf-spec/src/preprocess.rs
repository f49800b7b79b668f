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

/// Drops every line whose trimmed text starts with `#`, as ACR's `NewTemplate` does
/// before anything else — even inside YAML block scalars. Like ACR, it splits on
/// `\n` and joins the kept lines with `\n`: a file without a final newline keeps
/// none (so the last line of a block scalar there has no line break), and neither
/// does a file whose last line is a dropped comment. CRLF becomes LF.
pub fn strip_comment_lines(text: &str) -> MappedText {
    let mut out = MappedText::new();
    let mut first = true;
    let mut offset = 0;
    for raw in text.split('\n') {
        let start = offset;
        offset += raw.len() + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().starts_with('#') {
            continue;
        }
        if !first {
            // The line break before this line: the one that ended the previous kept line.
            out.push_generated("\n", Span::new(start.saturating_sub(1), start));
        }
        first = false;
        out.push_copied(line, start);
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

/// The version ACR uses to decide whether aliases are on (acr-builder's
/// `FindVersion`): the first line, anywhere in the file, that (after any leading
/// quotes) starts with `version` at column 0 and whose key, trimmed of spaces and
/// quotes, is `version`. Blank and comment lines are skipped; other lines, `---` and
/// the alias block do not stop the scan. The value is trimmed of spaces, then of
/// every leading and trailing quote character.
pub fn find_version(text: &str) -> Option<VersionLine> {
    for (start, line) in lines(text) {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if !line.trim_start_matches(['\'', '"']).starts_with("version") {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if key.trim().trim_matches(['\'', '"']) != "version" {
            continue;
        }
        let value_start = start + key.len() + 1;
        let lead = value.len() - value.trim_start().len();
        let spaced = value.trim();
        let unquoted = spaced.trim_start_matches(['\'', '"']);
        let quote_before = spaced.len() - unquoted.len();
        let unquoted = unquoted.trim_end_matches(['\'', '"']);
        let begin = value_start + lead + quote_before;
        return Some(VersionLine {
            value: unquoted.to_string(),
            quoted: unquoted.len() != spaced.len(),
            span: Span::new(begin, begin + unquoted.len()),
        });
    }
    None
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
        // ACR's scanner writes every line back with "\n", the last one too.
        target.push_copied(line, start);
        let end = start + line.len();
        target.push_generated("\n", Span::new(end, (start + raw.len()).max(end)));
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
    fn crlf_becomes_lf_and_the_final_newline_is_kept_as_it_is() {
        assert_eq!(strip_comment_lines("a: 1\r\nb: 2").text(), "a: 1\nb: 2");
        assert_eq!(strip_comment_lines("a: 1\nb: 2\n").text(), "a: 1\nb: 2\n");
        // As ACR joins the kept lines: a dropped last comment takes the break before it.
        assert_eq!(strip_comment_lines("a: 1\n# c").text(), "a: 1");
        assert_eq!(strip_comment_lines("a: 1\n# c\n").text(), "a: 1\n");
    }

    #[test]
    fn version_is_found_on_any_line_as_acr_scans_for_it() {
        let v = find_version(" # c\n\nversion  : \"v1.1.0\"  \nsteps:\n");
        assert_eq!(v.as_ref().map(|v| v.value.as_str()), Some("v1.1.0"));
        assert!(aliases_enabled(v.as_ref()));
        assert!(quotes_enable_aliases(v.as_ref()));
        let plain = find_version("version: v1.1.0\n");
        assert!(aliases_enabled(plain.as_ref()) && !quotes_enable_aliases(plain.as_ref()));
        assert!(!quotes_enable_aliases(
            find_version("version: 'v1.0.0'").as_ref()
        ));
        assert_eq!(
            find_version("steps: []\n---\nversion: v1.1.0\n").map(|v| v.value),
            Some("v1.1.0".into())
        );
        assert_eq!(
            find_version("\"version\": \"v1.1.0'\n").map(|v| v.value),
            Some("v1.1.0".into())
        );
        assert_eq!(find_version("versionOfTask: v1.1.0\n"), None);
        assert_eq!(find_version("version\n"), None);
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
