//! Tag rules in the manner of docker/metadata-action, as pure functions.
//!
//! A rule is a template: `{{version}}`, `{{major}}.{{minor}}`, `v{{major}}`,
//! `sha-{{sha}}`, `{{branch}}`, `{{date}}-{{run_id}}`, or the word `latest`.
//! Placeholders may be written `{{name}}` (metadata-action's form, for values files
//! or escaped templates) or `{name}` (for use directly in acb.yaml, which is a Go
//! template where `{{version}}` would be an error).

use semver::Version;

/// When to add `latest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Latest {
    /// For a release version (not a pre-release).
    Auto,
    /// Never.
    Never,
}

/// What the rules are applied to.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// The version as written (`v1.2.3`, `1.2.3-rc.1`).
    pub raw: String,
    /// The rules; `None` for the defaults.
    pub rules: Option<Vec<String>>,
    /// Put before every tag but `latest`.
    pub prefix: String,
    /// Put after every tag but `latest`.
    pub suffix: String,
    /// `latest` policy; `None` is auto.
    pub latest: Option<Latest>,
    /// The full commit hash.
    pub commit: String,
    /// The branch.
    pub branch: String,
    /// `Run.Date` (RFC 3339).
    pub date: String,
    /// `Run.ID`.
    pub run_id: String,
    /// The git tag at the commit.
    pub git_tag: String,
    /// Length of `{{sha}}` (default 7).
    pub sha_length: usize,
    /// Also give `0.y.z` a bare `0` tag from a `{{major}}`-only rule.
    pub zero_major: bool,
}

/// The default rules: `X.Y.Z`, `X.Y`, `X` (and `latest`, by the latest policy).
pub const DEFAULT_RULES: [&str; 3] = ["{{version}}", "{{major}}.{{minor}}", "{{major}}"];

/// Parses a version, accepting a leading `v`.
pub fn parse_version(raw: &str) -> Result<Version, String> {
    let trimmed = raw.trim();
    let bare = trimmed
        .strip_prefix('v')
        .or_else(|| trimmed.strip_prefix('V'))
        .unwrap_or(trimmed);
    Version::parse(bare).map_err(|e| {
        format!("version {raw:?} is not a semantic version (X.Y.Z, X.Y.Z-pre, X.Y.Z+build): {e}")
    })
}

/// A piece of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(String),
}

/// Splits a rule into text and placeholders.
fn parse_rule(rule: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = rule;
    while let Some(start) = rest.find(['{', '}']) {
        text.push_str(&rest[..start]);
        let after = &rest[start..];
        if after.starts_with('}') {
            return Err(format!("rule {rule:?} has a `}}` without its `{{`"));
        }
        let (inner, len) = if let Some(body) = after.strip_prefix("{{") {
            let end = body
                .find("}}")
                .ok_or_else(|| format!("rule {rule:?} has a `{{{{` without its `}}}}`"))?;
            (&body[..end], end + 4)
        } else {
            let body = &after[1..];
            let end = body
                .find('}')
                .ok_or_else(|| format!("rule {rule:?} has a `{{` without its `}}`"))?;
            (&body[..end], end + 2)
        };
        let name = inner.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            return Err(format!("rule {rule:?}: {{{inner}}} is not a placeholder"));
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        pieces.push(Piece::Field(name.to_string()));
        rest = &after[len..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// Every placeholder a rule may use.
pub const PLACEHOLDERS: [&str; 12] = [
    "version",
    "raw",
    "major",
    "minor",
    "patch",
    "prerelease",
    "build",
    "sha",
    "branch",
    "tag",
    "date",
    "run_id",
];

/// Makes `text` a valid tag: characters outside `[A-Za-z0-9_.-]` become `-`, a
/// leading `.` or `-` becomes `_`, `+` (build metadata) becomes `_` as Helm does,
/// at most 128 characters.
pub fn sanitise(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| match c {
            '+' => '_',
            c if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') => c,
            _ => '-',
        })
        .collect();
    if out.starts_with(['.', '-']) {
        out.replace_range(..1, "_");
    }
    out.truncate(128);
    out
}

/// The tags for `inputs`, in rule order, without duplicates.
pub fn tags(inputs: &Inputs) -> Result<Vec<String>, String> {
    let version = parse_version(&inputs.raw)?;
    let pre = !version.pre.is_empty();
    let rules: Vec<String> = match &inputs.rules {
        Some(r) if !r.is_empty() => r.clone(),
        _ => DEFAULT_RULES.iter().map(|s| s.to_string()).collect(),
    };
    let sha_len = if inputs.sha_length == 0 {
        7
    } else {
        inputs.sha_length
    };
    let date: String = inputs
        .date
        .chars()
        .take(10)
        .filter(char::is_ascii_digit)
        .collect();
    let mut out: Vec<String> = Vec::new();
    let mut push = |tag: String| {
        if !tag.is_empty() && !out.contains(&tag) {
            out.push(tag);
        }
    };
    let mut wants_latest = inputs.latest.unwrap_or(Latest::Auto) == Latest::Auto;
    for rule in &rules {
        let rule = rule.trim();
        if rule.is_empty() {
            continue;
        }
        if rule == "latest" {
            wants_latest = true;
            continue;
        }
        let pieces = parse_rule(rule)?;
        let fields: Vec<&str> = pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Field(f) => Some(f.as_str()),
                Piece::Text(_) => None,
            })
            .collect();
        if let Some(unknown) = fields.iter().find(|f| !PLACEHOLDERS.contains(f)) {
            return Err(format!(
                "rule {rule:?}: unknown placeholder {unknown:?}; known: {}",
                PLACEHOLDERS.join(", ")
            ));
        }
        let partial = fields
            .iter()
            .any(|f| matches!(*f, "major" | "minor" | "patch"))
            && !fields
                .iter()
                .any(|f| matches!(*f, "version" | "raw" | "prerelease"));
        // A pre-release gets only rules naming its whole version.
        if pre && partial {
            continue;
        }
        // `{{major}}` alone for 0.y.z would be the meaningless tag `0`.
        if version.major == 0
            && !inputs.zero_major
            && fields.contains(&"major")
            && !fields.iter().any(|f| *f != "major")
        {
            continue;
        }
        let mut tag = String::new();
        let mut empty_field = false;
        for piece in &pieces {
            match piece {
                Piece::Text(t) => tag.push_str(t),
                Piece::Field(f) => {
                    let value = match f.as_str() {
                        "version" => version.to_string(),
                        "raw" => inputs.raw.trim().to_string(),
                        "major" => version.major.to_string(),
                        "minor" => version.minor.to_string(),
                        "patch" => version.patch.to_string(),
                        "prerelease" => version.pre.to_string(),
                        "build" => version.build.to_string(),
                        "sha" => inputs.commit.chars().take(sha_len).collect(),
                        "branch" => inputs.branch.clone(),
                        "tag" => inputs.git_tag.clone(),
                        "date" => date.clone(),
                        _ => inputs.run_id.clone(),
                    };
                    empty_field |= value.is_empty();
                    tag.push_str(&value);
                }
            }
        }
        if empty_field {
            // `{{branch}}` outside a branch, `{{sha}}` without a commit: no tag.
            continue;
        }
        push(sanitise(&format!(
            "{}{tag}{}",
            inputs.prefix, inputs.suffix
        )));
    }
    if wants_latest && !pre && inputs.latest != Some(Latest::Never) {
        push("latest".to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(raw: &str, rules: &[&str]) -> Inputs {
        Inputs {
            raw: raw.into(),
            rules: (!rules.is_empty()).then(|| rules.iter().map(|s| s.to_string()).collect()),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            branch: "feature/login".into(),
            date: "2026-11-23T10:04:05Z".into(),
            run_id: "cb12".into(),
            git_tag: "v1.2.3".into(),
            ..Inputs::default()
        }
    }

    #[test]
    fn a_release_gets_version_minor_major_and_latest_by_default() {
        assert_eq!(
            tags(&with("1.2.3", &[])).expect("tags"),
            ["1.2.3", "1.2", "1", "latest"]
        );
        assert_eq!(
            tags(&with("v1.2.3", &[])).expect("tags"),
            ["1.2.3", "1.2", "1", "latest"]
        );
    }

    #[test]
    fn zero_major_versions_get_no_bare_zero() {
        assert_eq!(
            tags(&with("0.4.1", &[])).expect("tags"),
            ["0.4.1", "0.4", "latest"]
        );
        let mut i = with("0.4.1", &[]);
        i.zero_major = true;
        assert_eq!(tags(&i).expect("tags"), ["0.4.1", "0.4", "0", "latest"]);
    }

    #[test]
    fn a_pre_release_gets_only_its_full_version_and_never_latest() {
        assert_eq!(
            tags(&with("2.0.8-beta.67", &[])).expect("tags"),
            ["2.0.8-beta.67"]
        );
        assert_eq!(
            tags(&with(
                "2.0.8-beta.67",
                &["{{version}}", "v{{major}}", "latest"]
            ))
            .expect("tags"),
            ["2.0.8-beta.67"]
        );
    }

    #[test]
    fn single_and_double_braces_mean_the_same() {
        let double =
            tags(&with("1.2.3", &["{{major}}.{{minor}}", "v{{ major }}"])).expect("double");
        let single = tags(&with("1.2.3", &["{major}.{minor}", "v{major}"])).expect("single");
        assert_eq!(double, single);
        assert_eq!(double, ["1.2", "v1", "latest"]);
    }

    #[test]
    fn sha_branch_date_run_and_git_tag_rules() {
        let t = tags(&with(
            "1.2.3",
            &["sha-{sha}", "{branch}", "{date}-{run_id}", "git-{tag}"],
        ))
        .expect("tags");
        assert_eq!(
            t,
            [
                "sha-0123456",
                "feature-login",
                "20261123-cb12",
                "git-v1.2.3",
                "latest"
            ]
        );
        let mut i = with("1.2.3", &["{branch}"]);
        i.branch.clear();
        assert_eq!(
            tags(&i).expect("tags"),
            ["latest"],
            "no branch, no branch tag"
        );
    }

    #[test]
    fn prefix_and_suffix_apply_to_every_tag_but_latest() {
        let mut i = with("1.2.3", &[]);
        i.prefix = "app-".into();
        i.suffix = "-alpine".into();
        assert_eq!(
            tags(&i).expect("tags"),
            [
                "app-1.2.3-alpine",
                "app-1.2-alpine",
                "app-1-alpine",
                "latest"
            ]
        );
    }

    #[test]
    fn latest_can_be_turned_off_and_build_metadata_is_made_a_valid_tag() {
        let mut i = with("1.2.3+build.5", &["{version}"]);
        i.latest = Some(Latest::Never);
        assert_eq!(tags(&i).expect("tags"), ["1.2.3_build.5"]);
    }

    #[test]
    fn bad_rules_and_versions_are_errors_that_say_what_is_wrong() {
        let e = tags(&with("1.2", &[])).expect_err("not semver");
        assert!(e.contains("\"1.2\" is not a semantic version"), "{e}");
        let e = tags(&with("1.2.3", &["{{nope}}"])).expect_err("unknown");
        assert!(e.contains("unknown placeholder \"nope\""), "{e}");
        let e = tags(&with("1.2.3", &["{{version"])).expect_err("unclosed");
        assert!(e.contains("without its"), "{e}");
    }
}
