//! ACR's listing endpoints (`/acr/v1/`), which ACR and wharf's own registry serve and
//! the distribution registry does not: tags with the time each was last pushed and
//! their lock attributes, every manifest of a repository (tagged or not), and tag
//! deletes that leave the manifest. Each call answers `None` when the registry lacks
//! the endpoint, so callers fall back to what the distribution API offers.

use reqwest::Method;
use serde::Deserialize;

use crate::client::{Client, Error, Repository, Result, Scope};

/// Pages followed at most.
const MAX_PAGES: usize = 100_000;

/// Lock attributes (`changeableAttributes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attributes {
    /// Whether it may be deleted.
    #[serde(default = "yes")]
    pub delete_enabled: bool,
    /// Whether it may be overwritten.
    #[serde(default = "yes")]
    pub write_enabled: bool,
}

fn yes() -> bool {
    true
}

impl Default for Attributes {
    fn default() -> Self {
        Attributes {
            delete_enabled: true,
            write_enabled: true,
        }
    }
}

impl Attributes {
    /// Locked: not deletable or not writable (acr purge skips it).
    pub fn locked(&self) -> bool {
        !self.delete_enabled || !self.write_enabled
    }
}

/// A tag as ACR lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AcrTag {
    /// The tag.
    pub name: String,
    /// The manifest it names.
    pub digest: String,
    /// When it was last pushed (RFC 3339), if known.
    #[serde(default)]
    pub last_update_time: Option<String>,
    /// Lock attributes.
    #[serde(default)]
    pub changeable_attributes: Attributes,
}

/// A manifest as ACR lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AcrManifest {
    /// Its digest.
    pub digest: String,
    /// Its media type.
    #[serde(default)]
    pub media_type: Option<String>,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// When it was last pushed (RFC 3339), if known.
    #[serde(default)]
    pub last_update_time: Option<String>,
    /// Lock attributes.
    #[serde(default)]
    pub changeable_attributes: Attributes,
}

#[derive(Deserialize)]
struct TagsPage {
    #[serde(default)]
    tags: Vec<AcrTag>,
}

#[derive(Deserialize)]
struct ManifestsPage {
    #[serde(default)]
    manifests: Vec<AcrManifest>,
}

#[derive(Deserialize)]
struct CatalogPage {
    #[serde(default)]
    repositories: Vec<String>,
}

impl Client {
    /// Every page of an `/acr/v1/` listing, or `None` when the first page is 404 or
    /// not JSON of that shape (the endpoint is missing).
    async fn acr_pages<T: for<'de> Deserialize<'de>>(
        &self,
        registry: &str,
        first: String,
        scope: &Scope,
        what: &str,
    ) -> Result<Option<Vec<T>>> {
        let mut path = first;
        let mut pages = Vec::new();
        for _ in 0..MAX_PAGES {
            let response = self
                .raw_request(
                    registry,
                    Method::GET,
                    &path,
                    Some("application/json"),
                    scope,
                    what,
                )
                .await?;
            let parsed = (response.status == 200)
                .then(|| serde_json::from_slice::<T>(&response.body).ok())
                .flatten();
            let Some(page) = parsed else {
                if pages.is_empty() {
                    return Ok(None);
                }
                return Err(Error::Protocol {
                    registry: registry.to_string(),
                    message: format!("a later page of {what} answered {}", response.status),
                });
            };
            pages.push(page);
            match response.next {
                Some(next) => {
                    path = match url::Url::parse(&next) {
                        Ok(url) => match url.query() {
                            Some(q) => format!("{}?{q}", url.path()),
                            None => url.path().to_string(),
                        },
                        Err(_) => next,
                    }
                }
                None => return Ok(Some(pages)),
            }
        }
        Err(Error::Protocol {
            registry: registry.to_string(),
            message: format!("the listing of {what} did not end after {MAX_PAGES} pages"),
        })
    }

    /// `repo`'s tags newest first (`orderby=timedesc`), or `None` without ACR's API.
    pub async fn acr_tags(&self, repo: &Repository) -> Result<Option<Vec<AcrTag>>> {
        let pages: Option<Vec<TagsPage>> = self
            .acr_pages(
                &repo.registry,
                format!("/acr/v1/{}/_tags?orderby=timedesc&n=100", repo.name),
                &Scope::repository(&repo.name, &["metadata_read", "pull"]),
                &format!("tags of {}", repo.name),
            )
            .await?;
        Ok(pages.map(|p| p.into_iter().flat_map(|p| p.tags).collect()))
    }

    /// Every manifest of `repo`, or `None` without ACR's API.
    pub async fn acr_manifests(&self, repo: &Repository) -> Result<Option<Vec<AcrManifest>>> {
        let pages: Option<Vec<ManifestsPage>> = self
            .acr_pages(
                &repo.registry,
                format!("/acr/v1/{}/_manifests?n=100", repo.name),
                &Scope::repository(&repo.name, &["metadata_read", "pull"]),
                &format!("manifests of {}", repo.name),
            )
            .await?;
        Ok(pages.map(|p| p.into_iter().flat_map(|p| p.manifests).collect()))
    }

    /// Every repository of `registry`, or `None` without ACR's API.
    pub async fn acr_catalog(&self, registry: &str) -> Result<Option<Vec<String>>> {
        let pages: Option<Vec<CatalogPage>> = self
            .acr_pages(
                registry,
                "/acr/v1/_catalog?n=100".to_string(),
                &Scope::catalog(),
                "repositories",
            )
            .await?;
        Ok(pages.map(|p| p.into_iter().flat_map(|p| p.repositories).collect()))
    }
}
