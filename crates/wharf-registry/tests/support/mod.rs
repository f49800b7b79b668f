//! Shared pieces of the client tests: clients with test settings, images made of
//! random blobs, and skopeo.

#![allow(dead_code)]

pub mod proxy;
pub mod token;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rand::RngCore as _;
use wharf_registry::client::{BlobPush, ClientOptions, RetryNotice, RetryPolicy};
use wharf_registry::manifest::{Descriptor, ImageManifest, media_type};
use wharf_registry::{Client, Credential, Keychain};

/// Retries noticed by a client.
#[derive(Clone, Default)]
pub struct Retries(Arc<Mutex<Vec<RetryNotice>>>);

impl Retries {
    pub fn all(&self) -> Vec<RetryNotice> {
        self.0.lock().expect("lock").clone()
    }
}

/// Options with `keychain`, a short retry budget, and retries recorded.
pub fn options(keychain: Keychain, budget: Duration) -> (ClientOptions, Retries) {
    let retries = Retries::default();
    let record = retries.clone();
    let options = ClientOptions {
        keychain: Arc::new(keychain),
        retry: RetryPolicy {
            budget,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(400),
            on_retry: Some(Arc::new(move |n: &RetryNotice| {
                record.0.lock().expect("lock").push(n.clone());
            })),
        },
        ..ClientOptions::default()
    };
    (options, retries)
}

/// A client with `keychain` and a 5 s retry budget.
pub fn client(keychain: Keychain) -> Client {
    Client::new(options(keychain, Duration::from_secs(5)).0).expect("client")
}

/// A keychain with a basic credential for `host`.
pub fn basic(host: &str, user: &str, password: &str) -> Keychain {
    Keychain::anonymous().with(
        host,
        Credential::Basic {
            username: user.into(),
            password: password.into(),
        },
    )
}

pub fn random(len: usize) -> Bytes {
    let mut bytes = vec![0_u8; len];
    rand::rng().fill_bytes(&mut bytes);
    Bytes::from(bytes)
}

/// An image made of a config and random layers, as blobs to push and the manifest.
pub struct TestImage {
    pub blobs: Vec<BlobPush>,
    pub manifest: Bytes,
    pub media_type: &'static str,
}

impl TestImage {
    /// An OCI image with layers of the given sizes.
    pub fn oci(seed: &str, layers: &[usize]) -> TestImage {
        TestImage::build(seed, layers, false, "amd64")
    }

    /// A Docker schema 2 image.
    pub fn docker(seed: &str, layers: &[usize]) -> TestImage {
        TestImage::build(seed, layers, true, "amd64")
    }

    /// An OCI image for `architecture`.
    pub fn for_arch(seed: &str, layers: &[usize], architecture: &str) -> TestImage {
        TestImage::build(seed, layers, false, architecture)
    }

    fn build(seed: &str, layers: &[usize], docker: bool, architecture: &str) -> TestImage {
        let (manifest_type, config_type, layer_type) = if docker {
            (
                media_type::DOCKER_MANIFEST,
                media_type::DOCKER_CONFIG,
                media_type::DOCKER_LAYER_GZIP,
            )
        } else {
            (
                media_type::OCI_MANIFEST,
                media_type::OCI_CONFIG,
                media_type::OCI_LAYER_GZIP,
            )
        };
        let layer_blobs: Vec<BlobPush> = layers
            .iter()
            .map(|&size| BlobPush::bytes(layer_type, random(size)))
            .collect();
        let diff_ids: Vec<String> = layer_blobs
            .iter()
            .map(|b| b.descriptor.digest.to_string())
            .collect();
        let config = serde_json::json!({
            "architecture": architecture,
            "os": "linux",
            "created": "2026-01-02T03:04:05Z",
            "config": { "Labels": { "seed": seed } },
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
        });
        let config = BlobPush::bytes(config_type, serde_json::to_vec(&config).expect("config"));
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(manifest_type.to_string()),
            artifact_type: None,
            config: config.descriptor.clone(),
            layers: layer_blobs.iter().map(|b| b.descriptor.clone()).collect(),
            subject: None,
            annotations: Default::default(),
            extra: Default::default(),
        };
        let manifest = Bytes::from(serde_json::to_vec(&manifest).expect("manifest"));
        let mut blobs = vec![config];
        blobs.extend(layer_blobs);
        TestImage {
            blobs,
            manifest,
            media_type: manifest_type,
        }
    }

    pub fn descriptor(&self) -> Descriptor {
        Descriptor::of(self.media_type, &self.manifest)
    }
}

/// Runs skopeo; its stdout, or a panic with its stderr.
pub fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo runs");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A unique suffix.
pub fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}
