//! Blobs: existence checks and uploads (mount, monolithic, chunked).

use std::path::PathBuf;

use bytes::Bytes;
use futures_util::stream::{StreamExt as _, TryStreamExt as _};
use reqwest::header::{CONTENT_RANGE, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION};
use reqwest::{Method, StatusCode};
use tracing::Instrument as _;
use url::Url;

use super::challenge::Scope;
use super::error::{Error, Result};
use super::transport::{Call, Context, Endpoint, Payload, ProgressFn, api_error};
use super::{Client, Repository, UploadMode};
use crate::digest::{Digest, Hasher};
use crate::manifest::Descriptor;

/// Where the bytes of a blob to upload are. Both kinds can be read again, so a
/// failed upload is retried from the start.
#[derive(Debug, Clone)]
pub enum BlobSource {
    /// In memory.
    Bytes(Bytes),
    /// A file, read from its start.
    File(PathBuf),
}

/// A blob to upload.
#[derive(Clone)]
pub struct BlobPush {
    /// Its digest and size (the media type is not sent).
    pub descriptor: Descriptor,
    /// Its bytes.
    pub source: BlobSource,
    /// Repositories of the same registry that may hold it: a cross-repository mount
    /// is asked from each before uploading.
    pub mount_from: Vec<String>,
    /// Told the bytes sent, as they are sent.
    pub progress: Option<ProgressFn>,
}

impl std::fmt::Debug for BlobPush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobPush")
            .field("descriptor", &self.descriptor)
            .field("source", &self.source)
            .field("mount_from", &self.mount_from)
            .finish_non_exhaustive()
    }
}

impl BlobPush {
    /// A blob in memory with `media_type`.
    pub fn bytes(media_type: &str, bytes: impl Into<Bytes>) -> BlobPush {
        let bytes = bytes.into();
        BlobPush {
            descriptor: Descriptor::of(media_type, &bytes),
            source: BlobSource::Bytes(bytes),
            mount_from: Vec::new(),
            progress: None,
        }
    }

    /// A file whose digest and size `descriptor` gives.
    pub fn file(path: PathBuf, descriptor: Descriptor) -> BlobPush {
        BlobPush {
            descriptor,
            source: BlobSource::File(path),
            mount_from: Vec::new(),
            progress: None,
        }
    }

    /// A file, hashed here to learn its digest and size.
    pub fn hashed_file(path: PathBuf, media_type: &str) -> Result<BlobPush> {
        let io = |source| Error::Io {
            path: path.clone(),
            action: "cannot read the blob to upload",
            source,
        };
        let mut file = std::fs::File::open(&path).map_err(io)?;
        let mut hasher = Hasher::new(crate::digest::Algorithm::Sha256);
        let mut buf = vec![0_u8; 1 << 20];
        loop {
            let n = std::io::Read::read(&mut file, &mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let size = hasher.len();
        let mut descriptor = Descriptor::empty();
        descriptor.media_type = media_type.to_string();
        descriptor.digest = hasher.finish();
        descriptor.size = size;
        Ok(BlobPush::file(path, descriptor))
    }

    fn payload(&self, offset: u64, len: u64) -> Payload {
        match &self.source {
            BlobSource::Bytes(bytes) => {
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                let end = usize::try_from(offset + len)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                if let Some(progress) = &self.progress {
                    progress((end - start) as u64);
                }
                Payload::Bytes(bytes.slice(start..end))
            }
            BlobSource::File(path) => Payload::File {
                path: path.clone(),
                offset,
                len,
                progress: self.progress.clone(),
            },
        }
    }
}

/// What happened to a blob on push.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlobOutcome {
    /// The repository had it already (`HEAD` answered).
    Existed,
    /// Mounted from another repository of the registry.
    Mounted {
        /// The repository it came from.
        from: String,
    },
    /// Uploaded.
    Uploaded,
}

/// A pushed blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedBlob {
    /// Its digest.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// What was done.
    pub outcome: BlobOutcome,
}

impl Client {
    /// The size of blob `digest` in `repo`, or `None` when it is not there.
    pub async fn blob_exists(&self, repo: &Repository, digest: &Digest) -> Result<Option<u64>> {
        let endpoint = self.endpoint(&repo.registry)?;
        let scope = Scope::repository(&repo.name, &["pull"]);
        self.retry()
            .run(
                &endpoint.host,
                &|| format!("check blob {digest} in {}", repo.name),
                |_| self.head_blob(&endpoint, repo, digest, &scope),
            )
            .await
    }

    async fn head_blob(
        &self,
        endpoint: &Endpoint,
        repo: &Repository,
        digest: &Digest,
        scope: &Scope,
    ) -> Result<Option<u64>> {
        let url = endpoint.url(&format!("/v2/{}/blobs/{digest}", repo.name));
        let response = self
            .transport()
            .send(Call {
                endpoint,
                method: Method::HEAD,
                url: url.clone(),
                headers: HeaderMap::new(),
                body: Payload::Empty,
                scope,
                follow_redirects: true,
            })
            .await?;
        match response.status() {
            StatusCode::OK => Ok(Some(
                super::transport::content_length(response.headers()).unwrap_or(0),
            )),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(api_error(
                endpoint,
                &Method::HEAD,
                &url,
                response,
                &Context {
                    repository: &repo.name,
                    what: format!("blob {digest}"),
                    action: "pull",
                },
            )
            .await),
        }
    }

    /// Mounts blob `digest` into `repo` from repository `from` of the same
    /// registry. `false` when the registry did not mount it (the caller uploads).
    pub async fn mount_blob(&self, repo: &Repository, digest: &Digest, from: &str) -> Result<bool> {
        let endpoint = self.endpoint(&repo.registry)?;
        let scope = Scope::repository(&repo.name, &["pull", "push"])
            .with(&Scope::repository(from, &["pull"]));
        self.retry()
            .run(&endpoint.host, &|| format!("mount blob {digest} into {} from {from}", repo.name), |_| async {
                let url = endpoint.url(&format!(
                    "/v2/{}/blobs/uploads/?mount={digest}&from={from}",
                    repo.name
                ));
                let response = self
                    .transport()
                    .send(Call {
                        endpoint: &endpoint,
                        method: Method::POST,
                        url,
                        headers: HeaderMap::new(),
                        body: Payload::Empty,
                        scope: &scope,
                        follow_redirects: false,
                    })
                    .await?;
                let status = response.status();
                if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                    return Err(Error::Status {
                        registry: endpoint.host.clone(),
                        request: format!("POST /v2/{}/blobs/uploads/", repo.name),
                        status: status.as_u16(),
                        code: None,
                        message: None,
                        retry_after: super::transport::retry_after(response.headers()),
                    });
                }
                tracing::debug!(registry = %endpoint.host, from, status = status.as_u16(), "mount answered");
                Ok(status == StatusCode::CREATED)
            })
            .await
    }

    /// Pushes one blob: nothing when the repository has it, a mount when one of
    /// `mount_from` has it, else an upload. Retried within the budget.
    pub async fn push_blob(&self, repo: &Repository, blob: &BlobPush) -> Result<PushedBlob> {
        let endpoint = self.endpoint(&repo.registry)?;
        let digest = &blob.descriptor.digest;
        let span = tracing::debug_span!("push_blob", registry = %endpoint.host, repository = %repo.name, digest = %digest, size = blob.descriptor.size);
        let outcome = self
            .retry()
            .run(
                &endpoint.host,
                &|| format!("upload blob {digest} to {}", repo.name),
                |_| self.push_blob_once(&endpoint, repo, blob),
            )
            .instrument(span)
            .await?;
        tracing::debug!(registry = %endpoint.host, repository = %repo.name, digest = %digest, outcome = ?outcome, "blob pushed");
        Ok(PushedBlob {
            digest: digest.clone(),
            size: blob.descriptor.size,
            outcome,
        })
    }

    /// Pushes `blobs` to `repo`, [`ClientOptions::max_concurrent_blobs`] at a time;
    /// the results are in the order given. The first failure stops the rest.
    ///
    /// [`ClientOptions::max_concurrent_blobs`]: super::ClientOptions::max_concurrent_blobs
    pub async fn push_blobs(
        &self,
        repo: &Repository,
        blobs: &[BlobPush],
    ) -> Result<Vec<PushedBlob>> {
        let limit = self.options().max_concurrent_blobs.max(1);
        // Collected first: a stream holding the mapping closure would not be `Send`
        // for callers in a boxed future (rust-lang/rust#102211).
        let pushes: Vec<_> = blobs
            .iter()
            .map(|blob| self.push_blob(repo, blob))
            .collect();
        futures_util::stream::iter(pushes)
            .buffered(limit)
            .try_collect()
            .await
    }

    async fn push_blob_once(
        &self,
        endpoint: &Endpoint,
        repo: &Repository,
        blob: &BlobPush,
    ) -> Result<BlobOutcome> {
        let digest = &blob.descriptor.digest;
        let scope = Scope::repository(&repo.name, &["pull", "push"]);
        if self
            .head_blob(endpoint, repo, digest, &scope)
            .await?
            .is_some()
        {
            return Ok(BlobOutcome::Existed);
        }
        let mut session = None;
        for from in blob.mount_from.iter().filter(|f| **f != repo.name) {
            let mount_scope = scope.clone().with(&Scope::repository(from, &["pull"]));
            let url = endpoint.url(&format!(
                "/v2/{}/blobs/uploads/?mount={digest}&from={from}",
                repo.name
            ));
            let response = self
                .transport()
                .send(Call {
                    endpoint,
                    method: Method::POST,
                    url: url.clone(),
                    headers: HeaderMap::new(),
                    body: Payload::Empty,
                    scope: &mount_scope,
                    follow_redirects: false,
                })
                .await;
            match response {
                Ok(response) if response.status() == StatusCode::CREATED => {
                    return Ok(BlobOutcome::Mounted { from: from.clone() });
                }
                Ok(response) if response.status() == StatusCode::ACCEPTED => {
                    tracing::debug!(registry = %endpoint.host, from = %from, "mount not done; uploading in the session it opened");
                    session = Some(upload_location(endpoint, &url, &response)?);
                    break;
                }
                Ok(response) => {
                    tracing::debug!(registry = %endpoint.host, from = %from, status = response.status().as_u16(), "mount refused; uploading instead");
                }
                // Mounting is an optimization: any failure but a dropped connection
                // falls back to uploading.
                Err(e) if e.retry_hint().is_some() => return Err(e),
                Err(e) => {
                    tracing::debug!(registry = %endpoint.host, from = %from, error = %e, "mount failed; uploading instead")
                }
            }
        }
        let session = match session {
            Some(session) => session,
            None => self.start_upload(endpoint, repo, &scope).await?,
        };
        if self.options().upload == UploadMode::Monolithic {
            match self.put_whole(endpoint, repo, blob, &scope, session).await {
                Ok(()) => return Ok(BlobOutcome::Uploaded),
                Err(Error::Status { status, code, .. })
                    if falls_back_to_chunks(status)
                        && code.as_deref() != Some("DIGEST_INVALID") =>
                {
                    tracing::debug!(registry = %endpoint.host, status, "the registry refused a monolithic upload; uploading in chunks");
                }
                Err(e) => return Err(e),
            }
            let session = self.start_upload(endpoint, repo, &scope).await?;
            self.put_chunked(endpoint, repo, blob, &scope, session)
                .await?;
        } else {
            self.put_chunked(endpoint, repo, blob, &scope, session)
                .await?;
        }
        Ok(BlobOutcome::Uploaded)
    }

    /// `POST /v2/<name>/blobs/uploads/`: a session's location and minimum chunk.
    async fn start_upload(
        &self,
        endpoint: &Endpoint,
        repo: &Repository,
        scope: &Scope,
    ) -> Result<Session> {
        let url = endpoint.url(&format!("/v2/{}/blobs/uploads/", repo.name));
        let response = self
            .transport()
            .send(Call {
                endpoint,
                method: Method::POST,
                url: url.clone(),
                headers: HeaderMap::new(),
                body: Payload::Empty,
                scope,
                follow_redirects: false,
            })
            .await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(api_error(
                endpoint,
                &Method::POST,
                &url,
                response,
                &upload_context(repo),
            )
            .await);
        }
        upload_location(endpoint, &url, &response)
    }

    async fn put_whole(
        &self,
        endpoint: &Endpoint,
        repo: &Repository,
        blob: &BlobPush,
        scope: &Scope,
        session: Session,
    ) -> Result<()> {
        let mut url = session.location;
        url.query_pairs_mut()
            .append_pair("digest", blob.descriptor.digest.as_str());
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let response = self
            .transport()
            .send(Call {
                endpoint,
                method: Method::PUT,
                url: url.clone(),
                headers,
                body: blob.payload(0, blob.descriptor.size),
                scope,
                follow_redirects: false,
            })
            .await?;
        finish_upload(endpoint, repo, &blob.descriptor.digest, &url, response).await
    }

    async fn put_chunked(
        &self,
        endpoint: &Endpoint,
        repo: &Repository,
        blob: &BlobPush,
        scope: &Scope,
        session: Session,
    ) -> Result<()> {
        let chunk = self.options().chunk_size.max(session.min_chunk).max(1);
        let size = blob.descriptor.size;
        let mut location = session.location;
        let mut offset = 0;
        while offset < size {
            let len = chunk.min(size - offset);
            let mut headers = HeaderMap::new();
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            let range = HeaderValue::from_str(&format!("{offset}-{}", offset + len - 1))
                .map_err(|_| Error::Invalid("bad chunk range".into()))?;
            headers.insert(CONTENT_RANGE, range);
            let response = self
                .transport()
                .send(Call {
                    endpoint,
                    method: Method::PATCH,
                    url: location.clone(),
                    headers,
                    body: blob.payload(offset, len),
                    scope,
                    follow_redirects: false,
                })
                .await?;
            if response.status() != StatusCode::ACCEPTED {
                return Err(api_error(
                    endpoint,
                    &Method::PATCH,
                    &location,
                    response,
                    &upload_context(repo),
                )
                .await);
            }
            location = upload_location(endpoint, &location, &response)?.location;
            offset += len;
        }
        let mut url = location;
        url.query_pairs_mut()
            .append_pair("digest", blob.descriptor.digest.as_str());
        let response = self
            .transport()
            .send(Call {
                endpoint,
                method: Method::PUT,
                url: url.clone(),
                headers: HeaderMap::new(),
                body: Payload::Empty,
                scope,
                follow_redirects: false,
            })
            .await?;
        finish_upload(endpoint, repo, &blob.descriptor.digest, &url, response).await
    }
}

/// A blob whose bytes were sent as they were produced ([`Client::stream_blob`]),
/// waiting to be committed under its digest ([`Client::finish_streamed_blob`]) or
/// abandoned ([`Client::cancel_streamed_blob`]).
#[derive(Clone, Debug)]
pub struct StreamedUpload {
    location: Url,
    size: u64,
}

impl StreamedUpload {
    /// The bytes the registry received.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Client {
    /// Starts a blob upload whose bytes are sent while they are produced, before
    /// their digest is known: `POST` a session, then one `PATCH` with `body` as a
    /// chunked request body (what docker's pusher does). Returns when `body` ended
    /// and the registry took it; [`Client::finish_streamed_blob`] commits it.
    ///
    /// The session is retried like any request, the `PATCH` is not (its bytes are
    /// gone): a caller that may need to upload again keeps a copy, and uploads it
    /// with [`Client::push_blob`] when this fails.
    pub async fn stream_blob<S>(&self, repo: &Repository, body: S) -> Result<StreamedUpload>
    where
        S: futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    {
        let endpoint = self.endpoint(&repo.registry)?;
        let scope = Scope::repository(&repo.name, &["pull", "push"]);
        let session = self
            .retry()
            .run(
                &endpoint.host,
                &|| format!("start an upload to {}", repo.name),
                |_| self.start_upload(&endpoint, repo, &scope),
            )
            .await?;
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = sent.clone();
        let body = body.inspect(move |chunk| {
            if let Ok(chunk) = chunk {
                counter.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
            }
        });
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let response = self
            .transport()
            .send(Call {
                endpoint: &endpoint,
                method: Method::PATCH,
                url: session.location.clone(),
                headers,
                body: Payload::stream(reqwest::Body::wrap_stream(body)),
                scope: &scope,
                follow_redirects: false,
            })
            .await?;
        if response.status() != StatusCode::ACCEPTED {
            let err = api_error(
                &endpoint,
                &Method::PATCH,
                &session.location,
                response,
                &upload_context(repo),
            )
            .await;
            self.abandon_upload(&endpoint, repo, &scope, &session.location)
                .await;
            return Err(err);
        }
        let location = upload_location(&endpoint, &session.location, &response)?.location;
        let size = sent.load(std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(registry = %endpoint.host, repository = %repo.name, size, "blob streamed");
        Ok(StreamedUpload { location, size })
    }

    /// Abandons a streamed upload that will not be committed (`DELETE` of its
    /// session), so the registry drops what it received now rather than when it
    /// purges old uploads. Best effort: a registry that refuses is only logged.
    pub async fn cancel_streamed_blob(&self, repo: &Repository, upload: StreamedUpload) {
        let Ok(endpoint) = self.endpoint(&repo.registry) else {
            return;
        };
        let scope = Scope::repository(&repo.name, &["pull", "push"]);
        self.abandon_upload(&endpoint, repo, &scope, &upload.location)
            .await;
    }

    /// `DELETE` of an upload session, once; what went wrong is only logged.
    async fn abandon_upload(
        &self,
        endpoint: &Endpoint,
        repo: &Repository,
        scope: &Scope,
        location: &Url,
    ) {
        let sent = self
            .transport()
            .send(Call {
                endpoint,
                method: Method::DELETE,
                url: location.clone(),
                headers: HeaderMap::new(),
                body: Payload::Empty,
                scope,
                follow_redirects: false,
            })
            .await;
        match sent {
            Ok(r) if r.status().is_success() || r.status() == StatusCode::NOT_FOUND => {
                tracing::debug!(registry = %endpoint.host, repository = %repo.name, "upload abandoned");
            }
            Ok(r) => {
                tracing::debug!(registry = %endpoint.host, repository = %repo.name, status = %r.status(), "the registry kept an abandoned upload");
            }
            Err(e) => {
                tracing::debug!(registry = %endpoint.host, repository = %repo.name, error = %e, "cannot abandon an upload");
            }
        }
    }

    /// Commits a streamed upload as the blob `descriptor` names (`PUT ?digest=`):
    /// the registry checks the digest of what it received. Retried within the
    /// budget.
    pub async fn finish_streamed_blob(
        &self,
        repo: &Repository,
        upload: &StreamedUpload,
        descriptor: &Descriptor,
    ) -> Result<PushedBlob> {
        let endpoint = self.endpoint(&repo.registry)?;
        let digest = &descriptor.digest;
        if upload.size != descriptor.size {
            return Err(Error::Invalid(format!(
                "the streamed upload of {digest} sent {} bytes, not {}",
                upload.size, descriptor.size
            )));
        }
        let scope = Scope::repository(&repo.name, &["pull", "push"]);
        let mut url = upload.location.clone();
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        self.retry()
            .run(
                &endpoint.host,
                &|| format!("commit blob {digest} in {}", repo.name),
                |_| async {
                    let response = self
                        .transport()
                        .send(Call {
                            endpoint: &endpoint,
                            method: Method::PUT,
                            url: url.clone(),
                            headers: HeaderMap::new(),
                            body: Payload::Empty,
                            scope: &scope,
                            follow_redirects: false,
                        })
                        .await?;
                    finish_upload(&endpoint, repo, digest, &url, response).await
                },
            )
            .await?;
        tracing::debug!(registry = %endpoint.host, repository = %repo.name, digest = %digest, "streamed blob committed");
        Ok(PushedBlob {
            digest: digest.clone(),
            size: descriptor.size,
            outcome: BlobOutcome::Uploaded,
        })
    }
}

/// An upload session.
struct Session {
    location: Url,
    min_chunk: u64,
}

fn upload_context(repo: &Repository) -> Context<'_> {
    Context {
        repository: &repo.name,
        what: "blob upload".into(),
        action: "push",
    }
}

/// The session a `202` names (its `Location`, relative to the request).
fn upload_location(
    endpoint: &Endpoint,
    request: &Url,
    response: &reqwest::Response,
) -> Result<Session> {
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| request.join(l).ok())
        .ok_or_else(|| Error::Protocol {
            registry: endpoint.host.clone(),
            message: format!(
                "{} answered 202 without a usable upload Location",
                request.path()
            ),
        })?;
    if !super::transport::same_origin(&location, &endpoint.base) {
        tracing::debug!(registry = %endpoint.host, to = %super::transport::origin_text(&location), "the upload continues on another host; no credentials are sent there");
    }
    let min_chunk = response
        .headers()
        .get("OCI-Chunk-Min-Length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Ok(Session {
        location,
        min_chunk,
    })
}

/// Checks the `201` that ends an upload.
async fn finish_upload(
    endpoint: &Endpoint,
    repo: &Repository,
    expected: &Digest,
    url: &Url,
    response: reqwest::Response,
) -> Result<()> {
    if response.status() != StatusCode::CREATED {
        return Err(api_error(endpoint, &Method::PUT, url, response, &upload_context(repo)).await);
    }
    let stored = response
        .headers()
        .get("Docker-Content-Digest")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Digest::parse(v.trim()).ok());
    if let Some(stored) = stored
        && stored.algorithm() == expected.algorithm()
        && stored != *expected
    {
        return Err(Error::DigestMismatch {
            registry: endpoint.host.clone(),
            repository: repo.name.clone(),
            what: "uploaded blob".into(),
            expected: expected.clone(),
            actual: stored,
        });
    }
    Ok(())
}

/// Statuses of a monolithic `PUT` after which chunks are worth a try: the registry
/// refused the request's size or form, not the content or the credentials.
fn falls_back_to_chunks(status: u16) -> bool {
    matches!(status, 400 | 405 | 411 | 413 | 416 | 501)
}
