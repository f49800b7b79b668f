//! Manifests (by tag or digest, any media type, stored byte for byte), tag lists and
//! the catalog, with `n`/`last` pagination and `Link` headers.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde_json::{Value, json};

use super::AppState;
use super::errors::ApiError;
use super::routes::{content_length, empty, value};
use super::storage::parse_digest;
use crate::digest::Digest;
use crate::reference::tag_is_valid;

/// The largest manifest accepted (distribution's limit).
const MAX_MANIFEST: usize = 4 << 20;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";

/// What a manifest reference names.
enum Reference<'a> {
    Tag(&'a str),
    Digest(Digest),
}

fn reference(reference: &str) -> Result<Reference<'_>, ApiError> {
    if reference.contains(':') {
        Ok(Reference::Digest(parse_digest(reference)?))
    } else if tag_is_valid(reference) {
        Ok(Reference::Tag(reference))
    } else {
        Err(ApiError::tag_invalid(reference))
    }
}

/// `GET`/`HEAD /v2/<name>/manifests/<reference>`.
pub(crate) async fn get(
    state: &AppState,
    name: &str,
    reference_text: &str,
    head: bool,
) -> Result<Response, ApiError> {
    let digest = match reference(reference_text)? {
        Reference::Digest(digest) => digest,
        Reference::Tag(tag) => state
            .storage
            .resolve_tag(name, tag)
            .await?
            .ok_or_else(|| ApiError::manifest_unknown(reference_text))?,
    };
    let (media_type, bytes) = state
        .storage
        .manifest(name, &digest)
        .await?
        .ok_or_else(|| ApiError::manifest_unknown(reference_text))?;
    let len = bytes.len();
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, value(&media_type)?)
        .header(header::CONTENT_LENGTH, len)
        .header(header::ETAG, value(&format!("\"{digest}\""))?)
        .header("Docker-Content-Digest", value(digest.as_str())?)
        .body(if head {
            Body::empty()
        } else {
            Body::from(bytes)
        })
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// `PUT /v2/<name>/manifests/<reference>`: stores the exact bytes under their digest,
/// and tags them when the reference is a tag.
pub(crate) async fn put(
    state: &AppState,
    name: &str,
    reference_text: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let target = reference(reference_text)?;
    if content_length(headers)?.is_some_and(|len| len > MAX_MANIFEST as u64) {
        return Err(too_large());
    }
    let bytes = Limited::new(body, MAX_MANIFEST)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<LengthLimitError>().is_some() {
                too_large()
            } else {
                ApiError::manifest_invalid(format!("the manifest body broke off: {e}"))
            }
        })?
        .to_bytes();
    let manifest: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::manifest_invalid(format!("the manifest is not JSON: {e}")))?;
    if !manifest.is_object() {
        return Err(ApiError::manifest_invalid(
            "the manifest is not a JSON object",
        ));
    }
    let media_type = media_type(headers, &manifest)?;
    let digest = Digest::sha256(&bytes);
    let tag = match target {
        Reference::Digest(expected) if expected != digest => {
            return Err(ApiError::digest_invalid(format!(
                "the manifest's digest is {digest}, not {expected}"
            )));
        }
        Reference::Digest(_) => None,
        Reference::Tag(tag) => Some(tag),
    };
    check_references(state, name, &manifest).await?;
    state
        .storage
        .put_manifest(name, &digest, &media_type, &bytes)
        .await?;
    if let Some(tag) = tag {
        state.storage.set_tag(name, tag, &digest).await?;
        super::notify::tag_pushed(
            state.storage.root(),
            name,
            tag,
            digest.as_str(),
            &media_type,
            bytes.len(),
        );
    }
    let subject =
        super::referrers::record(state, name, &digest, &media_type, &bytes, &manifest).await?;
    state.stats.manifests_pushed.fetch_add(1, Ordering::Relaxed);
    let mut response = empty(StatusCode::CREATED);
    let headers = response.headers_mut();
    if let Some(subject) = subject {
        headers.insert("OCI-Subject", value(subject.as_str())?);
    }
    headers.insert(
        header::LOCATION,
        value(&format!("/v2/{name}/manifests/{digest}"))?,
    );
    headers.insert("Docker-Content-Digest", value(digest.as_str())?);
    Ok(response)
}

fn too_large() -> ApiError {
    ApiError::too_large(format!("manifests are limited to {MAX_MANIFEST} bytes"))
}

/// The media type to store: the request's `Content-Type`, unless it is generic, then
/// the manifest's own `mediaType`, then what its shape says.
fn media_type(headers: &HeaderMap, manifest: &Value) -> Result<String, ApiError> {
    let declared = manifest.get("mediaType").and_then(Value::as_str);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim())
        .filter(|v| {
            !v.is_empty()
                && !matches!(
                    *v,
                    "application/json" | "application/octet-stream" | "text/plain"
                )
        });
    match (content_type, declared) {
        (Some(content_type), Some(declared)) if content_type != declared => {
            Err(ApiError::manifest_invalid(format!(
                "Content-Type {content_type:?} does not match the manifest's mediaType {declared:?}"
            )))
        }
        (Some(media_type), _) | (None, Some(media_type)) => Ok(media_type.to_string()),
        (None, None) => Ok(if manifest.get("manifests").is_some() {
            OCI_INDEX
        } else if manifest.get("schemaVersion").and_then(Value::as_u64) == Some(1) {
            DOCKER_SCHEMA1
        } else {
            OCI_MANIFEST
        }
        .to_string()),
    }
}

/// Every blob an image manifest names (config, layers without external `urls`) must be
/// in the repository, and every manifest an index names too.
async fn check_references(state: &AppState, name: &str, manifest: &Value) -> Result<(), ApiError> {
    let descriptor_digest = |descriptor: &Value| -> Result<Digest, ApiError> {
        let text = descriptor
            .get("digest")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::manifest_invalid("a descriptor has no digest"))?;
        parse_digest(text).map_err(|_| {
            ApiError::manifest_invalid(format!("descriptor digest {text:?} is not sha256"))
        })
    };
    let mut blobs = Vec::new();
    if let Some(config) = manifest.get("config").filter(|c| c.is_object()) {
        blobs.push(descriptor_digest(config)?);
    }
    for layer in manifest
        .get("layers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let external = layer
            .get("urls")
            .and_then(Value::as_array)
            .is_some_and(|urls| !urls.is_empty());
        if !external {
            blobs.push(descriptor_digest(layer)?);
        }
    }
    for digest in blobs {
        if state
            .storage
            .linked_blob_size(name, &digest)
            .await?
            .is_none()
        {
            return Err(ApiError::manifest_blob_unknown(digest.as_str()));
        }
    }
    for child in manifest
        .get("manifests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let digest = descriptor_digest(child)?;
        if !state.storage.has_manifest(name, &digest).await? {
            return Err(ApiError::manifest_blob_unknown(digest.as_str()));
        }
    }
    Ok(())
}

/// `DELETE /v2/<name>/manifests/<reference>`: a digest removes the manifest and its
/// tags; a tag removes only the tag.
pub(crate) async fn delete(
    state: &AppState,
    name: &str,
    reference_text: &str,
) -> Result<Response, ApiError> {
    let deleted = match reference(reference_text)? {
        Reference::Digest(digest) => state.storage.delete_manifest(name, &digest).await?,
        Reference::Tag(tag) => state.storage.delete_tag(name, tag).await?,
    };
    if deleted {
        Ok(empty(StatusCode::ACCEPTED))
    } else {
        Err(ApiError::manifest_unknown(reference_text))
    }
}

/// `GET /v2/<name>/tags/list[?n=&last=]`.
pub(crate) async fn tags(
    state: &AppState,
    name: &str,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let tags = state
        .storage
        .tags(name)
        .await?
        .ok_or_else(|| ApiError::name_unknown(name))?;
    let page = paginate(tags, query)?;
    let link = page
        .next
        .map(|(n, last)| next_link(&format!("/v2/{name}/tags/list"), n, &last));
    json_page(&json!({ "name": name, "tags": page.items }), link)
}

/// `GET /v2/_catalog[?n=&last=]`.
pub(crate) async fn catalog(
    state: &AppState,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    catalog_at(state, query, "/v2/_catalog").await
}

/// The catalog, with next-page links to `path`.
pub(crate) async fn catalog_at(
    state: &AppState,
    query: &HashMap<String, String>,
    path: &str,
) -> Result<Response, ApiError> {
    let repositories = state.storage.repositories().await?;
    let page = paginate(repositories, query)?;
    let link = page.next.map(|(n, last)| next_link(path, n, &last));
    json_page(&json!({ "repositories": page.items }), link)
}

/// One page of a sorted list.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Page {
    pub(crate) items: Vec<String>,
    /// When more follow: the `n` and `last` of the next page.
    pub(crate) next: Option<(usize, String)>,
}

/// The page after `last` (exclusive) of at most `n` sorted items.
pub(crate) fn paginate(
    items: Vec<String>,
    query: &HashMap<String, String>,
) -> Result<Page, ApiError> {
    let n = query
        .get("n")
        .map(|n| {
            n.parse::<usize>()
                .map_err(|_| ApiError::pagination_invalid(format!("n={n:?} is not a count")))
        })
        .transpose()?;
    let mut page: Vec<String> = match query.get("last") {
        Some(last) => items
            .into_iter()
            .filter(|item| item.as_str() > last.as_str())
            .collect(),
        None => items,
    };
    let mut next = None;
    if let Some(n) = n
        && page.len() > n
    {
        page.truncate(n);
        next = page.last().map(|last| (n, last.clone()));
    }
    Ok(Page { items: page, next })
}

pub(crate) fn next_link(path: &str, n: usize, last: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("n", &n.to_string())
        .append_pair("last", last)
        .finish();
    format!("<{path}?{query}>; rel=\"next\"")
}

pub(crate) fn json_page(body: &Value, link: Option<String>) -> Result<Response, ApiError> {
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8");
    if let Some(link) = link {
        response = response.header(header::LINK, value(&link)?);
    }
    response
        .body(Body::from(body.to_string()))
        .map_err(|e| ApiError::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn items() -> Vec<String> {
        ["a", "b", "c", "d", "e"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn pages_follow_last() {
        let page = paginate(items(), &query(&[("n", "2")])).unwrap_or_default();
        assert_eq!(page.items, ["a", "b"]);
        assert_eq!(page.next, Some((2, "b".to_string())));
        let page = paginate(items(), &query(&[("n", "2"), ("last", "d")])).unwrap_or_default();
        assert_eq!(page.items, ["e"]);
        assert_eq!(page.next, None);
        let page = paginate(items(), &query(&[])).unwrap_or_default();
        assert_eq!(page.items.len(), 5);
        assert_eq!(page.next, None);
        assert!(paginate(items(), &query(&[("n", "x")])).is_err());
    }

    #[test]
    fn media_type_comes_from_content_type_then_the_manifest() {
        let mut headers = HeaderMap::new();
        let docker = "application/vnd.docker.distribution.manifest.v2+json";
        assert_eq!(
            media_type(&headers, &json!({"mediaType": docker})).ok(),
            Some(docker.to_string())
        );
        assert_eq!(
            media_type(&headers, &json!({"manifests": []})).ok(),
            Some(OCI_INDEX.to_string())
        );
        headers.insert(
            header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static(OCI_MANIFEST),
        );
        assert_eq!(
            media_type(&headers, &json!({})).ok(),
            Some(OCI_MANIFEST.to_string())
        );
        assert!(media_type(&headers, &json!({"mediaType": docker})).is_err());
    }
}
