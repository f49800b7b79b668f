//! Helpers shared by the binary's registry-facing e2e tests (signing, attestation,
//! purge): the wharf binary with a private Docker config, its output, and small
//! OCI images pushed through the registry client. (`CARGO_BIN_EXE_wharf` is only
//! known to this package's tests, so these live here and not in `wharf-e2e`.)
#![allow(dead_code)] // each test file uses some of them

use std::path::Path;
use std::process::{Command, Output};

use bytes::Bytes;
use wharf_registry::client::BlobPush;
use wharf_registry::manifest::{Descriptor, ImageManifest, media_type};
use wharf_registry::{Client, Repository};

/// A two-thread runtime for the registry client.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

/// The wharf binary, run in `home` with its own Docker config there.
pub fn wharf(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wharf"));
    cmd.env("NO_COLOR", "1")
        .env_remove("WHARF_LOG")
        .env("DOCKER_CONFIG", home.join("docker"))
        .current_dir(home);
    cmd
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run wharf: {e}"))
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Its stdout, after asserting it succeeded.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "wharf failed ({}): {}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Exit code 1 with `reason` in stderr.
pub fn refused(out: &Output, reason: &str) {
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains(reason), "{}", text(&out.stderr));
}

/// Its stdout as JSON, after asserting it succeeded.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(out)).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

/// Pushes a small OCI image (one layer from `seed`) under each of `tags` (by digest
/// when none), its config saying it was created at `created` (none: unknown); its
/// descriptor.
pub async fn push_image(
    client: &Client,
    repo: &Repository,
    tags: &[&str],
    seed: &str,
    created: Option<&str>,
) -> Descriptor {
    let layer = BlobPush::bytes(media_type::OCI_LAYER, Bytes::from(format!("layer {seed}")));
    let mut config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer.descriptor.digest.as_str()]},
        "config": {"Labels": {"seed": seed}},
    });
    if let Some(c) = created {
        config["created"] = serde_json::json!(c);
    }
    let config = BlobPush::bytes(media_type::OCI_CONFIG, Bytes::from(config.to_string()));
    client
        .push_blobs(repo, &[config.clone(), layer.clone()])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.into()),
        artifact_type: None,
        config: config.descriptor.clone(),
        layers: vec![layer.descriptor.clone()],
        subject: None,
        annotations: Default::default(),
        extra: Default::default(),
    };
    let bytes = Bytes::from(serde_json::to_vec(&manifest).unwrap_or_default());
    let descriptor = Descriptor::of(media_type::OCI_MANIFEST, &bytes);
    let by_digest = [descriptor.digest.as_str()];
    let references: &[&str] = if tags.is_empty() { &by_digest } else { tags };
    for reference in references {
        client
            .push_manifest(repo, reference, media_type::OCI_MANIFEST, bytes.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    descriptor
}
