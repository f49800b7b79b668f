//! A proxy in front of a real registry that misbehaves on purpose: it lies about
//! content, drops connections mid-body, answers 503 with `Retry-After`, refuses
//! monolithic uploads, redirects blob reads to a "storage" origin, moves uploads to
//! another origin, or demands basic credentials itself. The real registry behind it
//! does everything else.
//!
//! Two origins reach it: `127.0.0.1:PORT` (the registry, as the client is told)
//! and `localhost:PORT` (another origin, for redirects and upload locations). It
//! records, per request, the origin it was addressed to and whether an
//! `Authorization` header came.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use futures_util::StreamExt as _;
use http_body_util::BodyExt as _;

/// What the proxy does wrong.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Blob GETs get bytes of the same length with one byte changed.
    pub corrupt_blobs: bool,
    /// Manifest GETs by tag get an extra space, with the original
    /// `Docker-Content-Digest` header.
    pub corrupt_manifests: bool,
    /// The first N blob GETs send half the body and close the connection.
    pub drop_blob_reads: usize,
    /// The first N requests of any kind get 503 with `Retry-After: 1`.
    pub unavailable: usize,
    /// Every request gets 503 (a registry that is down behind its proxy).
    pub always_unavailable: bool,
    /// Upload PUTs with a body larger than this get 413 (as registries with a
    /// request size limit do).
    pub max_put_body: Option<usize>,
    /// Blob GETs on the registry origin are redirected to the other origin.
    pub redirect_blobs: bool,
    /// Upload session `Location`s point at the other origin.
    pub foreign_upload_location: bool,
    /// The registry origin requires this basic user:password (the other origin
    /// requires nothing).
    pub basic_auth: Option<(String, String)>,
    /// The other origin answers 401 with its own Bearer challenge.
    pub foreign_challenge: bool,
}

/// A request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub foreign: bool,
    pub authorization: bool,
}

struct ProxyState {
    upstream: String,
    faults: Mutex<Faults>,
    seen: Mutex<Vec<Seen>>,
    blob_reads: AtomicUsize,
    requests: AtomicUsize,
    port: u16,
    http: reqwest::Client,
}

pub struct Proxy {
    pub addr: SocketAddr,
    /// `127.0.0.1:PORT`: give this to the client as the registry.
    pub host: String,
    state: Arc<ProxyState>,
}

impl Proxy {
    /// A proxy to `upstream` (`127.0.0.1:PORT` of a real registry).
    pub async fn start(upstream: &str, faults: Faults) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(ProxyState {
            upstream: format!("http://{upstream}"),
            faults: Mutex::new(faults),
            seen: Mutex::new(Vec::new()),
            blob_reads: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            port: addr.port(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Proxy {
            addr,
            host: format!("127.0.0.1:{}", addr.port()),
            state,
        }
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.state.faults.lock().expect("lock") = faults;
        self.state.blob_reads.store(0, Ordering::SeqCst);
        self.state.requests.store(0, Ordering::SeqCst);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().expect("lock").clone()
    }

    pub fn clear(&self) {
        self.state.seen.lock().expect("lock").clear();
    }
}

fn status(code: StatusCode, body: &str) -> Response {
    Response::builder()
        .status(code)
        .header("Content-Type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

async fn handle(State(state): State<Arc<ProxyState>>, request: Request) -> Response {
    let faults = state.faults.lock().expect("lock").clone();
    let host = request
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    let foreign = host.starts_with("localhost");
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    let authorization = request.headers().get("authorization").cloned();
    let request_headers = request.headers().clone();
    state.seen.lock().expect("lock").push(Seen {
        method: method.to_string(),
        path: path.clone(),
        foreign,
        authorization: authorization.is_some(),
    });
    let n = state.requests.fetch_add(1, Ordering::SeqCst);
    if faults.always_unavailable || n < faults.unavailable {
        let mut r = status(
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"errors":[{"code":"UNAVAILABLE","message":"try again later"}]}"#,
        );
        r.headers_mut()
            .insert("Retry-After", HeaderValue::from_static("1"));
        return r;
    }
    if foreign && faults.foreign_challenge {
        let mut r = status(
            StatusCode::UNAUTHORIZED,
            r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#,
        );
        r.headers_mut().insert(
            "WWW-Authenticate",
            HeaderValue::from_static(r#"Bearer realm="http://127.0.0.1:9/steal",service="evil""#),
        );
        return r;
    }
    if !foreign && let Some((user, password)) = &faults.basic_auth {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        if authorization.as_ref().and_then(|a| a.to_str().ok()) != Some(expected.as_str()) {
            let mut r = status(
                StatusCode::UNAUTHORIZED,
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            );
            r.headers_mut().insert(
                "WWW-Authenticate",
                HeaderValue::from_static(r#"Basic realm="wharf-test-proxy""#),
            );
            return r;
        }
    }
    let is_blob_get = method == "GET" && path.contains("/blobs/sha256:");
    if is_blob_get && !foreign && faults.redirect_blobs {
        let mut r = Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .body(Body::empty())
            .unwrap_or_default();
        let location = format!("http://localhost:{}{path_and_query}", state.port);
        if let Ok(v) = HeaderValue::from_str(&location) {
            r.headers_mut().insert("Location", v);
        }
        return r;
    }
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if method == "PUT"
        && path.contains("/blobs/uploads/")
        && faults.max_put_body.is_some_and(|max| body.len() > max)
    {
        return status(
            StatusCode::PAYLOAD_TOO_LARGE,
            r#"{"errors":[{"code":"SIZE_INVALID","message":"request too large"}]}"#,
        );
    }
    // Forward to the real registry (without our Authorization: it has no auth).
    let url = format!("{}{path_and_query}", state.upstream);
    let mut forward = state.http.request(method.clone(), &url);
    for (name, value) in &request_headers {
        if !matches!(
            name.as_str(),
            "host" | "authorization" | "content-length" | "transfer-encoding"
        ) {
            forward = forward.header(name, value);
        }
    }
    let upstream = match forward.body(body).send().await {
        Ok(r) => r,
        Err(e) => return status(StatusCode::BAD_GATEWAY, &format!("{{\"error\":\"{e}\"}}")),
    };
    let code = upstream.status();
    let mut builder = Response::builder().status(code);
    for (name, value) in upstream.headers() {
        if name == "location" && faults.foreign_upload_location && path.contains("/blobs/uploads") {
            let text = value.to_str().unwrap_or("");
            let rewritten = rewrite_location(text, &state.upstream, state.port);
            if let Ok(v) = HeaderValue::from_str(&rewritten) {
                builder = builder.header(name, v);
            }
            continue;
        }
        if name == "location" {
            // Point absolute locations back at the proxy.
            let text = value.to_str().unwrap_or("");
            let proxied = text.replace(&state.upstream, &format!("http://{host}"));
            if let Ok(v) = HeaderValue::from_str(&proxied) {
                builder = builder.header(name, v);
            }
            continue;
        }
        builder = builder.header(name, value);
    }
    if is_blob_get && code == StatusCode::OK {
        let reads = state.blob_reads.fetch_add(1, Ordering::SeqCst);
        let bytes = upstream.bytes().await.unwrap_or_default();
        if reads < faults.drop_blob_reads {
            let half = bytes.slice(..bytes.len() / 2);
            // The headers and half the body go out; then the connection is cut.
            let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(half)]).chain(
                futures_util::stream::once(async {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    Err(std::io::Error::other("dropped on purpose"))
                }),
            );
            return builder.body(Body::from_stream(stream)).unwrap_or_default();
        }
        if faults.corrupt_blobs && !bytes.is_empty() {
            let mut changed = bytes.to_vec();
            changed[0] ^= 0xff;
            return builder.body(Body::from(changed)).unwrap_or_default();
        }
        return builder.body(Body::from(bytes)).unwrap_or_default();
    }
    if method == "GET"
        && path.contains("/manifests/")
        && !path.contains("sha256:")
        && faults.corrupt_manifests
        && code == StatusCode::OK
    {
        let mut bytes = upstream.bytes().await.unwrap_or_default().to_vec();
        bytes.push(b' ');
        let mut response = builder.body(Body::from(bytes.clone())).unwrap_or_default();
        response
            .headers_mut()
            .insert("Content-Length", HeaderValue::from(bytes.len()));
        return response;
    }
    let stream = upstream
        .bytes_stream()
        .map(|r| r.map_err(std::io::Error::other));
    builder.body(Body::from_stream(stream)).unwrap_or_default()
}

fn rewrite_location(location: &str, upstream: &str, port: u16) -> String {
    let path = location.strip_prefix(upstream).unwrap_or(location);
    format!("http://localhost:{port}{path}")
}
