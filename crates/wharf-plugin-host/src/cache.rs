//! Precompiled code on disk: `<dir>/<engine>/<component>.cwasm`, where `<engine>`
//! is a SHA-256 of wasmtime's `Engine::precompile_compatibility_hash()` (the
//! wasmtime version and every setting that changes generated code) and
//! `<component>` the component's SHA-256. Files are written to a temporary name
//! and renamed, so a concurrent process never maps half a file.

use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// How a plugin's code was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compiled {
    /// Loaded from the on-disk cache, in this long.
    FromCache(Duration),
    /// Compiled now (Cranelift), in this long; written to the cache when there is one.
    Now(Duration),
    /// Already loaded in this process.
    InMemory,
}

/// A [`Hasher`] feeding SHA-256, so the engine's compatibility hash is stable
/// across processes and Rust versions (std's hashers promise neither).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// The cache key of an engine: hex SHA-256 of its compatibility hash (16 chars).
pub(crate) fn engine_key(engine: &Engine) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
    hex::encode(&hasher.0.finalize()[..8])
}

/// `sha256:<hex>` of `bytes`.
pub(crate) fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The on-disk cache of one engine.
#[derive(Clone, Debug)]
pub(crate) struct CodeCache {
    dir: Option<PathBuf>,
}

impl CodeCache {
    pub(crate) fn new(root: Option<&Path>, engine: &Engine) -> CodeCache {
        CodeCache {
            dir: root.map(|r| r.join(engine_key(engine))),
        }
    }

    pub(crate) fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    fn path(&self, digest: &str) -> Option<PathBuf> {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.dir.as_ref().map(|d| d.join(format!("{hex}.cwasm")))
    }

    /// The component for `bytes` (whose digest is `digest`): from the cache when it
    /// has a usable entry, else compiled and stored.
    pub(crate) fn load(
        &self,
        engine: &Engine,
        digest: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, Compiled)> {
        if let Some(path) = self.path(digest)
            && path.is_file()
        {
            let start = Instant::now();
            match deserialize(engine, &path) {
                Ok(component) => return Ok((component, Compiled::FromCache(start.elapsed()))),
                Err(e) => tracing::warn!(
                    path = %path.display(),
                    error = %e,
                    "ignoring an unusable precompiled plugin; compiling again"
                ),
            }
        }
        let start = Instant::now();
        let component = Component::new(engine, bytes)?;
        let took = start.elapsed();
        if let Some(path) = self.path(digest)
            && let Err(e) = store(&component, &path)
        {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the plugin cache");
        }
        Ok((component, Compiled::Now(took)))
    }
}

fn store(component: &Component, path: &Path) -> Result<(), String> {
    let bytes = component.serialize().map_err(|e| e.to_string())?;
    let dir = path.parent().ok_or("no parent directory")?;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("plugin"),
        std::process::id()
    ));
    std::fs::write(&tmp, &bytes).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        e.to_string()
    })
}

/// Maps a `.cwasm` this host wrote.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: wasmtime requires that the file be a `.cwasm` produced by a compatible
    // wasmtime (it checks the version and engine settings itself and refuses others)
    // and not modified while mapped. The file lives in the host's own cache
    // directory, keyed by the engine's compatibility hash and the component's
    // SHA-256, and is only ever replaced by an atomic rename, never written in place.
    unsafe { Component::deserialize_file(engine, path) }
}
