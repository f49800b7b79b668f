//! The parsers of `acr purge`'s flags: filters (`REPO:TAGREGEX`), their regexes, and
//! `--ago` durations.

use std::collections::BTreeMap;

use super::{BACKTRACK_LIMIT, MAX_AGO_YEARS, PurgeError};

/// Splits `REPO:TAGREGEX` at its one top-level colon (acr's
/// `GetRepositoryAndTagRegex`).
pub fn split_filter(filter: &str) -> Result<(String, String), PurgeError> {
    let fail = |reason: &str| PurgeError::Filter {
        filter: filter.to_string(),
        reason: reason.to_string(),
    };
    let chars: Vec<char> = filter.chars().collect();
    let mut separators = Vec::new();
    let mut i = 0;
    let mut class_depth = 0usize;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => i += 1,
            '[' if class_depth == 0 => {
                class_depth = 1;
                // A `]` first in a class (after an optional `^`) is literal.
                if chars.get(i + 1) == Some(&'^') {
                    i += 1;
                }
                if chars.get(i + 1) == Some(&']') {
                    i += 1;
                }
            }
            '[' if chars.get(i + 1) == Some(&':')
                || (chars.get(i + 1) == Some(&'^') && chars.get(i + 2) == Some(&':')) =>
            {
                // A POSIX class inside a class: up to its `:]`.
                let mut j = i + 2;
                while j + 1 < chars.len() && !(chars[j] == ':' && chars[j + 1] == ']') {
                    j += 1;
                }
                i = j + 1;
            }
            ']' if class_depth > 0 => class_depth = 0,
            '(' if class_depth == 0 && chars.get(i + 1) == Some(&'?') => {
                // `(?flags:` — its colon belongs to the group.
                let mut j = i + 2;
                while j < chars.len() && matches!(chars[j], 'i' | 'm' | 's' | 'U' | 'x' | '-') {
                    j += 1;
                }
                if chars.get(j) == Some(&':') {
                    i = j;
                }
            }
            ':' if class_depth == 0 => separators.push(i),
            _ => {}
        }
        i += 1;
    }
    match separators.as_slice() {
        [at] => {
            let repo: String = chars[..*at].iter().collect();
            let tag: String = chars[at + 1..].iter().collect();
            if repo.is_empty() {
                return Err(fail("missing repository name/expression"));
            }
            if tag.is_empty() {
                return Err(fail("missing tag name/expression"));
            }
            Ok((repo, tag))
        }
        _ => Err(fail(
            "unable to correctly parse filter flag: write REPOSITORY:TAG_REGEX (one ':' outside groups and classes)",
        )),
    }
}

/// A compiled regex with acr's engine features (lookaround) and a backtracking limit.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: fancy_regex::Regex,
}

impl Pattern {
    /// Compiles `source`; `filter` names it in errors.
    pub fn new(source: &str, filter: &str) -> Result<Pattern, PurgeError> {
        let regex = fancy_regex::RegexBuilder::new(source)
            .backtrack_limit(BACKTRACK_LIMIT)
            .build()
            .map_err(|e| PurgeError::Filter {
                filter: filter.to_string(),
                reason: format!("{source:?} is not a valid regex: {e}"),
            })?;
        Ok(Pattern {
            source: source.to_string(),
            regex,
        })
    }

    /// Whether `text` contains a match (unanchored, as Go's `MatchString`).
    pub fn matches(&self, text: &str) -> Result<bool, PurgeError> {
        self.regex
            .is_match(text)
            .map_err(|_| PurgeError::Backtrack(self.source.clone()))
    }
}

/// Which repositories of `catalog` the filters select, each with its OR-ed tag regex
/// (acr's `CollectTagFilters`: the repository part is matched as `^REPO$`).
pub fn collect_tag_filters(
    filters: &[String],
    catalog: &[String],
) -> Result<BTreeMap<String, String>, PurgeError> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for filter in filters {
        let (repo, tag) = split_filter(filter)?;
        Pattern::new(&tag, filter)?;
        let repo_pattern = Pattern::new(&format!("^{repo}$"), filter)?;
        for name in catalog {
            if repo_pattern.matches(name)? {
                out.entry(name.clone())
                    .and_modify(|t| {
                        t.push('|');
                        t.push_str(&tag);
                    })
                    .or_insert_with(|| tag.clone());
            }
        }
    }
    Ok(out)
}

/// Parses Go's `time.ParseDuration` syntax into nanoseconds (errors as Go words them).
pub(super) fn go_duration(text: &str) -> Result<i128, String> {
    let original = text;
    let invalid = || format!("time: invalid duration {original:?}");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let number = &rest[..digits];
        if number.is_empty() || number == "." {
            return Err(invalid());
        }
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: i128 = match unit {
            "" => return Err(format!("time: missing unit in duration {original:?}")),
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            other => {
                return Err(format!(
                    "time: unknown unit {other:?} in duration {original:?}"
                ));
            }
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let whole: i128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| invalid())?
        };
        let mut value = whole.checked_mul(scale).ok_or_else(invalid)?;
        let mut place = scale;
        for d in fraction.chars() {
            place /= 10;
            value += i128::from(d.to_digit(10).unwrap_or(0) as u8) * place;
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > i128::from(i64::MAX) {
            return Err(invalid());
        }
    }
    Ok(if negative { -total } else { total })
}

/// Parses `--ago` as acr does: `[N]d[go-duration]`, capped at 150 years; returns the
/// offset from now to the cutoff (negative: in the past; `-1d` gives a cutoff in the
/// future, so everything is old enough).
pub fn parse_ago(ago: &str) -> Result<jiff::SignedDuration, PurgeError> {
    let fail = |reason: String| PurgeError::Ago {
        ago: ago.to_string(),
        reason,
    };
    if ago.is_empty() {
        return Err(fail("empty: give a duration such as 30d or 2d3h6m".into()));
    }
    const DAY: i128 = 86_400_000_000_000;
    let max: i128 = i128::from(MAX_AGO_YEARS * 365) * DAY;
    let (days, rest) = match ago.find('d') {
        Some(at) => {
            // Go's Sscanf("%dd%s"): an optionally signed number, `d`, the rest.
            let days: i128 = ago[..at].parse().map_err(|_| {
                fail(format!(
                    "{:?} before the d is not a number of days",
                    &ago[..at]
                ))
            })?;
            (days, &ago[at + 1..])
        }
        None => (0, ago),
    };
    let capped_days = days.min(i128::from(MAX_AGO_YEARS * 365));
    let mut total = capped_days * DAY;
    if !rest.is_empty() {
        let extra = match go_duration(rest) {
            Ok(n) => n,
            Err(e)
                if e.starts_with("time: invalid duration")
                    && rest.chars().all(|c| c.is_ascii_alphanumeric()) =>
            {
                max
            }
            Err(e) => return Err(fail(e)),
        };
        total = (total + extra.min(max)).min(max);
    }
    let nanos = i64::try_from(-total).map_err(|_| fail("out of range".into()))?;
    Ok(jiff::SignedDuration::from_nanos(nanos))
}
