//! ACR's listing endpoints, as acr-cli (`acr purge`) and `az acr repository` use them:
//!
//! - `GET /acr/v1/_catalog[?n=&last=]`
//! - `GET /acr/v1/<name>/_tags[?orderby=timedesc|timeasc][&n=&last=]`: each tag with
//!   its digest, `createdTime`/`lastUpdateTime` (when it was last pushed) and
//!   `changeableAttributes` (always unlocked here);
//! - `DELETE /acr/v1/<name>/_tags/<tag>`: the tag only;
//! - `GET /acr/v1/<name>/_manifests[?n=&last=]`: every manifest with its tags, media
//!   type, size and push time.

use std::collections::HashMap;
use std::time::SystemTime;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::AppState;
use super::errors::ApiError;
use super::manifests::{json_page, next_link, paginate};
use super::routes::empty;
use crate::reference::tag_is_valid;

/// Routes `rest` (the path after `/acr/v1/`).
pub(crate) async fn dispatch(
    state: &AppState,
    rest: &str,
    method: &Method,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    if rest == "_catalog" {
        return match *method {
            Method::GET => super::manifests::catalog_at(state, query, "/acr/v1/_catalog").await,
            _ => Err(unsupported(method)),
        };
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let Some(at) = segments.iter().position(|s| s.starts_with('_')) else {
        return Err(ApiError::not_found());
    };
    let name = segments[..at].join("/");
    crate::reference::check_repository(&name).map_err(ApiError::name_invalid)?;
    match (&segments[at..], method) {
        (["_tags"], &Method::GET) => tags(state, &name, query).await,
        (["_tags", tag], &Method::DELETE) => {
            if !tag_is_valid(tag) {
                return Err(ApiError::tag_invalid(tag));
            }
            if state.storage.delete_tag(&name, tag).await? {
                Ok(empty(StatusCode::ACCEPTED))
            } else {
                Err(ApiError::manifest_unknown(tag))
            }
        }
        (["_manifests"], &Method::GET) => manifests(state, &name, query).await,
        ([_, ..], method) if !matches!(*method, Method::GET | Method::DELETE) => {
            Err(unsupported(method))
        }
        _ => Err(ApiError::not_found()),
    }
}

fn unsupported(method: &Method) -> ApiError {
    ApiError::unsupported(format!("{method} is not supported on this endpoint"))
}

/// RFC 3339 in UTC, as ACR writes times.
fn rfc3339(time: Option<SystemTime>) -> Value {
    time.and_then(|t| jiff::Timestamp::try_from(t).ok())
        .map_or(Value::Null, |t| json!(t.to_string()))
}

fn unlocked() -> Value {
    json!({
        "deleteEnabled": true,
        "writeEnabled": true,
        "readEnabled": true,
        "listEnabled": true,
    })
}

async fn tags(
    state: &AppState,
    name: &str,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let tags = state
        .storage
        .tags(name)
        .await?
        .ok_or_else(|| ApiError::name_unknown(name))?;
    let mut rows = Vec::with_capacity(tags.len());
    for tag in tags {
        let Some(digest) = state.storage.resolve_tag(name, &tag).await? else {
            continue;
        };
        let time = state.storage.tag_time(name, &tag).await?;
        rows.push((tag, digest, time));
    }
    match query.get("orderby").map(String::as_str) {
        Some("timedesc") => rows.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0))),
        Some("timeasc") => rows.sort_by(|a, b| a.2.cmp(&b.2).then_with(|| a.0.cmp(&b.0))),
        _ => {}
    }
    let order: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let (page, next) = page_in_order(order, query)?;
    let items: Vec<Value> = rows
        .into_iter()
        .filter(|r| page.contains(&r.0))
        .map(|(tag, digest, time)| {
            json!({
                "name": tag,
                "digest": digest.as_str(),
                "createdTime": rfc3339(time),
                "lastUpdateTime": rfc3339(time),
                "signed": false,
                "changeableAttributes": unlocked(),
            })
        })
        .collect();
    let link = next.map(|(n, last)| {
        let mut link = next_link(&format!("/acr/v1/{name}/_tags"), n, &last);
        if let Some(order) = query.get("orderby") {
            link = link.replacen(">;", &format!("&orderby={order}>;"), 1);
        }
        link
    });
    json_page(&json!({ "imageName": name, "tags": items }), link)
}

/// The `n` and `last` of the next page, when there is one.
type NextPage = Option<(usize, String)>;

/// The page after `last` in `order` (ACR pages a time-ordered list by the last tag's
/// name), at most `n` long.
fn page_in_order(
    order: Vec<String>,
    query: &HashMap<String, String>,
) -> Result<(Vec<String>, NextPage), ApiError> {
    let n = query
        .get("n")
        .map(|n| {
            n.parse::<usize>()
                .map_err(|_| ApiError::pagination_invalid(format!("n={n:?} is not a count")))
        })
        .transpose()?;
    let start = match query.get("last") {
        Some(last) => order
            .iter()
            .position(|t| t == last)
            .map_or(order.len(), |i| i + 1),
        None => 0,
    };
    let mut page: Vec<String> = order.into_iter().skip(start).collect();
    let mut next = None;
    if let Some(n) = n
        && page.len() > n
    {
        page.truncate(n);
        next = page.last().map(|l| (n, l.clone()));
    }
    Ok((page, next))
}

async fn manifests(
    state: &AppState,
    name: &str,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let tags = state
        .storage
        .tags(name)
        .await?
        .ok_or_else(|| ApiError::name_unknown(name))?;
    let mut tags_of: HashMap<String, Vec<String>> = HashMap::new();
    for tag in tags {
        if let Some(digest) = state.storage.resolve_tag(name, &tag).await? {
            tags_of.entry(digest.to_string()).or_default().push(tag);
        }
    }
    let digests: Vec<String> = state
        .storage
        .manifest_digests(name)
        .await?
        .into_iter()
        .map(|d| d.to_string())
        .collect();
    let page = paginate(digests, query)?;
    let mut items = Vec::with_capacity(page.items.len());
    for text in &page.items {
        let Ok(digest) = super::storage::parse_digest(text) else {
            continue;
        };
        let Some((media_type, bytes)) = state.storage.manifest(name, &digest).await? else {
            continue;
        };
        let time = state.storage.manifest_time(name, &digest).await?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let mut item = json!({
            "digest": text,
            "imageSize": bytes.len(),
            "createdTime": rfc3339(time),
            "lastUpdateTime": rfc3339(time),
            "mediaType": media_type,
            "tags": tags_of.remove(text).unwrap_or_default(),
            "changeableAttributes": unlocked(),
        });
        if let Some(config) = value
            .get("config")
            .and_then(|c| c.get("mediaType"))
            .and_then(Value::as_str)
        {
            item["configMediaType"] = json!(config);
        }
        if let Some(subject) = value.get("subject").and_then(|s| s.get("digest")) {
            item["subject"] = subject.clone();
        }
        items.push(item);
    }
    let link = page
        .next
        .map(|(n, last)| next_link(&format!("/acr/v1/{name}/_manifests"), n, &last));
    json_page(&json!({ "imageName": name, "manifests": items }), link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_ordered_pages_continue_after_the_last_name() {
        let order: Vec<String> = ["c", "a", "b"].iter().map(|s| s.to_string()).collect();
        let q = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let (page, next) = page_in_order(order.clone(), &q(&[("n", "2")])).unwrap_or_default();
        assert_eq!(page, ["c", "a"]);
        assert_eq!(next, Some((2, "a".to_string())));
        let (page, next) =
            page_in_order(order, &q(&[("n", "2"), ("last", "a")])).unwrap_or_default();
        assert_eq!(page, ["b"]);
        assert_eq!(next, None);
    }
}
