//! `wharf attach REF --artifact-type TYPE FILE[:MEDIA_TYPE]...`, as `oras attach`: an
//! OCI 1.1 artifact manifest (the empty config, one layer per file titled with its
//! name, `subject` the image REF resolves to) pushed as a referrer.

use std::process::ExitCode;

use bytes::Bytes;
use serde_json::json;
use wharf_registry::Repository;
use wharf_registry::client::BlobPush;
use wharf_registry::manifest::{ANNOTATION_CREATED, EMPTY_BLOB, media_type};

use crate::cli::OutputFormat;
use crate::cli_trust::AttachArgs;
use crate::commands::print;
use crate::commands::registry::{block_on, client, fail, print_json, usage};
use crate::commands::sign::{explicit_ref, mode, pairs};

/// oras's default media type for a file without one.
const DEFAULT_FILE_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";
/// The layer annotation naming the file.
const TITLE: &str = "org.opencontainers.image.title";

/// `wharf attach`.
pub fn run(args: &AttachArgs) -> ExitCode {
    let image = match explicit_ref(&args.reference) {
        Ok(i) => i,
        Err(code) => return code,
    };
    if args
        .artifact_type
        .split_once('/')
        .is_none_or(|(a, b)| a.is_empty() || b.is_empty())
    {
        return usage(format!(
            "--artifact-type {:?} is not a media type (type/subtype)",
            args.artifact_type
        ));
    }
    let annotations = match pairs(&args.annotations, "--annotation") {
        Ok(a) => a,
        Err(code) => return code,
    };
    let mut layers = Vec::new();
    for spec in &args.files {
        let (path, file_type) = match spec.rsplit_once(':') {
            Some((p, t)) if t.contains('/') => (p, t),
            _ => (spec.as_str(), DEFAULT_FILE_TYPE),
        };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => return usage(format!("cannot read {path}: {e}")),
        };
        let title = std::path::Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.to_string());
        let mut blob = BlobPush::bytes(file_type, Bytes::from(bytes));
        blob.descriptor.annotations.insert(TITLE.into(), title);
        layers.push(blob);
    }
    let options = args.connection.options(args.output);
    block_on(async {
        let client = match client(&options, Vec::new()) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let subject = match client.resolve(&image).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                eprintln!("error: {image} not found");
                return ExitCode::from(crate::commands::EXIT_FAILED);
            }
            Err(e) => return fail(&e),
        };
        let repo = Repository::of(&image);
        let config = BlobPush::bytes(media_type::OCI_EMPTY, Bytes::from_static(EMPTY_BLOB));
        let mut blobs = vec![config];
        blobs.extend(layers.iter().cloned());
        if let Err(e) = client.push_blobs(&repo, &blobs).await {
            return fail(&e);
        }
        let mut manifest_annotations = annotations.clone();
        manifest_annotations
            .entry(ANNOTATION_CREATED.to_string())
            .or_insert_with(|| {
                jiff::Timestamp::now()
                    .strftime("%Y-%m-%dT%H:%M:%SZ")
                    .to_string()
            });
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_MANIFEST,
            "artifactType": args.artifact_type,
            "config": {
                "mediaType": media_type::OCI_EMPTY,
                "digest": blobs[0].descriptor.digest.as_str(),
                "size": EMPTY_BLOB.len(),
                "data": "e30=",
            },
            "layers": layers.iter().map(|l| json!({
                "mediaType": l.descriptor.media_type,
                "digest": l.descriptor.digest.as_str(),
                "size": l.descriptor.size,
                "annotations": l.descriptor.annotations,
            })).collect::<Vec<_>>(),
            "subject": {
                "mediaType": subject.media_type,
                "digest": subject.digest.as_str(),
                "size": subject.size,
            },
            "annotations": manifest_annotations,
        });
        let pushed = match client
            .push_referrer(
                &repo,
                media_type::OCI_MANIFEST,
                Bytes::from(manifest.to_string()),
                mode(args.referrers_mode),
            )
            .await
        {
            Ok(p) => p,
            Err(e) => return fail(&e),
        };
        let name = format!("{}@{}", image.name(), subject.digest);
        match args.output {
            OutputFormat::Json => print_json(&json!({
                "reference": format!("{}@{}", image.name(), pushed.digest),
                "mediaType": media_type::OCI_MANIFEST,
                "artifactType": args.artifact_type,
                "digest": pushed.digest.as_str(),
                "size": pushed.size,
                "subject": name,
            })),
            OutputFormat::Text => {
                print(&format!("Attached to {name}\nDigest: {}\n", pushed.digest))
            }
        }
    })
}
