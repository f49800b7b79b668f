//! Tag lists and the catalog, page by page through `Link` headers.

use reqwest::header::{HeaderMap, LINK};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use super::challenge::{Scope, next_link};
use super::error::{Error, Result};
use super::transport::{Call, Context, Endpoint, Payload, api_error, read_limited, same_origin};
use super::{Client, Repository};

/// The largest listing page read.
const MAX_PAGE: usize = 16 << 20;
/// Pages followed at most (a registry whose `Link`s loop is stopped).
const MAX_PAGES: usize = 100_000;

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Tags, or repository names.
    pub items: Vec<String>,
    /// The next page's URL (path and query on the registry), if the registry sent
    /// a `Link` to one.
    pub next: Option<String>,
}

#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Catalog {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

impl Client {
    /// Every tag of `repo`, following pagination.
    pub async fn tags(&self, repo: &Repository) -> Result<Vec<String>> {
        let first = format!("/v2/{}/tags/list?n={}", repo.name, self.options().page_size);
        self.all_pages(
            &repo.registry,
            &first,
            &Scope::repository(&repo.name, &["pull"]),
            &repo.name,
            Kind::Tags,
        )
        .await
    }

    /// One page of `repo`'s tags: `n` of them after `last`.
    pub async fn tags_page(
        &self,
        repo: &Repository,
        n: Option<usize>,
        last: Option<&str>,
    ) -> Result<Page> {
        let endpoint = self.endpoint(&repo.registry)?;
        let mut url = endpoint.url(&format!("/v2/{}/tags/list", repo.name));
        query(&mut url, n, last);
        self.page(
            &endpoint,
            url,
            &Scope::repository(&repo.name, &["pull"]),
            &repo.name,
            Kind::Tags,
        )
        .await
    }

    /// Every repository of `registry` (the catalog), following pagination.
    pub async fn catalog(&self, registry: &str) -> Result<Vec<String>> {
        let first = format!("/v2/_catalog?n={}", self.options().page_size);
        self.all_pages(
            registry,
            &first,
            &Scope::catalog(),
            "the catalog",
            Kind::Catalog,
        )
        .await
    }

    /// One page of the catalog: `n` repositories after `last`.
    pub async fn catalog_page(
        &self,
        registry: &str,
        n: Option<usize>,
        last: Option<&str>,
    ) -> Result<Page> {
        let endpoint = self.endpoint(registry)?;
        let mut url = endpoint.url("/v2/_catalog");
        query(&mut url, n, last);
        self.page(
            &endpoint,
            url,
            &Scope::catalog(),
            "the catalog",
            Kind::Catalog,
        )
        .await
    }

    async fn all_pages(
        &self,
        registry: &str,
        first: &str,
        scope: &Scope,
        what: &str,
        kind: Kind,
    ) -> Result<Vec<String>> {
        let endpoint = self.endpoint(registry)?;
        let mut url = endpoint.url(first);
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = self.page(&endpoint, url.clone(), scope, what, kind).await?;
            items.extend(page.items);
            let Some(next) = page.next else {
                return Ok(items);
            };
            let next = url.join(&next).map_err(|_| Error::Protocol {
                registry: endpoint.host.clone(),
                message: format!("the next-page Link {next:?} is not a URL"),
            })?;
            if !same_origin(&next, &endpoint.base) {
                return Err(Error::Protocol {
                    registry: endpoint.host.clone(),
                    message: "the next-page Link points at another host; wharf does not follow it"
                        .into(),
                });
            }
            if next == url {
                return Err(Error::Protocol {
                    registry: endpoint.host.clone(),
                    message: "the next-page Link points at the same page".into(),
                });
            }
            url = next;
        }
        Err(Error::Protocol {
            registry: endpoint.host.clone(),
            message: format!("the listing of {what} did not end after {MAX_PAGES} pages"),
        })
    }

    async fn page(
        &self,
        endpoint: &Endpoint,
        url: Url,
        scope: &Scope,
        what: &str,
        kind: Kind,
    ) -> Result<Page> {
        self.retry()
            .run(
                &endpoint.host,
                &|| format!("list {}", kind.describe(what)),
                |_| async {
                    let response = self
                        .transport()
                        .send(Call {
                            endpoint,
                            method: Method::GET,
                            url: url.clone(),
                            headers: HeaderMap::new(),
                            body: Payload::Empty,
                            scope,
                            follow_redirects: false,
                        })
                        .await?;
                    if response.status() != StatusCode::OK {
                        return Err(api_error(
                            endpoint,
                            &Method::GET,
                            &url,
                            response,
                            &Context {
                                repository: what,
                                what: kind.describe(what),
                                action: "pull",
                            },
                        )
                        .await);
                    }
                    let next = response
                        .headers()
                        .get_all(LINK)
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .find_map(next_link);
                    let bytes = read_limited(&endpoint.host, response, MAX_PAGE).await?;
                    let invalid = || Error::Protocol {
                        registry: endpoint.host.clone(),
                        message: format!("the list of {} is not valid JSON", kind.describe(what)),
                    };
                    let items = match kind {
                        Kind::Tags => serde_json::from_slice::<TagList>(&bytes)
                            .map_err(|_| invalid())?
                            .tags
                            .unwrap_or_default(),
                        Kind::Catalog => serde_json::from_slice::<Catalog>(&bytes)
                            .map_err(|_| invalid())?
                            .repositories
                            .unwrap_or_default(),
                    };
                    Ok(Page { items, next })
                },
            )
            .await
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Tags,
    Catalog,
}

impl Kind {
    fn describe(self, what: &str) -> String {
        match self {
            Kind::Tags => format!("tags of {what}"),
            Kind::Catalog => "repositories".to_string(),
        }
    }
}

fn query(url: &mut Url, n: Option<usize>, last: Option<&str>) {
    let mut pairs = url.query_pairs_mut();
    if let Some(n) = n {
        pairs.append_pair("n", &n.to_string());
    }
    if let Some(last) = last {
        pairs.append_pair("last", last);
    }
}
