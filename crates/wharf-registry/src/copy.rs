//! Copying an image (or index, or artifact) between registries and OCI image
//! layouts, every platform of an index included, byte for byte: manifests are not
//! re-serialized, so digests survive the copy. The one exception is what skopeo
//! does too: a Docker schema 2 manifest (or list) written into an OCI layout gets
//! OCI media types (same config and layers, a new manifest digest), because an
//! OCI layout's `index.json` holds OCI types only.
//!
//! Blobs the destination has are skipped (`HEAD`); inside one registry they are
//! mounted from the source repository; otherwise they go through a temporary file
//! (checked against their digest on the way in), so memory stays flat whatever the
//! layer sizes. Docker foreign layers (those with `urls`) are not copied, as docker
//! and skopeo do not copy them.
//!
//! With [`CopyOptions::referrers`] (`wharf registry copy -r`, as `oras cp -r`), what
//! refers to the image comes along: its referrers (signatures, SBOMs, attestations),
//! the referrers of those in turn, the referrers of an index's platform manifests,
//! and cosign's `sha256-<hex>.sig|.att|.sbom` tags (as `cosign copy` copies them).
//! Each referrer is pushed by digest and recorded at the destination as
//! [`Client::push_referrer`] records it: through the referrers API where the
//! destination has it, else in the `sha256-<hex>` fallback index there. Digests
//! survive a copy between registries, so every subject still matches.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::stream::{StreamExt as _, TryStreamExt as _};
use tracing::Instrument as _;

use crate::client::{BlobOutcome, BlobPush, Client, Error, Repository, Result};
use crate::digest::Digest;
use crate::layout::Layout;
use crate::manifest::{Descriptor, Manifest, docker_to_oci, media_type, rewrite_index};
use crate::reference::ImageRef;
use crate::referrers::{ReferrersMode, fallback_tag};

/// How deep referrers of referrers are followed (a signature of an SBOM of the
/// image is depth 2).
const MAX_REFERRER_DEPTH: usize = 8;

/// The tag suffixes cosign stores beside an image's `sha256-<hex>` name.
const COSIGN_SUFFIXES: [&str; 3] = ["sig", "att", "sbom"];

/// How a copy goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyOptions {
    /// Copy what refers to the image too (see the module's documentation); both
    /// sides must be registries.
    pub referrers: bool,
}

/// One side of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An image in a registry.
    Registry(ImageRef),
    /// An OCI image layout directory and, optionally, a tag in it.
    Layout {
        /// The directory.
        path: PathBuf,
        /// The `org.opencontainers.image.ref.name` of the image.
        tag: Option<String>,
    },
}

impl Location {
    /// Parses `oci:PATH[:TAG]` (as skopeo names layouts; the path ends at the first
    /// `:`), `docker://REF`, or a plain image reference.
    pub fn parse(text: &str) -> Result<Location> {
        if let Some(rest) = text.strip_prefix("oci:") {
            let (path, tag) = match rest.split_once(':') {
                Some((path, tag)) => (path, Some(tag)),
                None => (rest, None),
            };
            if path.is_empty() {
                return Err(Error::Invalid(format!(
                    "{text:?} names no directory: write oci:PATH or oci:PATH:TAG"
                )));
            }
            if let Some(tag) = tag
                && !crate::reference::tag_is_valid(tag)
            {
                return Err(Error::Invalid(format!(
                    "{text:?}: tag {tag:?} must match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}"
                )));
            }
            return Ok(Location::Layout {
                path: PathBuf::from(path),
                tag: tag.map(str::to_string),
            });
        }
        let reference = text.strip_prefix("docker://").unwrap_or(text);
        Ok(Location::Registry(ImageRef::parse(reference)?))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Registry(image) => write!(f, "{image}"),
            Location::Layout {
                path,
                tag: Some(tag),
            } => write!(f, "oci:{}:{tag}", path.display()),
            Location::Layout { path, tag: None } => write!(f, "oci:{}", path.display()),
        }
    }
}

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CopyReport {
    /// The digest of the top manifest at the source.
    pub source_digest: Option<Digest>,
    /// The digest of the top manifest as written: the source's, except when a Docker
    /// manifest was converted to OCI media types for an OCI layout (as skopeo does).
    pub digest: Option<Digest>,
    /// Its media type.
    pub media_type: String,
    /// Manifests written (children of an index and the top one).
    pub manifests: u64,
    /// Blobs transferred.
    pub blobs_copied: u64,
    /// Blobs the destination had already.
    pub blobs_existed: u64,
    /// Blobs mounted from the source repository.
    pub blobs_mounted: u64,
    /// Bytes of blobs transferred.
    pub bytes_copied: u64,
    /// The referrers copied (with [`CopyOptions::referrers`]), as the source listed
    /// them: digest, media type, `artifactType`, annotations.
    pub referrers: Vec<Descriptor>,
    /// cosign's tags copied (with [`CopyOptions::referrers`]): `sha256-<hex>.sig`, ...
    pub cosign_tags: Vec<String>,
}

#[derive(Default)]
struct Counters {
    manifests: AtomicU64,
    copied: AtomicU64,
    existed: AtomicU64,
    mounted: AtomicU64,
    bytes: AtomicU64,
}

enum Side {
    Registry(Repository, ImageRef),
    Layout(Layout, Option<String>),
}

/// Copies what `src` names to `dst`, with `client` for registries.
pub async fn copy(client: &Client, src: &Location, dst: &Location) -> Result<CopyReport> {
    copy_with(client, src, dst, CopyOptions::default()).await
}

/// Copies what `src` names to `dst` as `options` say.
pub async fn copy_with(
    client: &Client,
    src: &Location,
    dst: &Location,
    options: CopyOptions,
) -> Result<CopyReport> {
    if options.referrers
        && !(matches!(src, Location::Registry(_)) && matches!(dst, Location::Registry(_)))
    {
        return Err(Error::Invalid(format!(
            "cannot copy the referrers from {src} to {dst}: referrers are copied between \
             registries only (an OCI layout keeps no referrers index here); copy without -r"
        )));
    }
    let source = match src {
        Location::Registry(image) => Side::Registry(Repository::of(image), image.clone()),
        Location::Layout { path, tag } => Side::Layout(Layout::open(path)?, tag.clone()),
    };
    let target = match dst {
        Location::Registry(image) => {
            if image.digest.is_some() && image.tag.is_some() {
                return Err(Error::Invalid(format!(
                    "cannot copy to {image}: give the destination a tag or a digest, not both"
                )));
            }
            Side::Registry(Repository::of(image), image.clone())
        }
        Location::Layout { path, tag } => Side::Layout(Layout::open_or_create(path)?, tag.clone()),
    };
    let temp = tempfile::Builder::new()
        .prefix("wharf-copy-")
        .tempdir()
        .map_err(|source| Error::Io {
            path: std::env::temp_dir(),
            action: "cannot create a temporary directory",
            source,
        })?;
    let copier = Copier {
        client,
        source,
        target,
        temp: temp.path().to_path_buf(),
        counters: Counters::default(),
    };
    let (top, bytes) = copier.top_manifest().await?;
    let span = tracing::info_span!("copy", from = %src, to = %dst, digest = %top.digest);
    let written = copier
        .copy_node(&top, bytes.clone(), true)
        .instrument(span.clone())
        .await?;
    let (referrers, cosign_tags) = if options.referrers {
        // The image, and for an index each platform manifest: what may be signed.
        let mut subjects = vec![top.digest.clone()];
        if let Manifest::Index(index) = copier.parse(&top, &bytes)? {
            subjects.extend(index.manifests.iter().map(|m| m.digest.clone()));
        }
        copier.copy_referrers(subjects).instrument(span).await?
    } else {
        (Vec::new(), Vec::new())
    };
    let c = &copier.counters;
    Ok(CopyReport {
        source_digest: Some(top.digest.clone()),
        digest: Some(written.digest.clone()),
        media_type: written.media_type.clone(),
        manifests: c.manifests.load(Ordering::Relaxed),
        blobs_copied: c.copied.load(Ordering::Relaxed),
        blobs_existed: c.existed.load(Ordering::Relaxed),
        blobs_mounted: c.mounted.load(Ordering::Relaxed),
        bytes_copied: c.bytes.load(Ordering::Relaxed),
        referrers,
        cosign_tags,
    })
}

struct Copier<'a> {
    client: &'a Client,
    source: Side,
    target: Side,
    temp: PathBuf,
    counters: Counters,
}

impl Copier<'_> {
    /// The top manifest's descriptor and bytes.
    async fn top_manifest(&self) -> Result<(Descriptor, Bytes)> {
        match &self.source {
            Side::Registry(_, image) => {
                let pulled = self.client.pull_manifest(image).await?;
                Ok((pulled.descriptor(), pulled.bytes))
            }
            Side::Layout(layout, tag) => {
                let descriptor = layout.resolve(tag.as_deref())?;
                let bytes = layout.read_blob(&descriptor)?;
                Ok((descriptor, bytes))
            }
        }
    }

    async fn child_manifest(&self, descriptor: &Descriptor) -> Result<Bytes> {
        match &self.source {
            Side::Registry(repo, _) => {
                let pulled = self
                    .client
                    .pull_manifest_in(repo, descriptor.digest.as_str(), Some(&descriptor.digest))
                    .await?;
                Ok(pulled.bytes)
            }
            Side::Layout(layout, _) => layout.read_blob(descriptor),
        }
    }

    fn parse(&self, descriptor: &Descriptor, bytes: &[u8]) -> Result<Manifest> {
        Manifest::parse(Some(&descriptor.media_type), bytes).map_err(|source| Error::Manifest {
            registry: match &self.source {
                Side::Registry(repo, _) => repo.registry.clone(),
                Side::Layout(layout, _) => layout.root().display().to_string(),
            },
            what: format!("manifest {}", descriptor.digest),
            source,
        })
    }

    /// Copies what `descriptor` (with `bytes`) refers to, children first, then the
    /// manifest itself; returns the descriptor as written (different only when a
    /// Docker manifest became OCI for a layout).
    async fn copy_node(
        &self,
        descriptor: &Descriptor,
        bytes: Bytes,
        top: bool,
    ) -> Result<Descriptor> {
        let (descriptor, bytes) = self.copy_contents(descriptor, bytes).await?;
        self.put_manifest(&descriptor, bytes.clone(), top).await?;
        Ok(descriptor)
    }

    /// Copies what a manifest refers to (blobs, or an index's children); returns
    /// the manifest as the target stores it.
    async fn copy_contents(
        &self,
        descriptor: &Descriptor,
        bytes: Bytes,
    ) -> Result<(Descriptor, Bytes)> {
        let manifest = self.parse(descriptor, &bytes)?;
        Ok(match &manifest {
            Manifest::Image(_) => {
                let blobs: Vec<Descriptor> = manifest
                    .blobs()
                    .into_iter()
                    .filter(|b| {
                        b.urls.is_empty() || b.media_type != media_type::DOCKER_FOREIGN_LAYER
                    })
                    .cloned()
                    .collect();
                let limit = self.client.options().max_concurrent_blobs.max(1);
                futures_util::stream::iter(blobs.iter().map(|b| self.copy_blob(b)))
                    .buffer_unordered(limit)
                    .try_collect::<Vec<()>>()
                    .await?;
                self.for_target(descriptor, bytes, None)?
            }
            Manifest::Index(index) => {
                let mut children = Vec::with_capacity(index.manifests.len());
                let mut changed = false;
                for child in &index.manifests {
                    if !media_type::is_manifest(&child.media_type) {
                        // An index may point at other content (rare): copied as a blob.
                        self.copy_blob(child).await?;
                        children.push(child.clone());
                        continue;
                    }
                    let child_bytes = self.child_manifest(child).await?;
                    let written = Box::pin(self.copy_node(child, child_bytes, false)).await?;
                    let mut entry = child.clone();
                    if written.digest != child.digest {
                        changed = true;
                        entry.digest = written.digest;
                        entry.size = written.size;
                        entry.media_type = written.media_type;
                    }
                    children.push(entry);
                }
                self.for_target(descriptor, bytes, changed.then_some(children.as_slice()))?
            }
        })
    }

    /// Copies the referrers of `subjects` (and theirs, to [`MAX_REFERRER_DEPTH`]) and
    /// cosign's tags of each; both sides are registries.
    async fn copy_referrers(
        &self,
        subjects: Vec<Digest>,
    ) -> Result<(Vec<Descriptor>, Vec<String>)> {
        let (Side::Registry(from, _), Side::Registry(to, _)) = (&self.source, &self.target) else {
            return Ok((Vec::new(), Vec::new()));
        };
        let mut queue: Vec<(Digest, usize)> = subjects.into_iter().map(|d| (d, 0)).collect();
        let mut seen: std::collections::HashSet<Digest> =
            queue.iter().map(|(d, _)| d.clone()).collect();
        let mut referrers = Vec::new();
        let mut cosign_tags = Vec::new();
        while let Some((subject, depth)) = queue.pop() {
            for listed in self
                .client
                .referrers(from, &subject, None)
                .await?
                .descriptors
            {
                if !seen.insert(listed.digest.clone()) {
                    continue;
                }
                let pulled = self
                    .client
                    .pull_manifest_in(from, listed.digest.as_str(), Some(&listed.digest))
                    .await?;
                let (descriptor, bytes) = self
                    .copy_contents(&pulled.descriptor(), pulled.bytes)
                    .await?;
                self.client
                    .push_referrer(to, &descriptor.media_type, bytes, ReferrersMode::Auto)
                    .await?;
                self.counters.manifests.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(referrer = %listed.digest, %subject, "referrer copied");
                if depth < MAX_REFERRER_DEPTH {
                    queue.push((listed.digest.clone(), depth + 1));
                }
                referrers.push(listed);
            }
            for suffix in COSIGN_SUFFIXES {
                let tag = format!("{}.{suffix}", fallback_tag(&subject));
                let pulled = match self.client.pull_manifest_in(from, &tag, None).await {
                    Ok(p) => p,
                    Err(e) if e.is_not_found() => continue,
                    Err(e) => return Err(e),
                };
                let (descriptor, bytes) = self
                    .copy_contents(&pulled.descriptor(), pulled.bytes)
                    .await?;
                self.client
                    .push_manifest(to, &tag, &descriptor.media_type, bytes)
                    .await?;
                self.counters.manifests.fetch_add(1, Ordering::Relaxed);
                cosign_tags.push(tag);
            }
        }
        Ok((referrers, cosign_tags))
    }

    /// The manifest as the target stores it: OCI layouts get OCI media types (as
    /// skopeo writes them, and the only ones it reads from `index.json`); an index
    /// whose children changed is rewritten with them.
    fn for_target(
        &self,
        descriptor: &Descriptor,
        bytes: Bytes,
        children: Option<&[Descriptor]>,
    ) -> Result<(Descriptor, Bytes)> {
        let to_layout = matches!(self.target, Side::Layout(..));
        let converted = if let Some(children) = children {
            Some(rewrite_index(&bytes, children))
        } else if to_layout && descriptor.media_type == media_type::DOCKER_MANIFEST_LIST {
            Some(rewrite_index(
                &bytes,
                self.parse(descriptor, &bytes)?.children(),
            ))
        } else if to_layout && descriptor.media_type == media_type::DOCKER_MANIFEST {
            docker_to_oci(&bytes).transpose()
        } else {
            None
        };
        match converted {
            None => Ok((descriptor.clone(), bytes)),
            Some(result) => {
                let new = Bytes::from(result.map_err(|source| Error::Manifest {
                    registry: "copy".into(),
                    what: format!("manifest {}", descriptor.digest),
                    source,
                })?);
                let media_type = Manifest::parse(None, &new)
                    .ok()
                    .and_then(|m| m.media_type().map(str::to_string))
                    .unwrap_or_else(|| descriptor.media_type.clone());
                let mut written = Descriptor::of(&media_type, &new);
                written.platform = descriptor.platform.clone();
                tracing::debug!(from = %descriptor.digest, to = %written.digest, "manifest converted to OCI media types");
                Ok((written, new))
            }
        }
    }

    async fn put_manifest(&self, descriptor: &Descriptor, bytes: Bytes, top: bool) -> Result<()> {
        match &self.target {
            Side::Registry(repo, image) => {
                let reference = if top {
                    image.manifest_reference().to_string()
                } else {
                    descriptor.digest.to_string()
                };
                if top
                    && image
                        .digest
                        .as_ref()
                        .is_some_and(|d| *d != descriptor.digest)
                {
                    return Err(Error::Invalid(format!(
                        "cannot copy to {image}: the source's digest is {}",
                        descriptor.digest
                    )));
                }
                if !top
                    && self
                        .client
                        .resolve(&image.with_digest(descriptor.digest.clone()))
                        .await?
                        .is_some()
                {
                    return Ok(());
                }
                self.client
                    .push_manifest(repo, &reference, &descriptor.media_type, bytes)
                    .await?;
            }
            Side::Layout(layout, tag) => {
                let digest = layout.write_blob(&bytes)?;
                if digest != descriptor.digest {
                    return Err(Error::Invalid(format!(
                        "manifest {} changed on the way (now {digest})",
                        descriptor.digest
                    )));
                }
                if top {
                    let mut entry = descriptor.clone();
                    entry.annotations.clear();
                    entry.platform = None;
                    layout.set_tag(tag.as_deref(), &entry)?;
                }
            }
        }
        self.counters.manifests.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn copy_blob(&self, blob: &Descriptor) -> Result<()> {
        let c = &self.counters;
        match (&self.source, &self.target) {
            (Side::Registry(from, _), Side::Registry(to, _)) => {
                if self.client.blob_exists(to, &blob.digest).await?.is_some() {
                    c.existed.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                if from.registry == to.registry
                    && from.name != to.name
                    && self.client.mount_blob(to, &blob.digest, &from.name).await?
                {
                    c.mounted.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                let path = self.temp.join(blob.digest.hex());
                self.client.pull_blob_to_file(from, blob, &path).await?;
                let pushed = self
                    .client
                    .push_blob(to, &BlobPush::file(path.clone(), blob.clone()))
                    .await;
                let _ = tokio::fs::remove_file(&path).await;
                self.count(pushed?.outcome, blob.size);
            }
            (Side::Layout(layout, _), Side::Registry(to, _)) => {
                if !layout.has_blob(blob) {
                    return Err(Error::Layout {
                        path: layout.blob_path(&blob.digest),
                        message: format!("blob {} ({} bytes) is missing", blob.digest, blob.size),
                    });
                }
                let pushed = self
                    .client
                    .push_blob(
                        to,
                        &BlobPush::file(layout.blob_path(&blob.digest), blob.clone()),
                    )
                    .await?;
                self.count(pushed.outcome, blob.size);
            }
            (Side::Registry(from, _), Side::Layout(layout, _)) => {
                if layout.has_blob(blob) {
                    c.existed.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                let stream = self.client.blob_stream(from, blob).await?;
                layout.write_blob_stream(blob, stream).await?;
                self.count(BlobOutcome::Uploaded, blob.size);
            }
            (Side::Layout(src, _), Side::Layout(dst, _)) => {
                if dst.has_blob(blob) {
                    c.existed.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                let file = tokio::fs::File::open(src.blob_path(&blob.digest))
                    .await
                    .map_err(|source| Error::Io {
                        path: src.blob_path(&blob.digest),
                        action: "cannot read the blob",
                        source,
                    })?;
                let path = src.blob_path(&blob.digest);
                let stream = tokio_util::io::ReaderStream::new(file).map(move |r| {
                    r.map_err(|source| Error::Io {
                        path: path.clone(),
                        action: "cannot read the blob",
                        source,
                    })
                });
                dst.write_blob_stream(blob, stream).await?;
                self.count(BlobOutcome::Uploaded, blob.size);
            }
        }
        Ok(())
    }

    fn count(&self, outcome: BlobOutcome, size: u64) {
        let c = &self.counters;
        match outcome {
            BlobOutcome::Existed => c.existed.fetch_add(1, Ordering::Relaxed),
            BlobOutcome::Mounted { .. } => c.mounted.fetch_add(1, Ordering::Relaxed),
            _ => {
                c.bytes.fetch_add(size, Ordering::Relaxed);
                c.copied.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_like_skopeo() {
        assert_eq!(
            Location::parse("oci:/tmp/x:v1").ok(),
            Some(Location::Layout {
                path: "/tmp/x".into(),
                tag: Some("v1".into())
            })
        );
        assert_eq!(
            Location::parse("oci:rel/dir").ok(),
            Some(Location::Layout {
                path: "rel/dir".into(),
                tag: None
            })
        );
        let r = Location::parse("docker://localhost:5000/a:1").ok();
        assert!(matches!(r, Some(Location::Registry(ref i)) if i.registry == "localhost:5000"));
        assert!(Location::parse("oci::v1").is_err());
        assert!(Location::parse("oci:/x:bad+tag").is_err());
        assert!(Location::parse("Bad/Name").is_err());
        assert_eq!(
            Location::parse("oci:/tmp/x:v1")
                .map(|l| l.to_string())
                .ok()
                .as_deref(),
            Some("oci:/tmp/x:v1")
        );
    }
}
