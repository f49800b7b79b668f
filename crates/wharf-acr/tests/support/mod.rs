//! A local stand-in for Azure on 127.0.0.1 that speaks the real protocol:
//! ARM (registries list with `nextLink`, `listBuildSourceUploadUrl`,
//! `scheduleRun` with 200 or the older 202 + `Location`, `runs/{id}` (a
//! `QuickBuild` for a `DockerBuildRequest`, else a `QuickRun`),
//! `cancel`, `listLogSasUrl`, ARM error bodies, 411 for a POST without
//! `Content-Length`), a blob endpoint (single PUT and block upload, SAS
//! checked, no token accepted), a growing append-blob log (HEAD with
//! `Content-Length` and `x-ms-meta-Complete`, GET with `x-ms-range` → 206),
//! and an App Service managed-identity token endpoint
//! (`IDENTITY_ENDPOINT`/`IDENTITY_HEADER`).
//!
//! Shared by the crate's tests and the binary's (`#[path]`-included there).
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

/// The token the managed-identity endpoint hands out, and ARM accepts.
pub const TOKEN: &str = "arm-token-7f3a";
/// The header value the MI endpoint wants.
pub const IDENTITY_HEADER: &str = "identity-header-1b2c";
/// The subscription.
pub const SUBSCRIPTION: &str = "00000000-1111-2222-3333-444444444444";
/// The registry's login server (its name differs: `myreg`).
pub const LOGIN_SERVER: &str = "my-reg.azurecr.io";
/// Its resource id.
pub const REGISTRY_ID: &str = "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-1/providers/Microsoft.ContainerRegistry/registries/myreg";
/// The SAS signature of the upload URL (a credential: must never be printed).
pub const UPLOAD_SIG: &str = "upload-sig-9d8e";
/// The SAS signature of the log URL.
pub const LOG_SIG: &str = "log-sig-5a6b";

/// How the stand-in's run behaves.
#[derive(Clone, Debug)]
pub struct Script {
    /// The log, appended one piece per HEAD of the log blob.
    pub log: Vec<Vec<u8>>,
    /// The status at the end.
    pub status: String,
    /// Never finishes until cancelled.
    pub hang: bool,
    /// Answer scheduleRun with 202 + Location (the 2019-06 LRO form).
    pub lro: bool,
    /// outputImages of the finished run.
    pub output_images: Value,
    /// Where page 1 of the registries list points its `nextLink` (default: here).
    pub next_link_base: Option<String>,
    /// listLogSasUrl names a `logArtifactLink` (the whole log, one GET).
    pub artifact_log: bool,
    /// This many requests to the log blob, and to `runs/{id}`, first answer 503.
    pub flaky: usize,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            log: vec![b"2026/12/02 05:00:00 Downloading source code...\r\n".to_vec()],
            status: "Succeeded".into(),
            hang: false,
            lro: false,
            output_images: json!([]),
            next_link_base: None,
            artifact_log: false,
            flaky: 0,
        }
    }
}

/// A request the stand-in saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

#[derive(Default)]
struct Inner {
    script: Option<Script>,
    seen: Vec<Seen>,
    uploads: HashMap<String, Vec<u8>>,
    blocks: HashMap<String, Vec<u8>>,
    scheduled: Vec<Value>,
    run_started: bool,
    log: Vec<u8>,
    pieces_given: usize,
    cancelled: bool,
    lro_polls: usize,
    run_polls: usize,
    log_failures: usize,
    run_failures: usize,
}

/// The running stand-in.
#[derive(Clone)]
pub struct StandIn {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl StandIn {
    /// Starts on a free loopback port in the current tokio runtime.
    pub async fn start(script: Script) -> StandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Mutex::new(Inner {
            script: Some(script),
            ..Inner::default()
        }));
        let state = StandIn {
            base: base.clone(),
            inner,
        };
        let handler_state = state.clone();
        let app = axum::Router::new().fallback(move |req: Request<Body>| {
            let s = handler_state.clone();
            async move { s.handle(req).await }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        state
    }

    /// Every request seen.
    pub fn seen(&self) -> Vec<Seen> {
        self.inner.lock().unwrap().seen.clone()
    }

    /// The scheduleRun bodies.
    pub fn scheduled(&self) -> Vec<Value> {
        self.inner.lock().unwrap().scheduled.clone()
    }

    /// The uploaded (committed) source blobs, by path.
    pub fn uploads(&self) -> HashMap<String, Vec<u8>> {
        self.inner.lock().unwrap().uploads.clone()
    }

    /// Whether the run was cancelled.
    pub fn cancelled(&self) -> bool {
        self.inner.lock().unwrap().cancelled
    }

    fn script(&self) -> Script {
        self.inner
            .lock()
            .unwrap()
            .script
            .clone()
            .unwrap_or_default()
    }

    async fn handle(&self, req: Request<Body>) -> Response {
        let (parts, body) = req.into_parts();
        let body: Bytes = axum::body::to_bytes(body, 256 << 20)
            .await
            .unwrap_or_default();
        let headers: HashMap<String, String> = parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let seen = Seen {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or("").to_owned(),
            headers,
            body: body.to_vec(),
        };
        self.inner.lock().unwrap().seen.push(seen.clone());
        let path = seen.path.clone();
        if path == "/msi/token" {
            return self.token(&seen);
        }
        if let Some(blob) = path.strip_prefix("/blob/") {
            return self.blob(&seen, blob, &parts.method);
        }
        if path.starts_with("/artifact/") {
            if seen.header("authorization").is_some()
                || !seen.query.contains(&format!("sig={LOG_SIG}"))
            {
                return storage_error(403, "AuthenticationFailed", "bad SAS");
            }
            let log: Vec<u8> = self.script().log.concat();
            return Response::builder()
                .status(200)
                .body(Body::from(log))
                .unwrap();
        }
        if path.starts_with("/logs/") {
            return self.log(&seen, &parts.method, &parts.headers);
        }
        self.arm(&seen, &parts.method)
    }

    fn token(&self, req: &Seen) -> Response {
        if req.header("x-identity-header") != Some(IDENTITY_HEADER) {
            return json_response(401, json!({"error": "wrong X-IDENTITY-HEADER"}));
        }
        let expires = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            + 3600;
        json_response(
            200,
            json!({"access_token": TOKEN, "expires_on": expires.to_string(),
                   "resource": "https://management.azure.com", "token_type": "Bearer"}),
        )
    }

    fn blob(&self, req: &Seen, blob: &str, method: &Method) -> Response {
        if req.header("authorization").is_some() {
            return storage_error(
                400,
                "InvalidAuthenticationInfo",
                "a token was sent with a SAS",
            );
        }
        if !req.query.contains(&format!("sig={UPLOAD_SIG}")) {
            return storage_error(403, "AuthenticationFailed", "bad SAS");
        }
        if method != Method::PUT {
            return storage_error(405, "UnsupportedHttpVerb", "PUT only");
        }
        let query: HashMap<String, String> = url::form_urlencoded::parse(req.query.as_bytes())
            .into_owned()
            .collect();
        let mut inner = self.inner.lock().unwrap();
        match query.get("comp").map(String::as_str) {
            None => {
                if req.header("x-ms-blob-type") != Some("BlockBlob") {
                    return storage_error(400, "MissingRequiredHeader", "x-ms-blob-type");
                }
                inner.uploads.insert(blob.to_owned(), req.body.clone());
            }
            Some("block") => {
                let id = query.get("blockid").cloned().unwrap_or_default();
                inner.blocks.insert(id, req.body.clone());
            }
            Some("blocklist") => {
                let text = String::from_utf8_lossy(&req.body).to_string();
                let mut data = Vec::new();
                for part in text.split("<Latest>").skip(1) {
                    let id = part.split("</Latest>").next().unwrap_or_default();
                    match inner.blocks.get(id) {
                        Some(b) => data.extend_from_slice(b),
                        None => return storage_error(400, "InvalidBlockList", id),
                    }
                }
                inner.uploads.insert(blob.to_owned(), data);
            }
            Some(other) => return storage_error(400, "InvalidQueryParameterValue", other),
        }
        Response::builder().status(201).body(Body::empty()).unwrap()
    }

    /// The log blob: each HEAD appends the next piece of the script's log.
    fn log(&self, req: &Seen, method: &Method, headers: &HeaderMap) -> Response {
        if req.header("authorization").is_some() {
            return storage_error(
                400,
                "InvalidAuthenticationInfo",
                "a token was sent with a SAS",
            );
        }
        if !req.query.contains(&format!("sig={LOG_SIG}")) {
            return storage_error(403, "AuthenticationFailed", "bad SAS");
        }
        let script = self.script();
        let mut inner = self.inner.lock().unwrap();
        if inner.log_failures < script.flaky {
            inner.log_failures += 1;
            return storage_error(503, "ServerBusy", "The server is busy.");
        }
        if method == Method::HEAD {
            if inner.pieces_given == 0 && !inner.run_started {
                // The first HEAD finds no blob yet.
                inner.run_started = true;
                return Response::builder().status(404).body(Body::empty()).unwrap();
            }
            if inner.pieces_given < script.log.len() {
                let piece = script.log[inner.pieces_given].clone();
                inner.log.extend_from_slice(&piece);
                inner.pieces_given += 1;
            }
            let done = inner.cancelled || (!script.hang && inner.pieces_given >= script.log.len());
            let mut response = Response::builder()
                .status(200)
                .header("content-length", inner.log.len().to_string())
                .header("x-ms-blob-type", "AppendBlob");
            if done {
                let status = if inner.cancelled {
                    "Canceled".to_owned()
                } else {
                    script.status.clone()
                };
                response = response.header("x-ms-meta-Complete", status);
            }
            return response.body(Body::empty()).unwrap();
        }
        let range = headers
            .get("x-ms-range")
            .and_then(|v| v.to_str().ok())
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.split_once('-'))
            .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)));
        let Some((start, end)) = range else {
            return storage_error(400, "InvalidRange", "x-ms-range required");
        };
        if start >= inner.log.len() {
            return storage_error(416, "InvalidRange", "past the end");
        }
        let end = end.min(inner.log.len() - 1);
        let data = inner.log[start..=end].to_vec();
        Response::builder()
            .status(206)
            .header(
                "content-range",
                format!("bytes {start}-{end}/{}", inner.log.len()),
            )
            .body(Body::from(data))
            .unwrap()
    }

    fn run_json(&self, inner: &Inner, script: &Script) -> Value {
        let done = inner.cancelled || (!script.hang && inner.pieces_given >= script.log.len());
        let status = if inner.cancelled {
            "Canceled".to_owned()
        } else if done {
            script.status.clone()
        } else if inner.run_polls == 0 && inner.pieces_given == 0 {
            "Queued".to_owned()
        } else {
            "Running".to_owned()
        };
        let build = inner
            .scheduled
            .last()
            .is_some_and(|b| b["type"] == "DockerBuildRequest");
        let run_type = if build { "QuickBuild" } else { "QuickRun" };
        json!({
            "id": format!("{REGISTRY_ID}/runs/cb1"),
            "name": "cb1",
            "type": "Microsoft.ContainerRegistry/registries/runs",
            "properties": {
                "runId": "cb1",
                "status": status,
                "runType": run_type,
                "provisioningState": "Succeeded",
                "createTime": "2026-12-02T05:00:00+00:00",
                "startTime": "2026-12-02T05:00:01+00:00",
                "finishTime": if done { json!("2026-12-02T05:00:09+00:00") } else { Value::Null },
                "lastUpdatedTime": "2026-12-02T05:00:09+00:00",
                "outputImages": if done && status == "Succeeded" { script.output_images.clone() } else { json!([]) },
                "platform": {"os": "linux", "architecture": "amd64"}
            }
        })
    }

    fn arm(&self, req: &Seen, method: &Method) -> Response {
        if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
            return arm_error(401, "AuthenticationFailed", "missing or wrong bearer token");
        }
        if method == Method::POST && req.header("content-length").is_none() {
            return Response::builder()
                .status(411)
                .body(Body::from("Length Required"))
                .unwrap();
        }
        let api = url::form_urlencoded::parse(req.query.as_bytes())
            .find(|(k, _)| k == "api-version")
            .map(|(_, v)| v.to_string());
        let Some(api) = api else {
            return arm_error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            );
        };
        let path = req.path.clone();
        let script = self.script();
        let list = format!(
            "/subscriptions/{SUBSCRIPTION}/providers/Microsoft.ContainerRegistry/registries"
        );
        let list_rg = format!(
            "/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-1/providers/Microsoft.ContainerRegistry/registries"
        );
        if path == list && method == Method::GET {
            if req.query.contains("page=2") {
                return json_response(200, json!({"value": [registry_json()]}));
            }
            return json_response(
                200,
                json!({"value": [{
                    "id": "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/other/providers/Microsoft.ContainerRegistry/registries/myreg2",
                    "name": "myreg2", "sku": {"name": "Premium"},
                    "properties": {"loginServer": "myreg2.azurecr.io"}}],
                  "nextLink": format!("{}{list}?api-version={api}&page=2",
                      script.next_link_base.clone().unwrap_or_else(|| self.base.clone()))}),
            );
        }
        if path == list_rg && method == Method::GET {
            return json_response(200, json!({"value": [registry_json()]}));
        }
        if path.starts_with("/subscriptions/")
            && path.contains("/resourceGroups/")
            && !path.starts_with(REGISTRY_ID)
            && !path.contains("/operationResults/")
        {
            return arm_error(
                404,
                "ResourceGroupNotFound",
                "Resource group 'rg-x' could not be found.",
            );
        }
        let Some(op) = path.strip_prefix(REGISTRY_ID) else {
            return arm_error(
                404,
                "SubscriptionNotFound",
                "The subscription could not be found.",
            );
        };
        if api != "2025-03-01-preview" && !op.starts_with("/operationResults") {
            return arm_error(
                400,
                "InvalidApiVersionParameter",
                &format!("api-version {api}"),
            );
        }
        let mut inner = self.inner.lock().unwrap();
        match (method.as_str(), op) {
            ("POST", "/listBuildSourceUploadUrl") => {
                let n = inner.uploads.len() + 1;
                json_response(
                    200,
                    json!({
                        "uploadUrl": format!("{}/blob/source/202612020000/{n}.tar.gz?sv=2021-08-06&se=2026-12-02T06%3A00%3A00Z&sr=b&sp=cw&sig={UPLOAD_SIG}", self.base),
                        "relativePath": format!("source/202612020000/{n}.tar.gz")
                    }),
                )
            }
            ("POST", "/scheduleRun") => {
                let body: Value = match serde_json::from_slice(&req.body) {
                    Ok(v) => v,
                    Err(e) => return arm_error(400, "InvalidRequestContent", &e.to_string()),
                };
                // A relative location must be an upload; an absolute URL (a git
                // repository, a tarball) is ACR's to fetch.
                if let Some(src) = body.get("sourceLocation").and_then(Value::as_str)
                    && !src.contains("://")
                    && !src.starts_with("git@")
                    && !inner.uploads.contains_key(src)
                {
                    return arm_error(400, "InvalidSourceLocation", &format!("no source at {src}"));
                }
                inner.scheduled.push(body);
                if script.lro {
                    return Response::builder()
                        .status(202)
                        .header("location", format!("{}{REGISTRY_ID}/operationResults/op-1?api-version=2019-06-01-preview", self.base))
                        .header("retry-after", "0")
                        .body(Body::empty())
                        .unwrap();
                }
                let run = self.run_json(&inner, &script);
                json_response(200, run)
            }
            ("GET", "/operationResults/op-1") => {
                inner.lro_polls += 1;
                if inner.lro_polls < 2 {
                    return Response::builder()
                        .status(202)
                        .header("retry-after", "0")
                        .body(Body::empty())
                        .unwrap();
                }
                let run = self.run_json(&inner, &script);
                json_response(200, run)
            }
            ("GET", "/runs/cb1") if inner.run_failures < script.flaky => {
                inner.run_failures += 1;
                arm_error(429, "TooManyRequests", "throttled")
            }
            ("GET", "/runs/cb1") => {
                let run = self.run_json(&inner, &script);
                inner.run_polls += 1;
                // --no-logs: the run advances per poll.
                if inner.pieces_given < script.log.len() && inner.run_polls > 1 {
                    let piece = script.log[inner.pieces_given].clone();
                    inner.log.extend_from_slice(&piece);
                    inner.pieces_given += 1;
                }
                json_response(200, run)
            }
            ("POST", "/runs/cb1/listLogSasUrl") if script.artifact_log => json_response(
                200,
                json!({
                    "logLink": format!("{}/logs/cb1/rawtext.log?sig={LOG_SIG}", self.base),
                    "logArtifactLink": format!("{}/artifact/cb1?sig={LOG_SIG}", self.base)
                }),
            ),
            ("POST", "/runs/cb1/listLogSasUrl") => json_response(
                200,
                json!({
                    "logLink": format!("{}/logs/cb1/rawtext.log?sv=2021-08-06&sr=b&sp=r&sig={LOG_SIG}", self.base)
                }),
            ),
            ("POST", "/runs/cb1/cancel") => {
                inner.cancelled = true;
                Response::builder().status(200).body(Body::empty()).unwrap()
            }
            (_, op) if op.starts_with("/runs/") => {
                arm_error(404, "RunNotFound", "The run was not found.")
            }
            _ => arm_error(404, "NotFound", "no such operation"),
        }
    }
}

fn registry_json() -> Value {
    json!({"id": REGISTRY_ID, "name": "myreg", "location": "westus",
           "sku": {"name": "Standard", "tier": "Standard"},
           "properties": {"loginServer": LOGIN_SERVER, "provisioningState": "Succeeded"}})
}

fn json_response(status: u16, body: Value) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/json; charset=utf-8")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn arm_error(status: u16, code: &str, message: &str) -> Response {
    json_response(status, json!({"error": {"code": code, "message": message}}))
}

fn storage_error(status: u16, code: &str, message: &str) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("x-ms-error-code", code)
        .header("content-type", "application/xml")
        .body(Body::from(format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
        )))
        .unwrap()
}
