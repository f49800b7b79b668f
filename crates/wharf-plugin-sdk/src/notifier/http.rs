//! Outbound HTTP for notifiers, over `wasi:http`. The host sends a request only
//! to a `host:port` the step's `allow: http:` lists; any other is refused with
//! [`HttpError::Denied`] before a connection is made.

use std::time::Duration;

use super::wasi::http::outgoing_handler;
use super::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use super::wasi::io::streams::StreamError;

/// A response: status, headers and (at most [`Request::max_body`] bytes of) body.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The URL or a header is malformed.
    Invalid(String),
    /// The host refused the destination: it is not in `allow: http:`.
    Denied(String),
    /// The connection or the exchange failed (refused, timed out, reset...).
    Failed(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Invalid(m) => write!(f, "invalid request: {m}"),
            HttpError::Denied(m) => write!(f, "{m}"),
            HttpError::Failed(m) => write!(f, "request failed: {m}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// One HTTP request to send.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// `http://host:port/path?query` or `https://...`.
    pub url: String,
    /// Headers to send.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Connect and first-byte timeout.
    pub timeout: Duration,
    /// How much of the response body to keep.
    pub max_body: usize,
}

impl Request {
    /// A `POST` of `body` to `url`, 10 s timeout, keeping up to 64 KiB of the response.
    pub fn post(url: &str, body: Vec<u8>) -> Request {
        Request {
            method: "POST".into(),
            url: url.into(),
            headers: Vec::new(),
            body,
            timeout: Duration::from_secs(10),
            max_body: 64 * 1024,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sends the request and reads the response.
    pub fn send(&self) -> Result<Response, HttpError> {
        let uri: http::Uri = self
            .url
            .parse()
            .map_err(|e| HttpError::Invalid(format!("{:?}: {e}", self.url)))?;
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::Http,
            Some("https") => Scheme::Https,
            _ => {
                return Err(HttpError::Invalid(format!(
                    "{:?}: the URL must start with http:// or https://",
                    self.url
                )));
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| HttpError::Invalid(format!("{:?} has no host", self.url)))?
            .as_str()
            .to_string();
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());

        let fields = Fields::new();
        if !self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        {
            let _ = fields.append("content-length", self.body.len().to_string().as_bytes());
        }
        for (name, value) in &self.headers {
            fields
                .append(name, value.as_bytes())
                .map_err(|e| HttpError::Invalid(format!("header {name}: {e:?}")))?;
        }
        let request = OutgoingRequest::new(fields);
        let method = match self.method.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "HEAD" => Method::Head,
            other => Method::Other(other.to_string()),
        };
        let invalid = |what: &str| HttpError::Invalid(format!("{what} refused by the host"));
        request
            .set_method(&method)
            .map_err(|()| invalid("method"))?;
        request
            .set_scheme(Some(&scheme))
            .map_err(|()| invalid("scheme"))?;
        request
            .set_authority(Some(&authority))
            .map_err(|()| invalid("authority"))?;
        request
            .set_path_with_query(Some(&path))
            .map_err(|()| invalid("path"))?;
        let body = request.body().map_err(|()| invalid("body"))?;

        let options = RequestOptions::new();
        let nanos = u64::try_from(self.timeout.as_nanos()).unwrap_or(u64::MAX);
        let _ = options.set_connect_timeout(Some(nanos));
        let _ = options.set_first_byte_timeout(Some(nanos));
        let _ = options.set_between_bytes_timeout(Some(nanos));

        let pending = outgoing_handler::handle(request, Some(options))
            .map_err(|code| error(code, &authority))?;
        {
            let stream = body.write().map_err(|()| invalid("body stream"))?;
            for chunk in self.body.chunks(4096) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|e| HttpError::Failed(format!("writing the body: {e:?}")))?;
            }
        }
        OutgoingBody::finish(body, None).map_err(|code| error(code, &authority))?;

        pending.subscribe().block();
        let response = match pending.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(error(code, &authority)),
            Some(Err(())) | None => {
                return Err(HttpError::Failed("the response was already taken".into()));
            }
        };
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(n, v)| {
                (
                    n.to_ascii_lowercase(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect();
        let mut out = Vec::new();
        let incoming = response
            .consume()
            .map_err(|()| HttpError::Failed("the response body was already taken".into()))?;
        {
            let stream = incoming
                .stream()
                .map_err(|()| HttpError::Failed("no response body stream".into()))?;
            loop {
                match stream.blocking_read(64 * 1024) {
                    Ok(bytes) => {
                        let room = self.max_body.saturating_sub(out.len());
                        out.extend_from_slice(&bytes[..bytes.len().min(room)]);
                    }
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(e)) => {
                        return Err(HttpError::Failed(format!(
                            "reading the response: {}",
                            e.to_debug_string()
                        )));
                    }
                }
            }
        }
        let _ = IncomingBody::finish(incoming);
        Ok(Response {
            status,
            headers,
            body: out,
        })
    }
}

fn error(code: ErrorCode, authority: &str) -> HttpError {
    match code {
        ErrorCode::HttpRequestDenied => HttpError::Denied(format!(
            "HTTP to {authority} is not allowed: add it to the step's `allow: http:` list"
        )),
        other => HttpError::Failed(format!("{authority}: {other:?}")),
    }
}
