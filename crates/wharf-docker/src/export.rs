//! An image's layers and config out of the engine, for a native push: the image is
//! exported (`GET /images/{name}/get`, what `docker save` reads) as a stream, never
//! held in memory. Reading stops as soon as everything wanted has been seen.
//!
//! A layer is known to be wanted either before it is read (the OCI layout names
//! layers by diff id; or every layer of the image is wanted, as in a first push) or
//! only after (the legacy layout names them by v1 id, and the diff id is the hash of
//! the whole entry):
//! - **streamed** when known before: compressed on a thread of its own while it is
//!   read, into a file that its upload reads as it grows ([`Exported::Stream`],
//!   [`GrowingFile`]): the export is never held back by the registry, several layers
//!   upload at once, each follows its compression closely, and the file is there for
//!   an upload again if the stream fails;
//! - **spooled** otherwise: written to a temporary file while its diff id is hashed,
//!   then, if wanted, compressed by a pool of threads (one per core) while the export
//!   goes on, and uploaded when ready.
//!
//! Both `docker save` layouts are read: the legacy one (`<id>/layer.tar`,
//! `<image id hex>.json`; dockerd before 25) and the OCI one (`blobs/sha256/<hex>`).

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use bollard::Docker;
use bytes::Bytes;
use futures_util::TryStreamExt as _;
use tokio::sync::mpsc;
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::archive::ChannelReader;
use wharf_registry::Digest;
use wharf_registry::layers::{CompressedLayer, gzip_known_layer};

/// Something the export produced.
#[derive(Debug)]
pub(crate) enum Exported {
    /// The image config's bytes.
    Config(Bytes),
    /// A layer is being compressed as it is exported into a file that `body`
    /// reads as it grows, for a streamed upload. A `Layer` or `Dropped` with the
    /// same `stream` follows.
    Stream {
        stream: usize,
        body: GrowingFile,
        /// What progress calls it: 12 hex digits of its name in the export (the
        /// diff id in the OCI layout, the v1 id in the legacy one).
        item: String,
        /// Its uncompressed size, and how much of it was read so far.
        size: u64,
        read: Arc<AtomicU64>,
    },
    /// A layer, compressed into `path` (streamed as `stream`, if it was).
    Layer {
        diff_id: Digest,
        layer: CompressedLayer,
        path: PathBuf,
        stream: Option<usize>,
    },
    /// A streamed layer that was not wanted after all (its diff id came twice): its
    /// upload is not committed.
    Dropped { stream: usize },
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
    /// Whether `layers` are all the image's layers: then each layer entry is
    /// streamed (compressed and uploaded as it is read), whatever the layout.
    pub all_layers: bool,
    /// The image's diff ids in order (its `RootFS.Layers`): what names a legacy
    /// export's layers.
    pub diff_ids: Vec<Digest>,
}

/// Compressed bytes are written to the file, and made readable, in pieces of this.
const STREAM_PIECE: usize = 256 << 10;
/// Chunks of a streamed layer read but not yet compressed (1 MiB each).
const STREAM_CHUNKS: usize = 8;

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
    let mut streams = 0;
    // Streamed legacy entries waiting for manifest.json to name their diff id.
    let mut unnamed: Vec<(String, std::sync::mpsc::SyncSender<Option<Digest>>)> = Vec::new();
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
        if path == "manifest.json" && !unnamed.is_empty() {
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| fail("manifest.json", e))?;
            name_layers(&bytes, &wanted.diff_ids, &mut unnamed, &mut missing)
                .map_err(|m| format!("the engine's export of {image}: {m}"))?;
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
        if oci_blob.is_some() || wanted.all_layers {
            let stream = streams;
            streams += 1;
            let item: String = match &oci_blob {
                Some(digest) => digest.hex().chars().take(12).collect(),
                None => path.chars().take_while(|c| *c != '/').take(12).collect(),
            };
            let layer = StreamedEntry {
                stream,
                item,
                size: entry.header().size().unwrap_or(0),
                image,
                dir,
                tx,
                slots: &slots,
            };
            // The OCI layout names the layer by its diff id: hashed, to check it.
            // A legacy entry's diff id is its place in the export's manifest.json,
            // which comes last; dockerd checks each layer's bytes against its diff id
            // as it writes them (moby's roLayer.TarStream), so they are not hashed
            // again here.
            let identity = match &oci_blob {
                Some(_) => Identity::Hash(&mut missing),
                None => Identity::Later,
            };
            match layer.read(&mut entry, identity)? {
                Some((worker, decide)) => {
                    compressing.push(worker);
                    if let Some(decide) = decide {
                        unnamed.push((path, decide));
                    }
                }
                None => return Ok(()),
            }
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
                stream: None,
            }));
        }));
    }
    drop(archive);
    let unnamed_left = !unnamed.is_empty();
    for (_, decide) in unnamed {
        let _ = decide.send(None);
    }
    for worker in compressing {
        let _ = worker.join();
    }
    if unnamed_left {
        return Err(format!(
            "the engine's export of {image} has no manifest.json naming its layers"
        ));
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

/// A layer entry read while a thread compresses it for a streamed upload.
struct StreamedEntry<'a> {
    stream: usize,
    item: String,
    size: u64,
    image: &'a str,
    dir: &'a Path,
    tx: &'a mpsc::Sender<Result<Exported, String>>,
    slots: &'a Arc<Slots>,
}

impl StreamedEntry<'_> {
    /// Announces the stream, starts its compressor, and reads the entry into it while
    /// hashing its diff id; the compressor tells the rest when it is done. `None`
    /// when the push went away.
    /// With [`Identity::Later`], the sender that gives the compressor the entry's
    /// diff id (or `None`) comes back with the worker.
    #[allow(clippy::type_complexity)]
    fn read(
        self,
        entry: &mut impl Read,
        identity: Identity<'_>,
    ) -> Result<
        Option<(
            std::thread::JoinHandle<()>,
            Option<std::sync::mpsc::SyncSender<Option<Digest>>>,
        )>,
        String,
    > {
        let StreamedEntry {
            stream,
            item,
            size,
            image,
            dir,
            tx,
            slots,
        } = self;
        let fail = |what: &str, e: std::io::Error| {
            format!("cannot read the engine's export of {image} ({what}): {e}")
        };
        let path = dir.join(format!("stream-{stream}.gz"));
        let file = std::fs::File::create(&path).map_err(|e| fail("a temporary file", e))?;
        let growing = Arc::new(Growth::default());
        slots.take();
        let read = Arc::new(AtomicU64::new(0));
        if tx
            .blocking_send(Ok(Exported::Stream {
                stream,
                body: GrowingFile {
                    path: path.clone(),
                    growth: Arc::clone(&growing),
                },
                item,
                size,
                read: Arc::clone(&read),
            }))
            .is_err()
        {
            slots.give();
            return Ok(None);
        }
        let (chunks_tx, chunks_rx) = mpsc::channel(STREAM_CHUNKS);
        // The entry's diff id once it is read: `None` when it is not wanted after all
        // (or the export failed), and the compressed layer is thrown away.
        let (decided, decision) = std::sync::mpsc::sync_channel::<Option<Digest>>(1);
        let worker = {
            let tx = tx.clone();
            let slots = Arc::clone(slots);
            let image = image.to_string();
            std::thread::spawn(move || {
                let compressed = gzip_known_layer(
                    ChannelReader::new(chunks_rx),
                    Tee::new(file, Arc::clone(&growing)),
                );
                growing.end(match &compressed {
                    Ok(_) => Ok(()),
                    Err(e) => Err(e.to_string()),
                });
                slots.give();
                let message = match (decision.recv().ok().flatten(), compressed) {
                    (Some(diff_id), Ok(layer)) => Ok(Exported::Layer {
                        diff_id,
                        layer,
                        path,
                        stream: Some(stream),
                    }),
                    (Some(diff_id), Err(e)) => {
                        Err(format!("cannot compress layer {diff_id} of {image}: {e}"))
                    }
                    (None, _) => {
                        let _ = std::fs::remove_file(&path);
                        Ok(Exported::Dropped { stream })
                    }
                };
                let _ = tx.blocking_send(message);
            })
        };
        let mut hasher = match identity {
            Identity::Hash(_) => Some(wharf_registry::digest::Hasher::new(
                wharf_registry::digest::Algorithm::Sha256,
            )),
            Identity::Later => None,
        };
        let mut compressor = Some(chunks_tx);
        loop {
            let mut chunk = vec![0_u8; 1 << 20];
            let n = fill(entry, &mut chunk).map_err(|e| fail("a layer", e))?;
            if n == 0 {
                break;
            }
            chunk.truncate(n);
            if let Some(h) = hasher.as_mut() {
                h.update(&chunk);
            }
            read.fetch_add(n as u64, Ordering::Relaxed);
            // A compressor that stopped says why in its own message.
            if let Some(c) = &compressor
                && c.blocking_send(Ok(Bytes::from(chunk))).is_err()
            {
                compressor = None;
            }
        }
        if let Some(c) = compressor {
            let _ = c.blocking_send(Ok(Bytes::new()));
        }
        match (identity, hasher) {
            (Identity::Hash(missing), Some(hasher)) => {
                let diff_id = hasher.finish();
                let wanted = missing.remove(&diff_id);
                let _ = decided.send(wanted.then_some(diff_id));
                Ok(Some((worker, None)))
            }
            _ => Ok(Some((worker, Some(decided)))),
        }
    }
}

/// How a streamed entry's diff id is learnt.
enum Identity<'a> {
    /// By hashing it; `missing` loses it when it was wanted.
    Hash(&'a mut HashSet<Digest>),
    /// From the export's manifest.json, later ([`name_layers`]).
    Later,
}

/// Names the streamed legacy entries from the export's `manifest.json`: its
/// `Layers` are the entries' paths in the order of the image's diff ids. Each
/// entry's compressor is told its diff id, or `None` when that layer was sent
/// already (the same layer twice in one image).
fn name_layers(
    manifest: &[u8],
    diff_ids: &[Digest],
    unnamed: &mut Vec<(String, std::sync::mpsc::SyncSender<Option<Digest>>)>,
    missing: &mut HashSet<Digest>,
) -> Result<(), String> {
    let parsed: serde_json::Value = serde_json::from_slice(manifest)
        .map_err(|e| format!("its manifest.json is not JSON: {e}"))?;
    let layers: Vec<&str> = parsed
        .get(0)
        .and_then(|m| m.get("Layers"))
        .and_then(|l| l.as_array())
        .map(|l| l.iter().filter_map(|p| p.as_str()).collect())
        .unwrap_or_default();
    if layers.len() != diff_ids.len() {
        return Err(format!(
            "its manifest.json lists {} layers, the image has {}",
            layers.len(),
            diff_ids.len()
        ));
    }
    for (path, decide) in unnamed.drain(..) {
        let Some(i) = layers
            .iter()
            .position(|l| l.trim_start_matches("./") == path)
        else {
            let _ = decide.send(None);
            return Err(format!("its manifest.json does not list {path}"));
        };
        let diff_id = &diff_ids[i];
        let _ = decide.send(missing.remove(diff_id).then(|| diff_id.clone()));
    }
    Ok(())
}

/// Reads until `buf` is full or the input ends.
fn fill(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// How far a file being written has come, for readers that follow it.
#[derive(Default)]
pub(crate) struct Growth {
    /// Bytes written and readable; the end, once there is one (an error when the
    /// writer failed).
    state: Mutex<(u64, Option<Result<(), String>>)>,
    changed: tokio::sync::Notify,
}

impl Growth {
    fn grew(&self, n: u64) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).0 += n;
        self.changed.notify_waiters();
    }

    fn end(&self, result: Result<(), String>) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1 = Some(result);
        self.changed.notify_waiters();
    }

    /// Waits until more than `pos` bytes are written (`Some(written)`) or the file
    /// ended at `pos` (`None`).
    async fn past(&self, pos: u64) -> std::io::Result<Option<u64>> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                if state.0 > pos {
                    return Ok(Some(state.0));
                }
                match &state.1 {
                    Some(Ok(())) => return Ok(None),
                    Some(Err(e)) => return Err(std::io::Error::other(e.clone())),
                    None => {}
                }
            }
            changed.await;
        }
    }
}

/// A layer's compressed file while it is written: [`GrowingFile::stream`] reads it
/// as it grows, so its upload follows the compression without holding the export
/// back (the file in the page cache is the buffer between them).
pub(crate) struct GrowingFile {
    path: PathBuf,
    growth: Arc<Growth>,
}

impl std::fmt::Debug for GrowingFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrowingFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl GrowingFile {
    /// The file's bytes, each piece as soon as it is written, to its end.
    pub(crate) fn stream(
        self,
    ) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
        futures_util::stream::try_unfold(
            (None::<tokio::fs::File>, 0_u64, self),
            |(file, pos, me)| async move {
                use tokio::io::AsyncReadExt as _;
                let Some(written) = me.growth.past(pos).await? else {
                    return Ok(None);
                };
                let mut file = match file {
                    Some(file) => file,
                    None => tokio::fs::File::open(&me.path).await?,
                };
                let n = usize::try_from(written - pos)
                    .unwrap_or(STREAM_PIECE)
                    .min(STREAM_PIECE);
                let mut piece = vec![0_u8; n];
                file.read_exact(&mut piece).await?;
                Ok(Some((Bytes::from(piece), (Some(file), pos + n as u64, me))))
            },
        )
    }
}

/// Writes a file in pieces, telling readers as each is written.
struct Tee {
    file: std::fs::File,
    growth: Arc<Growth>,
    pending: Vec<u8>,
}

impl Tee {
    fn new(file: std::fs::File, growth: Arc<Growth>) -> Tee {
        Tee {
            file,
            growth,
            pending: Vec::with_capacity(STREAM_PIECE),
        }
    }

    fn write_pending(&mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            std::io::Write::write_all(&mut self.file, &self.pending)?;
            self.growth.grew(self.pending.len() as u64);
            self.pending.clear();
        }
        Ok(())
    }
}

impl std::io::Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if self.pending.len() >= STREAM_PIECE {
            self.write_pending()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.write_pending()?;
        self.file.flush()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> Digest {
        Digest::sha256(&[n])
    }

    /// A reader follows the file as it is written, to its end; a writer that fails
    /// ends the reader with its error.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_growing_file_is_read_as_it_is_written_to_its_end() {
        use futures_util::TryStreamExt as _;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("f.gz");
        let growth = Arc::new(Growth::default());
        let reader = GrowingFile {
            path: path.clone(),
            growth: Arc::clone(&growth),
        };
        let mut tee = Tee::new(
            std::fs::File::create(&path).expect("file"),
            Arc::clone(&growth),
        );
        let read = tokio::spawn(reader.stream().map_ok(|b| b.to_vec()).try_concat());
        let writer = std::thread::spawn(move || {
            for i in 0..40_u32 {
                std::io::Write::write_all(&mut tee, &vec![(i % 251) as u8; 100_000])
                    .expect("write");
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            std::io::Write::flush(&mut tee).expect("flush");
            growth.end(Ok(()));
        });
        let got = read.await.expect("join").expect("read");
        writer.join().expect("writer");
        assert_eq!(got.len(), 4_000_000);
        assert_eq!(got, std::fs::read(&path).expect("file"));

        let growth = Arc::new(Growth::default());
        let path = dir.path().join("g.gz");
        let mut tee = Tee::new(
            std::fs::File::create(&path).expect("file"),
            Arc::clone(&growth),
        );
        std::io::Write::write_all(&mut tee, &[7; 300_000]).expect("write");
        growth.end(Err("the export stopped".into()));
        let reader = GrowingFile { path, growth };
        let err = reader
            .stream()
            .map_ok(|b| b.to_vec())
            .try_concat()
            .await
            .expect_err("failed writer");
        assert!(err.to_string().contains("the export stopped"), "{err}");
    }

    #[test]
    fn legacy_layers_are_named_by_their_place_in_the_manifest() {
        let diff_ids = vec![digest(1), digest(2), digest(1)];
        let manifest = br#"[{"Config":"c.json","RepoTags":null,"Layers":["a/layer.tar","b/layer.tar","./c/layer.tar"]}]"#;
        let mut missing: HashSet<Digest> = [digest(1), digest(2)].into_iter().collect();
        let (to_b, for_b) = std::sync::mpsc::sync_channel(1);
        let (to_a, for_a) = std::sync::mpsc::sync_channel(1);
        let (to_c, for_c) = std::sync::mpsc::sync_channel(1);
        let mut unnamed = vec![
            ("b/layer.tar".to_string(), to_b),
            ("a/layer.tar".to_string(), to_a),
            ("c/layer.tar".to_string(), to_c),
        ];
        name_layers(manifest, &diff_ids, &mut unnamed, &mut missing).expect("named");
        assert_eq!(for_b.recv().ok().flatten(), Some(digest(2)));
        assert_eq!(for_a.recv().ok().flatten(), Some(digest(1)));
        // The same layer a second time is not sent twice.
        assert_eq!(for_c.recv().ok().flatten(), None);
        assert!(missing.is_empty());
    }

    #[test]
    fn a_manifest_that_does_not_match_the_image_is_an_error() {
        let mut missing: HashSet<Digest> = [digest(1)].into_iter().collect();
        let (to, _from) = std::sync::mpsc::sync_channel(1);
        let mut unnamed = vec![("x/layer.tar".to_string(), to)];
        let short = br#"[{"Layers":[]}]"#;
        let err =
            name_layers(short, &[digest(1)], &mut unnamed, &mut missing).expect_err("no layers");
        assert!(err.contains("lists 0 layers, the image has 1"), "{err}");
        let other = br#"[{"Layers":["y/layer.tar"]}]"#;
        let err =
            name_layers(other, &[digest(1)], &mut unnamed, &mut missing).expect_err("not listed");
        assert!(err.contains("does not list x/layer.tar"), "{err}");
        let err = name_layers(b"not json", &[digest(1)], &mut unnamed, &mut missing)
            .expect_err("not json");
        assert!(err.contains("not JSON"), "{err}");
    }
}
