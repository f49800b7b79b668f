//! Requests for the endpoints the referrers module and purge use (the referrers API,
//! tag deletes, ACR's `/acr/v1/` listings): one request, retried when transient, and
//! the answer handed back whatever its status, for the caller to interpret.

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue, LINK};
use reqwest::{Method, StatusCode};

use super::Client;
use super::challenge::{Scope, next_link};
use super::error::{Error, Result, is_transient_status};
use super::transport::{Call, Context, Payload, api_error, read_limited};

/// The largest body read by [`Client::raw_request`].
const MAX_BODY: usize = 16 << 20;

/// A registry's answer to a [`Client::raw_request`].
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`, without parameters.
    pub content_type: Option<String>,
    /// The next page (`Link: <...>; rel="next"`), as sent.
    pub next: Option<String>,
    /// Headers the caller may want (`OCI-Filters-Applied`, ...).
    pub headers: HeaderMap,
    /// The body (empty for `HEAD` and `DELETE`).
    pub body: Bytes,
}

impl RawResponse {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl Client {
    /// Sends `method path_and_query` to `registry` with `scope`, retrying transient
    /// failures (connection errors, 408/429/5xx) within the retry budget; any other
    /// status is returned for the caller to read. A 401 that credentials cannot cure
    /// and a 403 are errors.
    pub async fn raw_request(
        &self,
        registry: &str,
        method: Method,
        path_and_query: &str,
        accept: Option<&str>,
        scope: &Scope,
        what: &str,
    ) -> Result<RawResponse> {
        let endpoint = self.endpoint(registry)?;
        let url = endpoint.url(path_and_query);
        let accept = accept
            .map(|a| {
                HeaderValue::from_str(a)
                    .map_err(|_| Error::Invalid(format!("{a:?} is not a valid Accept header")))
            })
            .transpose()?;
        self.retry()
            .run(&endpoint.host, &|| format!("{method} {what}"), |_| async {
                let mut headers = HeaderMap::new();
                if let Some(accept) = &accept {
                    headers.insert(ACCEPT, accept.clone());
                }
                let response = self
                    .transport()
                    .send(Call {
                        endpoint: &endpoint,
                        method: method.clone(),
                        url: url.clone(),
                        headers,
                        body: Payload::Empty,
                        scope,
                        follow_redirects: method == Method::GET,
                    })
                    .await?;
                let status = response.status();
                if is_transient_status(status.as_u16())
                    || status == StatusCode::FORBIDDEN
                    || status == StatusCode::UNAUTHORIZED
                {
                    return Err(api_error(
                        &endpoint,
                        &method,
                        &url,
                        response,
                        &Context {
                            repository: what,
                            what: what.to_string(),
                            action: if method == Method::DELETE {
                                "delete"
                            } else {
                                "pull"
                            },
                        },
                    )
                    .await);
                }
                let headers = response.headers().clone();
                let content_type = headers
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
                let next = headers
                    .get_all(LINK)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find_map(next_link);
                let body = if method == Method::HEAD {
                    Bytes::new()
                } else {
                    read_limited(&endpoint.host, response, MAX_BODY).await?
                };
                Ok(RawResponse {
                    status: status.as_u16(),
                    content_type,
                    next,
                    headers,
                    body,
                })
            })
            .await
    }
}
