//! OCI 1.1 referrers: the manifests whose `subject` is another manifest (signatures,
//! SBOMs, attestations). One module for sign, verify, attach, copy and purge.
//!
//! - **Reading** ([`Client::referrers`]): the referrers API
//!   (`GET /v2/<name>/referrers/<digest>[?artifactType=]`), trusted only when it answers
//!   200 with an OCI index (as go-containerregistry and oras-go do; a 404 page, a 400
//!   or another content type means the registry lacks it), else the tag-schema fallback
//!   (`sha256-<hex>`), a missing tag meaning none. The `artifactType` filter is applied
//!   here when the registry did not (`OCI-Filters-Applied`). Entries are de-duplicated
//!   by digest.
//! - **Writing** ([`Client::push_referrer`]): the manifest is pushed by digest; when the
//!   registry did not answer `OCI-Subject` (or [`ReferrersMode::Tag`] is asked), the
//!   fallback index is updated: read (404 = empty; anything but an index is an error),
//!   the entry appended unless its digest is there, with `artifactType` (else
//!   `config.mediaType`) and **all** the manifest's annotations, pushed back, and the
//!   superseded index deleted (oras-go's referrers GC, best effort).
//! - **Races**: writers in one process are serialised per fallback tag; across
//!   processes each update is read back [`CONFIRMATIONS`] times, at random intervals,
//!   and merged again whenever another writer's index replaced it (distribution has
//!   no conditional PUT), up to [`MERGE_ROUNDS`] merges.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex};

use bytes::Bytes;
use reqwest::Method;
use serde_json::Value;

use crate::client::{Client, Error, Repository, Result, Scope};
use crate::digest::Digest;
use crate::manifest::{Descriptor, ImageIndex, Manifest, media_type};

/// The digest oras-go asks the referrers API about to detect it.
pub const ZERO_DIGEST: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// How many times a fallback update is merged again after another writer replaced it.
pub const MERGE_ROUNDS: usize = 16;

/// How many read-backs, after the last push, must show a fallback update in place.
pub const CONFIRMATIONS: usize = 3;

/// A random pause of 20 to 80 ms between read-backs of a fallback index.
async fn pause() {
    use rand::Rng as _;
    let ms = rand::rng().random_range(20..80);
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

/// Where a referrer is recorded when pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReferrersMode {
    /// The referrers API when the registry processes `subject` (`OCI-Subject`), else
    /// the tag schema (notation 2's default).
    #[default]
    Auto,
    /// The referrers API only: an error when the registry does not process `subject`.
    Api,
    /// Always the tag schema too (notation 1's `--force-referrers-tag`).
    Tag,
}

impl std::str::FromStr for ReferrersMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(ReferrersMode::Auto),
            "api" => Ok(ReferrersMode::Api),
            "tag" => Ok(ReferrersMode::Tag),
            other => Err(format!(
                "unknown referrers mode {other:?}: use auto, api or tag"
            )),
        }
    }
}

/// Where a listing of referrers came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferrersSource {
    /// The registry's referrers API.
    Api,
    /// The `sha256-<hex>` fallback index.
    Tag,
}

/// The referrers of one manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Referrers {
    /// Descriptors with `artifactType` and annotations, de-duplicated by digest.
    pub descriptors: Vec<Descriptor>,
    /// Where they came from.
    pub source: ReferrersSource,
}

/// A referrer pushed with [`Client::push_referrer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedReferrer {
    /// The referrer's descriptor (as listed).
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// The registry processed its subject (it has the referrers API).
    pub api: bool,
    /// The fallback index was written.
    pub index_updated: bool,
}

/// The fallback tag for `subject`: `<alg>-<hex>`, the algorithm cut to 32 and the hex
/// to 64 characters, as the distribution spec has it.
pub fn fallback_tag(subject: &Digest) -> String {
    let alg = subject.algorithm().name();
    let hex = subject.hex();
    format!(
        "{}-{}",
        &alg[..alg.len().min(32)],
        &hex[..hex.len().min(64)]
    )
}

/// Whether `tag` is a referrers fallback tag or one of cosign's `.sig`/`.att`/`.sbom`
/// tags: never an ordinary tag (purge, `tags` listings).
pub fn is_artifact_tag(tag: &str) -> bool {
    let Some(rest) = tag.strip_prefix("sha256-") else {
        return false;
    };
    let hex = rest
        .strip_suffix(".sig")
        .or_else(|| rest.strip_suffix(".att"))
        .or_else(|| rest.strip_suffix(".sbom"))
        .unwrap_or(rest);
    hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The descriptor a referrers listing holds for manifest `bytes` of `media_type`:
/// `artifactType` (else `config.mediaType`) and all its annotations.
pub fn referrer_descriptor(media_type: &str, bytes: &[u8]) -> Result<Descriptor> {
    let manifest = Manifest::parse(Some(media_type), bytes)
        .map_err(|e| Error::Invalid(format!("the referrer is not a manifest: {e}")))?;
    let mut descriptor = Descriptor::of(media_type, bytes);
    descriptor.annotations = manifest.annotations().clone();
    descriptor.artifact_type = match &manifest {
        Manifest::Image(m) => m
            .artifact_type
            .clone()
            .or_else(|| Some(m.config.media_type.clone())),
        Manifest::Index(i) => i.artifact_type.clone(),
    };
    Ok(descriptor)
}

/// In-process writers of one fallback tag take turns.
static TAG_LOCKS: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn tag_lock(key: String) -> Arc<tokio::sync::Mutex<()>> {
    let mut locks = match TAG_LOCKS.lock() {
        Ok(l) => l,
        Err(poisoned) => poisoned.into_inner(),
    };
    Arc::clone(locks.entry(key).or_default())
}

/// What a tag `DELETE` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagDeleted {
    /// The tag is gone; its manifest stays.
    Deleted,
    /// There was no such tag.
    NotFound,
    /// The registry cannot delete a tag without its manifest (distribution 2.8 answers
    /// `400 DIGEST_INVALID`; others 405).
    Unsupported,
}

impl Client {
    /// Whether `repo`'s registry has the referrers API: a `GET` of the referrers of
    /// the zero digest answers 200 with an OCI index.
    pub async fn referrers_api_supported(&self, repo: &Repository) -> Result<bool> {
        let zero = Digest::parse(ZERO_DIGEST).map_err(|e| Error::Invalid(e.to_string()))?;
        Ok(self.referrers_from_api(repo, &zero, None).await?.is_some())
    }

    /// The referrers API's answer, or `None` when the registry lacks it.
    async fn referrers_from_api(
        &self,
        repo: &Repository,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<(Vec<Descriptor>, bool)>> {
        let mut path = format!("/v2/{}/referrers/{subject}", repo.name);
        if let Some(t) = artifact_type {
            path.push_str("?artifactType=");
            path.push_str(
                &percent_encoding::utf8_percent_encode(t, percent_encoding::NON_ALPHANUMERIC)
                    .to_string(),
            );
        }
        let scope = Scope::repository(&repo.name, &["pull"]);
        let what = format!("referrers of {subject} in {}", repo.name);
        let mut descriptors = Vec::new();
        let mut filtered = true;
        for _ in 0..1000 {
            let response = self
                .raw_request(
                    &repo.registry,
                    Method::GET,
                    &path,
                    Some(media_type::OCI_INDEX),
                    &scope,
                    &what,
                )
                .await?;
            if response.status != 200
                || response.content_type.as_deref() != Some(media_type::OCI_INDEX)
            {
                return Ok(None);
            }
            let index: ImageIndex =
                serde_json::from_slice(&response.body).map_err(|e| Error::Protocol {
                    registry: repo.registry.clone(),
                    message: format!("the referrers of {subject} are not an OCI index: {e}"),
                })?;
            filtered &= response
                .headers
                .get("OCI-Filters-Applied")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.split(',').any(|f| f.trim() == "artifactType"));
            descriptors.extend(index.manifests);
            match response.next {
                Some(next) if next.starts_with('/') => path = next,
                Some(next) => {
                    let url = url::Url::parse(&next).map_err(|_| Error::Protocol {
                        registry: repo.registry.clone(),
                        message: format!("the next-page Link {next:?} is not a URL"),
                    })?;
                    path = match url.query() {
                        Some(q) => format!("{}?{q}", url.path()),
                        None => url.path().to_string(),
                    };
                }
                None => return Ok(Some((descriptors, filtered))),
            }
        }
        Err(Error::Protocol {
            registry: repo.registry.clone(),
            message: format!("the referrers of {subject} did not end after 1000 pages"),
        })
    }

    /// The fallback index at `subject`'s tag: `None` when the tag does not exist; an
    /// error when it holds something other than an index.
    async fn fallback_index(
        &self,
        repo: &Repository,
        subject: &Digest,
    ) -> Result<Option<(ImageIndex, Digest)>> {
        let tag = fallback_tag(subject);
        let pulled = match self.pull_manifest_in(repo, &tag, None).await {
            Ok(p) => p,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        if !media_type::is_index(&pulled.media_type) {
            return Err(Error::Protocol {
                registry: repo.registry.clone(),
                message: format!(
                    "{repo}:{tag} holds a {} where the referrers fallback index belongs",
                    pulled.media_type
                ),
            });
        }
        match pulled.parse() {
            Ok(Manifest::Index(index)) => Ok(Some((*index, pulled.digest))),
            _ => Err(Error::Protocol {
                registry: repo.registry.clone(),
                message: format!("{repo}:{tag} is not a valid OCI index"),
            }),
        }
    }

    /// The referrers of `subject` in `repo`, optionally only those of
    /// `artifact_type`: the API when the registry has it, else the fallback tag.
    pub async fn referrers(
        &self,
        repo: &Repository,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Referrers> {
        let (descriptors, source, filtered) = match self
            .referrers_from_api(repo, subject, artifact_type)
            .await?
        {
            Some((d, filtered)) => (d, ReferrersSource::Api, filtered),
            None => (
                self.fallback_index(repo, subject)
                    .await?
                    .map(|(i, _)| i.manifests)
                    .unwrap_or_default(),
                ReferrersSource::Tag,
                false,
            ),
        };
        let mut seen = std::collections::HashSet::new();
        let descriptors = descriptors
            .into_iter()
            .filter(|d| seen.insert(d.digest.clone()))
            .filter(|d| {
                filtered || artifact_type.is_none_or(|t| d.artifact_type.as_deref() == Some(t))
            })
            .collect();
        Ok(Referrers {
            descriptors,
            source,
        })
    }

    /// Pushes referrer manifest `bytes` (which must have a `subject`) to `repo` by
    /// digest, and records it in the fallback index as `mode` says.
    pub async fn push_referrer(
        &self,
        repo: &Repository,
        media_type: &str,
        bytes: Bytes,
        mode: ReferrersMode,
    ) -> Result<PushedReferrer> {
        let descriptor = referrer_descriptor(media_type, &bytes)?;
        let subject = Manifest::parse(Some(media_type), &bytes)
            .ok()
            .and_then(|m| m.subject().map(|s| s.digest.clone()))
            .ok_or_else(|| Error::Invalid("a referrer needs a subject".into()))?;
        let digest = descriptor.digest.clone();
        let pushed = self
            .push_manifest(repo, digest.as_str(), media_type, bytes)
            .await?;
        let needs_index = match mode {
            ReferrersMode::Tag => true,
            ReferrersMode::Auto => !pushed.subject_processed,
            ReferrersMode::Api if pushed.subject_processed => false,
            ReferrersMode::Api => {
                return Err(Error::Invalid(format!(
                    "{} did not process the referrer's subject (no OCI-Subject): it has no referrers API; use --referrers-mode auto or tag",
                    repo.registry
                )));
            }
        };
        if needs_index {
            self.update_fallback(repo, &subject, |index| {
                if index.manifests.iter().any(|d| d.digest == digest) {
                    false
                } else {
                    index.manifests.push(descriptor.clone());
                    true
                }
            })
            .await?;
        }
        Ok(PushedReferrer {
            digest,
            size: pushed.size,
            api: pushed.subject_processed,
            index_updated: needs_index,
        })
    }

    /// Removes `referrer` from `subject`'s fallback index (after the referrer was
    /// deleted); deletes the index tag when it becomes empty. False when it was not
    /// listed.
    pub async fn remove_from_fallback(
        &self,
        repo: &Repository,
        subject: &Digest,
        referrer: &Digest,
    ) -> Result<bool> {
        self.update_fallback(repo, subject, |index| {
            let before = index.manifests.len();
            index.manifests.retain(|d| d.digest != *referrer);
            index.manifests.len() != before
        })
        .await
    }

    /// Applies `change` to the fallback index of `subject` (false: nothing to do), and
    /// pushes it. Without conditional PUTs a writer that read an older index can still
    /// replace ours after we pushed, so the index is read back [`CONFIRMATIONS`] times,
    /// a few random milliseconds apart, and the change merged in again whenever it is
    /// missing.
    async fn update_fallback(
        &self,
        repo: &Repository,
        subject: &Digest,
        change: impl Fn(&mut ImageIndex) -> bool,
    ) -> Result<bool> {
        let tag = fallback_tag(subject);
        let lock = tag_lock(format!("{}/{}:{tag}", repo.registry, repo.name));
        let _turn = lock.lock().await;
        let mut changed_any = false;
        let mut confirmed = 0;
        let mut merges = 0;
        // The index this writer replaced, deleted once the tag is seen on ours.
        let mut superseded: Option<(Digest, Digest)> = None;
        loop {
            let current = self.fallback_index(repo, subject).await?;
            if let (Some((old, ours)), Some((_, now))) = (&superseded, &current)
                && now == ours
                && old != now
            {
                self.collect_garbage(repo, old.clone()).await;
                superseded = None;
            }
            let (mut index, old) = match current {
                Some((index, digest)) => (index, Some(digest)),
                None => (ImageIndex::new(), None),
            };
            if !change(&mut index) {
                if !changed_any || confirmed >= CONFIRMATIONS {
                    return Ok(changed_any);
                }
                confirmed += 1;
                pause().await;
                continue;
            }
            merges += 1;
            if merges > MERGE_ROUNDS {
                return Err(Error::Protocol {
                    registry: repo.registry.clone(),
                    message: format!(
                        "the referrers index {repo}:{tag} kept changing under other writers ({MERGE_ROUNDS} merges)"
                    ),
                });
            }
            changed_any = true;
            confirmed = 0;
            dedupe(&mut index);
            if index.manifests.is_empty() {
                // An empty index is the same bytes for every subject: never push or
                // garbage-collect one; remove the tag instead.
                match self.delete_tag(repo, &tag).await? {
                    TagDeleted::Deleted | TagDeleted::NotFound => {}
                    TagDeleted::Unsupported => {
                        if let Some(old) = old {
                            // The old index listed this subject's referrers only, so
                            // its digest carries this tag alone.
                            self.delete_manifest(&crate::ImageRef {
                                registry: repo.registry.clone(),
                                repository: repo.name.clone(),
                                tag: None,
                                digest: Some(old),
                            })
                            .await?;
                        }
                    }
                }
                pause().await;
                continue;
            }
            let bytes = serde_json::to_vec(&index).map_err(|e| Error::Invalid(e.to_string()))?;
            let new = Digest::sha256(&bytes);
            self.push_manifest(repo, &tag, media_type::OCI_INDEX, Bytes::from(bytes))
                .await?;
            if let Some(old) = old.filter(|old| *old != new) {
                superseded = Some((old, new));
            }
            pause().await;
        }
    }

    /// oras-go's referrers GC: deletes a superseded index. Best effort, without
    /// retries: another writer may be doing the same.
    async fn collect_garbage(&self, repo: &Repository, old: Digest) {
        let quick = self.with_retry(crate::client::RetryPolicy {
            budget: std::time::Duration::ZERO,
            on_retry: None,
            ..self.retry().clone()
        });
        let _ = quick
            .delete_manifest(&crate::ImageRef {
                registry: repo.registry.clone(),
                repository: repo.name.clone(),
                tag: None,
                digest: Some(old),
            })
            .await;
    }

    /// Deletes tag `tag` of `repo` only (`DELETE /v2/<name>/manifests/<tag>`).
    pub async fn delete_tag(&self, repo: &Repository, tag: &str) -> Result<TagDeleted> {
        let response = self
            .raw_request(
                &repo.registry,
                Method::DELETE,
                &format!("/v2/{}/manifests/{tag}", repo.name),
                None,
                &Scope::repository(&repo.name, &["delete"]),
                &format!("tag {tag} of {}", repo.name),
            )
            .await?;
        Ok(match response.status {
            200 | 202 | 204 => TagDeleted::Deleted,
            404 => TagDeleted::NotFound,
            400 | 405 => TagDeleted::Unsupported,
            status => {
                return Err(Error::Protocol {
                    registry: repo.registry.clone(),
                    message: format!("DELETE of tag {tag} of {} answered {status}", repo.name),
                });
            }
        })
    }
}

fn dedupe(index: &mut ImageIndex) {
    let mut seen = std::collections::HashSet::new();
    index.manifests.retain(|d| seen.insert(d.digest.clone()));
}

/// Annotations of a JSON manifest value (used by listings that do not parse).
pub fn annotations_of(value: &Value) -> BTreeMap<String, String> {
    value
        .get("annotations")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_tags_follow_the_spec() {
        let d = Digest::sha256(b"x");
        assert_eq!(fallback_tag(&d), format!("sha256-{}", d.hex()));
        assert!(is_artifact_tag(&fallback_tag(&d)));
        assert!(is_artifact_tag(&format!("{}.sig", fallback_tag(&d))));
        assert!(is_artifact_tag(&format!("{}.att", fallback_tag(&d))));
        assert!(!is_artifact_tag("sha256-abc"));
        assert!(!is_artifact_tag("v1"));
        assert!(!is_artifact_tag(&format!("{}.zip", fallback_tag(&d))));
    }

    #[test]
    fn referrer_descriptors_carry_artifact_type_and_annotations() {
        let subject = Descriptor::of(media_type::OCI_MANIFEST, b"{}");
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_MANIFEST,
            "config": Descriptor::of("application/vnd.example.config", b"{}"),
            "layers": [],
            "subject": subject,
            "annotations": {"a": "1", "b": "2"},
        });
        let bytes = serde_json::to_vec(&manifest).unwrap_or_default();
        let d = referrer_descriptor(media_type::OCI_MANIFEST, &bytes).ok();
        let d = d.unwrap_or_else(|| panic!("no descriptor"));
        assert_eq!(
            d.artifact_type.as_deref(),
            Some("application/vnd.example.config")
        );
        assert_eq!(d.annotations.len(), 2);
        assert_eq!(d.digest, Digest::sha256(&bytes));
    }

    #[test]
    fn modes_parse() {
        assert_eq!("tag".parse(), Ok(ReferrersMode::Tag));
        assert!("x".parse::<ReferrersMode>().is_err());
    }
}
