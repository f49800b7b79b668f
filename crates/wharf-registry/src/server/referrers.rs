//! The OCI 1.1 referrers API: `GET /v2/<name>/referrers/<digest>[?artifactType=]`,
//! answered from what manifest `PUT`s with a `subject` recorded (and said so with
//! `OCI-Subject`). A referrer deleted since is not listed.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::AppState;
use super::errors::ApiError;
use super::routes::value;
use super::storage::parse_digest;
use crate::digest::Digest;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Records manifest `digest` as a referrer when it has a `subject`; returns the
/// subject's digest (for `OCI-Subject`).
pub(crate) async fn record(
    state: &AppState,
    name: &str,
    digest: &Digest,
    media_type: &str,
    bytes: &[u8],
    manifest: &Value,
) -> Result<Option<Digest>, ApiError> {
    let Some(subject) = manifest.get("subject").filter(|s| s.is_object()) else {
        return Ok(None);
    };
    let subject = subject
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::manifest_invalid("the subject has no digest"))
        .and_then(|d| {
            parse_digest(d).map_err(|_| {
                ApiError::manifest_invalid(format!("subject digest {d:?} is not sha256"))
            })
        })?;
    let artifact_type = manifest
        .get("artifactType")
        .and_then(Value::as_str)
        .or_else(|| {
            manifest
                .get("config")
                .and_then(|c| c.get("mediaType"))
                .and_then(Value::as_str)
        });
    let mut descriptor = json!({
        "mediaType": media_type,
        "digest": digest.as_str(),
        "size": bytes.len(),
    });
    if let Some(t) = artifact_type {
        descriptor["artifactType"] = json!(t);
    }
    if let Some(a) = manifest.get("annotations").filter(|a| a.is_object()) {
        descriptor["annotations"] = a.clone();
    }
    state
        .storage
        .put_referrer(name, &subject, digest, descriptor.to_string().as_bytes())
        .await?;
    Ok(Some(subject))
}

/// `GET /v2/<name>/referrers/<digest>`: an OCI index of the referrers (empty when
/// there are none, never 404), filtered by `artifactType` when asked.
pub(crate) async fn get(
    state: &AppState,
    name: &str,
    digest: &str,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let subject = parse_digest(digest)?;
    let wanted = query.get("artifactType");
    let mut manifests = Vec::new();
    for bytes in state.storage.referrers(name, &subject).await? {
        let Ok(descriptor) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        if wanted.is_some_and(|w| {
            descriptor.get("artifactType").and_then(Value::as_str) != Some(w.as_str())
        }) {
            continue;
        }
        manifests.push(descriptor);
    }
    let body = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
    })
    .to_string();
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, OCI_INDEX)
        .header(header::CONTENT_LENGTH, body.len());
    if wanted.is_some() {
        response = response.header("OCI-Filters-Applied", value("artifactType")?);
    }
    response
        .body(Body::from(body))
        .map_err(|e| ApiError::internal(e.to_string()))
}
