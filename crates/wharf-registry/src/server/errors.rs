//! Distribution-style API errors: `{"errors":[{"code","message","detail"}]}` with the
//! status codes the distribution spec gives each code.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// One API error, rendered as the distribution spec's JSON error body (boxed: it
/// travels in every handler's `Result`).
#[derive(Debug)]
pub(crate) struct ApiError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    status: StatusCode,
    code: &'static str,
    message: String,
    detail: Option<serde_json::Value>,
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError(Box::new(Inner {
            status,
            code,
            message: message.into(),
            detail: None,
            headers: Vec::new(),
        }))
    }

    /// Adds a `detail` member.
    pub(crate) fn detail(mut self, detail: serde_json::Value) -> ApiError {
        self.0.detail = Some(detail);
        self
    }

    /// Adds a response header (e.g. `Range` on 416).
    pub(crate) fn header(mut self, name: header::HeaderName, value: HeaderValue) -> ApiError {
        self.0.headers.push((name, value));
        self
    }

    pub(crate) fn blob_unknown(digest: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
            "blob unknown to registry",
        )
        .detail(json!({ "digest": digest }))
    }

    pub(crate) fn upload_unknown() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
            "blob upload unknown to registry",
        )
    }

    pub(crate) fn upload_invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID", message)
    }

    pub(crate) fn digest_invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "DIGEST_INVALID", message)
    }

    pub(crate) fn manifest_unknown(reference: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            "manifest unknown",
        )
        .detail(json!({ "reference": reference }))
    }

    pub(crate) fn manifest_invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", message)
    }

    pub(crate) fn manifest_blob_unknown(digest: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "MANIFEST_BLOB_UNKNOWN",
            "manifest references a blob or manifest unknown to this repository",
        )
        .detail(json!({ "digest": digest }))
    }

    pub(crate) fn name_invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "NAME_INVALID", message)
    }

    pub(crate) fn name_unknown(name: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "repository name not known to registry",
        )
        .detail(json!({ "name": name }))
    }

    pub(crate) fn tag_invalid(tag: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "TAG_INVALID",
            "manifest tag is invalid",
        )
        .detail(json!({ "tag": tag }))
    }

    pub(crate) fn size_invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "SIZE_INVALID", message)
    }

    pub(crate) fn too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID", message)
    }

    pub(crate) fn range_invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "RANGE_INVALID", message)
    }

    pub(crate) fn pagination_invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "PAGINATION_NUMBER_INVALID",
            message,
        )
    }

    pub(crate) fn unsupported(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", message)
    }

    pub(crate) fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such API endpoint")
    }

    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", message)
    }

    /// The error's code, for logs and tests.
    #[cfg(test)]
    pub(crate) fn code(&self) -> &'static str {
        self.0.code
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> ApiError {
        ApiError::internal(format!("storage error: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = *self.0;
        let mut body = json!({ "code": error.code, "message": error.message });
        if let Some(detail) = error.detail {
            body["detail"] = detail;
        }
        let body = json!({ "errors": [body] }).to_string();
        let mut response = (
            error.status,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            body,
        )
            .into_response();
        for (name, value) in error.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}
