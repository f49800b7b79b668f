//! `wharf helm pull oci://REGISTRY/NAMESPACE/NAME [--version V] [-d DIR]`: as
//! `helm pull`, writing NAME-VERSION.tgz (and its .prov when the chart has one).

use std::process::ExitCode;

use serde_json::json;

use crate::cli::{HelmPullArgs, OutputFormat};
use crate::commands::EXIT_FAILED;
use crate::commands::registry::{block_on, client, print_json};

/// `wharf helm pull`.
pub fn run(args: &HelmPullArgs) -> ExitCode {
    block_on(async {
        let client = match client(&args.options, Vec::new()) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let pulled =
            match wharf_helm::registry::pull(&client, &args.chart, args.version.as_deref()).await {
                Ok(p) => p,
                Err(e) => return super::fail(&e),
            };
        if pulled.legacy_media_type {
            eprintln!(
                "warning: {} has the chart layer media type application/tar+gzip of early helm 3 versions",
                pulled.reference
            );
        }
        let path = args.destination.join(pulled.file_name());
        let written = std::fs::create_dir_all(&args.destination)
            .and_then(|()| std::fs::write(&path, &pulled.archive))
            .and_then(|()| match &pulled.prov {
                Some(prov) => {
                    let mut prov_path = path.clone().into_os_string();
                    prov_path.push(".prov");
                    std::fs::write(prov_path, prov)
                }
                None => Ok(()),
            });
        if let Err(e) = written {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(EXIT_FAILED);
        }
        match args.options.output {
            OutputFormat::Json => print_json(&json!({
                "reference": pulled.reference,
                "digest": pulled.digest.to_string(),
                "path": path,
            })),
            OutputFormat::Text => {
                println!("Pulled: {}", pulled.reference);
                println!("Digest: {}", pulled.digest);
                ExitCode::SUCCESS
            }
        }
    })
}
