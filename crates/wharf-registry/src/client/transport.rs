//! Sending one request: authentication (through [`Auth`]), redirects followed by
//! hand so that credentials never leave the registry's origin, tracing of every
//! request, and the mapping of failures to [`Error`]s.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use futures_util::StreamExt as _;
use reqwest::header::{AUTHORIZATION, HeaderMap, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
use url::Url;

use super::auth::{Auth, Sent};
use super::challenge::Scope;
use super::error::Error;
use super::retry::parse_retry_after;

/// Redirects followed at most.
const MAX_REDIRECTS: usize = 10;
/// The largest error body read.
const MAX_ERROR_BODY: usize = 64 << 10;
/// Read size when streaming a file into a request.
const FILE_CHUNK: usize = 256 << 10;

/// A registry as the client addresses it.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// The registry's name: `docker.io`, `localhost:5000` (credential key).
    pub host: String,
    /// Where its API is: `https://registry-1.docker.io/`, `http://localhost:5000/`.
    pub base: Url,
}

impl Endpoint {
    /// `path` (with any query) on the registry.
    pub(crate) fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap_or_else(|_| self.base.clone())
    }
}

/// Reports bytes as they are sent or received.
pub type ProgressFn = Arc<dyn Fn(u64) + Send + Sync>;

/// A request body: one that can be produced again for a retry, or a stream that can
/// be sent once.
#[derive(Clone)]
pub(crate) enum Payload {
    /// No body.
    Empty,
    /// Bytes in memory.
    Bytes(Bytes),
    /// `len` bytes of a file from `offset`.
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
        progress: Option<ProgressFn>,
    },
    /// Bytes produced while they are sent, of a length known only at their end
    /// (sent with chunked transfer encoding). Taken by the first send: a request
    /// that would send it again (after an authentication challenge) fails instead.
    Stream(Arc<std::sync::Mutex<Option<reqwest::Body>>>),
}

impl Payload {
    /// A body sent as it is produced, once.
    pub(crate) fn stream(body: reqwest::Body) -> Payload {
        Payload::Stream(Arc::new(std::sync::Mutex::new(Some(body))))
    }

    /// The body and its length, when known.
    async fn body(&self) -> Result<Option<(reqwest::Body, Option<u64>)>, Error> {
        match self {
            Payload::Empty => Ok(None),
            Payload::Bytes(bytes) => Ok(Some((
                reqwest::Body::from(bytes.clone()),
                Some(bytes.len() as u64),
            ))),
            Payload::Stream(body) => body
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
                .map(|b| Some((b, None)))
                .ok_or_else(|| {
                    Error::Invalid(
                        "a streamed upload cannot be sent a second time (the registry asked \
                         to authenticate again)"
                            .into(),
                    )
                }),
            Payload::File {
                path,
                offset,
                len,
                progress,
            } => {
                let io = |source| Error::Io {
                    path: path.clone(),
                    action: "cannot read the blob to upload",
                    source,
                };
                let mut file = tokio::fs::File::open(path).await.map_err(io)?;
                file.seek(std::io::SeekFrom::Start(*offset))
                    .await
                    .map_err(io)?;
                let reader = file.take(*len);
                let stream = tokio_util::io::ReaderStream::with_capacity(reader, FILE_CHUNK);
                let progress = progress.clone();
                let stream = stream.inspect(move |chunk| {
                    if let (Ok(chunk), Some(progress)) = (chunk, &progress) {
                        progress(chunk.len() as u64);
                    }
                });
                Ok(Some((reqwest::Body::wrap_stream(stream), Some(*len))))
            }
        }
    }
}

/// One request to a registry.
pub(crate) struct Call<'a> {
    pub endpoint: &'a Endpoint,
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Payload,
    pub scope: &'a Scope,
    /// Follow redirects (blob and manifest reads). Credentials never go to another
    /// origin.
    pub follow_redirects: bool,
}

/// The HTTP clients.
///
/// - reqwest's, for HTTPS (and token services). With native-tls, building it loads
///   and parses the system's CA bundle twice (about 45 ms of CPU each here), so it is
///   built on a thread of its own once something says HTTPS is coming
///   ([`HttpClients::prepare`]: at once for an eager client, else when a caller knows
///   it will talk to an HTTPS registry), and the first request waits for it only if
///   that thread has not finished; a client nobody prepared builds it at its first
///   HTTPS request. A `wharf run` that only talks to loopback registries never loads
///   the certificates, nor has a thread parsing them compete with its own start-up;
/// - for plain HTTP (loopback registries, `plain_http`), hyper's own client — what
///   reqwest is built on — with no TLS at all, so a re-push to a local registry (a few
///   `HEAD` requests) never pays for certificates it does not use. Its answers are
///   turned into `reqwest::Response`s, so the rest of the client sees one type. It is
///   not used when an HTTP proxy is configured (`HTTP_PROXY`, `ALL_PROXY`): reqwest
///   honours those.
pub(crate) struct HttpClients {
    client: std::sync::OnceLock<Result<reqwest::Client, String>>,
    building: std::sync::Mutex<Building>,
    plain: Option<PlainClient>,
}

/// What makes reqwest's client.
type MakeClient = Arc<dyn Fn() -> reqwest::ClientBuilder + Send + Sync>;

/// Where reqwest's client is in its making.
enum Building {
    /// Not started: built by the first request that needs it, unless prepared.
    Later(MakeClient),
    /// On its thread.
    Started(std::thread::JoinHandle<Result<reqwest::Client, String>>),
    /// Taken by the first request (the result is in `client`).
    Taken,
}

/// hyper's client for plain HTTP, with what reqwest would have added.
struct PlainClient {
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        reqwest::Body,
    >,
    user_agent: reqwest::header::HeaderValue,
    read_timeout: std::time::Duration,
}

fn build_client(make: &MakeClient) -> Result<reqwest::Client, String> {
    make()
        .build()
        .map_err(|e| format!("cannot create the HTTP client: {e}"))
}

impl HttpClients {
    /// reqwest's client will come from `make` (see [`HttpClients::prepare`]); the
    /// plain-HTTP client is made at once (it costs nothing).
    pub(crate) fn new(
        make: impl Fn() -> reqwest::ClientBuilder + Send + Sync + 'static,
        user_agent: &str,
        connect_timeout: std::time::Duration,
        read_timeout: std::time::Duration,
    ) -> Result<HttpClients, String> {
        let proxied = ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
        let plain = (!proxied).then(|| {
            let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
            connector.set_connect_timeout(Some(connect_timeout));
            connector.set_nodelay(true);
            PlainClient {
                client: hyper_util::client::legacy::Client::builder(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .build(connector),
                user_agent: reqwest::header::HeaderValue::from_str(user_agent)
                    .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static("wharf")),
                read_timeout,
            }
        });
        Ok(HttpClients {
            client: std::sync::OnceLock::new(),
            building: std::sync::Mutex::new(Building::Later(Arc::new(make))),
            plain,
        })
    }

    /// Starts building reqwest's client on a thread of its own, if nothing has
    /// started it yet. Without a thread to be had, the first request builds it.
    pub(crate) fn prepare(&self) {
        let mut building = self
            .building
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Building::Later(make) = &*building {
            let make = Arc::clone(make);
            if let Ok(handle) = std::thread::Builder::new()
                .name("wharf-http-init".into())
                .spawn(move || build_client(&make))
            {
                *building = Building::Started(handle);
            }
        }
    }

    /// Whether reqwest's client is built or being built.
    #[cfg(test)]
    pub(crate) fn prepared(&self) -> bool {
        self.client.get().is_some()
            || !matches!(
                *self
                    .building
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
                Building::Later(_)
            )
    }

    /// reqwest's client (the same for every URL): the one its thread built, or
    /// built here when nothing prepared it.
    pub(crate) fn for_url(&self, _url: &Url) -> Result<&reqwest::Client, Error> {
        self.client
            .get_or_init(|| {
                let building = std::mem::replace(
                    &mut *self
                        .building
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner),
                    Building::Taken,
                );
                match building {
                    Building::Later(make) => build_client(&make),
                    Building::Started(handle) => handle
                        .join()
                        .unwrap_or_else(|_| Err("building the HTTP client failed".into())),
                    Building::Taken => Err("building the HTTP client failed".into()),
                }
            })
            .as_ref()
            .map_err(|message| Error::Invalid(message.clone()))
    }

    /// Sends a request; plain HTTP through hyper when it can.
    async fn send(
        &self,
        registry: &str,
        method: Method,
        url: &Url,
        mut headers: HeaderMap,
        body: Option<reqwest::Body>,
    ) -> Result<reqwest::Response, Error> {
        let Some(plain) = self.plain.as_ref().filter(|_| url.scheme() == "http") else {
            let mut request = self
                .for_url(url)?
                .request(method, url.clone())
                .headers(headers);
            if let Some(body) = body {
                request = request.body(body);
            }
            return request
                .send()
                .await
                .map_err(|e| connection_error(registry, &e));
        };
        headers
            .entry(reqwest::header::USER_AGENT)
            .or_insert_with(|| plain.user_agent.clone());
        let mut request = http::Request::builder().method(method).uri(url.as_str());
        if let Some(h) = request.headers_mut() {
            *h = headers;
        }
        let request = request
            .body(body.unwrap_or_else(|| reqwest::Body::from(Bytes::new())))
            .map_err(|e| {
                Error::Invalid(format!(
                    "cannot form the request to {}: {e}",
                    origin_text(url)
                ))
            })?;
        let response = plain
            .client
            .request(request)
            .await
            .map_err(|e| plain_error(registry, &e))?;
        let (parts, incoming) = response.into_parts();
        let timeout = plain.read_timeout;
        let stream = futures_util::stream::unfold(
            http_body_util::BodyDataStream::new(incoming),
            move |mut body| async move {
                match tokio::time::timeout(timeout, body.next()).await {
                    Ok(Some(item)) => Some((item.map_err(std::io::Error::other), body)),
                    Ok(None) => None,
                    Err(_) => Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the connection went quiet",
                        )),
                        body,
                    )),
                }
            },
        );
        Ok(reqwest::Response::from(http::Response::from_parts(
            parts,
            reqwest::Body::wrap_stream(stream),
        )))
    }
}

/// A plain-HTTP client failure, described as [`connection_error`] describes
/// reqwest's.
fn plain_error(registry: &str, error: &hyper_util::client::legacy::Error) -> Error {
    let kind = if error.is_connect() {
        "cannot connect"
    } else {
        "the request failed"
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        let text = e.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
        source = e.source();
    }
    Error::Connection {
        registry: registry.to_string(),
        message: if causes.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}: {}", causes.join(": "))
        },
    }
}

/// The HTTP clients and the authentication state.
pub(crate) struct Transport {
    pub http: Arc<HttpClients>,
    pub auth: Auth,
}

impl Transport {
    /// Sends `call`, authenticating and following redirects; any status comes back
    /// as a response except `401`, which is an error once authentication has done
    /// what it can.
    pub(crate) async fn send(&self, call: Call<'_>) -> Result<reqwest::Response, Error> {
        let Call {
            endpoint,
            mut method,
            mut url,
            headers,
            body,
            scope,
            follow_redirects,
        } = call;
        let mut scope = scope.clone();
        let mut refreshed = false;
        let mut redirects = 0;
        loop {
            let own = same_origin(&url, &endpoint.base);
            let (authorization, sent) = if own {
                self.auth.authorize(endpoint, &scope).await?
            } else {
                (None, Sent::Nothing)
            };
            let mut headers = headers.clone();
            if let Some(value) = authorization {
                headers.insert(AUTHORIZATION, value);
            }
            let payload = body.body().await?;
            match &payload {
                Some((_, Some(len))) => {
                    headers.insert(reqwest::header::CONTENT_LENGTH, (*len).into());
                }
                Some((_, None)) => {}
                None if method == Method::POST
                    || method == Method::PUT
                    || method == Method::PATCH =>
                {
                    headers.insert(reqwest::header::CONTENT_LENGTH, 0.into());
                }
                None => {}
            }
            let started = Instant::now();
            let target = origin_text(&url);
            let response = self
                .http
                .send(
                    &endpoint.host,
                    method.clone(),
                    &url,
                    headers,
                    payload.map(|(b, _)| b),
                )
                .await?;
            let status = response.status();
            tracing::debug!(
                registry = %endpoint.host,
                method = %method,
                host = %target,
                path = url.path(),
                status = status.as_u16(),
                elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "registry request"
            );
            if status == StatusCode::UNAUTHORIZED {
                if !own {
                    return Err(Error::CredentialsOffHost {
                        registry: endpoint.host.clone(),
                        host: target,
                        reason: "it asked for authentication; credentials go only to the registry and the token service it announced".into(),
                    });
                }
                if !refreshed
                    && let Some(wider) = self
                        .auth
                        .unauthorized(endpoint, response.headers(), &scope, &sent)
                        .await?
                {
                    refreshed = true;
                    scope = wider;
                    continue;
                }
                let (code, message) = error_body(response).await;
                let detail = match (code, message) {
                    (_, Some(message)) => message,
                    (Some(code), None) => code,
                    (None, None) => "401 Unauthorized".into(),
                };
                tracing::debug!(registry = %endpoint.host, credentialed = sent.credentialed(), "authentication refused");
                return Err(Error::Unauthorized {
                    registry: endpoint.host.clone(),
                    detail,
                    had_credentials: sent.credentialed(),
                });
            }
            if follow_redirects && status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                redirects += 1;
                let next = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| url.join(l).ok());
                let Some(next) = next.filter(|_| redirects <= MAX_REDIRECTS) else {
                    return Err(Error::Protocol {
                        registry: endpoint.host.clone(),
                        message: format!(
                            "{method} {} redirected without a usable Location, or more than {MAX_REDIRECTS} times",
                            url.path()
                        ),
                    });
                };
                if !same_origin(&next, &endpoint.base) {
                    tracing::debug!(
                        registry = %endpoint.host,
                        to = %origin_text(&next),
                        "redirected to another host; no credentials are sent there"
                    );
                }
                if status == StatusCode::SEE_OTHER && method != Method::HEAD {
                    method = Method::GET;
                }
                url = next;
                continue;
            }
            return Ok(response);
        }
    }
}

/// Whether `a` and `b` have the same scheme, host and port.
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

/// `scheme://host[:port]` of a URL: safe to log (no path, no query).
pub(crate) fn origin_text(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
        (Some(host), None) => format!("{}://{host}", url.scheme()),
        _ => url.scheme().to_string(),
    }
}

/// A transport failure: the message without the URL (a query can hold a signed
/// storage URL's secret), with the underlying cause.
pub(crate) fn connection_error(registry: &str, error: &reqwest::Error) -> Error {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_body() || error.is_decode() {
        "the connection dropped while transferring data"
    } else {
        "the request failed"
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        let text = e.to_string();
        if !causes.contains(&text) && !text.contains("http://") && !text.contains("https://") {
            causes.push(text);
        }
        source = e.source();
    }
    let message = if causes.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {}", causes.join(": "))
    };
    Error::Connection {
        registry: registry.to_string(),
        message,
    }
}

/// The `Content-Length` header (also of a `HEAD` answer, whose body is empty).
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(reqwest::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// The delay a response's `Retry-After` asks for.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<std::time::Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

/// Reads a whole body, refusing more than `limit` bytes.
pub(crate) async fn read_limited(
    registry: &str,
    response: reqwest::Response,
    limit: usize,
) -> Result<Bytes, Error> {
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(Error::Protocol {
            registry: registry.to_string(),
            message: format!(
                "the answer is larger than the {} KiB wharf reads",
                limit >> 10
            ),
        });
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| connection_error(registry, &e))?;
        if body.len() + chunk.len() > limit {
            return Err(Error::Protocol {
                registry: registry.to_string(),
                message: format!(
                    "the answer is larger than the {} KiB wharf reads",
                    limit >> 10
                ),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// The first distribution error's code and message, if the body has one.
pub(crate) async fn error_body(response: reqwest::Response) -> (Option<String>, Option<String>) {
    let Ok(bytes) = read_limited("", response, MAX_ERROR_BODY).await else {
        return (None, None);
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim();
        return (
            None,
            (!text.is_empty() && text.len() < 200 && !text.contains('<')).then(|| text.to_string()),
        );
    };
    let first = &value["errors"][0];
    let text = |v: &serde_json::Value| {
        v.as_str()
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(300).collect::<String>())
    };
    (text(&first["code"]), text(&first["message"]))
}

/// What a failed request was about, to name it in the error.
pub(crate) struct Context<'a> {
    pub repository: &'a str,
    /// `manifest latest`, `blob sha256:...`, `upload`.
    pub what: String,
    /// `pull`, `push`, `delete`.
    pub action: &'static str,
}

/// The error for a response with an unexpected status.
pub(crate) async fn api_error(
    endpoint: &Endpoint,
    method: &Method,
    url: &Url,
    response: reqwest::Response,
    context: &Context<'_>,
) -> Error {
    let status = response.status();
    let retry_after = retry_after(response.headers());
    let (code, message) = if *method == Method::HEAD {
        (None, None)
    } else {
        error_body(response).await
    };
    match status {
        StatusCode::NOT_FOUND => Error::NotFound {
            registry: endpoint.host.clone(),
            repository: context.repository.to_string(),
            what: context.what.clone(),
            no_repository: code.as_deref() == Some("NAME_UNKNOWN"),
        },
        StatusCode::FORBIDDEN => Error::Denied {
            registry: endpoint.host.clone(),
            repository: context.repository.to_string(),
            action: context.action.to_string(),
            detail: message.or(code).unwrap_or_else(|| "403 Forbidden".into()),
        },
        _ => Error::Status {
            registry: endpoint.host.clone(),
            request: format!("{method} {}", url.path()),
            status: status.as_u16(),
            code,
            message,
            retry_after,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn clients() -> HttpClients {
        let second = std::time::Duration::from_secs(1);
        HttpClients::new(reqwest::Client::builder, "wharf-test", second, second)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_https_client_is_built_when_prepared_or_at_the_first_https_request() {
        let prepared = clients();
        assert!(!prepared.prepared(), "nothing built before it is asked for");
        prepared.prepare();
        assert!(prepared.prepared());
        prepared.prepare();
        assert!(prepared.for_url(&url("https://a.io/v2/")).is_ok());

        let lazy = clients();
        assert!(lazy.for_url(&url("https://a.io/v2/")).is_ok());
        assert!(lazy.prepared());
        lazy.prepare();
        assert!(lazy.for_url(&url("https://b.io/v2/")).is_ok());
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert!(same_origin(
            &url("https://a.io/v2/"),
            &url("https://A.io:443/x?y")
        ));
        assert!(!same_origin(&url("https://a.io/"), &url("http://a.io/")));
        assert!(!same_origin(
            &url("http://a.io:5000/"),
            &url("http://a.io:5001/")
        ));
        assert!(!same_origin(&url("https://a.io/"), &url("https://b.a.io/")));
        assert_eq!(
            origin_text(&url("https://store.blob.core.windows.net/c/b?sig=SECRET")),
            "https://store.blob.core.windows.net"
        );
        assert_eq!(
            origin_text(&url("http://127.0.0.1:5000/v2/")),
            "http://127.0.0.1:5000"
        );
    }
}
