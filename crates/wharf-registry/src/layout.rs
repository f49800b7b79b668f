//! OCI image layouts (image-spec `image-layout.md`): a directory with `oci-layout`,
//! `index.json` and `blobs/<alg>/<hex>`, as skopeo's `oci:PATH:TAG` reads and
//! writes them. A tag is the `org.opencontainers.image.ref.name` annotation of an
//! `index.json` entry; writing a tag replaces the entry that had it.
//!
//! Blobs are written to a temporary file in the layout, checked against their
//! digest, and renamed into place, so a layout never holds a partial or wrong blob.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use tokio::io::AsyncWriteExt as _;

use crate::client::Error;
use crate::digest::{Digest, Hasher};
use crate::manifest::{ANNOTATION_REF_NAME, Descriptor, ImageIndex, media_type};

/// The `oci-layout` file's content.
const LAYOUT_FILE: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;
/// The largest `index.json` or manifest read into memory.
const MAX_JSON: u64 = 16 << 20;

/// An OCI image layout directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Opens the layout at `root`, which must have an `oci-layout` file.
    pub fn open(root: &Path) -> Result<Layout, Error> {
        let marker = root.join("oci-layout");
        let text = std::fs::read_to_string(&marker).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                Error::Layout {
                    path: root.to_path_buf(),
                    message: "not an OCI image layout (no oci-layout file)".into(),
                }
            } else {
                Error::Io {
                    path: marker.clone(),
                    action: "cannot read the layout marker",
                    source,
                }
            }
        })?;
        let version = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["imageLayoutVersion"].as_str().map(str::to_string));
        match version.as_deref() {
            Some(v) if v.starts_with("1.") => Ok(Layout {
                root: root.to_path_buf(),
            }),
            _ => Err(Error::Layout {
                path: marker,
                message: "imageLayoutVersion is not 1.x".into(),
            }),
        }
    }

    /// Opens the layout at `root`, creating it (and the directory) if it has no
    /// `oci-layout` file yet.
    pub fn open_or_create(root: &Path) -> Result<Layout, Error> {
        if root.join("oci-layout").exists() {
            return Layout::open(root);
        }
        let io = |path: &Path, source| Error::Io {
            path: path.to_path_buf(),
            action: "cannot create the layout",
            source,
        };
        std::fs::create_dir_all(root.join("blobs/sha256")).map_err(|e| io(root, e))?;
        let layout = Layout {
            root: root.to_path_buf(),
        };
        if !root.join("index.json").exists() {
            layout.write_index(&ImageIndex::new())?;
        }
        write_atomically(&root.join("oci-layout"), LAYOUT_FILE.as_bytes())?;
        Ok(layout)
    }

    /// The layout directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where blob `digest` is stored.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().name())
            .join(digest.hex())
    }

    /// `index.json`.
    pub fn index(&self) -> Result<ImageIndex, Error> {
        let path = self.root.join("index.json");
        let bytes = read_small(&path)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Layout {
            path,
            message: format!("not a valid image index: {e}"),
        })
    }

    fn write_index(&self, index: &ImageIndex) -> Result<(), Error> {
        let bytes = serde_json::to_vec(index).map_err(|e| Error::Layout {
            path: self.root.join("index.json"),
            message: format!("cannot serialize the index: {e}"),
        })?;
        write_atomically(&self.root.join("index.json"), &bytes)
    }

    /// The `index.json` entry for `tag`; without a tag, the only entry (as skopeo
    /// reads `oci:PATH`).
    pub fn resolve(&self, tag: Option<&str>) -> Result<Descriptor, Error> {
        let index = self.index()?;
        let path = self.root.join("index.json");
        match tag {
            Some(tag) => index
                .manifests
                .into_iter()
                .find(|d| d.annotations.get(ANNOTATION_REF_NAME).map(String::as_str) == Some(tag))
                .ok_or_else(|| Error::Layout {
                    path,
                    message: format!(
                        "no image is tagged {tag:?} (annotation {ANNOTATION_REF_NAME})"
                    ),
                }),
            None => {
                let count = index.manifests.len();
                let mut manifests = index.manifests;
                match (manifests.pop(), count) {
                    (Some(only), 1) => Ok(only),
                    _ => Err(Error::Layout {
                        path,
                        message: format!(
                            "the layout holds {count} images; name one as oci:PATH:TAG"
                        ),
                    }),
                }
            }
        }
    }

    /// Every tag in `index.json`, in order.
    pub fn tags(&self) -> Result<Vec<String>, Error> {
        Ok(self
            .index()?
            .manifests
            .iter()
            .filter_map(|d| d.annotations.get(ANNOTATION_REF_NAME).cloned())
            .collect())
    }

    /// Points `tag` at `descriptor` (replacing what had the tag); without a tag,
    /// adds an untagged entry unless one with the same digest exists.
    pub fn set_tag(&self, tag: Option<&str>, descriptor: &Descriptor) -> Result<(), Error> {
        let mut index = self.index()?;
        let mut entry = descriptor.clone();
        entry.data = None;
        match tag {
            Some(tag) => {
                index.manifests.retain(|d| {
                    d.annotations.get(ANNOTATION_REF_NAME).map(String::as_str) != Some(tag)
                });
                entry
                    .annotations
                    .insert(ANNOTATION_REF_NAME.to_string(), tag.to_string());
            }
            None => {
                if index.manifests.iter().any(|d| d.digest == entry.digest) {
                    return Ok(());
                }
            }
        }
        index.manifests.push(entry);
        if index.media_type.is_none() {
            index.media_type = Some(media_type::OCI_INDEX.to_string());
        }
        self.write_index(&index)
    }

    /// Whether blob `descriptor` is stored with the right size.
    pub fn has_blob(&self, descriptor: &Descriptor) -> bool {
        std::fs::metadata(self.blob_path(&descriptor.digest))
            .is_ok_and(|m| m.is_file() && m.len() == descriptor.size)
    }

    /// A small blob (manifest, config) in memory, checked against its digest.
    pub fn read_blob(&self, descriptor: &Descriptor) -> Result<Bytes, Error> {
        let path = self.blob_path(&descriptor.digest);
        let bytes = read_small(&path)?;
        if bytes.len() as u64 != descriptor.size || !descriptor.digest.matches(&bytes) {
            return Err(Error::Layout {
                path,
                message: format!(
                    "the blob does not match its descriptor ({}, {} bytes)",
                    descriptor.digest, descriptor.size
                ),
            });
        }
        Ok(Bytes::from(bytes))
    }

    /// Stores `bytes` as a blob; returns its digest.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<Digest, Error> {
        let digest = Digest::sha256(bytes);
        let path = self.blob_path(&digest);
        if !path.exists() {
            write_atomically(&path, bytes)?;
        }
        Ok(digest)
    }

    /// Stores the bytes of `stream` as blob `descriptor`, refusing them unless they
    /// match its digest and size.
    pub async fn write_blob_stream<S>(
        &self,
        descriptor: &Descriptor,
        mut stream: S,
    ) -> Result<(), Error>
    where
        S: Stream<Item = Result<Bytes, Error>> + Unpin,
    {
        let path = self.blob_path(&descriptor.digest);
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        let io = |action, source| Error::Io {
            path: path.clone(),
            action,
            source,
        };
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io("cannot create the blob directory", e))?;
        let temp = tempfile::Builder::new()
            .prefix(".partial-")
            .tempfile_in(&dir)
            .map_err(|e| io("cannot create a temporary blob file", e))?;
        let (std_file, temp_path) = temp.into_parts();
        let mut file = tokio::fs::File::from_std(std_file);
        let mut hasher: Hasher = descriptor.digest.hasher();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| io("cannot write the blob", e))?;
        }
        file.flush()
            .await
            .map_err(|e| io("cannot write the blob", e))?;
        drop(file);
        let size = hasher.len();
        let actual = hasher.finish();
        if actual != descriptor.digest || size != descriptor.size {
            return Err(Error::Layout {
                path,
                message: format!(
                    "the content written has digest {actual} ({size} bytes), not {} ({} bytes)",
                    descriptor.digest, descriptor.size
                ),
            });
        }
        temp_path
            .persist(&path)
            .map_err(|e| io("cannot move the blob into place", e.error))?;
        Ok(())
    }
}

fn read_small(path: &Path) -> Result<Vec<u8>, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        action: "cannot read",
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_JSON {
        return Err(Error::Layout {
            path: path.to_path_buf(),
            message: format!("{len} bytes is more than wharf reads into memory"),
        });
    }
    std::fs::read(path).map_err(io)
}

/// Writes `bytes` to `path` through a temporary file in the same directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        action: "cannot write",
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut temp = tempfile::Builder::new()
        .prefix(".partial-")
        .tempfile_in(dir)
        .map_err(io)?;
    temp.write_all(bytes).map_err(io)?;
    temp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_written_and_resolved() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let layout =
            Layout::open_or_create(&dir.path().join("l")).unwrap_or_else(|e| panic!("{e}"));
        let a = Descriptor::of(media_type::OCI_MANIFEST, b"a");
        let b = Descriptor::of(media_type::OCI_MANIFEST, b"b");
        layout
            .set_tag(Some("v1"), &a)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            layout.resolve(None).map(|d| d.digest).ok(),
            Some(a.digest.clone())
        );
        layout
            .set_tag(Some("v2"), &b)
            .unwrap_or_else(|e| panic!("{e}"));
        layout
            .set_tag(Some("v1"), &b)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            layout.tags().ok(),
            Some(vec!["v2".to_string(), "v1".to_string()])
        );
        assert_eq!(
            layout.resolve(Some("v1")).map(|d| d.digest).ok(),
            Some(b.digest)
        );
        let err = layout
            .resolve(None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("holds 2 images"), "{err}");
        let err = layout
            .resolve(Some("v3"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("no image is tagged \"v3\""), "{err}");
        // Reopened, it is the same layout.
        assert!(Layout::open(layout.root()).is_ok());
        assert!(Layout::open(dir.path()).is_err());
    }

    #[tokio::test]
    async fn blobs_that_do_not_match_are_not_stored() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let layout = Layout::open_or_create(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let good = Descriptor::of(media_type::OCI_LAYER, b"hello");
        let chunks = futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"hel")),
            Ok(Bytes::from_static(b"lo")),
        ]);
        layout
            .write_blob_stream(&good, chunks)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(layout.has_blob(&good));
        assert_eq!(
            layout.read_blob(&good).ok(),
            Some(Bytes::from_static(b"hello"))
        );
        let bad = Descriptor::of(media_type::OCI_LAYER, b"other");
        let chunks = futures_util::stream::iter(vec![Ok(Bytes::from_static(b"hello"))]);
        let err = layout.write_blob_stream(&bad, chunks).await;
        assert!(matches!(err, Err(Error::Layout { .. })), "{err:?}");
        assert!(!layout.blob_path(&bad.digest).exists());
        let leftovers = std::fs::read_dir(dir.path().join("blobs/sha256"))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(leftovers, 1, "only the good blob remains");
    }
}
