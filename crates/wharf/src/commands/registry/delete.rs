//! `wharf registry delete REF`: deletes a manifest. A tag is resolved to its digest
//! first and the digest deleted, which on most registries (distribution, ACR) removes
//! every tag of that manifest.

use std::process::ExitCode;

use serde_json::json;

use super::{block_on, client, fail, image_ref, print_json};
use crate::cli::{OutputFormat, RegistryDeleteArgs};

/// `wharf registry delete`.
pub fn run(args: &RegistryDeleteArgs) -> ExitCode {
    let image = match image_ref(&args.reference) {
        Ok(i) => i,
        Err(code) => return code,
    };
    block_on(async {
        let client = match client(&args.options, Vec::new()) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let digest = match client.delete_manifest(&image).await {
            Ok(d) => d,
            Err(e) => return fail(&e),
        };
        match args.options.output {
            OutputFormat::Json => print_json(&json!({
                "deleted": image.to_string(),
                "digest": digest.to_string(),
            })),
            OutputFormat::Text => {
                eprintln!("Deleted {image} ({digest})");
                ExitCode::SUCCESS
            }
        }
    })
}
