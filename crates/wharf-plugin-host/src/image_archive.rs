//! [`ImageArchive`]: an image read from a `docker save` archive (the legacy layout
//! docker 20.10 writes, and the OCI layout newer engines write), with its layers
//! merged as the engine merges them — whiteouts (`.wh.<name>`) remove what lower
//! layers put there, opaque markers (`.wh..wh..opq`) hide a directory's lower
//! contents. File data is not copied: entries remember where their bytes are in
//! the archive (gzip-compressed layers are inflated into memory).

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::model::{FileEntry, FileKind};
use crate::services::{BoxFuture, ImageAccess, ImageError};

/// Where an archive's bytes are.
#[derive(Clone)]
enum Source {
    Memory(Arc<[u8]>),
    File(PathBuf),
}

/// Where a regular file's data is.
#[derive(Clone, Debug)]
enum Data {
    /// In the archive itself (an uncompressed layer): offset and length.
    Archive { offset: u64, len: u64 },
    /// In an inflated layer kept in memory.
    Inflated {
        layer: usize,
        offset: usize,
        len: usize,
    },
}

#[derive(Clone, Debug)]
struct Node {
    entry: FileEntry,
    data: Option<Data>,
}

/// An image read from a `docker save` archive. Implements [`ImageAccess`].
#[derive(Clone)]
pub struct ImageArchive {
    source: Source,
    config: String,
    nodes: BTreeMap<String, Node>,
    inflated: Vec<Arc<[u8]>>,
}

impl std::fmt::Debug for ImageArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageArchive")
            .field("files", &self.nodes.len())
            .finish_non_exhaustive()
    }
}

fn bad(message: impl Into<String>) -> ImageError {
    ImageError::Other(format!("image archive: {}", message.into()))
}

/// A path inside a layer, normalised: no leading `./` or `/`, no trailing `/`.
fn normalise(path: &str) -> String {
    let p = path.trim_start_matches("./").trim_start_matches('/');
    p.trim_end_matches('/').to_string()
}

fn parent_and_name(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some((dir, name)) => (dir, name),
        None => ("", path),
    }
}

/// Removes `path` and everything under it.
fn remove_tree(nodes: &mut BTreeMap<String, Node>, path: &str) {
    nodes.remove(path);
    let prefix = format!("{path}/");
    let doomed: Vec<String> = nodes
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .collect();
    for k in doomed {
        nodes.remove(&k);
    }
}

/// Removes everything under `dir` (not `dir` itself).
fn remove_children(nodes: &mut BTreeMap<String, Node>, dir: &str) {
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let doomed: Vec<String> = nodes
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .filter(|(k, _)| k.as_str() != dir)
        .map(|(k, _)| k.clone())
        .collect();
    for k in doomed {
        nodes.remove(&k);
    }
}

/// One layer's entries before merging.
struct LayerEntries {
    whiteouts: Vec<String>,
    opaque: Vec<String>,
    nodes: Vec<(String, Node)>,
}

fn read_layer<R: Read>(
    reader: R,
    base: u64,
    inflated: Option<usize>,
) -> Result<LayerEntries, ImageError> {
    let mut archive = tar::Archive::new(reader);
    let mut out = LayerEntries {
        whiteouts: Vec::new(),
        opaque: Vec::new(),
        nodes: Vec::new(),
    };
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let entry = entry.map_err(|e| bad(e.to_string()))?;
        let raw = entry
            .path()
            .map_err(|e| bad(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let path = normalise(&raw);
        if path.is_empty() {
            continue;
        }
        let (dir, name) = parent_and_name(&path);
        if name == ".wh..wh..opq" {
            out.opaque.push(dir.to_string());
            continue;
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            out.whiteouts.push(if dir.is_empty() {
                hidden.to_string()
            } else {
                format!("{dir}/{hidden}")
            });
            continue;
        }
        let header = entry.header();
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => FileKind::File,
            tar::EntryType::Directory => FileKind::Directory,
            tar::EntryType::Symlink => FileKind::Symlink,
            tar::EntryType::Link => FileKind::Hardlink,
            _ => FileKind::Other,
        };
        let link_target = entry
            .link_name()
            .ok()
            .flatten()
            .map(|l| l.to_string_lossy().into_owned())
            .map(|l| {
                if kind == FileKind::Hardlink {
                    normalise(&l)
                } else {
                    l
                }
            });
        let size = if kind == FileKind::File {
            entry.size()
        } else {
            0
        };
        let data = (kind == FileKind::File).then(|| {
            let pos = entry.raw_file_position();
            match inflated {
                Some(layer) => Data::Inflated {
                    layer,
                    offset: usize::try_from(pos).unwrap_or(usize::MAX),
                    len: usize::try_from(size).unwrap_or(usize::MAX),
                },
                None => Data::Archive {
                    offset: base + pos,
                    len: size,
                },
            }
        });
        out.nodes.push((
            path.clone(),
            Node {
                entry: FileEntry {
                    path,
                    kind,
                    mode: header.mode().unwrap_or(0),
                    uid: u32::try_from(header.uid().unwrap_or(0)).unwrap_or(u32::MAX),
                    gid: u32::try_from(header.gid().unwrap_or(0)).unwrap_or(u32::MAX),
                    size,
                    link_target,
                },
                data,
            },
        ));
    }
    Ok(out)
}

/// Offsets and sizes of the archive's members, and its small JSON files.
struct Members {
    spans: BTreeMap<String, (u64, u64)>,
}

fn members<R: Read + Seek>(reader: R) -> Result<Members, ImageError> {
    let mut archive = tar::Archive::new(reader);
    let mut spans = BTreeMap::new();
    for entry in archive
        .entries_with_seek()
        .map_err(|e| bad(e.to_string()))?
    {
        let entry = entry.map_err(|e| bad(e.to_string()))?;
        let path = normalise(
            &entry
                .path()
                .map_err(|e| bad(e.to_string()))?
                .to_string_lossy(),
        );
        if entry.header().entry_type().is_file() {
            spans.insert(path, (entry.raw_file_position(), entry.size()));
        }
    }
    Ok(Members { spans })
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry {
    config: String,
    layers: Vec<String>,
}

impl ImageArchive {
    /// Reads an archive held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<ImageArchive, ImageError> {
        ImageArchive::build(Source::Memory(bytes.into()))
    }

    /// Reads an archive file (its data is read from the file on demand).
    pub fn open(path: &Path) -> Result<ImageArchive, ImageError> {
        ImageArchive::build(Source::File(path.to_path_buf()))
    }

    fn reader(source: &Source) -> Result<Box<dyn ReadSeek>, ImageError> {
        Ok(match source {
            Source::Memory(b) => Box::new(Cursor::new(b.clone())),
            Source::File(p) => {
                Box::new(std::fs::File::open(p).map_err(|e| bad(format!("{}: {e}", p.display())))?)
            }
        })
    }

    fn span(source: &Source, offset: u64, len: u64, max: u64) -> Result<Vec<u8>, ImageError> {
        let mut reader = ImageArchive::reader(source)?;
        reader
            .seek(SeekFrom::Start(offset))
            .map_err(|e| bad(e.to_string()))?;
        let mut out = Vec::new();
        reader
            .take(len.min(max))
            .read_to_end(&mut out)
            .map_err(|e| bad(e.to_string()))?;
        Ok(out)
    }

    fn build(source: Source) -> Result<ImageArchive, ImageError> {
        let members = members(ImageArchive::reader(&source)?)?;
        let small = |name: &str| -> Result<Vec<u8>, ImageError> {
            let (offset, len) = members
                .spans
                .get(&normalise(name))
                .copied()
                .ok_or_else(|| bad(format!("it has no {name}")))?;
            if len > 64 << 20 {
                return Err(bad(format!("{name} is too large")));
            }
            ImageArchive::span(&source, offset, len, len)
        };
        let manifest: Vec<ManifestEntry> = serde_json::from_slice(&small("manifest.json")?)
            .map_err(|e| bad(format!("manifest.json: {e}")))?;
        let [image] = manifest.as_slice() else {
            return Err(bad(format!(
                "manifest.json lists {} images; save exactly one",
                manifest.len()
            )));
        };
        let config = String::from_utf8(small(&image.config)?)
            .map_err(|_| bad("the image config is not UTF-8"))?;
        let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
        let mut inflated: Vec<Arc<[u8]>> = Vec::new();
        for layer in &image.layers {
            let (offset, len) = members
                .spans
                .get(&normalise(layer))
                .copied()
                .ok_or_else(|| bad(format!("layer {layer} is missing")))?;
            let head = ImageArchive::span(&source, offset, len, 2)?;
            let entries = if head == [0x1f, 0x8b] {
                let mut reader = ImageArchive::reader(&source)?;
                reader
                    .seek(SeekFrom::Start(offset))
                    .map_err(|e| bad(e.to_string()))?;
                let mut data = Vec::new();
                flate2::read::GzDecoder::new(reader.take(len))
                    .read_to_end(&mut data)
                    .map_err(|e| bad(format!("layer {layer}: {e}")))?;
                let data: Arc<[u8]> = data.into();
                inflated.push(data.clone());
                read_layer(Cursor::new(data), 0, Some(inflated.len() - 1))?
            } else {
                let mut reader = ImageArchive::reader(&source)?;
                reader
                    .seek(SeekFrom::Start(offset))
                    .map_err(|e| bad(e.to_string()))?;
                read_layer(reader.take(len), offset, None)?
            };
            for dir in &entries.opaque {
                remove_children(&mut nodes, dir);
            }
            for path in &entries.whiteouts {
                remove_tree(&mut nodes, path);
            }
            for (path, node) in entries.nodes {
                // A file replacing a directory hides the directory's contents.
                if node.entry.kind != FileKind::Directory {
                    remove_children(&mut nodes, &path);
                }
                nodes.insert(path, node);
            }
        }
        Ok(ImageArchive {
            source,
            config,
            nodes,
            inflated,
        })
    }

    /// The image config JSON.
    pub fn config_json(&self) -> &str {
        &self.config
    }

    /// The merged file system, sorted by path.
    pub fn files(&self) -> Vec<FileEntry> {
        self.nodes.values().map(|n| n.entry.clone()).collect()
    }

    /// Follows links from `path` to a regular file (at most 16 hops).
    fn resolve(&self, path: &str) -> Result<&Node, ImageError> {
        let mut current = normalise(path);
        for _ in 0..16 {
            let node = self.nodes.get(&current).ok_or_else(|| {
                ImageError::NotFound(format!("{path}: no such file in the image"))
            })?;
            match node.entry.kind {
                FileKind::File => return Ok(node),
                FileKind::Hardlink => {
                    current = node.entry.link_target.clone().unwrap_or_default();
                }
                FileKind::Symlink => {
                    let target = node.entry.link_target.clone().unwrap_or_default();
                    current = if target.starts_with('/') {
                        normalise(&target)
                    } else {
                        let (dir, _) = parent_and_name(&current);
                        let mut parts: Vec<&str> =
                            dir.split('/').filter(|p| !p.is_empty()).collect();
                        for part in target.split('/') {
                            match part {
                                "" | "." => {}
                                ".." => {
                                    parts.pop();
                                }
                                p => parts.push(p),
                            }
                        }
                        parts.join("/")
                    };
                }
                _ => {
                    return Err(ImageError::NotFound(format!(
                        "{path} is not a regular file"
                    )));
                }
            }
        }
        Err(ImageError::NotFound(format!(
            "{path}: too many levels of links"
        )))
    }

    /// At most `max` bytes of the file at `path` (links followed).
    pub fn read(&self, path: &str, max: u64) -> Result<Vec<u8>, ImageError> {
        let node = self.resolve(path)?;
        match &node.data {
            Some(Data::Archive { offset, len }) => {
                ImageArchive::span(&self.source, *offset, *len, max)
            }
            Some(Data::Inflated { layer, offset, len }) => {
                let data = &self.inflated[*layer];
                let end =
                    offset.saturating_add((*len).min(usize::try_from(max).unwrap_or(usize::MAX)));
                data.get(*offset..end.min(data.len()))
                    .map(<[u8]>::to_vec)
                    .ok_or_else(|| bad(format!("{path}: data out of range")))
            }
            None => Ok(Vec::new()),
        }
    }
}

trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

impl ImageAccess for ImageArchive {
    fn config(&self) -> BoxFuture<'_, Result<String, ImageError>> {
        Box::pin(async move { Ok(self.config.clone()) })
    }

    fn list_files(&self) -> BoxFuture<'_, Result<Vec<FileEntry>, ImageError>> {
        Box::pin(async move { Ok(self.files()) })
    }

    fn read_file<'a>(
        &'a self,
        path: &'a str,
        max_bytes: u64,
    ) -> BoxFuture<'a, Result<Vec<u8>, ImageError>> {
        Box::pin(async move { self.read(path, max_bytes) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data, mode) in files {
            let mut h = tar::Header::new_gnu();
            if path.ends_with('/') {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
            } else {
                h.set_size(data.len() as u64);
            }
            h.set_mode(*mode);
            h.set_cksum();
            b.append_data(&mut h, path, *data).expect("append");
        }
        b.into_inner().expect("tar")
    }

    fn archive(layers: &[Vec<u8>]) -> Vec<u8> {
        let names: Vec<String> = (0..layers.len())
            .map(|i| format!("l{i}/layer.tar"))
            .collect();
        let manifest =
            serde_json::json!([{ "Config": "c.json", "RepoTags": ["t:1"], "Layers": names }]);
        let mut files: Vec<(String, Vec<u8>)> = vec![
            ("manifest.json".into(), manifest.to_string().into_bytes()),
            ("c.json".into(), br#"{"config":{"User":"app"}}"#.to_vec()),
        ];
        for (n, l) in names.iter().zip(layers) {
            files.push((n.clone(), l.clone()));
        }
        let refs: Vec<(&str, &[u8], u32)> = files
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice(), 0o644))
            .collect();
        tar_of(&refs)
    }

    #[test]
    fn layers_merge_with_whiteouts_and_opaque_directories() {
        let lower = tar_of(&[
            ("etc/", b"", 0o755),
            ("etc/passwd", b"root:x:0:0\n", 0o644),
            ("etc/shadow", b"secret", 0o600),
            ("app/", b"", 0o755),
            ("app/old.txt", b"old", 0o644),
            ("bin/su", b"\x7fELF", 0o4755),
        ]);
        let upper = tar_of(&[
            ("etc/.wh.shadow", b"", 0o644),
            ("app/.wh..wh..opq", b"", 0o644),
            ("app/new.txt", b"new", 0o644),
            ("etc/passwd", b"root:x:0:0\napp:x:1000:1000\n", 0o644),
        ]);
        let image = ImageArchive::from_bytes(archive(&[lower, upper])).expect("archive");
        let paths: Vec<String> = image.files().into_iter().map(|f| f.path).collect();
        assert_eq!(paths, ["app", "app/new.txt", "bin/su", "etc", "etc/passwd"]);
        assert_eq!(
            image.read("etc/passwd", 1 << 20).expect("read"),
            b"root:x:0:0\napp:x:1000:1000\n"
        );
        assert_eq!(image.read("etc/passwd", 4).expect("capped"), b"root");
        assert!(matches!(
            image.read("etc/shadow", 10),
            Err(ImageError::NotFound(_))
        ));
        let su = image
            .files()
            .into_iter()
            .find(|f| f.path == "bin/su")
            .expect("su");
        assert_eq!(su.mode & 0o4000, 0o4000);
        assert_eq!(image.config_json(), r#"{"config":{"User":"app"}}"#);
    }

    #[test]
    fn a_malformed_archive_is_an_error_not_a_panic() {
        assert!(ImageArchive::from_bytes(b"not a tar".to_vec()).is_err());
        assert!(ImageArchive::from_bytes(tar_of(&[("x", b"y", 0o644)])).is_err());
    }
}
