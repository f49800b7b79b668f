//! Blob downloads, checked against their descriptor while they stream.

use std::path::Path;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use futures_util::Stream;
use futures_util::stream::{BoxStream, StreamExt as _};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use tokio::io::AsyncWriteExt as _;

use super::challenge::Scope;
use super::error::{Error, Result};
use super::transport::{Call, Context, Endpoint, Payload, api_error, connection_error};
use super::{Client, Repository};
use crate::digest::{Digest, Hasher};
use crate::manifest::Descriptor;

impl Client {
    /// Blob `descriptor` of `repo` in memory, checked against its digest and size.
    /// Refuses blobs larger than `limit` bytes.
    pub async fn pull_blob(
        &self,
        repo: &Repository,
        descriptor: &Descriptor,
        limit: u64,
    ) -> Result<Bytes> {
        let endpoint = self.endpoint(&repo.registry)?;
        if descriptor.size > limit {
            return Err(Error::Invalid(format!(
                "blob {} in {repo} is {} bytes, more than the {limit} read into memory",
                descriptor.digest, descriptor.size
            )));
        }
        self.retry()
            .run(
                &endpoint.host,
                &|| format!("download blob {} from {}", descriptor.digest, repo.name),
                |_| async {
                    let mut stream = self.open_blob(&endpoint, repo, descriptor).await?;
                    let mut out = Vec::with_capacity(usize::try_from(descriptor.size).unwrap_or(0));
                    while let Some(chunk) = stream.next().await {
                        out.extend_from_slice(&chunk?);
                    }
                    Ok(Bytes::from(out))
                },
            )
            .await
    }

    /// Downloads blob `descriptor` of `repo` to `path` (replaced), checked against
    /// its digest and size. Retried from the start within the budget.
    pub async fn pull_blob_to_file(
        &self,
        repo: &Repository,
        descriptor: &Descriptor,
        path: &Path,
    ) -> Result<()> {
        let endpoint = self.endpoint(&repo.registry)?;
        let io = |action, source| Error::Io {
            path: path.to_path_buf(),
            action,
            source,
        };
        self.retry()
            .run(
                &endpoint.host,
                &|| format!("download blob {} from {}", descriptor.digest, repo.name),
                |_| async {
                    let mut stream = self.open_blob(&endpoint, repo, descriptor).await?;
                    let mut file = tokio::fs::File::create(path)
                        .await
                        .map_err(|e| io("cannot create the file", e))?;
                    while let Some(chunk) = stream.next().await {
                        file.write_all(&chunk?)
                            .await
                            .map_err(|e| io("cannot write the file", e))?;
                    }
                    file.flush()
                        .await
                        .map_err(|e| io("cannot write the file", e))?;
                    Ok(())
                },
            )
            .await
    }

    /// Blob `descriptor` of `repo` as a stream that fails if the bytes do not match
    /// the digest and size (not retried: the caller owns what it did with the bytes).
    pub async fn blob_stream(
        &self,
        repo: &Repository,
        descriptor: &Descriptor,
    ) -> Result<BlobStream> {
        let endpoint = self.endpoint(&repo.registry)?;
        self.retry()
            .run(
                &endpoint.host,
                &|| format!("download blob {} from {}", descriptor.digest, repo.name),
                |_| self.open_blob(&endpoint, repo, descriptor),
            )
            .await
    }

    async fn open_blob(
        &self,
        endpoint: &Endpoint,
        repo: &Repository,
        descriptor: &Descriptor,
    ) -> Result<BlobStream> {
        let digest = &descriptor.digest;
        let url = endpoint.url(&format!("/v2/{}/blobs/{digest}", repo.name));
        let scope = Scope::repository(&repo.name, &["pull"]);
        let response = self
            .transport()
            .send(Call {
                endpoint,
                method: Method::GET,
                url: url.clone(),
                headers: HeaderMap::new(),
                body: Payload::Empty,
                scope: &scope,
                follow_redirects: true,
            })
            .await?;
        if response.status() != StatusCode::OK {
            return Err(api_error(
                endpoint,
                &Method::GET,
                &url,
                response,
                &Context {
                    repository: &repo.name,
                    what: format!("blob {digest}"),
                    action: "pull",
                },
            )
            .await);
        }
        let registry = endpoint.host.clone();
        let inner = response
            .bytes_stream()
            .map(move |chunk| chunk.map_err(|e| connection_error(&registry, &e)))
            .boxed();
        Ok(BlobStream {
            inner,
            hasher: Some(digest.hasher()),
            expected: descriptor.clone(),
            registry: endpoint.host.clone(),
            repository: repo.name.clone(),
        })
    }
}

/// A blob's bytes as they arrive; the stream ends with an error instead of its end
/// when the content does not match its descriptor.
pub struct BlobStream {
    inner: BoxStream<'static, Result<Bytes>>,
    hasher: Option<Hasher>,
    expected: Descriptor,
    registry: String,
    repository: String,
}

impl std::fmt::Debug for BlobStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStream")
            .field("expected", &self.expected)
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl BlobStream {
    fn mismatch(&self, actual_size: u64, actual: Option<Digest>) -> Error {
        match actual {
            Some(actual) => Error::DigestMismatch {
                registry: self.registry.clone(),
                repository: self.repository.clone(),
                what: "blob".into(),
                expected: self.expected.digest.clone(),
                actual,
            },
            None => Error::SizeMismatch {
                registry: self.registry.clone(),
                repository: self.repository.clone(),
                what: format!("blob {}", self.expected.digest),
                expected: self.expected.size,
                actual: actual_size,
            },
        }
    }
}

impl Stream for BlobStream {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.hasher.is_none() {
            return Poll::Ready(None);
        }
        match this.inner.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                let Some(hasher) = this.hasher.as_mut() else {
                    return Poll::Ready(None);
                };
                hasher.update(&chunk);
                let len = hasher.len();
                if len > this.expected.size {
                    this.hasher = None;
                    return Poll::Ready(Some(Err(this.mismatch(len, None))));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.hasher = None;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                let Some(hasher) = this.hasher.take() else {
                    return Poll::Ready(None);
                };
                let len = hasher.len();
                if len != this.expected.size {
                    return Poll::Ready(Some(Err(this.mismatch(len, None))));
                }
                let actual = hasher.finish();
                if actual != this.expected.digest {
                    tracing::warn!(registry = %this.registry, expected = %this.expected.digest, actual = %actual, "downloaded blob does not match its digest");
                    return Poll::Ready(Some(Err(this.mismatch(len, Some(actual)))));
                }
                Poll::Ready(None)
            }
        }
    }
}
