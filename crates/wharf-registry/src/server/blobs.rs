//! Blobs and blob uploads: HEAD/GET/DELETE blobs, and the upload protocol (monolithic
//! POST, sessions with streamed or chunked PATCH, PUT to finish, cross-repository mount).
//!
//! A session left idle for [`SESSION_IDLE_LIMIT`] is dropped, with its data, when a new
//! session starts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use http_body_util::BodyExt as _;
use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};

use super::AppState;
use super::errors::ApiError;
use super::routes::{content_length, empty, value};
use super::storage::parse_digest;
use crate::digest::{Algorithm, Digest, Hasher};

/// Write buffer for upload data.
const WRITE_BUFFER: usize = 1 << 20;
/// Read chunk for blob downloads.
const READ_CHUNK: usize = 256 << 10;
/// How long an upload session may go without a request before it is dropped.
pub(crate) const SESSION_IDLE_LIMIT: Duration = Duration::from_secs(60 * 60);

/// An upload session in progress. Its data lives in `uploads/<id>`; the hash is kept
/// running so finishing does not re-read the data.
#[derive(Debug)]
pub(crate) struct Session {
    name: String,
    path: PathBuf,
    /// When a request last used the session (looked it up or finished appending).
    last_used: std::sync::Mutex<Instant>,
    progress: tokio::sync::Mutex<Progress>,
}

impl Session {
    fn touch(&self) {
        *self
            .last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    /// Whether the session has gone unused for `limit` at `now`.
    fn idle(&self, now: Instant, limit: Duration) -> bool {
        let last_used = *self
            .last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        now.saturating_duration_since(last_used) >= limit
    }
}

#[derive(Debug)]
struct Progress {
    size: u64,
    hasher: Hasher,
    finished: bool,
}

/// The sessions of one server, by id. Each session has its own lock, so uploads run in
/// parallel while requests to the same session are serialized.
#[derive(Debug)]
pub(crate) struct Uploads {
    sessions: std::sync::Mutex<HashMap<String, Arc<Session>>>,
    idle_limit: Duration,
}

impl Default for Uploads {
    fn default() -> Uploads {
        Uploads::with_idle_limit(SESSION_IDLE_LIMIT)
    }
}

impl Uploads {
    /// No sessions; a session idle for `idle_limit` is dropped when a new one starts.
    pub(crate) fn with_idle_limit(idle_limit: Duration) -> Uploads {
        Uploads {
            sessions: std::sync::Mutex::new(HashMap::new()),
            idle_limit,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `GET`/`HEAD /v2/<name>/blobs/<digest>`, with single `Range` requests honoured.
pub(crate) async fn get(
    state: &AppState,
    name: &str,
    digest: &str,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response, ApiError> {
    let digest = parse_digest(digest)?;
    let size = state
        .storage
        .linked_blob_size(name, &digest)
        .await?
        .ok_or_else(|| ApiError::blob_unknown(digest.as_str()))?;
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(spec) => parse_range(spec, size)?,
        None => None,
    };
    let (status, start, len) = match range {
        Some((start, end)) => {
            let len = span(start, end).ok_or_else(|| {
                ApiError::range_invalid(format!("range {start}-{end} has no valid length"))
            })?;
            (StatusCode::PARTIAL_CONTENT, start, len)
        }
        None => (StatusCode::OK, 0, size),
    };
    let body = if head {
        Body::empty()
    } else {
        let mut file = state.storage.open_blob(&digest).await?;
        file.seek(std::io::SeekFrom::Start(start)).await?;
        let reader = tokio::io::AsyncReadExt::take(file, len);
        Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
            reader, READ_CHUNK,
        ))
    };
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, len)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, value(&format!("\"{digest}\""))?)
        .header("Docker-Content-Digest", value(digest.as_str())?);
    if let Some((start, end)) = range {
        response = response.header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}"));
    }
    response
        .body(body)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n` against a blob of `size` bytes. Several
/// ranges are answered with the whole blob, as RFC 9110 allows.
fn parse_range(spec: &str, size: u64) -> Result<Option<(u64, u64)>, ApiError> {
    let unsatisfiable = || {
        ApiError::range_invalid(format!("range {spec:?} is outside a blob of {size} bytes")).header(
            header::CONTENT_RANGE,
            axum::http::HeaderValue::from_str(&format!("bytes */{size}"))
                .unwrap_or(axum::http::HeaderValue::from_static("bytes */*")),
        )
    };
    let Some(ranges) = spec.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if ranges.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = ranges.split_once('-') else {
        return Ok(None);
    };
    let number = |s: &str| s.trim().parse::<u64>().ok();
    let (start, end) = match (first.trim().is_empty(), number(first), number(last)) {
        (true, _, Some(suffix)) if suffix > 0 => {
            (size.saturating_sub(suffix), size.saturating_sub(1))
        }
        (false, Some(start), None) if last.trim().is_empty() => (start, size.saturating_sub(1)),
        (false, Some(start), Some(end)) if end >= start => (start, end.min(size.saturating_sub(1))),
        _ => return Ok(None),
    };
    if size == 0 || start >= size {
        return Err(unsatisfiable());
    }
    Ok(Some((start, end)))
}

/// `DELETE /v2/<name>/blobs/<digest>`: unlinks the blob from the repository.
pub(crate) async fn delete(
    state: &AppState,
    name: &str,
    digest: &str,
) -> Result<Response, ApiError> {
    let digest = parse_digest(digest)?;
    if state.storage.unlink_blob(name, &digest).await? {
        Ok(empty(StatusCode::ACCEPTED))
    } else {
        Err(ApiError::blob_unknown(digest.as_str()))
    }
}

/// `POST /v2/<name>/blobs/uploads/`: a mount (`?mount=&from=`), a monolithic upload
/// (`?digest=`), or a new session.
pub(crate) async fn start_upload(
    state: &AppState,
    name: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if let (Some(mount), Some(from)) = (query.get("mount"), query.get("from")) {
        let digest = parse_digest(mount)?;
        let known = crate::reference::check_repository(from).is_ok()
            && state
                .storage
                .linked_blob_size(from, &digest)
                .await?
                .is_some();
        if known {
            state.storage.link_blob(name, &digest).await?;
            state.stats.blobs_mounted.fetch_add(1, Ordering::Relaxed);
            return blob_created(name, &digest);
        }
        // Not mountable: the client uploads through the session below.
    } else if let Some(expected) = query.get("digest") {
        let expected = parse_digest(expected)?;
        let path = state.storage.upload_path(&uuid::Uuid::new_v4().to_string());
        let mut hasher = Hasher::new(Algorithm::Sha256);
        let written = match append(&path, body, &mut hasher).await {
            Ok(written) => written,
            Err(e) => {
                let _ = tokio::fs::remove_file(&path).await;
                return Err(e);
            }
        };
        let checked =
            check_length(headers, written).and_then(|()| check_digest(&expected, hasher.finish()));
        if let Err(e) = checked {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e);
        }
        if let Err(e) = state.storage.commit_blob(&path, name, &expected).await {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e.into());
        }
        state.stats.blobs_uploaded.fetch_add(1, Ordering::Relaxed);
        return blob_created(name, &expected);
    }
    expire_idle_sessions(state, Instant::now()).await;
    let id = uuid::Uuid::new_v4().to_string();
    let path = state.storage.upload_path(&id);
    tokio::fs::File::create(&path).await?;
    let session = Session {
        name: name.to_string(),
        path,
        last_used: std::sync::Mutex::new(Instant::now()),
        progress: tokio::sync::Mutex::new(Progress {
            size: 0,
            hasher: Hasher::new(Algorithm::Sha256),
            finished: false,
        }),
    };
    sessions(state).insert(id.clone(), Arc::new(session));
    upload_accepted(StatusCode::ACCEPTED, name, &id, 0)
}

/// `PATCH /v2/<name>/blobs/uploads/<id>`: appends the body (streamed, or one chunk
/// with `Content-Range`).
pub(crate) async fn patch(
    state: &AppState,
    name: &str,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let session = session(state, name, id)?;
    let mut progress = session.progress.lock().await;
    if progress.finished {
        return Err(ApiError::upload_unknown());
    }
    append_chunk(&session, &mut progress, id, headers, body).await?;
    upload_accepted(StatusCode::ACCEPTED, name, id, progress.size)
}

/// `PUT /v2/<name>/blobs/uploads/<id>?digest=`: appends a last chunk, checks the digest
/// and moves the blob into the store.
pub(crate) async fn finish_upload(
    state: &AppState,
    name: &str,
    id: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let expected = query
        .get("digest")
        .ok_or_else(|| ApiError::digest_invalid("the digest query parameter is required"))?;
    let expected = parse_digest(expected)?;
    let session = session(state, name, id)?;
    let mut progress = session.progress.lock().await;
    if progress.finished {
        return Err(ApiError::upload_unknown());
    }
    append_chunk(&session, &mut progress, id, headers, body).await?;
    let actual = progress.hasher.clone().finish();
    // Finished either way: a digest mismatch cancels the upload, as distribution does.
    progress.finished = true;
    sessions(state).remove(id);
    if let Err(e) = check_digest(&expected, actual) {
        let _ = tokio::fs::remove_file(&session.path).await;
        return Err(e);
    }
    if let Err(e) = state
        .storage
        .commit_blob(&session.path, name, &expected)
        .await
    {
        let _ = tokio::fs::remove_file(&session.path).await;
        return Err(e.into());
    }
    state.stats.blobs_uploaded.fetch_add(1, Ordering::Relaxed);
    blob_created(name, &expected)
}

/// `GET /v2/<name>/blobs/uploads/<id>`: how much has been received.
pub(crate) async fn upload_status(
    state: &AppState,
    name: &str,
    id: &str,
) -> Result<Response, ApiError> {
    let session = session(state, name, id)?;
    let progress = session.progress.lock().await;
    if progress.finished {
        return Err(ApiError::upload_unknown());
    }
    upload_accepted(StatusCode::NO_CONTENT, name, id, progress.size)
}

/// `DELETE /v2/<name>/blobs/uploads/<id>`: abandons the upload.
pub(crate) async fn cancel_upload(
    state: &AppState,
    name: &str,
    id: &str,
) -> Result<Response, ApiError> {
    let session = session(state, name, id)?;
    let mut progress = session.progress.lock().await;
    if progress.finished {
        return Err(ApiError::upload_unknown());
    }
    progress.finished = true;
    sessions(state).remove(id);
    let _ = tokio::fs::remove_file(&session.path).await;
    Ok(empty(StatusCode::NO_CONTENT))
}

fn sessions(state: &AppState) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
    state.uploads.lock()
}

/// The session `id`, which must belong to repository `name`; it counts as used now.
fn session(state: &AppState, name: &str, id: &str) -> Result<Arc<Session>, ApiError> {
    let sessions = sessions(state);
    let session = sessions
        .get(id)
        .filter(|session| session.name == name)
        .ok_or_else(ApiError::upload_unknown)?;
    // Under the sessions lock, so an expiry sweep never drops a session just looked up.
    session.touch();
    Ok(Arc::clone(session))
}

/// Drops the sessions that have been idle for the idle limit at `now`, and deletes their
/// data. A session a request is working on (its progress is locked) is kept.
async fn expire_idle_sessions(state: &AppState, now: Instant) {
    let limit = state.uploads.idle_limit;
    let mut expired = Vec::new();
    sessions(state).retain(|_, session| {
        if !session.idle(now, limit) {
            return true;
        }
        let Ok(mut progress) = session.progress.try_lock() else {
            return true;
        };
        // A request that looked the session up before this sweep finds it finished.
        progress.finished = true;
        expired.push(session.path.clone());
        false
    });
    for path in expired {
        // Best effort: a leftover file is removed when a later server opens the store.
        let _ = tokio::fs::remove_file(&path).await;
    }
}

/// The number of bytes in `start..=end`, when it fits in a `u64`.
fn span(start: u64, end: u64) -> Option<u64> {
    end.checked_sub(start)?.checked_add(1)
}

/// Appends a request body to a session, checking `Content-Range` and `Content-Length`.
/// On any failure the session is left as it was before the request.
async fn append_chunk(
    session: &Session,
    upload: &mut Progress,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<(), ApiError> {
    let name = session.name.as_str();
    let range = content_range(headers)?;
    if let Some((start, _)) = range
        && start != upload.size
    {
        return Err(ApiError::range_invalid(format!(
            "the chunk starts at {start}, but {} bytes have been received",
            upload.size
        ))
        .header(header::RANGE, value(&range_header(upload.size))?)
        .header(header::LOCATION, value(&upload_location(name, id))?));
    }
    let before = (upload.size, upload.hasher.clone());
    let result = append(&session.path, body, &mut upload.hasher)
        .await
        .and_then(|written| {
            if let Some((start, end)) = range
                && span(start, end) != Some(written)
            {
                return Err(ApiError::range_invalid(format!(
                    "Content-Range {start}-{end} does not match the {written} bytes sent"
                )));
            }
            check_length(headers, written)?;
            upload
                .size
                .checked_add(written)
                .ok_or_else(|| ApiError::size_invalid("the upload would be larger than 2^64 bytes"))
        });
    session.touch();
    match result {
        Ok(size) => {
            upload.size = size;
            Ok(())
        }
        Err(e) => {
            upload.hasher = before.1;
            let file = tokio::fs::OpenOptions::new()
                .write(true)
                .open(&session.path)
                .await?;
            file.set_len(before.0).await?;
            Err(e)
        }
    }
}

/// Streams `body` onto the end of `path`, hashing it; the number of bytes written.
async fn append(path: &Path, mut body: Body, hasher: &mut Hasher) -> Result<u64, ApiError> {
    let file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await?;
    let mut file = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut written = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| ApiError::upload_invalid(format!("the upload body broke off: {e}")))?;
        if let Ok(data) = frame.into_data() {
            file.write_all(&data).await?;
            hasher.update(&data);
            written = written.saturating_add(data.len() as u64);
        }
    }
    file.flush().await?;
    file.into_inner().sync_data().await?;
    Ok(written)
}

/// `Content-Range: <start>-<end>` (an optional `bytes ` prefix and `/<total>` suffix are
/// accepted).
fn content_range(headers: &HeaderMap) -> Result<Option<(u64, u64)>, ApiError> {
    let Some(raw) = headers.get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let invalid = || ApiError::range_invalid("Content-Range must be <start>-<end>");
    let text = raw.to_str().map_err(|_| invalid())?.trim();
    let text = text
        .strip_prefix("bytes")
        .map(|t| t.trim_start_matches([' ', '=']))
        .unwrap_or(text);
    let text = text.split('/').next().unwrap_or(text);
    let (start, end) = text.split_once('-').ok_or_else(invalid)?;
    let start: u64 = start.trim().parse().map_err(|_| invalid())?;
    let end: u64 = end.trim().parse().map_err(|_| invalid())?;
    // `end` must not be below `start`, and the chunk's length must fit in a u64.
    if span(start, end).is_none() {
        return Err(invalid());
    }
    Ok(Some((start, end)))
}

fn check_length(headers: &HeaderMap, written: u64) -> Result<(), ApiError> {
    match content_length(headers)? {
        Some(expected) if expected != written => Err(ApiError::size_invalid(format!(
            "Content-Length is {expected} but {written} bytes were sent"
        ))),
        _ => Ok(()),
    }
}

fn check_digest(expected: &Digest, actual: Digest) -> Result<(), ApiError> {
    if *expected == actual {
        Ok(())
    } else {
        Err(ApiError::digest_invalid(format!(
            "provided digest {expected} does not match the uploaded content ({actual})"
        ))
        .detail(
            serde_json::json!({ "expected": expected.to_string(), "actual": actual.to_string() }),
        ))
    }
}

fn upload_location(name: &str, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

/// The `Range` of a session holding `size` bytes (distribution writes `0-0` when empty).
fn range_header(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

fn upload_accepted(
    status: StatusCode,
    name: &str,
    id: &str,
    size: u64,
) -> Result<Response, ApiError> {
    let mut response = empty(status);
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, value(&upload_location(name, id))?);
    headers.insert(header::RANGE, value(&range_header(size))?);
    headers.insert("Docker-Upload-UUID", value(id)?);
    Ok(response)
}

fn blob_created(name: &str, digest: &Digest) -> Result<Response, ApiError> {
    let mut response = empty(StatusCode::CREATED);
    let headers = response.headers_mut();
    headers.insert(
        header::LOCATION,
        value(&format!("/v2/{name}/blobs/{digest}"))?,
    );
    headers.insert("Docker-Content-Digest", value(digest.as_str())?);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse() {
        assert_eq!(parse_range("bytes=0-9", 100).ok(), Some(Some((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100).ok(), Some(Some((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100).ok(), Some(Some((90, 99))));
        assert_eq!(parse_range("bytes=50-500", 100).ok(), Some(Some((50, 99))));
        assert_eq!(parse_range("bytes=0-1,5-6", 100).ok(), Some(None));
        assert_eq!(parse_range("items=0-1", 100).ok(), Some(None));
        assert!(parse_range("bytes=100-", 100).is_err());
    }

    #[test]
    fn content_ranges_parse() {
        let mut headers = HeaderMap::new();
        for (text, expected) in [
            ("0-9", (0, 9)),
            ("bytes 10-19/*", (10, 19)),
            ("bytes=5-5", (5, 5)),
        ] {
            headers.insert(
                header::CONTENT_RANGE,
                axum::http::HeaderValue::from_static(text),
            );
            assert_eq!(content_range(&headers).ok(), Some(Some(expected)), "{text}");
        }
        for bad in [
            "9-0",
            "0-18446744073709551615",
            "bytes 0-18446744073709551615/*",
        ] {
            headers.insert(
                header::CONTENT_RANGE,
                axum::http::HeaderValue::from_static(bad),
            );
            let code = content_range(&headers).err().map(|e| e.code());
            assert_eq!(code, Some("RANGE_INVALID"), "{bad}");
        }
        // The largest chunk that has a length.
        headers.insert(
            header::CONTENT_RANGE,
            axum::http::HeaderValue::from_static("1-18446744073709551615"),
        );
        assert_eq!(content_range(&headers).ok(), Some(Some((1, u64::MAX))));
    }

    #[test]
    fn spans_never_overflow() {
        assert_eq!(span(0, 0), Some(1));
        assert_eq!(span(10, 19), Some(10));
        assert_eq!(span(1, u64::MAX), Some(u64::MAX));
        assert_eq!(span(0, u64::MAX), None);
        assert_eq!(span(5, 4), None);
    }

    async fn state_in(dir: &Path, idle_limit: Duration) -> AppState {
        let storage = super::super::storage::Storage::open(dir.to_path_buf())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        AppState {
            storage,
            uploads: Uploads::with_idle_limit(idle_limit),
            stats: super::super::Counters::default(),
        }
    }

    /// Starts a session in `name` and returns its id and data file.
    async fn new_session(state: &AppState, name: &str) -> (String, PathBuf) {
        let response = start_upload(
            state,
            name,
            &HashMap::new(),
            &HeaderMap::new(),
            Body::empty(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let id = response
            .headers()
            .get("Docker-Upload-UUID")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no upload id"))
            .to_string();
        let path = state.storage.upload_path(&id);
        (id, path)
    }

    fn status_code(result: Result<Response, ApiError>) -> Result<StatusCode, &'static str> {
        result.map(|r| r.status()).map_err(|e| e.code())
    }

    #[tokio::test]
    async fn idle_sessions_expire_with_their_data() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let state = state_in(dir.path(), SESSION_IDLE_LIMIT).await;
        let (idle, idle_path) = new_session(&state, "app").await;
        let (busy, busy_path) = new_session(&state, "app").await;
        let written = patch(&state, "app", &idle, &HeaderMap::new(), Body::from("abc")).await;
        assert_eq!(status_code(written), Ok(StatusCode::ACCEPTED));
        assert!(idle_path.exists() && busy_path.exists());

        // Just under the limit nothing expires.
        let soon = Instant::now() + SESSION_IDLE_LIMIT - Duration::from_secs(60);
        expire_idle_sessions(&state, soon).await;
        assert_eq!(sessions(&state).len(), 2);

        // An hour later both are idle, but one is in the middle of a request: kept.
        let later = Instant::now() + SESSION_IDLE_LIMIT + Duration::from_secs(1);
        let in_use = session(&state, "app", &busy).unwrap_or_else(|e| panic!("{e:?}"));
        let guard = in_use.progress.lock().await;
        expire_idle_sessions(&state, later).await;
        drop(guard);
        assert!(!idle_path.exists(), "the idle session's data is deleted");
        assert!(busy_path.exists());
        assert_eq!(
            status_code(upload_status(&state, "app", &idle).await),
            Err("BLOB_UPLOAD_UNKNOWN")
        );
        assert_eq!(
            status_code(upload_status(&state, "app", &busy).await),
            Ok(StatusCode::NO_CONTENT)
        );
    }

    #[tokio::test]
    async fn starting_a_session_expires_idle_ones() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // Every session is idle by the time the next one starts.
        let state = state_in(dir.path(), Duration::ZERO).await;
        let (first, first_path) = new_session(&state, "app").await;
        assert!(first_path.exists());
        let (second, second_path) = new_session(&state, "app").await;
        assert!(!first_path.exists(), "the idle session's data is deleted");
        assert!(second_path.exists());
        assert_eq!(
            status_code(patch(&state, "app", &first, &HeaderMap::new(), Body::from("x")).await),
            Err("BLOB_UPLOAD_UNKNOWN")
        );
        let ids: Vec<String> = sessions(&state).keys().cloned().collect();
        assert_eq!(ids, vec![second]);
    }

    #[tokio::test]
    async fn a_session_looked_up_before_it_expires_is_refused_after() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let state = state_in(dir.path(), SESSION_IDLE_LIMIT).await;
        let (id, path) = new_session(&state, "app").await;
        let found = session(&state, "app", &id).unwrap_or_else(|e| panic!("{e:?}"));
        expire_idle_sessions(&state, Instant::now() + 2 * SESSION_IDLE_LIMIT).await;
        assert!(!path.exists());
        assert!(found.progress.lock().await.finished);
    }
}
