//! acr-cli's table tests for the parsers (`cmd/acr/purge_test.go`:
//! `TestParseDuration`, `TestGetRepositoryAndTagRegex`, `TestCollectTagFilters`),
//! ported case by case.

use super::parse::go_duration;
use super::*;

const HOUR: i64 = 3_600;
const DAY: i64 = 24 * HOUR;

fn secs(s: i64) -> jiff::SignedDuration {
    jiff::SignedDuration::from_secs(s)
}

#[test]
fn parse_duration_table() {
    let cap = -MAX_AGO_YEARS * 365 * DAY;
    let ok: &[(&str, i64)] = &[
        ("15m", -15 * 60),
        ("1d1h3m", -25 * HOUR - 3 * 60),
        ("3d", -3 * DAY),
        ("999999d", cap),
        ("9999999d", cap),
        ("999999999h", cap),
        ("9999999d999999999h", cap),
        ("0m", 0),
        ("-1d", DAY),
    ];
    for (text, want) in ok {
        assert_eq!(parse_ago(text).ok(), Some(secs(*want)), "{text}");
    }
    let bad: &[(&str, &str)] = &[
        ("", "empty"),
        ("15p", "time: unknown unit \"p\" in duration \"15p\""),
        ("15", "time: missing unit in duration \"15\""),
    ];
    for (text, want) in bad {
        let err = parse_ago(text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(want), "{text}: {err}");
        assert!(parse_ago(text).err().is_some_and(|e| e.is_bad_input()));
    }
}

#[test]
fn go_durations_read_as_go_reads_them() {
    assert_eq!(go_duration("1.5h"), Ok(5_400_000_000_000));
    assert_eq!(go_duration("2h45m"), Ok(9_900_000_000_000));
    assert_eq!(go_duration("300ms"), Ok(300_000_000));
    assert_eq!(go_duration("-1m"), Ok(-60_000_000_000));
    assert!(go_duration("h").is_err());
    assert!(go_duration(".s").is_err());
}

fn split(text: &str) -> Option<(String, String)> {
    split_filter(text).ok()
}

fn pair(a: &str, b: &str) -> Option<(String, String)> {
    Some((a.to_string(), b.to_string()))
}

#[test]
fn get_repository_and_tag_regex_table() {
    assert_eq!(split("foo:bar"), pair("foo", "bar"));
    assert_eq!(split("foo"), None);
    assert_eq!(split("foo:bar:zzz"), None);
    assert_eq!(split("hello-(?:abc):zzz"), pair("hello-(?:abc)", "zzz"));
    assert_eq!(split("hello-:z-(?:abc)zz"), pair("hello-", "z-(?:abc)zz"));
    assert_eq!(
        split("hello-(?:abc)?:z-(?:abc)zz"),
        pair("hello-(?:abc)?", "z-(?:abc)zz")
    );
    assert_eq!(
        split("hello-(?:abc)?:z-(?:[:])zz"),
        pair("hello-(?:abc)?", "z-(?:[:])zz")
    );
    assert_eq!(
        split("[[:alpha:]](?:abc)(?:.*)?:test123[[:digit:]](?:.*)"),
        pair("[[:alpha:]](?:abc)(?:.*)?", "test123[[:digit:]](?:.*)")
    );
    assert_eq!(
        split("[^[:alpha:]](?ims-U:abc)(?:.*)?:test123[[^:digit:]](?-imUs:.*)"),
        pair(
            "[^[:alpha:]](?ims-U:abc)(?:.*)?",
            "test123[[^:digit:]](?-imUs:.*)"
        )
    );
    assert_eq!(
        split("[^[:alpha:]](?ims-U:abc)(?:.*)?:test123[[^:digit:]](?-imUs:.*):"),
        None
    );
    assert_eq!(
        split("(?imsU:test):[[:digit:]][tes:]"),
        pair("(?imsU:test)", "[[:digit:]][tes:]")
    );
    // Empty sides name what is missing.
    let err = |t: &str| {
        split_filter(t)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    assert!(err(":.*").contains("missing repository"));
    assert!(err("bar.*:").contains("missing tag"));
}

fn catalog() -> Vec<String> {
    ["bar", "foo/bar", "baz", "qux"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn collect(filters: &[&str], catalog: &[String]) -> Result<BTreeMap<String, String>, PurgeError> {
    let filters: Vec<String> = filters.iter().map(|s| s.to_string()).collect();
    collect_tag_filters(&filters, catalog)
}

#[test]
fn collect_tag_filters_table() {
    let all = catalog();
    let f = collect(&[".+:.*-?local[.].+"], &all).unwrap_or_default();
    assert_eq!(f.len(), 4);
    assert_eq!(f["bar"], ".*-?local[.].+");
    let f = collect(&[".+:.*-?local\\..+"], &all).unwrap_or_default();
    assert_eq!(f.len(), 4);
    assert_eq!(f["bar"], ".*-?local\\..+");
    let f = collect(&["bar:.*"], &all).unwrap_or_default();
    assert_eq!(f.len(), 1);
    assert_eq!(f["bar"], ".*");
    assert_eq!(collect(&[".*:.*"], &all).unwrap_or_default().len(), 4);
    // NoPartialMatch: the repository part is anchored.
    assert_eq!(collect(&["ba:.*"], &all).unwrap_or_default().len(), 0);
    assert_eq!(collect(&["foo/bar:.*"], &all).unwrap_or_default().len(), 1);
    assert_eq!(
        collect(&["foo/bar:(?:.*)"], &all).unwrap_or_default().len(),
        1
    );
    assert_eq!(
        collect(&["foo/bar(?:.*):(?:.*)"], &all)
            .unwrap_or_default()
            .len(),
        1
    );
    assert_eq!(
        collect(&["foo/bar(?:.*)?:(?:.*)"], &all)
            .unwrap_or_default()
            .len(),
        1
    );
    assert_eq!(
        collect(&["foo/bar(?:.*):.(?:.*)"], &all)
            .unwrap_or_default()
            .len(),
        1
    );
    assert_eq!(
        collect(&["foo/b[[:alpha:]]r(?:.*):.(?:.*)"], &all)
            .unwrap_or_default()
            .len(),
        1
    );
    assert_eq!(collect(&["bar:.*"], &[]).unwrap_or_default().len(), 0);
    assert!(collect(&[":.*"], &all).is_err());
    assert!(collect(&["bar.*:"], &all).is_err());
    // Two filters of one repository are OR-ed.
    let f = collect(&["bar:a", "bar:b"], &all).unwrap_or_default();
    assert_eq!(f["bar"], "a|b");
}

#[test]
fn tag_regexes_are_unanchored_and_have_lookaround() {
    let m = |re: &str, tag: &str| {
        Pattern::new(re, re)
            .and_then(|p| p.matches(tag))
            .unwrap_or(false)
    };
    // "Delete tag with local in it": a substring matches.
    assert!(m("local", "v1-local-2"));
    assert!(m("v1(?!-a)", "v1-b"));
    assert!(!m("^v1(?!-a)", "v1-a"));
    assert!(m("v1-*[abc]+(?<!-[a])$", "v1-b"));
    assert!(!m("^v1-*[abc]+(?<!-[a])$", "v1-a"));
    assert!(m("^((?!release).)*$", "dev-1"));
    assert!(!m("^((?!release).)*$", "release-1"));
    assert!(Pattern::new("(", "(").is_err());
}
