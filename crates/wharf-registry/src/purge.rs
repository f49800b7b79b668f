//! `acr purge` semantics (Azure/acr-cli `cmd/acr/purge.go`, `cmd/repository`): the
//! filter and `--ago` parsers, and purging a registry's repositories.
//!
//! - **Filters** `REPO:TAGREGEX` split at the first `:` outside a character class and
//!   outside the `(?flags:` of a group; the repository part is anchored (`^REPO$`, so
//!   `ba:.*` does not match `bar`), the tag part is not (`local` matches `v1-local`);
//!   several filters of one repository are OR-ed. Regexes have lookaround (fancy-regex),
//!   with a backtracking limit in place of acr's match timeout.
//! - **`--ago`** is `[N]d[go-duration]` (`2d3h6m`, `15m`, `0m`, `-1d`), capped at 150
//!   years; the cutoff is now minus it.
//! - **Tags**: only tags last pushed before the cutoff, matching, and not locked; the
//!   newest `--keep` of those are kept. Signature and referrer tags (`sha256-<hex>`,
//!   `…​.sig`/`.att`/`.sbom`) are never ordinary tags.
//! - **Where the registry has ACR's listings** (ACR, wharf's own): push times come from
//!   `/acr/v1/<repo>/_tags`, tags are deleted alone, and `--untagged` deletes untagged
//!   manifests (cutoff and keep apply), never one with a `subject` (a referrer: its
//!   subject's) nor a child of an index that stays.
//! - **Elsewhere** (the distribution registry): a tag's time is its image's
//!   `org.opencontainers.image.created` annotation, else its config's `created`; an
//!   unknown time keeps the image. A tag cannot be deleted without its manifest, so a
//!   manifest is deleted only when every tag on it is selected; otherwise the tag is
//!   skipped with the reason. `--untagged` is reported as unsupported there.
//! - **Cascade**: deleting a manifest first deletes its referrers (recursively), their
//!   fallback index and cosign's `.sig`/`.att`/`.sbom` tags, as ACR does server-side.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use futures_util::stream::{self, StreamExt as _};
use reqwest::Method;

use crate::client::{Client, Error, Repository, Scope};
use crate::digest::Digest;
use crate::manifest::{Manifest, media_type};
use crate::referrers::{fallback_tag, is_artifact_tag};
use crate::{ImageRef, acr_listing};

/// The most `--ago` may reach back (acr-cli#560).
pub const MAX_AGO_YEARS: i64 = 150;
/// acr's pool limit ("recommended by ACR server").
pub const MAX_CONCURRENCY: usize = 32;
/// The backtracking allowed per regex match (acr: a 60 s match timeout).
const BACKTRACK_LIMIT: usize = 1_000_000;

/// Why a purge could not run.
#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    /// A malformed `--filter`.
    #[error("--filter {filter:?}: {reason}")]
    Filter {
        /// The filter.
        filter: String,
        /// What is wrong.
        reason: String,
    },
    /// A malformed `--ago`.
    #[error("--ago {ago:?}: {reason}")]
    Ago {
        /// The duration.
        ago: String,
        /// What is wrong.
        reason: String,
    },
    /// A regex that ran past its backtracking limit.
    #[error("the regex {0:?} backtracked too much on a name (simplify it)")]
    Backtrack(String),
    /// The registry failed.
    #[error(transparent)]
    Registry(#[from] Box<Error>),
}

impl From<Error> for PurgeError {
    fn from(e: Error) -> Self {
        PurgeError::Registry(Box::new(e))
    }
}

impl PurgeError {
    /// Whether it is bad input (exit code 2).
    pub fn is_bad_input(&self) -> bool {
        match self {
            PurgeError::Filter { .. } | PurgeError::Ago { .. } => true,
            PurgeError::Backtrack(_) => false,
            PurgeError::Registry(e) => e.is_bad_input(),
        }
    }
}

/// What to purge.
#[derive(Debug, Clone)]
pub struct Options {
    /// `REPO:TAGREGEX` filters.
    pub filters: Vec<String>,
    /// The cutoff offset from [`parse_ago`].
    pub ago: jiff::SignedDuration,
    /// Keep the newest N of the deletable.
    pub keep: usize,
    /// Also delete untagged manifests.
    pub untagged: bool,
    /// Print, delete nothing.
    pub dry_run: bool,
    /// Deletes at once (1 to 32).
    pub concurrency: usize,
}

/// What a purge did (or would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Tags deleted (or to be).
    pub tags: usize,
    /// Manifests deleted (or to be), referrers included.
    pub manifests: usize,
}

/// One tag with what purge needs to know.
#[derive(Debug, Clone)]
struct TagInfo {
    name: String,
    digest: String,
    time: Option<jiff::Timestamp>,
    locked: bool,
}

/// Purges `registry` (as named in output lines: `login`) as `options` say; each
/// output line goes to `out`.
pub async fn purge(
    client: &Client,
    registry: &str,
    options: &Options,
    out: &(dyn Fn(String) + Sync),
) -> Result<Summary, PurgeError> {
    let now = jiff::Timestamp::now();
    let cutoff = now.checked_add(options.ago).map_err(|e| PurgeError::Ago {
        ago: options.ago.to_string(),
        reason: e.to_string(),
    })?;
    let catalog = match client.acr_catalog(registry).await? {
        Some(c) => c,
        None => client.catalog(registry).await?,
    };
    let mut summary = Summary::default();
    let repos = collect_tag_filters(&options.filters, &catalog)?;
    for (name, tag_regex) in repos {
        let pattern = Pattern::new(&tag_regex, &tag_regex)?;
        let repo = Repository::new(registry, name.clone());
        let done = purge_repository(client, &repo, &pattern, cutoff, options, out).await?;
        summary.tags += done.tags;
        summary.manifests += done.manifests;
    }
    Ok(summary)
}

fn parse_time(text: Option<&str>) -> Option<jiff::Timestamp> {
    text.and_then(|t| t.parse::<jiff::Timestamp>().ok())
}

async fn purge_repository(
    client: &Client,
    repo: &Repository,
    pattern: &Pattern,
    cutoff: jiff::Timestamp,
    options: &Options,
    out: &(dyn Fn(String) + Sync),
) -> Result<Summary, PurgeError> {
    let login = &repo.registry;
    let acr = client.acr_tags(repo).await?;
    let has_acr = acr.is_some();
    let tags: Vec<TagInfo> = match acr {
        Some(tags) => tags
            .into_iter()
            .map(|t| TagInfo {
                time: parse_time(t.last_update_time.as_deref()),
                locked: t.changeable_attributes.locked(),
                name: t.name,
                digest: t.digest,
            })
            .collect(),
        None => distribution_tags(client, repo).await?,
    };
    // Eligible: matching, old enough, unlocked, an ordinary tag; newest first.
    let mut eligible = Vec::new();
    for t in &tags {
        if is_artifact_tag(&t.name) || t.locked || !pattern.matches(&t.name)? {
            continue;
        }
        match t.time {
            Some(time) if time < cutoff => eligible.push(t.clone()),
            Some(_) => {}
            None => out(format!(
                "Protecting {login}/{}:{} because its push time is unknown",
                repo.name, t.name
            )),
        }
    }
    eligible.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| a.name.cmp(&b.name)));
    let selected: Vec<TagInfo> = eligible.into_iter().skip(options.keep).collect();
    let mut summary = Summary::default();
    out(format!(
        "{} tags for repository: {}",
        if options.dry_run {
            "Would delete"
        } else {
            "Deleting"
        },
        repo.name
    ));
    let mut manifests_to_delete: Vec<String> = Vec::new();
    if has_acr {
        if options.dry_run {
            for t in &selected {
                out(format!("Would delete: {login}/{}:{}", repo.name, t.name));
            }
            summary.tags += selected.len();
        } else {
            let results: Vec<Result<Option<String>, Error>> = stream::iter(selected.iter())
                .map(|t| async move {
                    let response = client
                        .raw_request(
                            &repo.registry,
                            Method::DELETE,
                            &format!("/acr/v1/{}/_tags/{}", repo.name, t.name),
                            None,
                            &Scope::repository(&repo.name, &["delete"]),
                            &format!("tag {} of {}", t.name, repo.name),
                        )
                        .await?;
                    Ok(match response.status {
                        200 | 202 | 204 => Some(format!("Deleted {login}/{}:{}", repo.name, t.name)),
                        404 => Some(format!(
                            "Skipped {login}/{}:{}, HTTP status: 404",
                            repo.name, t.name
                        )),
                        status => {
                            out(format!(
                                "Skipped {login}/{}:{}, operation not allowed, HTTP status: {status}",
                                repo.name, t.name
                            ));
                            None
                        }
                    })
                })
                .buffer_unordered(options.concurrency.clamp(1, MAX_CONCURRENCY))
                .collect()
                .await;
            for r in results {
                if let Some(line) = r? {
                    out(line);
                    summary.tags += 1;
                }
            }
        }
    } else {
        // A digest goes only when every ordinary tag on it is selected.
        let chosen: HashSet<&str> = selected.iter().map(|t| t.name.as_str()).collect();
        let mut by_digest: BTreeMap<&str, Vec<&TagInfo>> = BTreeMap::new();
        for t in tags.iter().filter(|t| !is_artifact_tag(&t.name)) {
            by_digest.entry(t.digest.as_str()).or_default().push(t);
        }
        for (digest, on_it) in by_digest {
            let picked: Vec<&&TagInfo> = on_it
                .iter()
                .filter(|t| chosen.contains(t.name.as_str()))
                .collect();
            if picked.is_empty() {
                continue;
            }
            if picked.len() == on_it.len() {
                for t in &picked {
                    out(format!(
                        "{}{login}/{}:{}",
                        if options.dry_run {
                            "Would delete: "
                        } else {
                            "Deleted "
                        },
                        repo.name,
                        t.name
                    ));
                }
                summary.tags += picked.len();
                manifests_to_delete.push(digest.to_string());
            } else {
                let kept: Vec<&str> = on_it
                    .iter()
                    .filter(|t| !chosen.contains(t.name.as_str()))
                    .map(|t| t.name.as_str())
                    .collect();
                for t in picked {
                    out(format!(
                        "Skipped {login}/{}:{}: this registry cannot delete a tag without its manifest, which is also tagged {}",
                        repo.name,
                        t.name,
                        kept.join(", ")
                    ));
                }
            }
        }
    }
    // What stays protects the children of its indexes.
    let deleted_names: HashSet<&str> = if has_acr {
        selected.iter().map(|t| t.name.as_str()).collect()
    } else {
        tags.iter()
            .filter(|t| manifests_to_delete.contains(&t.digest))
            .map(|t| t.name.as_str())
            .collect()
    };
    let protected = protected_children(client, repo, &tags, &deleted_names).await?;
    // Manifests: the fully untagged ones (distribution), or with --untagged, ACR's.
    if has_acr && options.untagged {
        manifests_to_delete.extend(
            untagged_manifests(client, repo, cutoff, options, &selected, &protected, out).await?,
        );
    } else if options.untagged {
        out(format!(
            "Skipped untagged manifests of {}: {} cannot list them (no /acr/v1/ listing)",
            repo.name, repo.registry
        ));
    }
    if !manifests_to_delete.is_empty() {
        out(format!(
            "{} manifests for repository: {}",
            if options.dry_run {
                "Would delete"
            } else {
                "Deleting"
            },
            repo.name
        ));
    }
    let mut seen = HashSet::new();
    for digest in manifests_to_delete {
        if protected.contains(&digest) {
            out(format!(
                "Protecting {login}/{}@{digest}: an index that stays refers to it",
                repo.name
            ));
            continue;
        }
        summary.manifests +=
            delete_cascade(client, repo, &digest, options.dry_run, out, &mut seen).await?;
    }
    Ok(summary)
}

/// Tags of a registry without ACR's listings, timed by their images' creation.
async fn distribution_tags(client: &Client, repo: &Repository) -> Result<Vec<TagInfo>, PurgeError> {
    let names = client.tags(repo).await?;
    let mut out = Vec::new();
    for name in names {
        if is_artifact_tag(&name) {
            out.push(TagInfo {
                name,
                digest: String::new(),
                time: None,
                locked: false,
            });
            continue;
        }
        let pulled = match client.pull_manifest_in(repo, &name, None).await {
            Ok(p) => p,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        };
        let time = image_created(client, repo, &pulled).await?;
        out.push(TagInfo {
            name,
            digest: pulled.digest.to_string(),
            time,
            locked: false,
        });
    }
    Ok(out)
}

/// An image's creation time: the manifest's `org.opencontainers.image.created`, else
/// its config's `created`.
async fn image_created(
    client: &Client,
    repo: &Repository,
    pulled: &crate::client::PulledManifest,
) -> Result<Option<jiff::Timestamp>, PurgeError> {
    let Ok(manifest) = pulled.parse() else {
        return Ok(None);
    };
    if let Some(t) = parse_time(
        manifest
            .annotations()
            .get(crate::manifest::ANNOTATION_CREATED)
            .map(String::as_str),
    ) {
        return Ok(Some(t));
    }
    let Manifest::Image(image) = manifest else {
        return Ok(None);
    };
    let config = match client.pull_blob(repo, &image.config, 1 << 20).await {
        Ok(c) => c,
        Err(_) => return Ok(None),
    };
    let value: serde_json::Value = serde_json::from_slice(&config).unwrap_or_default();
    Ok(parse_time(value.get("created").and_then(|c| c.as_str())))
}

/// ACR's untagged manifests to delete (acr's `GetUntaggedManifests`): untagged (or
/// all of whose tags this purge deletes), unlocked, older than the cutoff (unknown:
/// protected), not a referrer; the newest `keep` kept.
async fn untagged_manifests(
    client: &Client,
    repo: &Repository,
    cutoff: jiff::Timestamp,
    options: &Options,
    deleted_tags: &[TagInfo],
    protected: &HashSet<String>,
    out: &(dyn Fn(String) + Sync),
) -> Result<Vec<String>, PurgeError> {
    let login = &repo.registry;
    let listed: Vec<acr_listing::AcrManifest> =
        client.acr_manifests(repo).await?.unwrap_or_default();
    let deleted: HashSet<&str> = deleted_tags.iter().map(|t| t.name.as_str()).collect();
    let mut candidates = Vec::new();
    for m in &listed {
        let tagged = m.tags.iter().any(|t| !deleted.contains(t.as_str()));
        if tagged
            || m.changeable_attributes.locked()
            || m.media_type.is_none()
            || protected.contains(&m.digest)
        {
            continue;
        }
        let Some(time) = parse_time(m.last_update_time.as_deref()) else {
            out(format!(
                "Protecting manifest {login}/{}@{} because the last update time is unavailable",
                repo.name, m.digest
            ));
            continue;
        };
        if time >= cutoff {
            continue;
        }
        let pulled = client.pull_manifest_in(repo, &m.digest, None).await?;
        if pulled
            .parse()
            .ok()
            .and_then(|p| p.subject().cloned())
            .is_some()
        {
            // A referrer goes with its subject.
            continue;
        }
        candidates.push((time, m.digest.clone()));
    }
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    Ok(candidates
        .into_iter()
        .skip(options.keep)
        .map(|(_, d)| d)
        .collect())
}

/// Manifests that are children (recursively) of an index a remaining tag names.
async fn protected_children(
    client: &Client,
    repo: &Repository,
    tags: &[TagInfo],
    deleted: &HashSet<&str>,
) -> Result<HashSet<String>, PurgeError> {
    let mut roots: BTreeSet<String> = tags
        .iter()
        .filter(|t| !t.digest.is_empty() && !deleted.contains(t.name.as_str()))
        .map(|t| t.digest.clone())
        .collect();
    let mut protected = HashSet::new();
    let mut visited = HashSet::new();
    while let Some(digest) = roots.pop_first() {
        if !visited.insert(digest.clone()) {
            continue;
        }
        let Ok(pulled) = client.pull_manifest_in(repo, &digest, None).await else {
            continue;
        };
        if !media_type::is_index(&pulled.media_type) {
            continue;
        }
        if let Ok(m) = pulled.parse() {
            for child in m.children() {
                protected.insert(child.digest.to_string());
                roots.insert(child.digest.to_string());
            }
        }
    }
    Ok(protected)
}

/// Deletes manifest `digest` after its referrers (recursively), its fallback index and
/// cosign's tags for it; returns how many manifests went.
fn delete_cascade<'a>(
    client: &'a Client,
    repo: &'a Repository,
    digest: &'a str,
    dry_run: bool,
    out: &'a (dyn Fn(String) + Sync),
    seen: &'a mut HashSet<String>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<usize, PurgeError>> + Send + 'a>> {
    Box::pin(async move {
        if !seen.insert(digest.to_string()) {
            return Ok(0);
        }
        let Ok(parsed) = Digest::parse(digest) else {
            return Ok(0);
        };
        let mut count = 0;
        let referrers = client.referrers(repo, &parsed, None).await?;
        for r in &referrers.descriptors {
            count += delete_cascade(client, repo, r.digest.as_str(), dry_run, out, seen).await?;
        }
        // The fallback index and cosign's tags: their manifests go by digest.
        let mut extra: HashMap<String, String> = HashMap::new();
        for tag in [
            fallback_tag(&parsed),
            format!("{}.sig", fallback_tag(&parsed)),
            format!("{}.att", fallback_tag(&parsed)),
            format!("{}.sbom", fallback_tag(&parsed)),
        ] {
            if let Some(d) = client
                .resolve(&ImageRef {
                    registry: repo.registry.clone(),
                    repository: repo.name.clone(),
                    tag: Some(tag.clone()),
                    digest: None,
                })
                .await?
            {
                extra.insert(d.digest.to_string(), tag);
            }
        }
        for (d, tag) in &extra {
            if !seen.insert(d.clone()) {
                continue;
            }
            if dry_run {
                out(format!(
                    "Would delete: {}/{}:{tag}",
                    repo.registry, repo.name
                ));
            } else {
                delete_digest(client, repo, d).await?;
                out(format!("Deleted {}/{}:{tag}", repo.registry, repo.name));
            }
            count += 1;
        }
        if dry_run {
            out(format!(
                "Would delete: {}/{}@{digest}",
                repo.registry, repo.name
            ));
        } else {
            delete_digest(client, repo, digest).await?;
            out(format!("Deleted {}/{}@{digest}", repo.registry, repo.name));
        }
        Ok(count + 1)
    })
}

async fn delete_digest(client: &Client, repo: &Repository, digest: &str) -> Result<(), PurgeError> {
    let image = ImageRef {
        registry: repo.registry.clone(),
        repository: repo.name.clone(),
        tag: None,
        digest: Some(Digest::parse(digest).map_err(|e| Error::Invalid(e.to_string()))?),
    };
    match client.delete_manifest(&image).await {
        Ok(_) => Ok(()),
        // acr: a 404 counts as deleted.
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

mod parse;

pub use parse::{Pattern, collect_tag_filters, parse_ago, split_filter};

#[cfg(test)]
mod tests;
