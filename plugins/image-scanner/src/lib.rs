//! image-scanner: looks into the step's image for secrets, policy problems and
//! known-vulnerable packages (dpkg and apk, against an offline OSV file the step
//! grants), writes SARIF and CycloneDX reports into the workspace, and fails the
//! step on findings at or above `failOn`. See README.md.

pub mod model;
pub mod osv;
pub mod packages;
pub mod policy;
pub mod report;
pub mod secrets;

use wharf_plugin_sdk::scanner::image::{self, FileKind};
use wharf_plugin_sdk::scanner::{
    self as sdk, Guest, ImageRef, PluginError, ScanResult, config, files, log, outputs, reports,
};

use model::{Finding, Severity};

struct ImageScanner;

/// The databases of installed packages.
const DPKG_STATUS: &str = "var/lib/dpkg/status";
const DPKG_STATUS_D: &str = "var/lib/dpkg/status.d/";
const APK_INSTALLED: &str = "lib/apk/db/installed";

fn to_wit(f: &Finding) -> sdk::Finding {
    sdk::Finding {
        rule_id: f.rule_id.clone(),
        severity: match f.severity {
            Severity::Info => sdk::Severity::Info,
            Severity::Low => sdk::Severity::Low,
            Severity::Medium => sdk::Severity::Medium,
            Severity::High => sdk::Severity::High,
            Severity::Critical => sdk::Severity::Critical,
        },
        message: f.message.clone(),
        path: f.path.clone(),
        line: f.line,
    }
}

fn text(bytes: &[u8]) -> Option<&str> {
    let head = &bytes[..bytes.len().min(8192)];
    if head.contains(&0) {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

/// A UUID-shaped serial for the SBOM, derived from what was scanned (FNV-1a).
fn serial(seed: &str) -> String {
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in seed.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    let hex = format!("{h:032x}");
    format!(
        "urn:uuid:{}-{}-4{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

impl Guest for ImageScanner {
    fn scan(image_ref: ImageRef) -> Result<ScanResult, PluginError> {
        let fail_on = match config::get("failOn").or_else(|| config::get("fail-on")) {
            Some(t) => Severity::parse(&t).map_err(PluginError::InvalidConfig)?,
            None => None,
        };
        let check_secrets = config::flag("secrets", true)?;
        let check_policy = config::flag("policy", true)?;
        let write_reports = config::flag("reports", true)?;
        let max_file = config::json::<u64>("max-file-size")?.unwrap_or(1 << 20);
        let labels: Vec<String> = match config::get("labels") {
            Some(_) => config::list("labels"),
            None => policy::DEFAULT_LABELS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        };

        let mut findings: Vec<Finding> = Vec::new();
        if check_policy {
            let cfg = image::config()?;
            let cfg: serde_json::Value = serde_json::from_str(&cfg)
                .map_err(|e| PluginError::Other(format!("the image config is not JSON: {e}")))?;
            findings.extend(policy::config_findings(&cfg, &labels));
        }
        let listing = image::list_files()?;
        if check_policy {
            findings.extend(policy::file_findings(&listing));
        }

        // Packages.
        let mut inventory = Vec::new();
        for entry in &listing {
            if !matches!(entry.kind, FileKind::File | FileKind::Hardlink) {
                continue;
            }
            let is_dpkg = entry.path == DPKG_STATUS || entry.path.starts_with(DPKG_STATUS_D);
            let is_apk = entry.path == APK_INSTALLED;
            if !(is_dpkg || is_apk) {
                continue;
            }
            let bytes = image::read_file(&entry.path, 64 << 20)?;
            let body = String::from_utf8_lossy(&bytes);
            if is_dpkg {
                inventory.extend(packages::parse_dpkg(&body, &entry.path));
            } else {
                inventory.extend(packages::parse_apk(&body, &entry.path));
            }
        }
        let mut vulns = Vec::new();
        if let Some(path) = config::get("osv") {
            let bytes = files::read_file(&path, 256 << 20)?;
            let records = osv::parse(&String::from_utf8_lossy(&bytes))
                .map_err(|e| PluginError::InvalidConfig(format!("`with: osv` {path}: {e}")))?;
            vulns = osv::matches(&records, &inventory);
            log::info(&format!(
                "matched {} packages against {} OSV records from {path}",
                inventory.len(),
                records.len()
            ));
        }
        findings.extend(vulns.iter().cloned());

        // Secrets.
        let mut read = 0usize;
        if check_secrets {
            let rules = secrets::Rules::new();
            for entry in &listing {
                if !matches!(entry.kind, FileKind::File | FileKind::Hardlink)
                    || entry.size == 0
                    || entry.size > max_file
                    || secrets::skipped(&entry.path)
                {
                    continue;
                }
                let bytes = image::read_file(&entry.path, max_file)?;
                read += 1;
                let Some(body) = text(&bytes) else { continue };
                if secrets::is_dotenv(&entry.path) {
                    findings.push(secrets::dotenv_finding(&entry.path, body));
                }
                findings.extend(rules.scan(&entry.path, body));
            }
        }

        let mut outs = vec![
            outputs::text("findings", findings.len().to_string()),
            outputs::text("packages", inventory.len().to_string()),
        ];
        for sev in Severity::ALL {
            let n = findings.iter().filter(|f| f.severity == sev).count();
            outs.push(outputs::text(sev.as_str(), n.to_string()));
        }
        if write_reports {
            let sarif = report::sarif(&image_ref.reference, &findings);
            let sarif_path = reports::write_report(
                "scan.sarif",
                &serde_json::to_vec_pretty(&sarif).unwrap_or_default(),
            )?;
            let bom = report::cyclonedx(
                &image_ref.reference,
                &inventory,
                &vulns,
                &serial(&format!("{}{}", image_ref.reference, config::run().id)),
            );
            let bom_path = reports::write_report(
                "sbom.cdx.json",
                &serde_json::to_vec_pretty(&bom).unwrap_or_default(),
            )?;
            log::info(&format!("reports: {sarif_path}, {bom_path}"));
            outs.push(outputs::text("sarif", sarif_path));
            outs.push(outputs::text("sbom", bom_path));
        }
        let counts: Vec<String> = model::counts(&findings)
            .iter()
            .map(|(s, n)| format!("{n} {}", s.as_str()))
            .collect();
        log::info(&format!(
            "scanned {}: {} entries, {read} files read, {} packages; {}",
            image_ref.reference,
            listing.len(),
            inventory.len(),
            if counts.is_empty() {
                "no findings".to_string()
            } else {
                format!("findings: {}", counts.join(", "))
            }
        ));
        Ok(ScanResult {
            findings: findings.iter().map(to_wit).collect(),
            outputs: outs,
            fail: model::fail_reason(&findings, fail_on),
        })
    }
}

wharf_plugin_sdk::export_scanner!(ImageScanner);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_on_counts_findings_at_or_above_the_threshold() {
        let f = |s| Finding {
            rule_id: "r".into(),
            severity: s,
            message: String::new(),
            path: None,
            line: None,
        };
        let all = [f(Severity::Low), f(Severity::High), f(Severity::Critical)];
        assert_eq!(
            model::fail_reason(&all, Some(Severity::High)).as_deref(),
            Some("2 findings at or above high (failOn: high)")
        );
        assert_eq!(model::fail_reason(&all[..1], Some(Severity::Medium)), None);
        assert_eq!(model::fail_reason(&all, None), None);
        assert!(Severity::parse("severe").is_err());
        assert_eq!(Severity::parse("none"), Ok(None));
    }

    #[test]
    fn the_sbom_serial_is_uuid_shaped() {
        let s = serial("x");
        assert_eq!(s.len(), 45, "{s}");
        assert!(s.starts_with("urn:uuid:"));
        assert_eq!(&s[23..24], "4");
    }
}
