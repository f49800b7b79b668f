//! The reports written into the workspace: SARIF 2.1.0 for the findings, CycloneDX
//! 1.5 for the package inventory (with the vulnerabilities found in it).

use serde_json::{Value, json};

use crate::model::{Finding, Severity};
use crate::packages::Package;

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub's `security-severity` for a severity (a CVSS-like score).
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "2.0",
        Severity::Info => "0.0",
    }
}

/// A SARIF 2.1.0 log of `findings` about `image`.
pub fn sarif(image: &str, findings: &[Finding]) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    let mut ids: Vec<&str> = Vec::new();
    for f in findings {
        if !ids.contains(&f.rule_id.as_str()) {
            ids.push(&f.rule_id);
            rules.push(json!({
                "id": f.rule_id,
                "shortDescription": {"text": f.rule_id},
                "defaultConfiguration": {"level": sarif_level(f.severity)},
                "properties": {"security-severity": security_severity(f.severity)},
            }));
        }
    }
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let mut r = json!({
                "ruleId": f.rule_id,
                "ruleIndex": ids.iter().position(|i| *i == f.rule_id).unwrap_or(0),
                "level": sarif_level(f.severity),
                "message": {"text": f.message},
                "properties": {"severity": f.severity.as_str(), "image": image},
            });
            if let Some(path) = &f.path {
                let mut region = serde_json::Map::new();
                if let Some(line) = f.line {
                    region.insert("startLine".into(), json!(line));
                }
                let mut physical = json!({"artifactLocation": {"uri": path}});
                if !region.is_empty() {
                    physical["region"] = Value::Object(region);
                }
                r["locations"] = json!([{"physicalLocation": physical}]);
            }
            r
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "wharf image-scanner",
                "informationUri": "https://github.com/wharf-dev/wharf/tree/main/plugins/image-scanner",
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

fn purl(p: &Package) -> String {
    match p.ecosystem {
        "Alpine" => format!("pkg:apk/alpine/{}@{}", p.name, p.version),
        _ => format!(
            "pkg:deb/debian/{}@{}",
            p.name,
            p.version.replace(':', "%3A")
        ),
    }
}

/// A CycloneDX 1.5 SBOM of `packages` in `image`, with the OSV findings as
/// vulnerabilities affecting them.
pub fn cyclonedx(image: &str, packages: &[Package], vulns: &[Finding], serial: &str) -> Value {
    let components: Vec<Value> = packages
        .iter()
        .map(|p| {
            json!({
                "type": "library",
                "bom-ref": purl(p),
                "name": p.name,
                "version": p.version,
                "purl": purl(p),
            })
        })
        .collect();
    let vulnerabilities: Vec<Value> = vulns
        .iter()
        .filter_map(|v| {
            let name = v.message.split(' ').next()?;
            let p = packages.iter().find(|p| p.name == name)?;
            Some(json!({
                "id": v.rule_id,
                "source": {"name": "OSV"},
                "ratings": [{"severity": v.severity.as_str()}],
                "description": v.message,
                "affects": [{"ref": purl(p)}],
            }))
        })
        .collect();
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial,
        "version": 1,
        "metadata": {
            "tools": {"components": [{"type": "application", "name": "wharf image-scanner"}]},
            "component": {"type": "container", "name": image, "bom-ref": image},
        },
        "components": components,
        "vulnerabilities": vulnerabilities,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sarif_has_one_rule_per_id_and_locations_with_lines() {
        let f = |id: &str, sev, line| Finding {
            rule_id: id.into(),
            severity: sev,
            message: "m".into(),
            path: Some("etc/key".into()),
            line,
        };
        let log = sarif(
            "img",
            &[
                f("secret/private-key", Severity::Critical, Some(3)),
                f("secret/private-key", Severity::Critical, None),
                f("policy/setuid", Severity::Medium, None),
            ],
        );
        assert_eq!(log["version"], "2.1.0");
        let run = &log["runs"][0];
        assert_eq!(
            run["tool"]["driver"]["rules"].as_array().map(Vec::len),
            Some(2)
        );
        assert_eq!(run["results"][0]["level"], "error");
        assert_eq!(
            run["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"],
            3
        );
        assert_eq!(run["results"][2]["ruleIndex"], 1);
        assert_eq!(run["results"][2]["level"], "warning");
    }

    #[test]
    fn cyclonedx_lists_packages_by_purl_and_links_vulnerabilities() {
        let pkgs = [Package {
            ecosystem: "Debian",
            name: "zlib1g".into(),
            version: "1:1.2.13".into(),
            source: "s".into(),
        }];
        let v = Finding {
            rule_id: "CVE-1".into(),
            severity: Severity::High,
            message: "zlib1g 1:1.2.13 (Debian): x".into(),
            path: None,
            line: None,
        };
        let bom = cyclonedx(
            "img",
            &pkgs,
            &[v],
            "urn:uuid:00000000-0000-4000-8000-000000000000",
        );
        assert_eq!(bom["bomFormat"], "CycloneDX");
        assert_eq!(
            bom["components"][0]["purl"],
            "pkg:deb/debian/zlib1g@1%3A1.2.13"
        );
        assert_eq!(
            bom["vulnerabilities"][0]["affects"][0]["ref"],
            "pkg:deb/debian/zlib1g@1%3A1.2.13"
        );
    }
}
