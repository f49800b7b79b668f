//! `wharf registry copy SRC DST`: an image, index (every platform) or artifact between
//! registries and OCI layouts (`oci:PATH[:TAG]`, as skopeo names them); with `-r`
//! what refers to it too (signatures, SBOMs, attestations), as `oras cp -r`.

use std::process::ExitCode;

use serde_json::json;
use wharf_registry::copy::{CopyOptions, Location, copy_with};

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
        let options = CopyOptions {
            referrers: args.referrers,
        };
        let report = match copy_with(&client, &source, &destination, options).await {
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
                "referrers": report.referrers.iter().map(|d| json!({
                    "digest": d.digest.to_string(),
                    "mediaType": d.media_type,
                    "artifactType": d.artifact_type,
                })).collect::<Vec<_>>(),
                "cosignTags": report.cosign_tags,
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
                if args.referrers {
                    eprintln!(
                        "Copied {} referrer{} and {} cosign tag{}",
                        report.referrers.len(),
                        if report.referrers.len() == 1 { "" } else { "s" },
                        report.cosign_tags.len(),
                        if report.cosign_tags.len() == 1 {
                            ""
                        } else {
                            "s"
                        },
                    );
                    for d in &report.referrers {
                        eprintln!(
                            "  {} {}",
                            d.digest,
                            d.artifact_type.as_deref().unwrap_or(&d.media_type)
                        );
                    }
                    for tag in &report.cosign_tags {
                        eprintln!("  :{tag}");
                    }
                }
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
