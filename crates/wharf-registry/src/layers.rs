//! Layers pushed from an engine's image store: gzip compression that gives the same
//! bytes for the same layer every time, and a cache, per registry, of each layer's
//! diff id (the digest of the uncompressed tar) → the digest and size of its
//! compressed form, and the repositories that have it.
//!
//! With the cache, pushing an unchanged image again needs no export and no
//! compression: the manifest is built from the cache and the registry is only asked
//! (`HEAD`) whether it has each blob.
//!
//! Compression is gzip through flate2's zlib-rs backend: level 1 (the fastest), with
//! chunks that look random stored instead (see [`gzip_layer`]); docker pulls it like
//! any other gzip. The gzip header has no name and a zero modification time, so the
//! output depends on the input alone.
//!
//! On disk, under [`default_root`] (`$XDG_DATA_HOME/wharf/layers`):
//!
//! ```text
//! <root>/<registry>/<diff id hex>.json   {"digest", "size", "mediaType", "repositories"}
//! <root>/configs/<image id hex>          image config bytes (their digest is the id)
//! ```
//!
//! Entries are written whole (temporary file, then rename); a missing or unreadable
//! entry is a cache miss, never an error.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress};
use serde::{Deserialize, Serialize};

use crate::digest::{Algorithm, Digest, Hasher};
use crate::manifest::media_type;

/// Read size while compressing.
const CHUNK: usize = 1 << 20;

/// A layer in its compressed form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompressedLayer {
    /// The compressed blob's digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Its media type (Docker's gzip layer type).
    pub media_type: String,
    /// Repositories of the registry known to have it (for cross-repository mounts).
    #[serde(default)]
    pub repositories: Vec<String>,
}

/// Compresses an uncompressed layer tar from `input` into `output`. Returns the diff
/// id (digest of the input) and the compressed layer (digest and size of what was
/// written). `progress` is told the input bytes consumed, as they are.
///
/// The output is one gzip member (no name, zero modification time, OS "unknown")
/// holding one deflate stream. The input is read in 1 MiB chunks; each chunk whose
/// bytes look random (above [`STORE_ENTROPY`] bits per byte: data compressed
/// already, encrypted, or random) goes out as stored blocks, written here — level 1
/// would spend most of the push on it and still make it some 5% larger. Every other
/// chunk is deflated at level 1 by zlib-rs, which starts afresh (a reset window)
/// after stored blocks. The choice depends on the bytes alone, so the same layer
/// always gives the same output.
pub fn gzip_layer(
    input: impl Read,
    output: impl Write,
    progress: impl FnMut(u64),
) -> io::Result<(Digest, CompressedLayer)> {
    let mut diff_id = Hasher::new(Algorithm::Sha256);
    let layer = gzip(input, output, progress, Some(&mut diff_id))?;
    Ok((diff_id.finish(), layer))
}

/// [`gzip_layer`] for an input whose diff id is known already (it was hashed as it
/// was spooled): the same output, without hashing the input a second time.
pub fn gzip_known_layer(input: impl Read, output: impl Write) -> io::Result<CompressedLayer> {
    gzip(input, output, |_| {}, None)
}

/// [`gzip_layer`], hashing the input into `diff_id` when given.
fn gzip(
    mut input: impl Read,
    output: impl Write,
    mut progress: impl FnMut(u64),
    mut diff_id: Option<&mut Hasher>,
) -> io::Result<CompressedLayer> {
    let mut out = HashingWriter {
        inner: output,
        hasher: Hasher::new(Algorithm::Sha256),
    };
    // The gzip header: deflate, no flags, mtime 0, no extra flags, OS unknown.
    out.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])?;
    let mut crc = flate2::Crc::new();
    let mut deflate = Compress::new(Compression::fast(), false);
    // Whether the compressor has blocks going; after stored blocks it starts afresh
    // (reset), since its window would not hold what the decoder saw meanwhile.
    let mut deflating = false;
    let mut stored_since_reset = false;
    let mut chunk = vec![0_u8; CHUNK];
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + (CHUNK >> 4) + 1024);
    loop {
        let n = read_full(&mut input, &mut chunk)?;
        if n == 0 {
            break;
        }
        let data = &chunk[..n];
        if let Some(h) = diff_id.as_deref_mut() {
            h.update(data);
        }
        crc.update(data);
        if looks_random(data) {
            if deflating {
                // End the compressor's blocks on a byte boundary.
                run(&mut deflate, &[], &mut buf, &mut out, FlushCompress::Sync)?;
                deflating = false;
            }
            write_stored(&mut out, data)?;
            stored_since_reset = true;
        } else {
            if !deflating && stored_since_reset {
                deflate.reset();
                stored_since_reset = false;
            }
            deflating = true;
            run(&mut deflate, data, &mut buf, &mut out, FlushCompress::None)?;
        }
        progress(n as u64);
    }
    if deflating || !stored_since_reset {
        run(&mut deflate, &[], &mut buf, &mut out, FlushCompress::Finish)?;
    } else {
        // The last block: stored, final, empty.
        out.write_all(&[0x01, 0x00, 0x00, 0xff, 0xff])?;
    }
    out.write_all(&crc.sum().to_le_bytes())?;
    out.write_all(&crc.amount().to_le_bytes())?;
    out.inner.flush()?;
    let size = out.hasher.len();
    Ok(CompressedLayer {
        digest: out.hasher.finish(),
        size,
        media_type: media_type::DOCKER_LAYER_GZIP.to_string(),
        repositories: Vec::new(),
    })
}

/// Writes `data` as stored deflate blocks (at most 65535 bytes each, not final), at a
/// byte boundary.
fn write_stored(out: &mut impl Write, data: &[u8]) -> io::Result<()> {
    for piece in data.chunks(usize::from(u16::MAX)) {
        let len = u16::try_from(piece.len()).unwrap_or(u16::MAX);
        let [lo, hi] = len.to_le_bytes();
        out.write_all(&[0x00, lo, hi, !lo, !hi])?;
        out.write_all(piece)?;
    }
    Ok(())
}

/// Bits of entropy per byte above which a chunk is stored, not deflated.
pub const STORE_ENTROPY: f64 = 7.9;

/// The byte histogram of a chunk is taken from this many evenly spaced windows...
const SAMPLE_WINDOWS: usize = 16;
/// ...of this many bytes each (64 KiB of a 1 MiB chunk: an estimate within 0.01 bit
/// per byte for random data, at a sixteenth of the cost of counting every byte).
const SAMPLE_WINDOW: usize = 4096;

/// Whether `data`'s byte histogram, sampled as [`SAMPLE_WINDOWS`] says, has more than
/// [`STORE_ENTROPY`] bits per byte. The sample depends on the bytes alone.
fn looks_random(data: &[u8]) -> bool {
    if data.len() < SAMPLE_WINDOW {
        return false;
    }
    let mut counts = [0_u64; 256];
    let mut total = 0_usize;
    let step = (data.len() / SAMPLE_WINDOWS).max(SAMPLE_WINDOW);
    for start in (0..=data.len() - SAMPLE_WINDOW).step_by(step) {
        for &b in &data[start..start + SAMPLE_WINDOW] {
            counts[usize::from(b)] += 1;
        }
        total += SAMPLE_WINDOW;
    }
    let total = total as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / total;
            -p * p.log2()
        })
        .sum();
    entropy > STORE_ENTROPY
}

/// Reads until `buf` is full or the input ends (chunks must not depend on how the
/// reader happens to split its data, or the output would not be reproducible).
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Feeds `data` to the deflate stream with `flush`, writing what it produces, until
/// the input is consumed (and, for a flush, until no more output comes).
fn run(
    deflate: &mut Compress,
    mut data: &[u8],
    buf: &mut Vec<u8>,
    out: &mut impl Write,
    flush: FlushCompress,
) -> io::Result<()> {
    loop {
        buf.clear();
        let before_in = deflate.total_in();
        let status = deflate
            .compress_vec(data, buf, flush)
            .map_err(io::Error::other)?;
        let consumed = usize::try_from(deflate.total_in() - before_in).unwrap_or(data.len());
        data = &data[consumed.min(data.len())..];
        out.write_all(buf)?;
        let done = match flush {
            FlushCompress::Finish => status == flate2::Status::StreamEnd,
            // Output stopped short of the buffer: nothing is pending.
            _ => data.is_empty() && buf.len() < buf.capacity(),
        };
        if done {
            return Ok(());
        }
    }
}

/// A writer that hashes what passes through.
struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Where the layer cache lives by default: `$XDG_DATA_HOME/wharf/layers`, else
/// `~/.local/share/wharf/layers`.
pub fn default_root() -> PathBuf {
    crate::data_dir().join("layers")
}

/// The layer cache of one registry.
#[derive(Debug, Clone)]
pub struct LayerCache {
    root: PathBuf,
    registry_dir: PathBuf,
}

impl LayerCache {
    /// The cache of `registry` under `root`.
    pub fn open(root: &Path, registry: &str) -> LayerCache {
        let name: String = registry
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        LayerCache {
            root: root.to_path_buf(),
            registry_dir: root.join(name),
        }
    }

    fn entry_path(&self, diff_id: &Digest) -> PathBuf {
        self.registry_dir.join(format!("{}.json", diff_id.hex()))
    }

    fn config_path(&self, image_id: &Digest) -> PathBuf {
        self.root.join("configs").join(image_id.hex())
    }

    /// What is known of the layer with `diff_id`.
    pub fn get(&self, diff_id: &Digest) -> Option<CompressedLayer> {
        let bytes = std::fs::read(self.entry_path(diff_id)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Records `layer` for `diff_id`, adding `repository` to the repositories that
    /// have it.
    pub fn put(
        &self,
        diff_id: &Digest,
        layer: &CompressedLayer,
        repository: &str,
    ) -> io::Result<()> {
        let mut entry = layer.clone();
        if let Some(old) = self.get(diff_id).filter(|old| old.digest == layer.digest) {
            for repo in old.repositories {
                if !entry.repositories.contains(&repo) {
                    entry.repositories.push(repo);
                }
            }
        }
        if !entry.repositories.iter().any(|r| r == repository) {
            entry.repositories.push(repository.to_string());
        }
        let bytes = serde_json::to_vec(&entry).map_err(io::Error::other)?;
        write_whole(&self.entry_path(diff_id), &bytes)
    }

    /// The image config whose digest is `image_id`, checked against it.
    pub fn config(&self, image_id: &Digest) -> Option<Bytes> {
        let bytes = std::fs::read(self.config_path(image_id)).ok()?;
        image_id.matches(&bytes).then(|| Bytes::from(bytes))
    }

    /// Keeps an image config (under its digest).
    pub fn put_config(&self, bytes: &[u8]) -> io::Result<Digest> {
        let digest = Digest::sha256(bytes);
        let path = self.config_path(&digest);
        if !path.exists() {
            write_whole(&path, bytes)?;
        }
        Ok(digest)
    }
}

fn write_whole(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::Builder::new()
        .prefix(".partial-")
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use flate2::read::GzDecoder;

    use super::*;

    fn layer_bytes() -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let data = b"hello from a layer\n".repeat(10_000);
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "etc/hello", &data[..])
            .unwrap_or_else(|e| panic!("{e}"));
        builder.into_inner().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_same_layer_compresses_to_the_same_bytes_and_decompresses_back() {
        let raw = layer_bytes();
        let mut first = Vec::new();
        let mut seen = 0;
        let (diff_id, a) = gzip_layer(Cursor::new(&raw), &mut first, |n| seen += n)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(seen, raw.len() as u64);
        assert_eq!(diff_id, Digest::sha256(&raw));
        assert_eq!(a.digest, Digest::sha256(&first));
        assert_eq!(a.size, first.len() as u64);
        assert!(a.size < raw.len() as u64 / 10, "it compresses");
        let mut second = Vec::new();
        let (_, b) =
            gzip_layer(Cursor::new(&raw), &mut second, |_| {}).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a, b);
        assert_eq!(first, second);
        let mut back = Vec::new();
        GzDecoder::new(&first[..])
            .read_to_end(&mut back)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, raw);
    }

    #[test]
    fn a_known_diff_id_gives_the_same_bytes_unhashed() {
        let raw = layer_bytes();
        let mut hashed = Vec::new();
        let (_, a) =
            gzip_layer(Cursor::new(&raw), &mut hashed, |_| {}).unwrap_or_else(|e| panic!("{e}"));
        let mut known = Vec::new();
        let b = gzip_known_layer(Cursor::new(&raw), &mut known).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a, b);
        assert_eq!(hashed, known);
    }

    fn pseudo_random(len: usize) -> Vec<u8> {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn the_sampled_histogram_tells_random_chunks_from_mixed_ones() {
        assert!(looks_random(&pseudo_random(CHUNK)));
        assert!(
            looks_random(&pseudo_random(CHUNK - 12_345)),
            "a last, short chunk"
        );
        // Random bytes with a run of zeros in one part, or text every other window:
        // the windows are spread over the chunk, so they see both.
        let mut zeros = pseudo_random(CHUNK);
        zeros[CHUNK / 2..CHUNK / 2 + CHUNK / 4].fill(0);
        assert!(!looks_random(&zeros));
        let mut striped = pseudo_random(CHUNK);
        for (i, window) in striped.chunks_mut(CHUNK / 16).enumerate() {
            if i % 2 == 0 {
                window.fill(b'a');
            }
        }
        assert!(!looks_random(&striped));
        assert!(!looks_random(&b"text ".repeat(CHUNK / 5)));
        assert!(!looks_random(&pseudo_random(100)), "too short to tell");
    }

    /// A reader that hands out at most 7 bytes per read.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(7).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn random_chunks_are_stored_the_rest_deflated_and_all_of_it_decompresses() {
        // 1 MiB of text, 3 MiB of pseudo-random bytes, 1 MiB of text (chunk-aligned).
        let mut raw = b"some text that compresses\n".repeat(50_000);
        raw.truncate(CHUNK);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..(3 << 20) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            raw.push((x >> 24) as u8);
        }
        let mut more = b"more text\n".repeat(110_000);
        more.truncate(CHUNK);
        raw.extend(more);
        let mut out = Vec::new();
        let (_, layer) =
            gzip_layer(Cursor::new(&raw), &mut out, |_| {}).unwrap_or_else(|e| panic!("{e}"));
        // The random part is stored (5 bytes of overhead per 64 KiB block; level 1
        // would make it some 5% larger), the text shrinks.
        let random_part = 3_u64 << 20;
        assert!(layer.size < random_part + 32 * 1024, "{}", layer.size);
        assert!(layer.size > random_part, "{}", layer.size);
        let mut back = Vec::new();
        GzDecoder::new(&out[..])
            .read_to_end(&mut back)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, raw);
        // However the reader splits its data, the bytes are the same.
        let mut trickled = Vec::new();
        let (_, again) =
            gzip_layer(Trickle(&raw), &mut trickled, |_| {}).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, layer);
        assert_eq!(trickled, out);
        // An empty layer is a valid gzip of nothing.
        let mut empty = Vec::new();
        gzip_layer(Cursor::new(b""), &mut empty, |_| {}).unwrap_or_else(|e| panic!("{e}"));
        let mut back = Vec::new();
        GzDecoder::new(&empty[..])
            .read_to_end(&mut back)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(back.is_empty());
    }

    #[test]
    fn the_cache_remembers_layers_per_registry_and_configs() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cache = LayerCache::open(dir.path(), "127.0.0.1:5000");
        let other = LayerCache::open(dir.path(), "myreg.azurecr.io");
        let diff_id = Digest::sha256(b"raw");
        let layer = CompressedLayer {
            digest: Digest::sha256(b"gz"),
            size: 2,
            media_type: media_type::DOCKER_LAYER_GZIP.into(),
            repositories: Vec::new(),
        };
        assert_eq!(cache.get(&diff_id), None);
        cache
            .put(&diff_id, &layer, "a/one")
            .unwrap_or_else(|e| panic!("{e}"));
        cache
            .put(&diff_id, &layer, "a/two")
            .unwrap_or_else(|e| panic!("{e}"));
        cache
            .put(&diff_id, &layer, "a/one")
            .unwrap_or_else(|e| panic!("{e}"));
        let got = cache.get(&diff_id).unwrap_or_else(|| panic!("cached"));
        assert_eq!(got.digest, layer.digest);
        assert_eq!(got.repositories, ["a/one", "a/two"]);
        assert_eq!(other.get(&diff_id), None, "per registry");
        let id = cache
            .put_config(b"{\"os\":\"linux\"}")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            other.config(&id).as_deref(),
            Some(&b"{\"os\":\"linux\"}"[..])
        );
        // A corrupt entry is a miss.
        std::fs::write(dir.path().join("configs").join(id.hex()), b"tampered")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cache.config(&id), None);
    }
}
