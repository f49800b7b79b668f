//! The registry's content on disk, shaped like distribution's filesystem driver so a
//! later process serves the same images:
//!
//! ```text
//! <root>/blobs/sha256/<hex>                                   content, by digest
//! <root>/repositories/<name>/_layers/sha256/<hex>             blob linked into <name> (empty)
//! <root>/repositories/<name>/_manifests/revisions/sha256/<hex>  manifest in <name> (its media type)
//! <root>/repositories/<name>/_manifests/tags/<tag>            tag (the manifest digest; its
//!                                                             mtime: when it was last pushed)
//! <root>/repositories/<name>/_manifests/referrers/sha256/<subject hex>/<hex>
//!                                                             a referrer's descriptor
//! <root>/uploads/<uuid>                                       upload in progress
//! <root>/tmp/<uuid>                                           a file being written
//! ```
//!
//! Every file appears whole: it is written under `tmp/` or `uploads/` and renamed into
//! place, so concurrent writers and readers never see a partial file. Repository path
//! components cannot start with `_`, so `_layers`/`_manifests` never clash with a name.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::errors::ApiError;
use crate::digest::{Algorithm, Digest, DigestError};

/// Parses a digest from the API: only sha256 is stored.
pub(crate) fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    match Digest::parse(s) {
        Ok(digest) if digest.algorithm() == Algorithm::Sha256 => Ok(digest),
        Ok(digest) => Err(ApiError::digest_invalid(format!(
            "unsupported digest algorithm {:?}: this registry stores sha256 only",
            digest.algorithm().name()
        ))),
        Err(DigestError::UnsupportedAlgorithm { algorithm, .. }) => Err(ApiError::digest_invalid(
            format!("unsupported digest algorithm {algorithm:?}: this registry stores sha256 only"),
        )),
        Err(_) => Err(ApiError::digest_invalid(format!(
            "{s:?} is not a sha256 digest"
        ))),
    }
}

/// The on-disk store under one root directory.
#[derive(Debug)]
pub(crate) struct Storage {
    root: PathBuf,
}

impl Storage {
    /// Opens (creating) the store under `root`.
    /// Files left in `uploads/` and `tmp/` by a process that died are removed once they
    /// are a day old (a younger one may belong to another process serving the same root).
    pub(crate) async fn open(root: PathBuf) -> io::Result<Storage> {
        for dir in ["blobs/sha256", "repositories", "uploads", "tmp"] {
            tokio::fs::create_dir_all(root.join(dir)).await?;
        }
        for dir in ["uploads", "tmp"] {
            // Best effort: leftovers only cost disk space.
            let _ = remove_stale(&root.join(dir)).await;
        }
        Ok(Storage { root })
    }

    /// The root directory.
    pub(crate) fn root(&self) -> &std::path::Path {
        &self.root
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    fn repo_dir(&self, name: &str) -> PathBuf {
        self.root.join("repositories").join(name)
    }

    fn layer_link(&self, name: &str, digest: &Digest) -> PathBuf {
        self.repo_dir(name)
            .join("_layers/sha256")
            .join(digest.hex())
    }

    fn revision_path(&self, name: &str, digest: &Digest) -> PathBuf {
        self.repo_dir(name)
            .join("_manifests/revisions/sha256")
            .join(digest.hex())
    }

    fn tags_dir(&self, name: &str) -> PathBuf {
        self.repo_dir(name).join("_manifests/tags")
    }

    /// A fresh path for an upload's data.
    pub(crate) fn upload_path(&self, id: &str) -> PathBuf {
        self.root.join("uploads").join(id)
    }

    /// Writes `bytes` to `path` atomically (temporary file, then rename).
    async fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let temp = self.root.join("tmp").join(uuid::Uuid::new_v4().to_string());
        tokio::fs::write(&temp, bytes).await?;
        let renamed = tokio::fs::rename(&temp, path).await;
        if renamed.is_err() {
            let _ = tokio::fs::remove_file(&temp).await;
        }
        renamed
    }

    /// The size of blob `digest` when it is linked into repository `name`.
    pub(crate) async fn linked_blob_size(
        &self,
        name: &str,
        digest: &Digest,
    ) -> io::Result<Option<u64>> {
        if !exists(&self.layer_link(name, digest)).await? {
            return Ok(None);
        }
        match tokio::fs::metadata(self.blob_path(digest)).await {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Opens blob `digest` for reading.
    pub(crate) async fn open_blob(&self, digest: &Digest) -> io::Result<tokio::fs::File> {
        tokio::fs::File::open(self.blob_path(digest)).await
    }

    /// Links blob `digest` into repository `name`.
    pub(crate) async fn link_blob(&self, name: &str, digest: &Digest) -> io::Result<()> {
        let link = self.layer_link(name, digest);
        if !exists(&link).await? {
            self.write_atomic(&link, b"").await?;
        }
        Ok(())
    }

    /// Removes blob `digest` from repository `name`; false when it was not there.
    pub(crate) async fn unlink_blob(&self, name: &str, digest: &Digest) -> io::Result<bool> {
        remove_if_present(&self.layer_link(name, digest)).await
    }

    /// Moves a finished upload into the blob store as `digest` and links it into `name`.
    pub(crate) async fn commit_blob(
        &self,
        data: &Path,
        name: &str,
        digest: &Digest,
    ) -> io::Result<()> {
        let target = self.blob_path(digest);
        if exists(&target).await? {
            // Same digest, same bytes: keep the stored copy.
            tokio::fs::remove_file(data).await?;
        } else {
            tokio::fs::rename(data, &target).await?;
        }
        self.link_blob(name, digest).await
    }

    /// Stores a manifest's exact bytes and media type in repository `name`.
    pub(crate) async fn put_manifest(
        &self,
        name: &str,
        digest: &Digest,
        media_type: &str,
        bytes: &[u8],
    ) -> io::Result<()> {
        let blob = self.blob_path(digest);
        if !exists(&blob).await? {
            self.write_atomic(&blob, bytes).await?;
        }
        self.write_atomic(&self.revision_path(name, digest), media_type.as_bytes())
            .await
    }

    /// Whether manifest `digest` is in repository `name`.
    pub(crate) async fn has_manifest(&self, name: &str, digest: &Digest) -> io::Result<bool> {
        exists(&self.revision_path(name, digest)).await
    }

    /// Manifest `digest` of repository `name`: its media type and bytes.
    pub(crate) async fn manifest(
        &self,
        name: &str,
        digest: &Digest,
    ) -> io::Result<Option<(String, Vec<u8>)>> {
        let media_type = match tokio::fs::read_to_string(self.revision_path(name, digest)).await {
            Ok(media_type) => media_type,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        match tokio::fs::read(self.blob_path(digest)).await {
            Ok(bytes) => Ok(Some((media_type, bytes))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Points tag `tag` of repository `name` at `digest`.
    pub(crate) async fn set_tag(&self, name: &str, tag: &str, digest: &Digest) -> io::Result<()> {
        self.write_atomic(
            &self.tags_dir(name).join(tag),
            digest.to_string().as_bytes(),
        )
        .await
    }

    /// The digest tag `tag` of repository `name` points at.
    pub(crate) async fn resolve_tag(&self, name: &str, tag: &str) -> io::Result<Option<Digest>> {
        match tokio::fs::read_to_string(self.tags_dir(name).join(tag)).await {
            Ok(text) => Ok(parse_digest(text.trim()).ok()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes tag `tag`; false when it did not exist.
    pub(crate) async fn delete_tag(&self, name: &str, tag: &str) -> io::Result<bool> {
        remove_if_present(&self.tags_dir(name).join(tag)).await
    }

    /// Removes manifest `digest` from repository `name`, with the tags pointing at it;
    /// false when it was not there.
    pub(crate) async fn delete_manifest(&self, name: &str, digest: &Digest) -> io::Result<bool> {
        if !remove_if_present(&self.revision_path(name, digest)).await? {
            return Ok(false);
        }
        for tag in self.tags(name).await?.unwrap_or_default() {
            if self.resolve_tag(name, &tag).await?.as_ref() == Some(digest) {
                self.delete_tag(name, &tag).await?;
            }
        }
        Ok(true)
    }

    /// The tags of repository `name`, sorted; `None` when the repository is unknown.
    pub(crate) async fn tags(&self, name: &str) -> io::Result<Option<Vec<String>>> {
        if !exists(&self.repo_dir(name).join("_layers")).await?
            && !exists(&self.repo_dir(name).join("_manifests")).await?
        {
            return Ok(None);
        }
        let mut tags = Vec::new();
        let mut entries = match tokio::fs::read_dir(self.tags_dir(name)).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Some(tags)),
            Err(e) => return Err(e),
        };
        while let Some(entry) = entries.next_entry().await? {
            if let Some(tag) = entry.file_name().to_str() {
                tags.push(tag.to_string());
            }
        }
        tags.sort();
        Ok(Some(tags))
    }

    fn referrers_dir(&self, name: &str, subject: &Digest) -> PathBuf {
        self.repo_dir(name)
            .join("_manifests/referrers/sha256")
            .join(subject.hex())
    }

    /// Records that manifest `referrer` of repository `name` has subject `subject`,
    /// with the descriptor the referrers API lists for it.
    pub(crate) async fn put_referrer(
        &self,
        name: &str,
        subject: &Digest,
        referrer: &Digest,
        descriptor: &[u8],
    ) -> io::Result<()> {
        self.write_atomic(
            &self.referrers_dir(name, subject).join(referrer.hex()),
            descriptor,
        )
        .await
    }

    /// The descriptors of the manifests of `name` whose subject is `subject` (those
    /// still stored), sorted by digest.
    pub(crate) async fn referrers(&self, name: &str, subject: &Digest) -> io::Result<Vec<Vec<u8>>> {
        let dir = self.referrers_dir(name, subject);
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut found = Vec::new();
        while let Some(entry) = entries.next_entry().await? {
            let Some(hex) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let Ok(digest) = parse_digest(&format!("sha256:{hex}")) else {
                continue;
            };
            if self.has_manifest(name, &digest).await? {
                found.push((hex, tokio::fs::read(entry.path()).await?));
            } else {
                let _ = tokio::fs::remove_file(entry.path()).await;
            }
        }
        found.sort();
        Ok(found.into_iter().map(|(_, d)| d).collect())
    }

    /// When tag `tag` of `name` was last pushed.
    pub(crate) async fn tag_time(&self, name: &str, tag: &str) -> io::Result<Option<SystemTime>> {
        modified(&self.tags_dir(name).join(tag)).await
    }

    /// When manifest `digest` was last pushed to `name`.
    pub(crate) async fn manifest_time(
        &self,
        name: &str,
        digest: &Digest,
    ) -> io::Result<Option<SystemTime>> {
        modified(&self.revision_path(name, digest)).await
    }

    /// Every manifest stored in repository `name`, sorted by digest.
    pub(crate) async fn manifest_digests(&self, name: &str) -> io::Result<Vec<Digest>> {
        let dir = self.repo_dir(name).join("_manifests/revisions/sha256");
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut found = Vec::new();
        while let Some(entry) = entries.next_entry().await? {
            if let Some(hex) = entry.file_name().to_str()
                && let Ok(digest) = parse_digest(&format!("sha256:{hex}"))
            {
                found.push(digest);
            }
        }
        found.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        Ok(found)
    }

    /// Every repository holding a manifest, sorted.
    pub(crate) async fn repositories(&self) -> io::Result<Vec<String>> {
        let base = self.root.join("repositories");
        let mut found = Vec::new();
        let mut pending = vec![base.clone()];
        while let Some(dir) = pending.pop() {
            let mut entries = match tokio::fs::read_dir(&dir).await {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            while let Some(entry) = entries.next_entry().await? {
                if !entry.file_type().await?.is_dir() {
                    continue;
                }
                let file_name = entry.file_name();
                if file_name == "_manifests" {
                    if let Ok(relative) = dir.strip_prefix(&base)
                        && let Some(name) = relative.to_str()
                    {
                        found.push(name.to_string());
                    }
                } else if file_name.to_str().is_some_and(|n| !n.starts_with('_')) {
                    pending.push(entry.path());
                }
            }
        }
        found.sort();
        Ok(found)
    }
}

/// How old a leftover upload or temporary file must be to be removed.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

async fn remove_stale(dir: &Path) -> io::Result<()> {
    let mut entries = tokio::fs::read_dir(dir).await?;
    while let Some(entry) = entries.next_entry().await? {
        let stale = entry
            .metadata()
            .await
            .ok()
            .and_then(|meta| meta.modified().ok())
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER);
        if stale {
            let _ = tokio::fs::remove_file(entry.path()).await;
        }
    }
    Ok(())
}

async fn modified(path: &Path) -> io::Result<Option<SystemTime>> {
    match tokio::fs::metadata(path).await {
        Ok(meta) => Ok(meta.modified().ok()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

async fn exists(path: &Path) -> io::Result<bool> {
    tokio::fs::try_exists(path).await
}

async fn remove_if_present(path: &Path) -> io::Result<bool> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_parse_sha256_only() {
        let hex = "a".repeat(64);
        assert_eq!(
            parse_digest(&format!("sha256:{hex}"))
                .ok()
                .map(|d| d.to_string()),
            Some(format!("sha256:{hex}"))
        );
        for bad in [
            "sha256:abc".to_string(),
            format!("sha256:{}", "A".repeat(64)),
            format!("sha512:{}", "a".repeat(128)),
            "nonsense".to_string(),
        ] {
            assert!(parse_digest(&bad).is_err(), "{bad}");
        }
        assert_eq!(
            Digest::sha256(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn an_unsupported_algorithm_is_a_digest_error() {
        let err = parse_digest(&format!("sha512:{}", "a".repeat(128)));
        assert_eq!(err.err().map(|e| e.code()), Some("DIGEST_INVALID"));
    }
}
