//! `wharf helm push CHART.tgz oci://REGISTRY/NAMESPACE`: as `helm push`, through
//! wharf's registry client (the user's Docker credentials, ACR sign-in).

use std::process::ExitCode;

use serde_json::json;

use crate::cli::{HelmPushArgs, OutputFormat};
use crate::commands::registry::{block_on, client, print_json};

/// `wharf helm push`.
pub fn run(args: &HelmPushArgs) -> ExitCode {
    let read = |path: &std::path::Path| std::fs::read(path);
    let archive = match read(&args.chart) {
        Ok(bytes) => bytes,
        Err(e) => {
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                crate::commands::EXIT_USAGE
            } else {
                crate::commands::EXIT_FAILED
            };
            eprintln!("error: cannot read {}: {e}", args.chart.display());
            return ExitCode::from(code);
        }
    };
    let mut prov_path = args.chart.clone().into_os_string();
    prov_path.push(".prov");
    let prov = read(std::path::Path::new(&prov_path)).ok();
    // helm's `created`: the archive's modification time.
    let created = std::fs::metadata(&args.chart)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .and_then(wharf_helm::oci::rfc3339)
        .unwrap_or_default();
    let display = args.chart.display().to_string();
    block_on(async {
        let client = match client(&args.options, Vec::new()) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let pushed = match wharf_helm::registry::push(
            &client,
            &display,
            archive,
            prov,
            &args.remote,
            &created,
        )
        .await
        {
            Ok(p) => p,
            Err(e) => return super::fail(&e),
        };
        match args.options.output {
            OutputFormat::Json => print_json(&json!({
                "reference": pushed.reference,
                "tag": pushed.tag,
                "digest": pushed.digest.to_string(),
            })),
            OutputFormat::Text => {
                for line in pushed.lines() {
                    println!("{line}");
                }
                ExitCode::SUCCESS
            }
        }
    })
}
