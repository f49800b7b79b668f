//! An image's layers and config out of the engine, for a native push: the image is
//! exported (`GET /images/{name}/get`, what `docker save` reads) as a stream, never
//! held in memory. Each layer wanted is written to a temporary file while its diff
//! id is hashed, and compressed by a pool of threads (one per core), so layers are
//! compressed in parallel while the export goes on and uploads start as soon as a
//! layer is ready. Reading stops as soon as everything wanted has been seen.
//!
//! Both `docker save` layouts are read: the legacy one (`<id>/layer.tar`,
//! `<image id hex>.json`; dockerd before 25) and the OCI one (`blobs/sha256/<hex>`).

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use bollard::Docker;
use bytes::Bytes;
use futures_util::TryStreamExt as _;
use tokio::sync::mpsc;
use tokio_util::io::{StreamReader, SyncIoBridge};
use wharf_registry::Digest;
use wharf_registry::layers::{CompressedLayer, gzip_known_layer};

/// Something the export produced.
#[derive(Debug)]
pub(crate) enum Exported {
    /// The image config's bytes.
    Config(Bytes),
    /// A layer, compressed into `path`.
    Layer {
        diff_id: Digest,
        layer: CompressedLayer,
        path: PathBuf,
    },
}

/// What to take out of the export.
#[derive(Debug, Clone)]
pub(crate) struct Wanted {
    /// The image id (its config's digest).
    pub image_id: Digest,
    /// Whether the config is needed.
    pub config: bool,
    /// The diff ids of the layers needed.
    pub layers: HashSet<Digest>,
}

/// Starts exporting `image`; what it produces arrives on the returned channel, and
/// the channel closes when everything wanted was sent (or after an error). Files go
/// to `dir`.
pub(crate) fn start(
    docker: &Docker,
    image: &str,
    wanted: Wanted,
    dir: &Path,
) -> mpsc::Receiver<Result<Exported, String>> {
    let (tx, rx) = mpsc::channel(16);
    let stream = docker
        .export_image(image)
        .map_err(|e| std::io::Error::other(crate::error::describe(&e)));
    let reader = SyncIoBridge::new(StreamReader::new(Box::pin(stream)));
    let dir = dir.to_path_buf();
    let image = image.to_string();
    tokio::task::spawn_blocking(move || {
        if let Err(message) = read_export(reader, &image, &wanted, &dir, &tx) {
            let _ = tx.blocking_send(Err(message));
        }
    });
    rx
}

/// At most this many layers are compressed at once (and spooled but not yet
/// compressed, so a slow compressor holds the export back instead of the disk).
fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8))
}

/// A counting semaphore for the blocking side.
struct Slots {
    free: Mutex<usize>,
    changed: Condvar,
}

impl Slots {
    fn take(&self) {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.changed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
    }

    fn give(&self) {
        *self.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.changed.notify_one();
    }
}

fn read_export(
    reader: impl Read,
    image: &str,
    wanted: &Wanted,
    dir: &Path,
    tx: &mpsc::Sender<Result<Exported, String>>,
) -> Result<(), String> {
    let fail = |what: &str, e: std::io::Error| {
        format!("cannot read the engine's export of {image} ({what}): {e}")
    };
    let mut archive = tar::Archive::new(reader);
    let mut need_config = wanted.config;
    let mut missing: HashSet<Digest> = wanted.layers.clone();
    let slots = Arc::new(Slots {
        free: Mutex::new(workers()),
        changed: Condvar::new(),
    });
    let mut compressing = Vec::new();
    let config_name = format!("{}.json", wanted.image_id.hex());
    let config_blob = format!("blobs/sha256/{}", wanted.image_id.hex());
    let entries = archive.entries().map_err(|e| fail("entries", e))?;
    for entry in entries {
        if (!need_config && missing.is_empty()) || tx.is_closed() {
            break;
        }
        let mut entry = entry.map_err(|e| fail("an entry", e))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| fail("an entry name", e))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        if need_config && (path == config_name || path == config_blob) {
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| fail("the config", e))?;
            if !wanted.image_id.matches(&bytes) {
                return Err(format!(
                    "the engine's export of {image} has a config that does not match the image id {}",
                    wanted.image_id
                ));
            }
            need_config = false;
            if tx
                .blocking_send(Ok(Exported::Config(Bytes::from(bytes))))
                .is_err()
            {
                return Ok(());
            }
            continue;
        }
        let legacy_layer = path.ends_with("/layer.tar");
        let oci_blob = path
            .strip_prefix("blobs/sha256/")
            .and_then(|hex| Digest::parse(&format!("sha256:{hex}")).ok());
        let candidate = match &oci_blob {
            Some(digest) => missing.contains(digest),
            None => legacy_layer,
        };
        if !candidate || missing.is_empty() {
            continue;
        }
        // Spool the layer while hashing it: its diff id decides whether it is wanted.
        slots.take();
        let mut raw = tempfile::Builder::new()
            .prefix("layer-")
            .tempfile_in(dir)
            .map_err(|e| fail("a temporary file", e))?;
        let mut hasher =
            wharf_registry::digest::Hasher::new(wharf_registry::digest::Algorithm::Sha256);
        let mut buf = vec![0_u8; 1 << 20];
        loop {
            let n = entry.read(&mut buf).map_err(|e| fail("a layer", e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            std::io::Write::write_all(&mut raw, &buf[..n])
                .map_err(|e| fail("a temporary file", e))?;
        }
        let diff_id = hasher.finish();
        if !missing.remove(&diff_id) {
            slots.give();
            continue;
        }
        let tx = tx.clone();
        let slots = Arc::clone(&slots);
        let dir = dir.to_path_buf();
        let image = image.to_string();
        compressing.push(std::thread::spawn(move || {
            let result = compress(raw, &diff_id, &dir)
                .map_err(|e| format!("cannot compress layer {diff_id} of {image}: {e}"));
            slots.give();
            let _ = tx.blocking_send(result.map(|(layer, path)| Exported::Layer {
                diff_id: diff_id.clone(),
                layer,
                path,
            }));
        }));
    }
    drop(archive);
    for worker in compressing {
        let _ = worker.join();
    }
    if need_config {
        return Err(format!(
            "the engine's export of {image} has no config {}",
            wanted.image_id
        ));
    }
    if let Some(diff_id) = missing.into_iter().next() {
        return Err(format!(
            "the engine's export of {image} has no layer with diff id {diff_id}"
        ));
    }
    Ok(())
}

/// Gzips a spooled layer into a file next to it; the spool is removed. Its diff id
/// was hashed as it was spooled, so it is not hashed again.
fn compress(
    raw: tempfile::NamedTempFile,
    diff_id: &Digest,
    dir: &Path,
) -> std::io::Result<(CompressedLayer, PathBuf)> {
    let input = std::io::BufReader::with_capacity(1 << 20, raw.reopen()?);
    let out_path = dir.join(format!("{}.gz", diff_id.hex()));
    let out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&out_path)?);
    let layer = gzip_known_layer(input, out)?;
    drop(raw);
    Ok((layer, out_path))
}
