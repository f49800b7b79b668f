//! Values for a task's secret declarations: local values first, else Key Vault.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use tokio::task::JoinSet;
use wharf_spec::Secret;

use crate::credential::{CredentialFailure, Credentials, EnvConfig, Plan, error_chain};
use crate::keyvault::{self, FetchError};
use crate::vault_url::{self, VaultSecretUrl};
use crate::{LocalSecrets, SecretError};

/// How long reading one secret from Key Vault may take, token included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Resolves secret declarations: a local value for the id wins; otherwise the
/// value is read from Azure Key Vault with an Azure credential (see the crate
/// docs for which one).
///
/// Cheap to clone (clones share state): credentials are created on first use
/// and cached, one per client id, for the life of the resolver (and so are
/// their tokens).
#[derive(Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
    timeout: Duration,
}

struct Inner {
    local: LocalSecrets,
    credentials: Credentials,
    /// Built on the first Key Vault read: loading the system's CA certificates costs
    /// tens of milliseconds, which a run whose secrets are all local never pays.
    clients: std::sync::OnceLock<Result<Clients, String>>,
}

/// HTTP clients: `proxied` follows the usual proxy variables; `direct` never
/// uses a proxy and serves loopback vaults and the IMDS probe.
struct Clients {
    proxied: reqwest::Client,
    direct: reqwest::Client,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("local", &self.inner.local)
            .field("credentials", &self.inner.credentials)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// A resolver with these local values; Key Vault access is configured from
    /// the process environment (read now; see the crate docs).
    pub fn new(local: LocalSecrets) -> Resolver {
        Self::with_env(local, EnvConfig::from_process())
    }

    pub(crate) fn with_env(local: LocalSecrets, env: EnvConfig) -> Resolver {
        Resolver {
            inner: Arc::new(Inner {
                local,
                credentials: Credentials::new(env),
                clients: std::sync::OnceLock::new(),
            }),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Change how long reading one secret from Key Vault may take (token
    /// included; [`DEFAULT_TIMEOUT`] by default).
    pub fn with_timeout(mut self, timeout: Duration) -> Resolver {
        self.timeout = timeout;
        self
    }

    /// The local values this resolver was made with.
    pub fn local(&self) -> &LocalSecrets {
        &self.inner.local
    }

    /// Values for every declaration, by id: a local value for the id wins
    /// (without any network access); otherwise Key Vault. Key Vault reads run
    /// concurrently. A declaration with a local value is not checked further;
    /// the others must have a valid Key Vault secret URL, checked before any
    /// request. When several reads fail, the error of the first failing
    /// declaration (in declaration order) is returned.
    ///
    /// Must run inside a Tokio runtime (reads are spawned as tasks).
    pub async fn resolve(
        &self,
        secrets: &[Secret],
    ) -> Result<BTreeMap<String, String>, SecretError> {
        let mut values = BTreeMap::new();
        let mut remote = Vec::new();
        let mut tokens = Vec::new();
        for (index, decl) in secrets.iter().enumerate() {
            if let Some(value) = self.inner.local.get(&decl.id) {
                values.insert(decl.id.clone(), value.to_owned());
                continue;
            }
            if let Some(resource) = decl.aad_resource_id.as_deref().filter(|r| !r.is_empty()) {
                tokens.push((index, decl.clone(), resource.to_owned()));
                continue;
            }
            let allow_loopback = self.inner.credentials.env().allow_loopback();
            let url = vault_url::parse(&decl.keyvault, allow_loopback).map_err(|reason| {
                SecretError::InvalidUrl {
                    id: decl.id.clone(),
                    url: vault_url::for_display(&decl.keyvault),
                    reason,
                }
            })?;
            remote.push((index, decl.clone(), url));
        }

        let mut tasks = JoinSet::new();
        let mut task_ids = HashMap::new();
        for (index, decl, resource) in tokens {
            let inner = Arc::clone(&self.inner);
            let timeout = self.timeout;
            let handle = tasks.spawn(async move {
                let result = inner.token_with_timeout(&decl, &resource, timeout).await;
                (index, result)
            });
            task_ids.insert(handle.id(), index);
        }
        for (index, decl, url) in remote {
            let inner = Arc::clone(&self.inner);
            let timeout = self.timeout;
            let handle = tasks.spawn(async move {
                let result = inner.fetch_with_timeout(&decl, &url, timeout).await;
                (index, result)
            });
            task_ids.insert(handle.id(), index);
        }
        let mut results = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(done) => results.push(done),
                Err(e) => {
                    let id = task_ids
                        .get(&e.id())
                        .and_then(|index| secrets.get(*index))
                        .map_or_else(String::new, |decl| decl.id.clone());
                    return Err(SecretError::Internal {
                        id,
                        message: format!("reading it from Key Vault failed: {e}"),
                    });
                }
            }
        }
        results.sort_by_key(|(index, _)| *index);
        for (index, result) in results {
            let value = result?;
            if let Some(decl) = secrets.get(index) {
                values.insert(decl.id.clone(), value);
            }
        }
        Ok(values)
    }
}

impl Inner {
    /// A token secret: an Azure AD access token for `resource` (acr-builder's
    /// `aadresourceid`), from the declaration's managed identity when it names one.
    async fn token_with_timeout(
        &self,
        decl: &Secret,
        resource: &str,
        timeout: Duration,
    ) -> Result<String, SecretError> {
        let scope = format!("{}/.default", resource.trim_end_matches('/'));
        let client_id = decl
            .client_id
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let clients = self
            .clients
            .get_or_init(|| build_clients().map_err(|e| error_chain(&e)))
            .as_ref()
            .map_err(|e| SecretError::Internal {
                id: decl.id.clone(),
                message: format!("cannot set up the HTTP client: {e}"),
            })?;
        let token = self.credentials.token(client_id, &scope, &clients.direct);
        match tokio::time::timeout(timeout, token).await {
            Ok(Ok((token, _))) => Ok(token.token.secret().to_owned()),
            Ok(Err(CredentialFailure {
                credential,
                message,
            })) => Err(SecretError::Token {
                id: decl.id.clone(),
                resource: resource.to_owned(),
                credential,
                message,
            }),
            Err(_) => Err(SecretError::Internal {
                id: decl.id.clone(),
                message: format!(
                    "getting a token for {resource} took more than {} s",
                    timeout.as_secs()
                ),
            }),
        }
    }

    async fn fetch_with_timeout(
        &self,
        decl: &Secret,
        url: &VaultSecretUrl,
        timeout: Duration,
    ) -> Result<String, SecretError> {
        match tokio::time::timeout(timeout, self.fetch(decl, url)).await {
            Ok(result) => result,
            Err(_) => Err(SecretError::Timeout {
                id: decl.id.clone(),
                vault: url.vault.clone(),
                seconds: timeout.as_secs(),
            }),
        }
    }

    async fn fetch(&self, decl: &Secret, url: &VaultSecretUrl) -> Result<String, SecretError> {
        let id = || decl.id.clone();
        let vault = || url.vault.clone();
        let clients = self
            .clients
            .get_or_init(|| build_clients().map_err(|e| error_chain(&e)))
            .as_ref()
            .map_err(|e| SecretError::Internal {
                id: id(),
                message: format!("cannot set up the HTTP client: {e}"),
            })?;
        let client_id = decl
            .client_id
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let (token, plan) = self
            .credentials
            .token(client_id, url.scope, &clients.direct)
            .await
            .map_err(
                |CredentialFailure {
                     credential,
                     message,
                 }| SecretError::Credential {
                    id: id(),
                    vault: vault(),
                    credential,
                    message,
                },
            )?;
        let token = token.token.secret();
        let client = if url.loopback {
            &clients.direct
        } else {
            &clients.proxied
        };
        keyvault::get_secret(client, url, token)
            .await
            .map_err(|e| fetch_error(e, decl, url, &plan, token))
    }
}

/// Turn a failed read into the user-facing error; any echo of the token in
/// Key Vault's answer is blanked out.
fn fetch_error(
    error: FetchError,
    decl: &Secret,
    url: &VaultSecretUrl,
    plan: &Plan,
    token: &str,
) -> SecretError {
    let clean = |text: String| {
        if token.is_empty() {
            text
        } else {
            text.replace(token, "<token>")
        }
    };
    let id = decl.id.clone();
    let vault = url.vault.clone();
    match error {
        FetchError::Status { status, detail } => {
            let detail = clean(detail);
            match status {
                StatusCode::UNAUTHORIZED => SecretError::Unauthorized {
                    id,
                    vault,
                    credential: plan.to_string(),
                    detail,
                },
                StatusCode::FORBIDDEN => SecretError::Forbidden {
                    id,
                    vault,
                    credential: plan.to_string(),
                    detail,
                },
                StatusCode::NOT_FOUND => SecretError::NotFound {
                    id,
                    vault,
                    what: url.what(),
                    detail,
                },
                _ => SecretError::KeyVault {
                    id,
                    vault,
                    status: status.as_u16(),
                    detail,
                },
            }
        }
        FetchError::Transport(message) => SecretError::Transport {
            id,
            vault,
            message: clean(message),
        },
        FetchError::InvalidResponse(reason) => SecretError::InvalidResponse { id, vault, reason },
    }
}

fn build_clients() -> Result<Clients, reqwest::Error> {
    let builder = || {
        reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION")))
    };
    Ok(Clients {
        proxied: builder().build()?,
        direct: builder().no_proxy().build()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(id: &str, keyvault: &str) -> Secret {
        Secret {
            id: id.to_owned(),
            keyvault: keyvault.to_owned(),
            client_id: None,
            aad_resource_id: None,
        }
    }

    /// An environment that must never be used: any attempt to get a token
    /// fails at once instead of probing IMDS or running `az`.
    fn no_credentials() -> EnvConfig {
        EnvConfig::from_lookup(|name| {
            (name == crate::credential::MODE_ENV).then(|| "client-secret".to_owned())
        })
    }

    /// [`no_credentials`], with loopback vaults allowed.
    fn no_credentials_loopback_allowed() -> EnvConfig {
        EnvConfig::from_lookup(|name| match name {
            crate::credential::MODE_ENV => Some("client-secret".to_owned()),
            crate::vault_url::ALLOW_LOOPBACK_ENV => Some("1".to_owned()),
            _ => None,
        })
    }

    #[tokio::test]
    async fn local_values_win_without_network() -> Result<(), SecretError> {
        let mut local = LocalSecrets::new();
        local.parse_flag("pw=local-value")?;
        local.parse_flag("unused=x")?;
        let resolver = Resolver::with_env(local, no_credentials());
        // Port 9 (discard) on loopback: any request would fail; a malformed
        // URL is not even looked at when the value is local.
        let values = resolver
            .resolve(&[
                decl("pw", "http://127.0.0.1:9/secrets/pw"),
                decl("pw", "not a url"),
            ])
            .await?;
        assert_eq!(values.len(), 1);
        assert_eq!(values.get("pw").map(String::as_str), Some("local-value"));
        assert!(resolver.resolve(&[]).await?.is_empty());
        Ok(())
    }

    #[tokio::test]
    async fn malformed_urls_are_refused_before_any_request() {
        let resolver = Resolver::with_env(LocalSecrets::new(), no_credentials());
        for (url, reason) in [
            ("https://u:hunter2@v.vault.azure.net/secrets/a", "user name"),
            ("http://myvault.vault.azure.net/secrets/a", "plain http"),
            (
                "https://myvault.vault.azure.net/certificates/a",
                "not a secret path",
            ),
        ] {
            let result = resolver
                .resolve(&[
                    decl("ok", "https://ok.vault.azure.net/secrets/ok"),
                    decl("bad", url),
                ])
                .await;
            let Err(e) = result else {
                panic!("{url} accepted");
            };
            assert!(matches!(e, SecretError::InvalidUrl { .. }), "{e:?}");
            let msg = e.to_string();
            assert!(
                msg.starts_with("secret `bad`: invalid keyvault URL"),
                "{msg}"
            );
            assert!(msg.contains(reason), "{msg}");
            assert!(!msg.contains("hunter2"), "{msg}");
        }
    }

    /// A listener that counts the connections it gets.
    async fn counting_listener() -> std::io::Result<(String, Arc<std::sync::atomic::AtomicUsize>)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = Arc::clone(&count);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(stream);
            }
        });
        Ok((base, count))
    }

    #[tokio::test]
    async fn loopback_vaults_are_refused_unless_the_environment_opts_in()
    -> Result<(), Box<dyn std::error::Error>> {
        let (base, connections) = counting_listener().await?;
        let declared = [decl("pw", &format!("{base}/secrets/pw"))];

        let resolver = Resolver::with_env(LocalSecrets::new(), no_credentials());
        let Err(e) = resolver.resolve(&declared).await else {
            panic!("a loopback vault was accepted");
        };
        assert!(matches!(e, SecretError::InvalidUrl { .. }), "{e:?}");
        assert_eq!(e.id(), Some("pw"));
        let msg = e.to_string();
        assert!(
            msg.starts_with("secret `pw`: invalid keyvault URL")
                && msg.contains("is a loopback address")
                && msg.contains("WHARF_KEYVAULT_ALLOW_LOOPBACK=1"),
            "{msg}"
        );

        // With the opt-in the URL is accepted; this environment has no
        // credential, so the read stops there.
        let resolver = Resolver::with_env(LocalSecrets::new(), no_credentials_loopback_allowed());
        let Err(e) = resolver.resolve(&declared).await else {
            panic!("resolved without a credential");
        };
        assert!(matches!(e, SecretError::Credential { .. }), "{e:?}");
        assert_eq!(
            connections.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "nothing was sent to the loopback port"
        );
        Ok(())
    }

    #[tokio::test]
    async fn credential_configuration_errors_name_the_secret() {
        let resolver = Resolver::with_env(LocalSecrets::new(), no_credentials());
        let result = resolver
            .resolve(&[decl(
                "pw",
                "https://myvault.vault.azure.net/secrets/password",
            )])
            .await;
        let Err(e) = result else {
            panic!("resolved without a credential");
        };
        assert_eq!(e.id(), Some("pw"));
        let msg = e.to_string();
        assert!(
            msg.starts_with(
                "secret `pw`: cannot get a token for Key Vault https://myvault.vault.azure.net"
            ),
            "{msg}"
        );
        assert!(msg.contains("--secret pw=VALUE"), "{msg}");
    }

    #[test]
    fn status_errors_map_and_blank_out_the_token() -> Result<(), String> {
        let url = vault_url::parse("https://myvault.vault.azure.net/secrets/password/v1", false)?;
        let d = decl("pw", "unused");
        let plan = Plan::ManagedIdentity(Some("c1".to_owned()));
        let status = |code: u16| FetchError::Status {
            status: StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT),
            detail: "Unauthorized: token tok-123 expired".to_owned(),
        };
        let e = fetch_error(status(401), &d, &url, &plan, "tok-123");
        let msg = e.to_string();
        assert!(matches!(e, SecretError::Unauthorized { .. }), "{e:?}");
        assert_eq!(
            msg,
            "secret `pw`: Key Vault https://myvault.vault.azure.net did not accept the token \
             of the user-assigned managed identity with client ID c1 (HTTP 401: Unauthorized: \
             token <token> expired); check that the identity belongs to the vault's tenant"
        );
        let e = fetch_error(status(404), &d, &url, &plan, "tok-123");
        assert!(
            e.to_string()
                .contains("has no secret `password` version `v1`"),
            "{e}"
        );
        let e = fetch_error(status(429), &d, &url, &plan, "tok-123");
        assert!(
            matches!(e, SecretError::KeyVault { status: 429, .. }),
            "{e:?}"
        );
        let e = fetch_error(
            FetchError::Transport("refused tok-123".into()),
            &d,
            &url,
            &plan,
            "tok-123",
        );
        assert!(!e.to_string().contains("tok-123") && !format!("{e:?}").contains("tok-123"));
        Ok(())
    }

    #[test]
    fn debug_hides_values() -> Result<(), SecretError> {
        let mut local = LocalSecrets::new();
        local.parse_flag("pw=hunter2")?;
        let debug = format!("{:?}", Resolver::with_env(local, no_credentials()));
        assert!(debug.contains("\"pw\""), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
        Ok(())
    }
}
