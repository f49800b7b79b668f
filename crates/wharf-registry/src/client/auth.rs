//! Authentication, per registry: what scheme it asked for, which credential it gets,
//! and bearer tokens cached per scope.
//!
//! A registry is first asked without credentials (unless its scheme is already
//! known). Its `401` challenge decides:
//!
//! - `Basic`: the stored user name and password go to the registry itself;
//! - `Bearer realm=...,service=...,scope=...`: a token is fetched from the realm
//!   (`GET` with basic credentials, `POST grant_type=refresh_token` with an identity
//!   token, anonymous `GET` without credentials, or, for Azure Container Registry
//!   with nothing stored, the Azure AD exchange in [`acr`](super::acr)) and cached
//!   per registry and scope until shortly before it expires.
//!
//! Only a challenge the registry's own origin sent is honoured, so credentials go
//! only to the registry and the token service it announced; the token service is
//! never followed through redirects, and a realm on plain HTTP gets no credentials
//! when the registry itself is on HTTPS.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use azure_core::credentials::Secret;
use base64::Engine as _;
use reqwest::header::{HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use serde::Deserialize;
use url::Url;

use super::acr::{self, ACR_AUDIENCE, ARM_AUDIENCE, AzureOptions};
use super::challenge::{Scope, parse_challenges};
use super::error::Error;
use super::transport::{Endpoint, connection_error, origin_text};
use crate::credentials::{Credential, Keychain};

/// Tokens are used until this long before they expire.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);
/// A token without `expires_in` lives this long (the token spec's default).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// The largest token service answer read.
const MAX_TOKEN_ANSWER: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
enum Scheme {
    /// Not asked yet.
    #[default]
    Unknown,
    /// `Basic`.
    Basic,
    /// `Bearer` with this realm and service.
    Bearer { realm: Url, service: Option<String> },
}

#[derive(Default)]
struct State {
    scheme: Scheme,
    tokens: HashMap<String, Token>,
    acr_refresh_token: Option<Secret>,
}

struct Token {
    value: Secret,
    expires: Instant,
    /// Whether credentials were behind it (not an anonymous token).
    credentialed: bool,
}

#[derive(Default)]
struct RegistryAuth {
    state: Mutex<State>,
    /// One token fetch at a time per registry (parallel uploads share the result).
    fetch: tokio::sync::Mutex<()>,
    credential: tokio::sync::OnceCell<Option<Credential>>,
}

impl RegistryAuth {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What a request carried, to judge its `401`.
#[derive(Debug, Clone)]
pub(crate) enum Sent {
    /// No `Authorization`.
    Nothing,
    /// The stored user name and password.
    Basic,
    /// A bearer token (fetched with or without credentials).
    Token { credentialed: bool, value: String },
}

impl Sent {
    /// Whether credentials (not only an anonymous token) were behind the request.
    pub(crate) fn credentialed(&self) -> bool {
        match self {
            Sent::Nothing => false,
            Sent::Basic => true,
            Sent::Token { credentialed, .. } => *credentialed,
        }
    }
}

/// Authentication state for every registry a client talks to.
pub(crate) struct Auth {
    keychain: Arc<Keychain>,
    azure: AzureOptions,
    /// The HTTP clients for token services (never following redirects).
    http: Arc<super::transport::HttpClients>,
    registries: Mutex<HashMap<String, Arc<RegistryAuth>>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
    refresh_token: Option<String>,
}

/// A token fetched for a login check, and a refresh token if the service gave one.
pub(crate) struct LoginAnswer {
    pub refresh_token: Option<String>,
}

impl Auth {
    pub(crate) fn new(
        keychain: Arc<Keychain>,
        azure: AzureOptions,
        http: Arc<super::transport::HttpClients>,
    ) -> Auth {
        Auth {
            keychain,
            azure,
            http,
            registries: Mutex::new(HashMap::new()),
        }
    }

    fn registry(&self, host: &str) -> Arc<RegistryAuth> {
        let mut map = self
            .registries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(map.entry(host.to_string()).or_default())
    }

    /// The stored credential for the registry, looked up once.
    async fn credential(
        &self,
        endpoint: &Endpoint,
        ra: &RegistryAuth,
    ) -> Result<Option<Credential>, Error> {
        let keychain = Arc::clone(&self.keychain);
        let host = endpoint.host.clone();
        let found = ra
            .credential
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || keychain.get(&host))
                    .await
                    .map_err(|e| Error::Protocol {
                        registry: String::new(),
                        message: format!("the credential lookup stopped: {e}"),
                    })?
                    .map_err(Error::from)
            })
            .await?;
        Ok(found.clone())
    }

    /// The `Authorization` header for a request to the registry's own origin.
    pub(crate) async fn authorize(
        &self,
        endpoint: &Endpoint,
        scope: &Scope,
    ) -> Result<(Option<HeaderValue>, Sent), Error> {
        let ra = self.registry(&endpoint.host);
        let scheme = ra.state().scheme.clone();
        match scheme {
            Scheme::Unknown => Ok((None, Sent::Nothing)),
            Scheme::Basic => match self.credential(endpoint, &ra).await? {
                Some(Credential::Basic { username, password }) => {
                    tracing::debug!(registry = %endpoint.host, username = %username, "sending basic credentials");
                    Ok((Some(basic_header(&username, &password)?), Sent::Basic))
                }
                _ => Ok((None, Sent::Nothing)),
            },
            Scheme::Bearer { realm, service } => {
                let (token, credentialed) = self
                    .token(endpoint, &ra, &realm, service.as_deref(), scope)
                    .await?;
                let header =
                    HeaderValue::from_str(&format!("Bearer {}", token.secret())).map_err(|_| {
                        Error::Protocol {
                            registry: endpoint.host.clone(),
                            message:
                                "the token service issued a token that is not a valid header value"
                                    .into(),
                        }
                    })?;
                Ok((
                    Some(header),
                    Sent::Token {
                        credentialed,
                        value: token.secret().to_string(),
                    },
                ))
            }
        }
    }

    /// Learns from a `401` the registry's origin answered. `Some(scope)` when the
    /// request is worth one more try (with that scope); `None` when what was sent
    /// was already the best wharf can do.
    pub(crate) async fn unauthorized(
        &self,
        endpoint: &Endpoint,
        headers: &HeaderMap,
        scope: &Scope,
        sent: &Sent,
    ) -> Result<Option<Scope>, Error> {
        let ra = self.registry(&endpoint.host);
        let challenges: Vec<_> = headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(parse_challenges)
            .collect();
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            let Some(realm) = bearer.param("realm") else {
                return Err(Error::Protocol {
                    registry: endpoint.host.clone(),
                    message: "the registry's Bearer challenge has no realm".into(),
                });
            };
            let realm = endpoint.base.join(realm).map_err(|_| Error::Protocol {
                registry: endpoint.host.clone(),
                message: format!("the registry's token realm {realm:?} is not a URL"),
            })?;
            let scheme = Scheme::Bearer {
                realm: realm.clone(),
                service: bearer.param("service").map(str::to_string),
            };
            let wider = scope.clone().with_wire(bearer.param("scope").unwrap_or(""));
            let mut state = ra.state();
            if state.scheme != scheme {
                tracing::debug!(
                    registry = %endpoint.host,
                    realm = %origin_text(&realm),
                    service = bearer.param("service").unwrap_or(""),
                    "the registry asks for bearer tokens"
                );
                state.scheme = scheme;
                state.tokens.clear();
                return Ok(Some(wider));
            }
            return Ok(match sent {
                Sent::Token { value, .. } => {
                    // The token was refused (expired early, revoked, too narrow):
                    // drop it and fetch one again.
                    state.tokens.retain(|_, t| t.value.secret() != value);
                    tracing::debug!(registry = %endpoint.host, scope = %wider, "token refused; fetching a new one");
                    Some(wider)
                }
                _ => Some(wider),
            });
        }
        if challenges.iter().any(|c| c.scheme == "basic") {
            ra.state().scheme = Scheme::Basic;
            let has_basic = matches!(
                self.credential(endpoint, &ra).await?,
                Some(Credential::Basic { .. })
            );
            tracing::debug!(registry = %endpoint.host, has_credentials = has_basic, "the registry asks for basic credentials");
            // Worth another try only if this request did not carry them already.
            return Ok((has_basic && !matches!(sent, Sent::Basic)).then(|| scope.clone()));
        }
        Ok(None)
    }

    /// A token for `scope`, cached or fetched; and whether credentials were behind it.
    async fn token(
        &self,
        endpoint: &Endpoint,
        ra: &RegistryAuth,
        realm: &Url,
        service: Option<&str>,
        scope: &Scope,
    ) -> Result<(Secret, bool), Error> {
        let key = scope.to_string();
        let cached = |ra: &RegistryAuth| {
            let state = ra.state();
            state
                .tokens
                .get(&key)
                .filter(|t| t.expires > Instant::now())
                .map(|t| (t.value.clone(), t.credentialed))
        };
        if let Some(found) = cached(ra) {
            tracing::trace!(registry = %endpoint.host, scope = %key, "using a cached token");
            return Ok(found);
        }
        let _one_at_a_time = ra.fetch.lock().await;
        if let Some(found) = cached(ra) {
            return Ok(found);
        }
        let credential = self.credential(endpoint, ra).await?;
        let service = service.unwrap_or(&endpoint.host).to_string();
        let (answer, credentialed) = match credential {
            Some(Credential::Basic { username, password }) => {
                self.check_realm(endpoint, realm, true)?;
                tracing::debug!(registry = %endpoint.host, realm = %origin_text(realm), scope = %key, username = %username, "fetching a token with basic credentials");
                let answer = self
                    .get_token(
                        endpoint,
                        realm,
                        &service,
                        scope,
                        Some((&username, &password)),
                        false,
                    )
                    .await?;
                (answer, true)
            }
            Some(Credential::IdentityToken(refresh)) => {
                self.check_realm(endpoint, realm, true)?;
                tracing::debug!(registry = %endpoint.host, realm = %origin_text(realm), scope = %key, "fetching a token with a refresh token");
                let answer = self
                    .post_refresh_token(endpoint, realm, &service, scope, &refresh)
                    .await?;
                (answer, true)
            }
            None if self.azure.is_acr(&endpoint.host) => {
                self.check_realm(endpoint, realm, true)?;
                let refresh = self
                    .acr_refresh_token(endpoint, ra, realm, &service)
                    .await?;
                tracing::debug!(registry = %endpoint.host, realm = %origin_text(realm), scope = %key, "fetching a token with the ACR refresh token");
                let answer = self
                    .post_refresh_token(endpoint, realm, &service, scope, refresh.secret())
                    .await?;
                (answer, true)
            }
            None => {
                self.check_realm(endpoint, realm, false)?;
                tracing::debug!(registry = %endpoint.host, realm = %origin_text(realm), scope = %key, "fetching an anonymous token");
                let answer = self
                    .get_token(endpoint, realm, &service, scope, None, false)
                    .await?;
                (answer, false)
            }
        };
        let value = answer
            .token
            .filter(|t| !t.is_empty())
            .or(answer.access_token.filter(|t| !t.is_empty()))
            .ok_or_else(|| Error::Protocol {
                registry: endpoint.host.clone(),
                message: format!(
                    "the token service at {} answered without a token",
                    origin_text(realm)
                ),
            })?;
        let lifetime = answer
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TOKEN_LIFETIME)
            .max(DEFAULT_TOKEN_LIFETIME);
        let value = Secret::new(value);
        ra.state().tokens.insert(
            key,
            Token {
                value: value.clone(),
                expires: Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN),
                credentialed,
            },
        );
        Ok((value, credentialed))
    }

    /// Refuses to send credentials to a plain-HTTP realm of an HTTPS registry.
    fn check_realm(
        &self,
        endpoint: &Endpoint,
        realm: &Url,
        credentials: bool,
    ) -> Result<(), Error> {
        let scheme_ok = match realm.scheme() {
            "https" => true,
            "http" => endpoint.base.scheme() == "http" || !credentials,
            _ => false,
        };
        if scheme_ok {
            Ok(())
        } else {
            Err(Error::CredentialsOffHost {
                registry: endpoint.host.clone(),
                host: origin_text(realm),
                reason: format!(
                    "the token service it announced uses {}, the registry uses https",
                    realm.scheme()
                ),
            })
        }
    }

    /// `GET realm?service=..&scope=..` (repeated), with basic credentials if given.
    async fn get_token(
        &self,
        endpoint: &Endpoint,
        realm: &Url,
        service: &str,
        scope: &Scope,
        basic: Option<(&str, &str)>,
        offline: bool,
    ) -> Result<TokenAnswer, Error> {
        let mut url = realm.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("service", service);
            for item in scope.items() {
                query.append_pair("scope", &item);
            }
            if offline {
                query.append_pair("offline_token", "true");
                query.append_pair("client_id", "wharf");
            }
        }
        let mut request = self.http.for_url(&url)?.get(url);
        if let Some((user, password)) = basic {
            request = request.header(
                reqwest::header::AUTHORIZATION,
                basic_header(user, password)?,
            );
        }
        self.token_answer(endpoint, realm, request, basic.is_some())
            .await
    }

    /// `POST realm` with `grant_type=refresh_token`.
    async fn post_refresh_token(
        &self,
        endpoint: &Endpoint,
        realm: &Url,
        service: &str,
        scope: &Scope,
        refresh_token: &str,
    ) -> Result<TokenAnswer, Error> {
        let scope = scope.to_string();
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("service", service),
            ("client_id", "wharf"),
            ("refresh_token", refresh_token),
        ];
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        let request = self.http.for_url(realm)?.post(realm.clone()).form(&form);
        self.token_answer(endpoint, realm, request, true).await
    }

    async fn token_answer(
        &self,
        endpoint: &Endpoint,
        realm: &Url,
        request: reqwest::RequestBuilder,
        credentialed: bool,
    ) -> Result<TokenAnswer, Error> {
        let response = request
            .send()
            .await
            .map_err(|e| connection_error(&endpoint.host, &e))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(Error::CredentialsOffHost {
                registry: endpoint.host.clone(),
                host: origin_text(realm),
                reason: "the token service answered with a redirect, which wharf does not follow"
                    .into(),
            });
        }
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(Error::Unauthorized {
                registry: endpoint.host.clone(),
                detail: format!(
                    "the token service at {} answered {status}",
                    origin_text(realm)
                ),
                had_credentials: credentialed,
            });
        }
        if !status.is_success() {
            // Not quoted: a token service's answer is about credentials.
            return Err(Error::Status {
                registry: endpoint.host.clone(),
                request: format!("GET {} (token service)", origin_text(realm)),
                status: status.as_u16(),
                code: None,
                message: None,
                retry_after: super::transport::retry_after(response.headers()),
            });
        }
        let bytes =
            super::transport::read_limited(&endpoint.host, response, MAX_TOKEN_ANSWER).await?;
        serde_json::from_slice(&bytes).map_err(|_| Error::Protocol {
            registry: endpoint.host.clone(),
            message: format!(
                "the token service at {} answered something other than token JSON",
                origin_text(realm)
            ),
        })
    }

    /// The ACR refresh token for the registry: cached, else from the Azure AD
    /// exchange.
    async fn acr_refresh_token(
        &self,
        endpoint: &Endpoint,
        ra: &RegistryAuth,
        realm: &Url,
        service: &str,
    ) -> Result<Secret, Error> {
        if let Some(token) = ra.state().acr_refresh_token.clone() {
            return Ok(token);
        }
        let token = self.exchange_aad(endpoint, realm, service).await?;
        ra.state().acr_refresh_token = Some(token.clone());
        Ok(token)
    }

    /// An Azure AD token exchanged for an ACR refresh token: ACR's audience first,
    /// then Azure Resource Manager's.
    async fn exchange_aad(
        &self,
        endpoint: &Endpoint,
        realm: &Url,
        service: &str,
    ) -> Result<Secret, Error> {
        let mut failures = Vec::new();
        for audience in [ACR_AUDIENCE, ARM_AUDIENCE] {
            let aad = match self.azure.sign_in.token(audience).await {
                Ok(token) => token,
                Err(message) => {
                    failures.push(format!("no Azure AD token for {audience}: {message}"));
                    continue;
                }
            };
            let http = self.http.for_url(realm)?;
            match acr::exchange(http, &endpoint.host, realm, service, &aad).await? {
                Ok(refresh) => {
                    tracing::debug!(registry = %endpoint.host, audience, "got an ACR refresh token");
                    return Ok(Secret::new(refresh));
                }
                Err(message) => failures.push(format!("with a token for {audience}, {message}")),
            }
        }
        Err(Error::Azure {
            registry: endpoint.host.clone(),
            message: format!(
                "{}; sign in with `az login`, or set AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, or use a managed identity with access to the registry",
                failures.join("; ")
            ),
        })
    }

    /// Learns the registry's scheme from `GET /v2/` (without credentials) and
    /// checks `credential` against it, as `docker login` does. For a bearer
    /// registry, also asks for a refresh token (`offline_token`).
    pub(crate) async fn check_login(
        &self,
        endpoint: &Endpoint,
        credential: &Credential,
        ping: &reqwest::Response,
    ) -> Result<LoginAnswer, Error> {
        let challenges: Vec<_> = ping
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(parse_challenges)
            .collect();
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            let realm = bearer
                .param("realm")
                .and_then(|r| endpoint.base.join(r).ok())
                .ok_or_else(|| Error::Protocol {
                    registry: endpoint.host.clone(),
                    message: "the registry's Bearer challenge has no valid realm".into(),
                })?;
            self.check_realm(endpoint, &realm, true)?;
            let service = bearer
                .param("service")
                .unwrap_or(&endpoint.host)
                .to_string();
            let answer = match credential {
                Credential::Basic { username, password } => {
                    self.get_token(
                        endpoint,
                        &realm,
                        &service,
                        &Scope::none(),
                        Some((username, password)),
                        true,
                    )
                    .await?
                }
                Credential::IdentityToken(token) => {
                    self.post_refresh_token(endpoint, &realm, &service, &Scope::none(), token)
                        .await?
                }
            };
            if answer.token.is_none() && answer.access_token.is_none() {
                return Err(Error::Protocol {
                    registry: endpoint.host.clone(),
                    message: "the token service answered without a token".into(),
                });
            }
            return Ok(LoginAnswer {
                refresh_token: answer.refresh_token.filter(|t| !t.is_empty()),
            });
        }
        // Basic (or no auth at all): `GET /v2/` with the credential.
        let Credential::Basic { username, password } = credential else {
            return Err(Error::Invalid(format!(
                "{} does not use token authentication, so an identity token cannot log in to it",
                endpoint.host
            )));
        };
        let url = endpoint.url("/v2/");
        let response = self
            .http
            .for_url(&url)?
            .get(url.clone())
            .header(
                reqwest::header::AUTHORIZATION,
                basic_header(username, password)?,
            )
            .send()
            .await
            .map_err(|e| connection_error(&endpoint.host, &e))?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED {
            return Err(Error::Unauthorized {
                registry: endpoint.host.clone(),
                detail: "the registry refused the user name and password".into(),
                had_credentials: true,
            });
        }
        if !response.status().is_success() {
            return Err(Error::Status {
                registry: endpoint.host.clone(),
                request: "GET /v2/".into(),
                status: response.status().as_u16(),
                code: None,
                message: None,
                retry_after: None,
            });
        }
        Ok(LoginAnswer {
            refresh_token: None,
        })
    }

    /// An ACR refresh token from the Azure AD exchange, for `wharf registry login`
    /// with no user name. `ping` is the registry's unauthenticated `GET /v2/`.
    pub(crate) async fn acr_login(
        &self,
        endpoint: &Endpoint,
        ping: &reqwest::Response,
    ) -> Result<Secret, Error> {
        let challenge = ping
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(parse_challenges)
            .find(|c| c.scheme == "bearer")
            .ok_or_else(|| Error::Invalid(format!(
                "{} does not announce token authentication, so the Azure AD sign-in does not apply: log in with -u and --password-stdin",
                endpoint.host
            )))?;
        let realm = challenge
            .param("realm")
            .and_then(|r| endpoint.base.join(r).ok())
            .ok_or_else(|| Error::Protocol {
                registry: endpoint.host.clone(),
                message: "the registry's Bearer challenge has no valid realm".into(),
            })?;
        self.check_realm(endpoint, &realm, true)?;
        let service = challenge
            .param("service")
            .unwrap_or(&endpoint.host)
            .to_string();
        self.exchange_aad(endpoint, &realm, &service).await
    }
}

fn basic_header(username: &str, password: &str) -> Result<HeaderValue, Error> {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
        .map_err(|_| Error::Invalid("the stored credential cannot be sent as a header".into()))?;
    value.set_sensitive(true);
    Ok(value)
}
