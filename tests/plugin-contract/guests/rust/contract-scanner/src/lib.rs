//! The contract suite's scanner guest in Rust (twins: `guests/python/scanner/app.py`,
//! `guests/js/scanner/app.js`): one low finding per file whose path contains
//! `with: pattern`, the image's `os` from its config as an output, and `with:
//! probe` read with `image.read-file` (its error passed on unchanged).

use wharf_plugin_sdk::scanner::{
    Finding, Guest, ImageRef, PluginError, ScanResult, Severity, config, image, outputs,
};

struct Contract;

impl Guest for Contract {
    fn scan(_image: ImageRef) -> Result<ScanResult, PluginError> {
        let pattern = config::require("pattern")?;
        if let Some(probe) = config::get("probe") {
            image::read_file(&probe, 1024)?;
        }
        let cfg = image::config()?;
        let findings: Vec<Finding> = image::list_files()?
            .into_iter()
            .filter(|f| f.path.contains(&pattern))
            .map(|f| Finding {
                rule_id: "contract/pattern".into(),
                severity: Severity::Low,
                message: format!("{} matches {pattern}", f.path),
                path: Some(f.path),
                line: None,
            })
            .collect();
        let fail = (findings.len() > 1).then(|| format!("{} files match", findings.len()));
        Ok(ScanResult {
            outputs: vec![
                outputs::text("count", findings.len().to_string()),
                outputs::text("config-bytes", cfg.len().to_string()),
            ],
            findings,
            fail,
        })
    }
}

wharf_plugin_sdk::export_scanner!(Contract);
