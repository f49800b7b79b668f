//! Request routing: `/v2/...` paths (repository names contain slashes, so the path is
//! matched from its end, as distribution's router does) and the shared helpers.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};

use super::errors::ApiError;
use super::{AppState, acr, blobs, manifests, referrers};

/// `Docker-Distribution-API-Version`, sent on every response.
const API_VERSION: &str = "registry/2.0";

/// What a `/v2/` path addresses.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/v2/`
    Base,
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/<name>/tags/list`
    Tags { name: String },
    /// `/v2/<name>/manifests/<reference>`
    Manifest { name: String, reference: String },
    /// `/v2/<name>/referrers/<digest>`
    Referrers { name: String, digest: String },
    /// `/v2/<name>/blobs/<digest>`
    Blob { name: String, digest: String },
    /// `/v2/<name>/blobs/uploads/`
    Uploads { name: String },
    /// `/v2/<name>/blobs/uploads/<id>`
    Upload { name: String, id: String },
}

/// Parses a decoded request path.
pub(crate) fn parse(path: &str) -> Result<Route, ApiError> {
    let Some(rest) = path.strip_prefix("/v2") else {
        return Err(ApiError::not_found());
    };
    let rest = match rest {
        "" | "/" => return Ok(Route::Base),
        _ => rest.strip_prefix('/').ok_or_else(ApiError::not_found)?,
    };
    if rest == "_catalog" {
        return Ok(Route::Catalog);
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let repository = |name: &[&str]| -> Result<String, ApiError> {
        let name = name.join("/");
        crate::reference::check_repository(&name).map_err(ApiError::name_invalid)?;
        Ok(name)
    };
    let route = match segments.as_slice() {
        [name @ .., "blobs", "uploads", ""] | [name @ .., "blobs", "uploads"]
            if !name.is_empty() =>
        {
            Route::Uploads {
                name: repository(name)?,
            }
        }
        [name @ .., "blobs", "uploads", id] if !name.is_empty() => Route::Upload {
            name: repository(name)?,
            id: (*id).to_string(),
        },
        [name @ .., "tags", "list"] if !name.is_empty() => Route::Tags {
            name: repository(name)?,
        },
        [name @ .., "manifests", reference] if !name.is_empty() && !reference.is_empty() => {
            Route::Manifest {
                name: repository(name)?,
                reference: (*reference).to_string(),
            }
        }
        [name @ .., "blobs", digest] if !name.is_empty() && !digest.is_empty() => Route::Blob {
            name: repository(name)?,
            digest: (*digest).to_string(),
        },
        [name @ .., "referrers", digest] if !name.is_empty() && !digest.is_empty() => {
            Route::Referrers {
                name: repository(name)?,
                digest: (*digest).to_string(),
            }
        }
        _ => return Err(ApiError::not_found()),
    };
    Ok(route)
}

/// The one handler: routes, answers, and adds the API version header.
pub(crate) async fn handle(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let mut response = match dispatch(&state, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    response.headers_mut().insert(
        "Docker-Distribution-API-Version",
        HeaderValue::from_static(API_VERSION),
    );
    response
}

async fn dispatch(state: &AppState, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let path = percent_encoding::percent_decode_str(parts.uri.path())
        .decode_utf8()
        .map_err(|_| ApiError::name_invalid("the request path is not UTF-8"))?;
    let query = query_map(parts.uri.query());
    if let Some(rest) = path.strip_prefix("/acr/v1/") {
        return acr::dispatch(state, rest, &parts.method, &query).await;
    }
    let route = parse(&path)?;
    let method = parts.method;
    let headers = parts.headers;
    let head = method == Method::HEAD;
    match (route, method) {
        (Route::Base, Method::GET | Method::HEAD) => Ok(empty(axum::http::StatusCode::OK)),
        (Route::Catalog, Method::GET) => manifests::catalog(state, &query).await,
        (Route::Tags { name }, Method::GET) => manifests::tags(state, &name, &query).await,
        (Route::Manifest { name, reference }, Method::GET | Method::HEAD) => {
            manifests::get(state, &name, &reference, head).await
        }
        (Route::Manifest { name, reference }, Method::PUT) => {
            manifests::put(state, &name, &reference, &headers, body).await
        }
        (Route::Manifest { name, reference }, Method::DELETE) => {
            manifests::delete(state, &name, &reference).await
        }
        (Route::Referrers { name, digest }, Method::GET) => {
            referrers::get(state, &name, &digest, &query).await
        }
        (Route::Blob { name, digest }, Method::GET | Method::HEAD) => {
            blobs::get(state, &name, &digest, &headers, head).await
        }
        (Route::Blob { name, digest }, Method::DELETE) => {
            blobs::delete(state, &name, &digest).await
        }
        (Route::Uploads { name }, Method::POST) => {
            blobs::start_upload(state, &name, &query, &headers, body).await
        }
        (Route::Upload { name, id }, Method::GET) => blobs::upload_status(state, &name, &id).await,
        (Route::Upload { name, id }, Method::PATCH) => {
            blobs::patch(state, &name, &id, &headers, body).await
        }
        (Route::Upload { name, id }, Method::PUT) => {
            blobs::finish_upload(state, &name, &id, &query, &headers, body).await
        }
        (Route::Upload { name, id }, Method::DELETE) => {
            blobs::cancel_upload(state, &name, &id).await
        }
        (_, method) => Err(ApiError::unsupported(format!(
            "{method} is not supported on this endpoint"
        ))),
    }
}

/// The query string as a map (first value wins).
pub(crate) fn query_map(query: Option<&str>) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        map.entry(key.into_owned())
            .or_insert_with(|| value.into_owned());
    }
    map
}

/// A response without a body.
pub(crate) fn empty(status: axum::http::StatusCode) -> Response {
    let mut response = (status, Body::empty()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    response
}

/// A header value from text we produced (paths, digests, numbers).
pub(crate) fn value(text: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(text)
        .map_err(|_| ApiError::internal(format!("cannot put {text:?} in a header")))
}

/// The request's `Content-Length`, if any.
pub(crate) fn content_length(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    match headers.get(header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| ApiError::size_invalid("Content-Length is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: &str) -> Option<Route> {
        parse(path).ok()
    }

    #[test]
    fn paths_route_from_their_end() {
        assert_eq!(route("/v2/"), Some(Route::Base));
        assert_eq!(route("/v2"), Some(Route::Base));
        assert_eq!(route("/v2/_catalog"), Some(Route::Catalog));
        assert_eq!(
            route("/v2/a/b/tags/list"),
            Some(Route::Tags { name: "a/b".into() })
        );
        assert_eq!(
            route("/v2/a/b/c/manifests/v1"),
            Some(Route::Manifest {
                name: "a/b/c".into(),
                reference: "v1".into()
            })
        );
        assert_eq!(
            route("/v2/a/blobs/uploads/"),
            Some(Route::Uploads { name: "a".into() })
        );
        assert_eq!(
            route("/v2/a/b/blobs/uploads"),
            Some(Route::Uploads { name: "a/b".into() })
        );
        assert_eq!(
            route("/v2/a/blobs/uploads/xyz"),
            Some(Route::Upload {
                name: "a".into(),
                id: "xyz".into()
            })
        );
        assert_eq!(
            route("/v2/a/blobs/sha256:00"),
            Some(Route::Blob {
                name: "a".into(),
                digest: "sha256:00".into()
            })
        );
        assert_eq!(
            route("/v2/a/b/referrers/sha256:00"),
            Some(Route::Referrers {
                name: "a/b".into(),
                digest: "sha256:00".into()
            })
        );
        // A repository may itself be called "blobs" or "manifests".
        assert_eq!(
            route("/v2/blobs/manifests/latest"),
            Some(Route::Manifest {
                name: "blobs".into(),
                reference: "latest".into()
            })
        );
    }

    #[test]
    fn bad_paths_are_refused() {
        assert!(route("/v1/").is_none());
        assert!(route("/v2/tags/list").is_none());
        assert!(route("/v2/A/tags/list").is_none());
        assert!(route("/v2/a/../b/tags/list").is_none());
        assert!(route("/v2/a/manifests/").is_none());
        assert!(route("/v2/a/other").is_none());
    }
}
