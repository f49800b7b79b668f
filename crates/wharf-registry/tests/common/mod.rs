//! Shared helpers: a `LocalRegistry` served on its own runtime (tests are plain
//! threads that run blocking commands), and a small HTTP client.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use reqwest::blocking::{Client, Response};
use sha2::{Digest as _, Sha256};
use wharf_registry::{LocalRegistry, RegistryStats};

/// A registry served on a private runtime; stopped on drop.
pub struct Served {
    pub registry: Option<LocalRegistry>,
    runtime: tokio::runtime::Runtime,
    /// `127.0.0.1:PORT`
    pub host: String,
}

impl Served {
    /// Serves `root` on a free loopback port.
    pub fn start(root: &Path) -> Served {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let addr = "127.0.0.1:0".parse().expect("address");
        let registry = runtime
            .block_on(LocalRegistry::start(root.to_path_buf(), addr))
            .expect("registry starts");
        let host = registry.host();
        Served {
            registry: Some(registry),
            runtime,
            host,
        }
    }

    /// What the server has counted.
    pub fn stats(&self) -> RegistryStats {
        self.registry
            .as_ref()
            .map(LocalRegistry::stats)
            .unwrap_or_default()
    }

    /// `http://127.0.0.1:PORT{path}`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.host)
    }

    /// Stops the server and waits for it.
    pub fn stop(mut self) {
        if let Some(registry) = self.registry.take() {
            self.runtime.block_on(registry.shutdown());
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(registry) = self.registry.take() {
            self.runtime.block_on(registry.shutdown());
        }
    }
}

/// A blocking HTTP client that does not follow redirects.
pub fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A header as text ("" when missing).
pub fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// The first error code of a distribution error body.
pub fn error_code(response: Response) -> String {
    let body: serde_json::Value = response.json().expect("JSON error body");
    body["errors"][0]["code"]
        .as_str()
        .unwrap_or("<no code>")
        .to_string()
}

/// Uploads `bytes` to `name` in one POST with `?digest=`; returns the digest.
pub fn push_blob(served: &Served, name: &str, bytes: &[u8]) -> String {
    let digest = digest(bytes);
    let response = client()
        .post(served.url(&format!("/v2/{name}/blobs/uploads/?digest={digest}")))
        .body(bytes.to_vec())
        .send()
        .expect("POST blob");
    assert_eq!(response.status().as_u16(), 201, "monolithic upload");
    digest
}

/// An image manifest naming one config blob and one layer blob already in `name`;
/// returns its bytes.
pub fn push_image(served: &Served, name: &str, seed: &str) -> Vec<u8> {
    let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\"{seed}\"}}");
    let layer = format!("layer for {seed}");
    let config_digest = push_blob(served, name, config.as_bytes());
    let layer_digest = push_blob(served, name, layer.as_bytes());
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer_digest,
            "size": layer.len(),
        }],
    }))
    .expect("manifest JSON")
}

/// PUTs a manifest under `reference`; returns the response.
pub fn put_manifest(
    served: &Served,
    name: &str,
    reference: &str,
    media_type: &str,
    bytes: &[u8],
) -> Response {
    client()
        .put(served.url(&format!("/v2/{name}/manifests/{reference}")))
        .header("Content-Type", media_type)
        .body(bytes.to_vec())
        .send()
        .expect("PUT manifest")
}

/// A unique suffix for image names and tags.
pub fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

/// A directory that outlives the test's temp dir handle when needed.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// A path under `dir`.
pub fn path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}
