//! `wharf registry copy SRC DST`: an image, index (every platform) or artifact between
//! registries and OCI layouts (`oci:PATH[:TAG]`, as skopeo names them).

use std::process::ExitCode;

use serde_json::json;
use wharf_registry::copy::{Location, copy};

use super::{block_on, client, fail, human_size, print_json, usage};
use crate::cli::{OutputFormat, RegistryCopyArgs};

/// `wharf registry copy`.
pub fn run(args: &RegistryCopyArgs) -> ExitCode {
    let (source, destination) = match (
        Location::parse(&args.source),
        Location::parse(&args.destination),
    ) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(e), _) | (_, Err(e)) => return usage(e),
    };
    block_on(async {
        let client = match client(&args.options, Vec::new()) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let report = match copy(&client, &source, &destination).await {
            Ok(r) => r,
            Err(e) => return fail(&e),
        };
        let digest = report
            .digest
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        match args.options.output {
            OutputFormat::Json => print_json(&json!({
                "source": source.to_string(),
                "destination": destination.to_string(),
                "digest": digest,
                "sourceDigest": report.source_digest.as_ref().map(ToString::to_string),
                "mediaType": report.media_type,
                "manifests": report.manifests,
                "blobsCopied": report.blobs_copied,
                "blobsExisted": report.blobs_existed,
                "blobsMounted": report.blobs_mounted,
                "bytesCopied": report.bytes_copied,
            })),
            OutputFormat::Text => {
                eprintln!(
                    "Copied {source} to {destination}: {digest}, {} manifest{}, {} blob{} copied ({}), {} already there, {} mounted",
                    report.manifests,
                    if report.manifests == 1 { "" } else { "s" },
                    report.blobs_copied,
                    if report.blobs_copied == 1 { "" } else { "s" },
                    human_size(report.bytes_copied),
                    report.blobs_existed,
                    report.blobs_mounted
                );
                if report.source_digest != report.digest {
                    eprintln!(
                        "note: the Docker manifest was written with OCI media types (as skopeo does for OCI layouts); the source's digest is {}",
                        report
                            .source_digest
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    );
                }
                ExitCode::SUCCESS
            }
        }
    })
}
