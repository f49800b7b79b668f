//! Plugins as OCI artifacts, in the CNCF "Wasm OCI artifact" layout: an OCI image
//! manifest whose config is `application/vnd.wasm.config.v0+json` and whose one
//! layer is the component (`application/wasm`). Pushed and pulled through
//! [`wharf_registry::Client`].
//!
//! Pulled components are kept by digest under `<plugin cache>/oci/`:
//! `blobs/sha256/<hex>` (the component), `manifests/sha256/<hex>` (the manifest's
//! layer digest) and `tags/<reference>` (the manifest digest a tag last named). A
//! `@sha256:` reference found there never touches the network again; a tag is
//! resolved with one manifest request, and the component is downloaded only when
//! its digest is not cached. When the registry cannot be reached, a tag pulled
//! before is run from the cache, with a warning.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde_json::json;
use wharf_engine::{ErrorKind, ExecError};
use wharf_registry::client::BlobPush;
use wharf_registry::manifest::{Descriptor, ImageManifest, Manifest, media_type};
use wharf_registry::{Client, Digest, ImageRef, Repository};

use super::source::Found;

/// The config media type of a Wasm artifact.
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// The layer media type of a component.
pub const WASM_LAYER: &str = "application/wasm";
/// The largest component pulled.
pub const MAX_COMPONENT: u64 = 256 << 20;

/// Where pulled plugins are kept: `<plugin cache>/oci`.
pub fn cache_root() -> Option<PathBuf> {
    wharf_plugin_host::default_cache_dir().map(|d| d.join("oci"))
}

/// The OCI plugin store of a run or command.
#[derive(Debug, Clone)]
pub struct Store {
    client: Option<Client>,
    root: Option<PathBuf>,
}

/// What a pull found.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The manifest's digest.
    pub manifest: Digest,
    /// The component's digest.
    pub layer: Digest,
    /// The component in the cache.
    pub path: PathBuf,
    /// Whether the component came from the cache (no download).
    pub cached: bool,
}

fn registry_error(e: impl std::fmt::Display) -> ExecError {
    ExecError::of(ErrorKind::Registry, e.to_string())
}

fn tag_file(reference: &str) -> String {
    reference
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Store {
    /// A store pulling with `client` (none: only what is cached).
    pub fn new(client: Option<Client>) -> Store {
        Store {
            client,
            root: cache_root(),
        }
    }

    fn root(&self) -> Result<&Path, ExecError> {
        self.root.as_deref().ok_or_else(|| {
            ExecError::of(
                ErrorKind::Other,
                "no cache directory for OCI plugins: set WHARF_PLUGIN_CACHE or HOME",
            )
        })
    }

    fn blob_path(&self, digest: &Digest) -> Result<PathBuf, ExecError> {
        Ok(self.root()?.join("blobs/sha256").join(digest.hex()))
    }

    fn manifest_record(&self, digest: &Digest) -> Result<PathBuf, ExecError> {
        Ok(self.root()?.join("manifests/sha256").join(digest.hex()))
    }

    fn write(path: &Path, bytes: &[u8]) -> Result<(), ExecError> {
        let fail = |e: std::io::Error| {
            ExecError::of(
                ErrorKind::Other,
                format!("cannot write {}: {e}", path.display()),
            )
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        // Replaced by rename, never rewritten in place.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes).map_err(fail)?;
        std::fs::rename(&tmp, path).map_err(fail)
    }

    /// The cached layer of manifest `digest`, if both are cached.
    fn cached(&self, manifest: &Digest) -> Option<Pulled> {
        let record = std::fs::read_to_string(self.manifest_record(manifest).ok()?).ok()?;
        let layer = Digest::parse(record.trim()).ok()?;
        let path = self.blob_path(&layer).ok()?;
        // Only a blob whose bytes still hash to its name is used.
        let bytes = std::fs::read(&path).ok()?;
        (Digest::sha256(&bytes) == layer).then(|| Pulled {
            manifest: manifest.clone(),
            layer,
            path,
            cached: true,
        })
    }

    /// Pulls `reference` (`REGISTRY/REPO:TAG` or `...@sha256:...`, without `oci://`)
    /// into the cache, downloading only what is not there.
    pub async fn pull(&self, reference: &str) -> Result<Pulled, ExecError> {
        let image = ImageRef::parse(reference).map_err(|e| {
            ExecError::of(ErrorKind::Input, format!("plugin oci://{reference}: {e}"))
        })?;
        if let Some(d) = &image.digest
            && let Some(hit) = self.cached(d)
        {
            return Ok(hit);
        }
        let tag_record = self.root()?.join("tags").join(tag_file(reference));
        let Some(client) = &self.client else {
            return Err(ExecError::of(
                ErrorKind::Registry,
                format!("plugin oci://{reference} is not cached, and there is no registry client"),
            ));
        };
        let pulled = match client.pull_manifest(&image).await {
            Ok(m) => m,
            Err(e) => {
                // A tag pulled before still runs when the registry is away.
                if !e.is_not_found()
                    && image.digest.is_none()
                    && let Ok(text) = std::fs::read_to_string(&tag_record)
                    && let Ok(d) = Digest::parse(text.trim())
                    && let Some(hit) = self.cached(&d)
                {
                    eprintln!(
                        "wharf: warning: cannot reach the registry for oci://{reference} ({e}); using the copy pulled before ({d})"
                    );
                    return Ok(hit);
                }
                return Err(registry_error(format!("plugin oci://{reference}: {e}")));
            }
        };
        let manifest = match pulled.parse() {
            Ok(Manifest::Image(m)) => m,
            Ok(Manifest::Index(_)) => {
                return Err(ExecError::of(
                    ErrorKind::Input,
                    format!("oci://{reference} is an index, not a Wasm plugin artifact"),
                ));
            }
            Err(e) => return Err(registry_error(format!("oci://{reference}: {e}"))),
        };
        let layer = wasm_layer(&manifest)
            .map_err(|m| ExecError::of(ErrorKind::Input, format!("oci://{reference} {m}")))?;
        if image.digest.is_none() {
            Self::write(&tag_record, pulled.digest.as_str().as_bytes())?;
        }
        if let Some(mut hit) = self.cached(&pulled.digest) {
            hit.manifest = pulled.digest.clone();
            return Ok(hit);
        }
        let path = self.blob_path(&layer.digest)?;
        let cached = std::fs::read(&path)
            .ok()
            .is_some_and(|b| Digest::sha256(&b) == layer.digest);
        if !cached {
            let bytes = client
                .pull_blob(&Repository::of(&image), layer, MAX_COMPONENT)
                .await
                .map_err(|e| registry_error(format!("plugin oci://{reference}: {e}")))?;
            Self::write(&path, &bytes)?;
        }
        Self::write(
            &self.manifest_record(&pulled.digest)?,
            layer.digest.as_str().as_bytes(),
        )?;
        Ok(Pulled {
            manifest: pulled.digest,
            layer: layer.digest.clone(),
            path,
            cached,
        })
    }

    /// The component for a step's `oci://` source.
    pub async fn fetch(&self, reference: &str) -> Result<Found, ExecError> {
        let pulled = self.pull(reference).await?;
        let image = ImageRef::parse(reference).ok();
        let name = image
            .as_ref()
            .and_then(|i| i.repository.rsplit('/').next().map(str::to_string))
            .unwrap_or_else(|| reference.to_string());
        tracing::debug!(reference, manifest = %pulled.manifest, cached = pulled.cached, "OCI plugin");
        Ok(Found {
            name,
            path: pulled.path,
        })
    }

    /// Every component pulled so far: (tag reference or `-`, manifest digest, layer
    /// digest, size).
    pub fn list(&self) -> Vec<(String, Digest, Digest, u64)> {
        let Ok(root) = self.root() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let tags: Vec<(String, Digest)> = std::fs::read_dir(root.join("tags"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let text = std::fs::read_to_string(e.path()).ok()?;
                Some((
                    e.file_name().to_string_lossy().into_owned(),
                    Digest::parse(text.trim()).ok()?,
                ))
            })
            .collect();
        for entry in std::fs::read_dir(root.join("manifests/sha256"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let Ok(manifest) =
                Digest::parse(&format!("sha256:{}", entry.file_name().to_string_lossy()))
            else {
                continue;
            };
            let Some(hit) = self.cached(&manifest) else {
                continue;
            };
            let size = std::fs::metadata(&hit.path).map(|m| m.len()).unwrap_or(0);
            let named: Vec<&str> = tags
                .iter()
                .filter(|(_, d)| *d == manifest)
                .map(|(t, _)| t.as_str())
                .collect();
            let name = if named.is_empty() {
                "-".to_string()
            } else {
                named.join(",")
            };
            out.push((name, manifest, hit.layer, size));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// The component layer of a Wasm artifact, or why the manifest is not one.
pub fn wasm_layer(manifest: &ImageManifest) -> Result<&Descriptor, String> {
    if manifest.config.media_type != WASM_CONFIG {
        return Err(format!(
            "is not a Wasm plugin artifact: its config is {}, not {WASM_CONFIG}",
            manifest.config.media_type
        ));
    }
    let layers: Vec<&Descriptor> = manifest
        .layers
        .iter()
        .filter(|l| l.media_type == WASM_LAYER)
        .collect();
    match layers.as_slice() {
        [one] => Ok(one),
        [] => Err(format!("has no {WASM_LAYER} layer")),
        _ => Err(format!(
            "has {} {WASM_LAYER} layers; a plugin has one",
            layers.len()
        )),
    }
}

/// What a push needs to know of the component.
#[derive(Debug, Clone)]
pub struct ComponentInfo {
    /// The file name (`semver-tagger.wasm`), for the layer's title.
    pub file_name: String,
    /// `tagger`, `scanner`, `notifier`.
    pub world: String,
    /// Its imports.
    pub imports: Vec<String>,
    /// Its exports.
    pub exports: Vec<String>,
}

/// The config blob of a Wasm artifact (the CNCF layout: `architecture: wasm`,
/// `os: wasip2`, `layerDigests`, `component`).
pub fn config_json(info: &ComponentInfo, layer: &Digest, created: &str) -> Vec<u8> {
    let config = json!({
        "created": created,
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [layer.as_str()],
        "component": {
            "exports": info.exports,
            "imports": info.imports,
            "target": format!("wharf:plugin/{}@0.1.0", info.world),
        },
    });
    serde_json::to_vec(&config).unwrap_or_default()
}

/// Pushes component `bytes` to `image`; returns the manifest's digest and size.
pub async fn push(
    client: &Client,
    image: &ImageRef,
    bytes: Bytes,
    info: &ComponentInfo,
) -> Result<(Digest, u64), wharf_registry::client::Error> {
    let repo = Repository::of(image);
    let created = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let layer = BlobPush::bytes(WASM_LAYER, bytes);
    let layer_digest = layer.descriptor.digest.clone();
    let config = BlobPush::bytes(WASM_CONFIG, config_json(info, &layer_digest, &created));
    client.push_blob(&repo, &layer).await?;
    client.push_blob(&repo, &config).await?;
    let mut layer_descriptor = layer.descriptor.clone();
    layer_descriptor.annotations.insert(
        "org.opencontainers.image.title".into(),
        info.file_name.clone(),
    );
    let mut manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.into()),
        artifact_type: None,
        config: config.descriptor.clone(),
        layers: vec![layer_descriptor],
        subject: None,
        annotations: Default::default(),
        extra: Default::default(),
    };
    manifest
        .annotations
        .insert("org.opencontainers.image.created".into(), created);
    manifest
        .annotations
        .insert("dev.wharf.plugin.world".into(), info.world.clone());
    let body = serde_json::to_vec(&manifest).unwrap_or_default();
    let reference = image
        .digest
        .as_ref()
        .map(|d| d.as_str().to_string())
        .or_else(|| image.tag.clone())
        .unwrap_or_else(|| "latest".into());
    let pushed = client
        .push_manifest(
            &repo,
            &reference,
            media_type::OCI_MANIFEST,
            Bytes::from(body),
        )
        .await?;
    Ok((pushed.digest, pushed.size))
}
