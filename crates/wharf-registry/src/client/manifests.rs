//! Manifests: pull (verified), resolve, push, delete.

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use tracing::Instrument as _;

use super::challenge::Scope;
use super::error::{Error, Result};
use super::transport::{Call, Context, Endpoint, Payload, api_error, read_limited};
use super::{Client, Repository};
use crate::digest::Digest;
use crate::manifest::{Descriptor, Manifest, ManifestError, media_type};
use crate::reference::ImageRef;

/// The largest manifest read or pushed (what distribution accepts).
pub const MAX_MANIFEST_SIZE: usize = 4 << 20;

/// A manifest as the registry sent it, checked against its digest.
#[derive(Debug, Clone, PartialEq)]
pub struct PulledManifest {
    /// Its media type (the `Content-Type`, else its `mediaType` field).
    pub media_type: String,
    /// The digest of its bytes.
    pub digest: Digest,
    /// The bytes, exactly as stored.
    pub bytes: Bytes,
}

impl PulledManifest {
    /// The parsed manifest.
    pub fn parse(&self) -> Result<Manifest, ManifestError> {
        Manifest::parse(Some(&self.media_type), &self.bytes)
    }

    /// A descriptor of it.
    pub fn descriptor(&self) -> Descriptor {
        let mut descriptor = Descriptor::of(&self.media_type, &self.bytes);
        descriptor.digest = self.digest.clone();
        descriptor
    }
}

/// A pushed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedManifest {
    /// Its digest.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// Whether the registry said it processed the manifest's `subject`
    /// (`OCI-Subject`): it has the referrers API.
    pub subject_processed: bool,
}

impl Client {
    /// The manifest `image` names (its digest when it has one, else its tag),
    /// checked against that digest, or against the `Docker-Content-Digest` the
    /// registry sends for a tag.
    pub async fn pull_manifest(&self, image: &ImageRef) -> Result<PulledManifest> {
        let repo = Repository::of(image);
        self.pull_manifest_in(&repo, image.manifest_reference(), image.digest.as_ref())
            .await
    }

    /// The manifest `reference` (tag or digest) of `repo`; `expected` is checked
    /// when given.
    pub async fn pull_manifest_in(
        &self,
        repo: &Repository,
        reference: &str,
        expected: Option<&Digest>,
    ) -> Result<PulledManifest> {
        let endpoint = self.endpoint(&repo.registry)?;
        let expected = match expected {
            Some(d) => Some(d.clone()),
            None if reference.contains(':') => {
                Some(Digest::parse(reference).map_err(|source| Error::Digest {
                    registry: endpoint.host.clone(),
                    source,
                })?)
            }
            None => None,
        };
        let span = tracing::debug_span!("pull_manifest", registry = %endpoint.host, repository = %repo.name, reference);
        self.retry()
            .run(
                &endpoint.host,
                &|| format!("get manifest {reference} of {}", repo.name),
                |_| self.get_manifest_once(&endpoint, repo, reference, expected.as_ref()),
            )
            .instrument(span)
            .await
    }

    async fn get_manifest_once(
        &self,
        endpoint: &Endpoint,
        repo: &Repository,
        reference: &str,
        expected: Option<&Digest>,
    ) -> Result<PulledManifest> {
        let url = endpoint.url(&format!("/v2/{}/manifests/{reference}", repo.name));
        let scope = Scope::repository(&repo.name, &["pull"]);
        let response = self
            .transport()
            .send(Call {
                endpoint,
                method: Method::GET,
                url: url.clone(),
                headers: accept_manifests(),
                body: Payload::Empty,
                scope: &scope,
                follow_redirects: true,
            })
            .await?;
        let context = Context {
            repository: &repo.name,
            what: format!("manifest {reference}"),
            action: "pull",
        };
        if response.status() != StatusCode::OK {
            return Err(api_error(endpoint, &Method::GET, &url, response, &context).await);
        }
        let content_type = header_text(response.headers(), CONTENT_TYPE.as_str());
        let announced = header_text(response.headers(), "Docker-Content-Digest")
            .and_then(|d| Digest::parse(d.trim()).ok());
        let bytes = read_limited(&endpoint.host, response, MAX_MANIFEST_SIZE).await?;
        let wanted = expected.cloned().or(announced);
        let algorithm = wanted
            .as_ref()
            .map_or(crate::digest::Algorithm::Sha256, Digest::algorithm);
        let digest = Digest::of(algorithm, &bytes);
        if let Some(wanted) = wanted
            && wanted != digest
        {
            tracing::warn!(registry = %endpoint.host, expected = %wanted, actual = %digest, "manifest does not match its digest");
            return Err(Error::DigestMismatch {
                registry: endpoint.host.clone(),
                repository: repo.name.clone(),
                what: format!("manifest {reference}"),
                expected: wanted,
                actual: digest,
            });
        }
        let media_type = manifest_media_type(content_type.as_deref(), &bytes);
        Ok(PulledManifest {
            media_type,
            digest,
            bytes,
        })
    }

    /// A descriptor of the manifest `image` names, or `None` when there is none:
    /// `HEAD`, falling back to `GET` when the registry sends no digest.
    pub async fn resolve(&self, image: &ImageRef) -> Result<Option<Descriptor>> {
        let repo = Repository::of(image);
        let endpoint = self.endpoint(&repo.registry)?;
        let reference = image.manifest_reference();
        let scope = Scope::repository(&repo.name, &["pull"]);
        let head = self
            .retry()
            .run(
                &endpoint.host,
                &|| format!("check manifest {reference} of {}", repo.name),
                |_| async {
                    let url = endpoint.url(&format!("/v2/{}/manifests/{reference}", repo.name));
                    let response = self
                        .transport()
                        .send(Call {
                            endpoint: &endpoint,
                            method: Method::HEAD,
                            url: url.clone(),
                            headers: accept_manifests(),
                            body: Payload::Empty,
                            scope: &scope,
                            follow_redirects: true,
                        })
                        .await?;
                    match response.status() {
                        StatusCode::OK => Ok(Some((
                            header_text(response.headers(), CONTENT_TYPE.as_str()),
                            header_text(response.headers(), "Docker-Content-Digest")
                                .and_then(|d| Digest::parse(d.trim()).ok()),
                            super::transport::content_length(response.headers()),
                        ))),
                        StatusCode::NOT_FOUND => Ok(None),
                        _ => Err(api_error(
                            &endpoint,
                            &Method::HEAD,
                            &url,
                            response,
                            &Context {
                                repository: &repo.name,
                                what: format!("manifest {reference}"),
                                action: "pull",
                            },
                        )
                        .await),
                    }
                },
            )
            .await?;
        match head {
            None => Ok(None),
            Some((Some(media_type), Some(digest), Some(size)))
                if image.digest.as_ref().is_none_or(|d| *d == digest)
                    && !media_type.starts_with("application/json") =>
            {
                let mut descriptor = Descriptor::of(&media_type, b"");
                descriptor.digest = digest;
                descriptor.size = size;
                Ok(Some(descriptor))
            }
            Some(_) => match self.pull_manifest(image).await {
                Ok(pulled) => Ok(Some(pulled.descriptor())),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    /// Pushes manifest `bytes` of `media_type` to `repo` under `reference` (a tag, or
    /// its digest).
    pub async fn push_manifest(
        &self,
        repo: &Repository,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<PushedManifest> {
        let endpoint = self.endpoint(&repo.registry)?;
        if bytes.len() > MAX_MANIFEST_SIZE {
            return Err(Error::Invalid(format!(
                "the manifest for {repo}:{reference} is {} bytes; registries accept at most {MAX_MANIFEST_SIZE}",
                bytes.len()
            )));
        }
        let digest = Digest::sha256(&bytes);
        if reference.contains(':') && reference != digest.as_str() {
            return Err(Error::Invalid(format!(
                "cannot push the manifest as {reference}: its digest is {digest}"
            )));
        }
        let scope = Scope::repository(&repo.name, &["pull", "push"]);
        let content_type = HeaderValue::from_str(media_type)
            .map_err(|_| Error::Invalid(format!("{media_type:?} is not a valid media type")))?;
        let span = tracing::debug_span!("push_manifest", registry = %endpoint.host, repository = %repo.name, reference, digest = %digest);
        let subject_processed = self
            .retry()
            .run(
                &endpoint.host,
                &|| format!("put manifest {reference} of {}", repo.name),
                |_| async {
                    let url = endpoint.url(&format!("/v2/{}/manifests/{reference}", repo.name));
                    let mut headers = HeaderMap::new();
                    headers.insert(CONTENT_TYPE, content_type.clone());
                    let response = self
                        .transport()
                        .send(Call {
                            endpoint: &endpoint,
                            method: Method::PUT,
                            url: url.clone(),
                            headers,
                            body: Payload::Bytes(bytes.clone()),
                            scope: &scope,
                            follow_redirects: false,
                        })
                        .await?;
                    if response.status() != StatusCode::CREATED {
                        return Err(api_error(
                            &endpoint,
                            &Method::PUT,
                            &url,
                            response,
                            &Context {
                                repository: &repo.name,
                                what: format!("manifest {reference}"),
                                action: "push",
                            },
                        )
                        .await);
                    }
                    let stored = header_text(response.headers(), "Docker-Content-Digest")
                        .and_then(|d| Digest::parse(d.trim()).ok());
                    if let Some(stored) = stored
                        && stored.algorithm() == digest.algorithm()
                        && stored != digest
                    {
                        return Err(Error::DigestMismatch {
                            registry: endpoint.host.clone(),
                            repository: repo.name.clone(),
                            what: format!("pushed manifest {reference}"),
                            expected: digest.clone(),
                            actual: stored,
                        });
                    }
                    Ok(response.headers().contains_key("OCI-Subject"))
                },
            )
            .instrument(span)
            .await?;
        Ok(PushedManifest {
            digest,
            size: bytes.len() as u64,
            subject_processed,
        })
    }

    /// Deletes the manifest `image` names, by digest (a tag is resolved first; on
    /// most registries that removes every tag of that manifest). Returns the digest.
    pub async fn delete_manifest(&self, image: &ImageRef) -> Result<Digest> {
        let repo = Repository::of(image);
        let endpoint = self.endpoint(&repo.registry)?;
        let digest = match &image.digest {
            Some(d) => d.clone(),
            None => {
                self.resolve(image)
                    .await?
                    .ok_or_else(|| Error::NotFound {
                        registry: endpoint.host.clone(),
                        repository: repo.name.clone(),
                        what: format!("manifest {}", image.manifest_reference()),
                        no_repository: false,
                    })?
                    .digest
            }
        };
        let scope = Scope::repository(&repo.name, &["delete"]);
        self.retry()
            .run(
                &endpoint.host,
                &|| format!("delete manifest {digest} of {}", repo.name),
                |_| async {
                    let url = endpoint.url(&format!("/v2/{}/manifests/{digest}", repo.name));
                    let response = self
                        .transport()
                        .send(Call {
                            endpoint: &endpoint,
                            method: Method::DELETE,
                            url: url.clone(),
                            headers: HeaderMap::new(),
                            body: Payload::Empty,
                            scope: &scope,
                            follow_redirects: false,
                        })
                        .await?;
                    match response.status() {
                        StatusCode::ACCEPTED | StatusCode::OK | StatusCode::NO_CONTENT => Ok(()),
                        _ => Err(api_error(
                            &endpoint,
                            &Method::DELETE,
                            &url,
                            response,
                            &Context {
                                repository: &repo.name,
                                what: format!("manifest {digest}"),
                                action: "delete",
                            },
                        )
                        .await),
                    }
                },
            )
            .await?;
        Ok(digest)
    }
}

fn accept_manifests() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        ACCEPT,
        HeaderValue::from_static(media_type::MANIFEST_ACCEPT),
    );
    headers
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The media type of a manifest: the `Content-Type` unless it is generic, else the
/// JSON's `mediaType`, else guessed from its shape.
fn manifest_media_type(content_type: Option<&str>, bytes: &[u8]) -> String {
    let declared = content_type
        .map(|c| c.split(';').next().unwrap_or(c).trim().to_string())
        .filter(|c| !c.is_empty() && c != "application/json" && c != "text/plain");
    declared.unwrap_or_else(|| {
        let value: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
        match value.get("mediaType").and_then(|m| m.as_str()) {
            Some(m) => m.to_string(),
            None if value.get("manifests").is_some() => media_type::OCI_INDEX.to_string(),
            None => media_type::OCI_MANIFEST.to_string(),
        }
    })
}
