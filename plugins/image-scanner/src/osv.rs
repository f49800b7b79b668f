//! Matching the inventory against an offline OSV file: a JSON array of OSV
//! records, an object with a `vulns` array, or one record per line. A record hits
//! a package when one of its `affected` entries names the package's ecosystem (an
//! ecosystem release such as `Debian:12` counts as `Debian`) and the installed
//! version is listed in `versions` or falls in an `ECOSYSTEM` range (`introduced`
//! inclusive, `fixed` exclusive, `last_affected` inclusive).

use std::cmp::Ordering;

use serde_json::Value;

use crate::model::{Finding, Severity};
use crate::packages::{Package, compare};

/// Parses an OSV file into its records.
pub fn parse(text: &str) -> Result<Vec<Value>, String> {
    let trimmed = text.trim_start();
    if (trimmed.starts_with('[') || trimmed.starts_with('{'))
        && let Ok(v) = serde_json::from_str::<Value>(text)
    {
        return Ok(match v {
            Value::Array(items) => items,
            Value::Object(mut o) => match o.remove("vulns") {
                Some(Value::Array(items)) => items,
                _ => vec![Value::Object(o)],
            },
            _ => Vec::new(),
        });
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(n, l)| {
            serde_json::from_str(l).map_err(|e| format!("line {}: not an OSV record: {e}", n + 1))
        })
        .collect()
}

fn ecosystem_matches(written: &str, ecosystem: &str) -> bool {
    written.split(':').next().unwrap_or("") == ecosystem
}

fn in_ranges(version: &str, ranges: &[Value]) -> bool {
    for range in ranges {
        if range["type"].as_str() != Some("ECOSYSTEM") {
            continue;
        }
        let mut affected = false;
        for event in range["events"].as_array().into_iter().flatten() {
            if let Some(v) = event["introduced"].as_str()
                && (v == "0" || compare(version, v) != Ordering::Less)
            {
                affected = true;
            }
            if let Some(v) = event["fixed"].as_str()
                && compare(version, v) != Ordering::Less
            {
                affected = false;
            }
            if let Some(v) = event["last_affected"].as_str()
                && compare(version, v) == Ordering::Greater
            {
                affected = false;
            }
        }
        if affected {
            return true;
        }
    }
    false
}

/// The record's severity: `database_specific.severity` (or an affected entry's
/// `ecosystem_specific.severity`) as a word, else a numeric CVSS `score`, else medium.
pub fn severity(record: &Value) -> Severity {
    let word = record["database_specific"]["severity"]
        .as_str()
        .or_else(|| {
            record["affected"]
                .as_array()
                .into_iter()
                .flatten()
                .find_map(|a| a["ecosystem_specific"]["severity"].as_str())
        })
        .map(str::to_ascii_lowercase);
    if let Some(w) = word {
        return match w.as_str() {
            "critical" => Severity::Critical,
            "high" | "important" => Severity::High,
            "moderate" | "medium" => Severity::Medium,
            "low" | "negligible" | "unimportant" => Severity::Low,
            _ => Severity::Medium,
        };
    }
    let score = record["severity"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|s| s["score"].as_str().and_then(|t| t.parse::<f64>().ok()));
    match score {
        Some(s) if s >= 9.0 => Severity::Critical,
        Some(s) if s >= 7.0 => Severity::High,
        Some(s) if s >= 4.0 => Severity::Medium,
        Some(_) => Severity::Low,
        None => Severity::Medium,
    }
}

/// A fixed version for `package`, when the record names one.
fn fixed_in(record: &Value, package: &Package) -> Option<String> {
    record["affected"]
        .as_array()?
        .iter()
        .filter(|a| {
            a["package"]["name"].as_str() == Some(package.name.as_str())
                && a["package"]["ecosystem"]
                    .as_str()
                    .is_some_and(|e| ecosystem_matches(e, package.ecosystem))
        })
        .flat_map(|a| a["ranges"].as_array().into_iter().flatten())
        .flat_map(|r| r["events"].as_array().into_iter().flatten())
        .find_map(|e| e["fixed"].as_str().map(str::to_string))
}

/// Every (record, package) hit, as findings.
pub fn matches(records: &[Value], packages: &[Package]) -> Vec<Finding> {
    let mut out = Vec::new();
    for record in records {
        let Some(id) = record["id"].as_str() else {
            continue;
        };
        for package in packages {
            let hit = record["affected"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| {
                    a["package"]["name"].as_str() == Some(package.name.as_str())
                        && a["package"]["ecosystem"]
                            .as_str()
                            .is_some_and(|e| ecosystem_matches(e, package.ecosystem))
                        && (a["versions"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|v| v.as_str() == Some(package.version.as_str()))
                            || in_ranges(
                                &package.version,
                                a["ranges"].as_array().map_or(&[][..], Vec::as_slice),
                            ))
                });
            if !hit {
                continue;
            }
            let summary = record["summary"]
                .as_str()
                .unwrap_or("a known vulnerability");
            let fixed = fixed_in(record, package)
                .map(|f| format!("; fixed in {f}"))
                .unwrap_or_default();
            out.push(Finding {
                rule_id: id.to_string(),
                severity: severity(record),
                message: format!(
                    "{} {} ({}): {summary}{fixed}",
                    package.name, package.version, package.ecosystem
                ),
                path: Some(package.source.clone()),
                line: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, version: &str) -> Package {
        Package {
            ecosystem: "Debian",
            name: name.into(),
            version: version.into(),
            source: "var/lib/dpkg/status".into(),
        }
    }

    const DB: &str = r#"{"vulns": [
      {"id": "CVE-2024-0001", "summary": "overflow in parse",
       "database_specific": {"severity": "HIGH"},
       "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}]}]}]},
      {"id": "CVE-2024-0002", "affected": [{"package": {"ecosystem": "Alpine", "name": "openssl"}, "versions": ["3.0.11-1~deb12u2"]}]},
      {"id": "CVE-2024-0003", "severity": [{"type": "CVSS_V3", "score": "9.8"}],
       "affected": [{"package": {"ecosystem": "Debian", "name": "zlib1g"}, "versions": ["1:1.2.13.dfsg-1"]}]}
    ]}"#;

    #[test]
    fn ranges_and_version_lists_match_within_the_ecosystem() {
        let records = parse(DB).expect("parse");
        let found = matches(
            &records,
            &[
                pkg("openssl", "3.0.11-1~deb12u2"),
                pkg("zlib1g", "1:1.2.13.dfsg-1"),
                pkg("libc6", "2.36"),
            ],
        );
        let ids: Vec<_> = found
            .iter()
            .map(|f| (f.rule_id.as_str(), f.severity))
            .collect();
        assert_eq!(
            ids,
            [
                ("CVE-2024-0001", Severity::High),
                ("CVE-2024-0003", Severity::Critical)
            ]
        );
        assert!(
            found[0].message.contains("fixed in 3.0.13-1~deb12u1"),
            "{}",
            found[0].message
        );
        // The fixed version and later are not affected.
        assert!(matches(&records, &[pkg("openssl", "3.0.13-1~deb12u1")]).is_empty());
    }

    #[test]
    fn one_record_per_line_is_read_too() {
        let lines = "{\"id\":\"A\"}\n\n{\"id\":\"B\"}\n";
        assert_eq!(parse(lines).expect("ndjson").len(), 2);
        assert!(parse("{not json\n").is_err());
    }
}
