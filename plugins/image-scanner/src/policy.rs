//! Policy checks on the image's config and file system: runs as root, no
//! HEALTHCHECK, world-writable files, setuid/setgid binaries, missing OCI labels.

use serde_json::Value;
use wharf_plugin_sdk::scanner::image::{FileEntry, FileKind};

use crate::model::{Finding, Severity};

/// The labels required by default (`with: labels` replaces the list).
pub const DEFAULT_LABELS: [&str; 3] = [
    "org.opencontainers.image.source",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.version",
];

fn finding(rule: &str, severity: Severity, message: String, path: Option<&str>) -> Finding {
    Finding {
        rule_id: format!("policy/{rule}"),
        severity,
        message,
        path: path.map(str::to_string),
        line: None,
    }
}

/// Checks on the image config (the OCI image config JSON).
pub fn config_findings(config: &Value, labels: &[String]) -> Vec<Finding> {
    let c = &config["config"];
    let mut out = Vec::new();
    let user = c["User"].as_str().unwrap_or("").trim();
    let name = user.split(':').next().unwrap_or("");
    if name.is_empty() || name == "root" || name == "0" {
        out.push(finding(
            "runs-as-root",
            Severity::High,
            if user.is_empty() {
                "the image runs as root: its config sets no USER".into()
            } else {
                format!("the image runs as root (USER {user})")
            },
            None,
        ));
    }
    let test = c["Healthcheck"]["Test"].as_array();
    let none = test.is_some_and(|t| t.first().and_then(Value::as_str) == Some("NONE"));
    if test.is_none_or(Vec::is_empty) || none {
        out.push(finding(
            "no-healthcheck",
            Severity::Low,
            "the image has no HEALTHCHECK".into(),
            None,
        ));
    }
    for label in labels {
        let present = c["Labels"][label.as_str()]
            .as_str()
            .is_some_and(|v| !v.is_empty());
        if !present {
            out.push(finding(
                "missing-label",
                Severity::Low,
                format!("the image has no label {label}"),
                None,
            ));
        }
    }
    out
}

/// Checks on the merged file system.
pub fn file_findings(files: &[FileEntry]) -> Vec<Finding> {
    let mut out = Vec::new();
    for f in files {
        let mode = f.mode;
        match f.kind {
            FileKind::File | FileKind::Hardlink => {
                if mode & 0o002 != 0 {
                    out.push(finding(
                        "world-writable",
                        Severity::Medium,
                        format!(
                            "/{} is writable by everyone (mode {:o})",
                            f.path,
                            mode & 0o7777
                        ),
                        Some(&f.path),
                    ));
                }
                if mode & 0o6000 != 0 && mode & 0o111 != 0 {
                    let bit = if mode & 0o4000 != 0 {
                        "setuid"
                    } else {
                        "setgid"
                    };
                    out.push(finding(
                        "setuid",
                        Severity::Medium,
                        format!(
                            "/{} is {bit} (mode {:o}, owner {})",
                            f.path,
                            mode & 0o7777,
                            f.uid
                        ),
                        Some(&f.path),
                    ));
                }
            }
            // A world-writable directory without the sticky bit lets anyone replace
            // others' files (/tmp has the sticky bit).
            FileKind::Directory if mode & 0o002 != 0 && mode & 0o1000 == 0 => {
                out.push(finding(
                    "world-writable",
                    Severity::Medium,
                    format!(
                        "directory /{} is writable by everyone without the sticky bit (mode {:o})",
                        f.path,
                        mode & 0o7777
                    ),
                    Some(&f.path),
                ));
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: FileKind, mode: u32) -> FileEntry {
        FileEntry {
            path: path.into(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            size: 1,
            link_target: None,
        }
    }

    fn rules(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.rule_id.as_str()).collect()
    }

    #[test]
    fn root_no_healthcheck_and_missing_labels() {
        let labels: Vec<String> = DEFAULT_LABELS.iter().map(|s| s.to_string()).collect();
        let bare = serde_json::json!({"config": {}});
        assert_eq!(
            rules(&config_findings(&bare, &labels)),
            [
                "policy/runs-as-root",
                "policy/no-healthcheck",
                "policy/missing-label",
                "policy/missing-label",
                "policy/missing-label"
            ]
        );
        let good = serde_json::json!({"config": {
            "User": "app:app",
            "Healthcheck": {"Test": ["CMD", "true"]},
            "Labels": {
                "org.opencontainers.image.source": "https://x",
                "org.opencontainers.image.revision": "abc",
                "org.opencontainers.image.version": "1.0"
            }
        }});
        assert!(config_findings(&good, &labels).is_empty());
        let uid0 =
            serde_json::json!({"config": {"User": "0:0", "Healthcheck": {"Test": ["NONE"]}}});
        assert_eq!(
            rules(&config_findings(&uid0, &[])),
            ["policy/runs-as-root", "policy/no-healthcheck"]
        );
    }

    #[test]
    fn world_writable_files_setuid_binaries_and_open_directories() {
        let files = [
            entry("bin/busybox", FileKind::File, 0o755),
            entry("bin/su", FileKind::File, 0o4755),
            entry("srv/open", FileKind::File, 0o666),
            entry("tmp", FileKind::Directory, 0o1777),
            entry("srv/drop", FileKind::Directory, 0o777),
            entry("etc/link", FileKind::Symlink, 0o777),
        ];
        let f = file_findings(&files);
        let got: Vec<_> = f
            .iter()
            .map(|f| (f.rule_id.as_str(), f.path.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("policy/setuid", Some("bin/su")),
                ("policy/world-writable", Some("srv/open")),
                ("policy/world-writable", Some("srv/drop")),
            ]
        );
    }
}
