//! A client for the OCI distribution API (v2), on reqwest.
//!
//! - Manifests ([`Client::pull_manifest`], [`Client::push_manifest`], ...): OCI and
//!   Docker schema 2 images and indexes, and any OCI artifact; everything read is
//!   checked against its digest.
//! - Blobs ([`Client::push_blob`], [`Client::push_blobs`], [`Client::pull_blob`],
//!   ...): `HEAD` before every upload, cross-repository mount, monolithic `PUT` with
//!   chunked `PATCH` as fallback, several blobs at once, downloads verified while
//!   they stream.
//! - Listings ([`Client::tags`], [`Client::catalog`]) through `Link` pagination.
//! - Authentication (`auth`): anonymous, basic, bearer tokens cached per registry
//!   and scope, Azure Container Registry's Azure AD exchange; credentials from a
//!   [`Keychain`] and never sent to another host.
//! - Retries ([`RetryPolicy`]) with jittered backoff and `Retry-After`, within a
//!   total time budget.
//!
//! Registries on loopback (`localhost`, `127.0.0.0/8`, `::1`) and those listed in
//! [`ClientOptions::plain_http`] are spoken to over plain HTTP, as Docker does for
//! insecure registries; all others over HTTPS. Docker Hub (`docker.io`) is reached
//! at `registry-1.docker.io`.
//!
//! Every request is a `tracing` event (`registry request`: method, host, path,
//! status, time), retries are warnings, authentication decisions are debug events;
//! no field ever holds a credential, a token, or a URL's query.

mod acr;
mod auth;
mod blobs;
mod challenge;
mod download;
mod error;
mod listing;
mod manifests;
mod raw;
mod retry;
mod transport;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

pub use acr::{ACR_AUDIENCE, ARM_AUDIENCE, AzureOptions, AzureSignIn};
pub use blobs::{BlobOutcome, BlobPush, BlobSource, PushedBlob, StreamedUpload};
pub use challenge::Scope;
pub use download::BlobStream;
pub use error::{Error, Result};
pub use listing::Page;
pub use manifests::{PulledManifest, PushedManifest};
pub use raw::RawResponse;
pub use retry::{OnRetry, RetryNotice, RetryPolicy};
pub use transport::ProgressFn;

use crate::credentials::{ACR_REFRESH_TOKEN_USER, Credential, Keychain};
use crate::reference::{DOCKER_HUB, ImageRef};
use transport::{Endpoint, Transport};

/// How blobs are uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UploadMode {
    /// One `PUT` with the whole blob; chunked `PATCH`es when the registry refuses it.
    #[default]
    Monolithic,
    /// Always chunked `PATCH`es of [`ClientOptions::chunk_size`], then `PUT`.
    Chunked,
}

/// What a [`Client`] is configured with.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Where credentials come from.
    pub keychain: Arc<Keychain>,
    /// Retries and their time budget.
    pub retry: RetryPolicy,
    /// Blobs transferred at once by [`Client::push_blobs`] and copies.
    pub max_concurrent_blobs: usize,
    /// How blobs are uploaded.
    pub upload: UploadMode,
    /// Chunk size for chunked uploads (raised to the registry's
    /// `OCI-Chunk-Min-Length`).
    pub chunk_size: u64,
    /// Registries spoken to over plain HTTP besides loopback ones (`host:port`).
    pub plain_http: Vec<String>,
    /// Azure Container Registry sign-in.
    pub azure: AzureOptions,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// Limit on establishing a connection.
    pub connect_timeout: Duration,
    /// Limit on a connection going quiet (no bytes) mid-request.
    pub read_timeout: Duration,
    /// Page size asked for in tag and catalog listings.
    pub page_size: usize,
    /// Start building the HTTPS client (its certificates take tens of milliseconds
    /// of CPU to load) on a thread of its own as soon as the client is made. When
    /// `false`, it is built when [`Client::prepare_tls`] asks, or at the first HTTPS
    /// request: for a caller that knows whether it will need it.
    pub eager_tls: bool,
}

impl Default for ClientOptions {
    /// The user's Docker credentials, a 15 s retry budget, 5 blobs at once (as
    /// dockerd), monolithic uploads, 8 MiB chunks.
    fn default() -> Self {
        ClientOptions {
            keychain: Arc::new(Keychain::docker()),
            retry: RetryPolicy::default(),
            max_concurrent_blobs: 5,
            upload: UploadMode::default(),
            chunk_size: 8 << 20,
            plain_http: Vec::new(),
            azure: AzureOptions::default(),
            user_agent: format!("wharf/{}", env!("CARGO_PKG_VERSION")),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            page_size: 1000,
            eager_tls: true,
        }
    }
}

/// A repository in a registry: `registry/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Repository {
    /// `docker.io`, `localhost:5000`, `myreg.azurecr.io`.
    pub registry: String,
    /// `library/busybox`, `team/app`.
    pub name: String,
}

impl Repository {
    /// `name` in `registry`.
    pub fn new(registry: impl Into<String>, name: impl Into<String>) -> Repository {
        Repository {
            registry: registry.into(),
            name: name.into(),
        }
    }

    /// The repository `image` names.
    pub fn of(image: &ImageRef) -> Repository {
        Repository::new(image.registry.clone(), image.repository.clone())
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.name)
    }
}

/// A distribution API client. Cheap to clone; clones share connections, tokens and
/// looked-up credentials.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    /// The retry policy of this handle (see [`Client::with_retry`]).
    retry: RetryPolicy,
}

struct Inner {
    options: ClientOptions,
    transport: Transport,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client with `options`.
    pub fn new(options: ClientOptions) -> Result<Client> {
        let (agent, connect, read) = (
            options.user_agent.clone(),
            options.connect_timeout,
            options.read_timeout,
        );
        let plain_agent = agent.clone();
        let http = Arc::new(
            transport::HttpClients::new(
                move || {
                    let agent = agent.clone();
                    reqwest::Client::builder()
                        .redirect(reqwest::redirect::Policy::none())
                        .user_agent(agent.clone())
                        .connect_timeout(connect)
                        .read_timeout(read)
                        .tcp_nodelay(true)
                },
                &plain_agent,
                connect,
                read,
            )
            .map_err(Error::Invalid)?,
        );
        if options.eager_tls {
            http.prepare();
        }
        let auth = auth::Auth::new(
            Arc::clone(&options.keychain),
            options.azure.clone(),
            Arc::clone(&http),
        );
        Ok(Client {
            retry: options.retry.clone(),
            inner: Arc::new(Inner {
                options,
                transport: Transport { http, auth },
            }),
        })
    }

    /// A client with the default options (the user's Docker credentials).
    pub fn with_defaults() -> Result<Client> {
        Client::new(ClientOptions::default())
    }

    /// The options it was made with (its retry policy may differ: [`Client::retry`]).
    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// Another handle on the same connections, tokens and credentials, retrying with
    /// `retry` (a push step's own retry lines, say).
    pub fn with_retry(&self, retry: RetryPolicy) -> Client {
        Client {
            inner: Arc::clone(&self.inner),
            retry,
        }
    }

    /// The retry policy this handle uses.
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    /// Starts building the HTTPS client in the background, if nothing has yet (see
    /// [`ClientOptions::eager_tls`]).
    pub fn prepare_tls(&self) {
        self.transport().http.prepare();
    }

    /// Whether `registry` is spoken to over HTTPS (not loopback, not in
    /// [`ClientOptions::plain_http`]); a host that is not a registry's counts as HTTPS.
    pub fn speaks_https(&self, registry: &str) -> bool {
        self.endpoint(registry)
            .map_or(true, |e| e.base.scheme() == "https")
    }

    /// Where the API of `registry` is.
    pub(crate) fn endpoint(&self, registry: &str) -> Result<Endpoint> {
        let host = registry.to_ascii_lowercase();
        let api_host = if host == DOCKER_HUB {
            "registry-1.docker.io".to_string()
        } else {
            host.clone()
        };
        let scheme = if is_loopback(&host)
            || self
                .inner
                .options
                .plain_http
                .iter()
                .any(|h| h.eq_ignore_ascii_case(&host))
        {
            "http"
        } else {
            "https"
        };
        let base = Url::parse(&format!("{scheme}://{api_host}/"))
            .map_err(|_| Error::Invalid(format!("{registry:?} is not a registry host")))?;
        Ok(Endpoint { host, base })
    }

    /// The base URL of `registry`'s API (`http://127.0.0.1:5000/`).
    pub fn base_url(&self, registry: &str) -> Result<Url> {
        Ok(self.endpoint(registry)?.base)
    }

    /// `GET /v2/`, authenticated as needed: whether the registry answers and
    /// accepts the credentials it has.
    pub async fn ping(&self, registry: &str) -> Result<()> {
        let endpoint = self.endpoint(registry)?;
        let scope = Scope::none();
        self.retry()
            .run(
                &endpoint.host,
                &|| "check the API (GET /v2/)".into(),
                |_| async {
                    let url = endpoint.url("/v2/");
                    let response = self
                        .transport()
                        .send(transport::Call {
                            endpoint: &endpoint,
                            method: reqwest::Method::GET,
                            url: url.clone(),
                            headers: Default::default(),
                            body: transport::Payload::Empty,
                            scope: &scope,
                            follow_redirects: false,
                        })
                        .await?;
                    if response.status().is_success() {
                        Ok(())
                    } else {
                        Err(transport::api_error(
                            &endpoint,
                            &reqwest::Method::GET,
                            &url,
                            response,
                            &transport::Context {
                                repository: "",
                                what: "the API root".into(),
                                action: "pull",
                            },
                        )
                        .await)
                    }
                },
            )
            .await
    }

    /// Checks `credential` against `registry` the way `docker login` does, and
    /// returns what to store: the credential, or the identity (refresh) token the
    /// registry's token service issued for it.
    pub async fn check_login(&self, registry: &str, credential: &Credential) -> Result<Credential> {
        let endpoint = self.endpoint(registry)?;
        let ping = self.unauthenticated_ping(&endpoint).await?;
        let answer = self
            .transport()
            .auth
            .check_login(&endpoint, credential, &ping)
            .await?;
        tracing::debug!(registry = %endpoint.host, refresh_token = answer.refresh_token.is_some(), "login checked");
        Ok(match answer.refresh_token {
            Some(token) => Credential::IdentityToken(token),
            None => credential.clone(),
        })
    }

    /// Signs in to an Azure Container Registry with Azure AD (see
    /// [`AzureSignIn`]) and returns what `az acr login` has docker store: the ACR
    /// refresh token as the password of `00000000-0000-0000-0000-000000000000`.
    pub async fn azure_login(&self, registry: &str) -> Result<Credential> {
        let endpoint = self.endpoint(registry)?;
        let ping = self.unauthenticated_ping(&endpoint).await?;
        let refresh = self.transport().auth.acr_login(&endpoint, &ping).await?;
        Ok(Credential::Basic {
            username: ACR_REFRESH_TOKEN_USER.to_string(),
            password: refresh.secret().to_string(),
        })
    }

    async fn unauthenticated_ping(&self, endpoint: &Endpoint) -> Result<reqwest::Response> {
        self.retry()
            .run(
                &endpoint.host,
                &|| "check the API (GET /v2/)".into(),
                |_| async {
                    let url = endpoint.url("/v2/");
                    let response = self
                        .transport()
                        .http
                        .for_url(&url)?
                        .get(url.clone())
                        .send()
                        .await
                        .map_err(|e| transport::connection_error(&endpoint.host, &e))?;
                    let status = response.status().as_u16();
                    if error::is_transient_status(status) {
                        return Err(Error::Status {
                            registry: endpoint.host.clone(),
                            request: "GET /v2/".into(),
                            status,
                            code: None,
                            message: None,
                            retry_after: transport::retry_after(response.headers()),
                        });
                    }
                    Ok(response)
                },
            )
            .await
    }

    /// Whether `registry` is an Azure Container Registry (by name, or listed in
    /// [`AzureOptions::extra_hosts`]).
    pub fn is_acr(&self, registry: &str) -> bool {
        self.options().azure.is_acr(registry)
    }
}

/// Whether a registry host is on loopback (`localhost`, `127.0.0.0/8`, `[::1]`).
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry.rsplit_once(':').map_or(registry, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                registry
            }
        }),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_plain_http() {
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("127.1.2.3"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("myreg.azurecr.io"));
        assert!(!is_loopback("10.0.0.1:5000"));
        let client = Client::new(ClientOptions {
            keychain: Arc::new(Keychain::anonymous()),
            plain_http: vec!["reg.internal:5000".into()],
            ..ClientOptions::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let base = |r: &str| client.base_url(r).map(String::from).unwrap_or_default();
        assert_eq!(base("127.0.0.1:5000"), "http://127.0.0.1:5000/");
        assert_eq!(base("reg.internal:5000"), "http://reg.internal:5000/");
        assert_eq!(base("r.azurecr.io"), "https://r.azurecr.io/");
        assert_eq!(base("docker.io"), "https://registry-1.docker.io/");
    }
}
