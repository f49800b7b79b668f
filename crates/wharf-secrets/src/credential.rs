//! Which Azure credential reads Key Vault, and one cached credential per
//! client id.
//!
//! Selection (environment read once, when the [`Resolver`](crate::Resolver)
//! is created):
//!
//! 1. A managed identity endpoint exists: `IDENTITY_ENDPOINT` and
//!    `IDENTITY_HEADER` are set (App Service style), or else Azure's Instance
//!    Metadata Service (IMDS) answers (an Azure VM, which is where ACR runs
//!    tasks). Then `ManagedIdentityCredential`: user-assigned with the
//!    declaration's `clientID` when it has one, else system-assigned — what
//!    ACR does. The IMDS probe asks for the instance's compute metadata with
//!    the `Metadata: true` header and counts only an Azure-shaped answer (200,
//!    JSON with a `vmId`): other clouds' metadata services answer at the same
//!    address (169.254.169.254) too. It is one request with a one-second
//!    timeout, made at most once per resolver and only when a secret needs
//!    Key Vault.
//! 2. `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET` are all
//!    set: that service principal (`AZURE_AUTHORITY_HOST` picks the cloud).
//! 3. Otherwise the developer tools: the Azure CLI (`az login`), then the
//!    Azure Developer CLI.
//!
//! When the managed identity exists but cannot give a token and the
//! declaration has no `clientID` (an Azure machine without a system-assigned
//! identity, say), the next credential (2, else 3) is tried, and an error
//! names every credential tried. A declaration with a `clientID` asks for that
//! identity: its failure is final.
//!
//! So a task written for ACR, with a `clientID`, runs on a laptop with the
//! developer's own login, where that managed identity cannot exist anyway.
//! `WHARF_AZURE_CREDENTIAL` overrides the automatic choice:
//! `managed-identity` (only the managed identity; fails fast when nothing
//! answers at the IMDS address, and takes any answer there as the endpoint,
//! for Azure hosts that serve only the token endpoint), `client-secret`,
//! `developer-tools` or `auto`.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_core::credentials::{AccessToken, Secret, TokenCredential};
use azure_identity::{
    ClientSecretCredential, DeveloperToolsCredential, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId,
};
use tokio::sync::OnceCell;

use crate::vault_url::ALLOW_LOOPBACK_ENV;

/// Environment variable that overrides the automatic credential choice.
pub(crate) const MODE_ENV: &str = "WHARF_AZURE_CREDENTIAL";

/// Where Azure's Instance Metadata Service listens.
const IMDS_BASE: &str = "http://169.254.169.254";
/// The probe: the instance's compute metadata (answered only with `Metadata: true`).
const IMDS_PROBE_PATH: &str = "/metadata/instance/compute?api-version=2021-02-01&format=json";
const IMDS_PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// The largest probe answer read (compute metadata is a few kilobytes).
const IMDS_PROBE_MAX_BODY: usize = 1 << 20;

/// How the credential is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The automatic order in the module docs.
    Auto,
    /// Always a managed identity.
    ManagedIdentity,
    /// Always the `AZURE_*` service principal.
    ClientSecret,
    /// Always the Azure CLI / Azure Developer CLI.
    DeveloperTools,
}

/// A service principal from `AZURE_TENANT_ID`/`AZURE_CLIENT_ID`/`AZURE_CLIENT_SECRET`.
#[derive(Clone)]
struct ServicePrincipal {
    tenant_id: String,
    client_id: String,
    secret: String,
}

/// What the credential choice (and the vault URL check) needs from the
/// environment.
#[derive(Clone)]
pub(crate) struct EnvConfig {
    mode: Result<Mode, String>,
    app_service: bool,
    service_principal: Option<ServicePrincipal>,
    allow_loopback: bool,
}

impl fmt::Debug for EnvConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvConfig")
            .field("mode", &self.mode)
            .field("app_service", &self.app_service)
            .field(
                "service_principal",
                &self.service_principal.as_ref().map(|sp| &sp.client_id),
            )
            .field("allow_loopback", &self.allow_loopback)
            .finish()
    }
}

impl EnvConfig {
    /// Read the process environment.
    pub(crate) fn from_process() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Read the environment through `var` (empty values count as unset).
    pub(crate) fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Self {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let mode = match var(MODE_ENV).as_deref().map(str::trim) {
            None | Some("auto") => Ok(Mode::Auto),
            Some("managed-identity") => Ok(Mode::ManagedIdentity),
            Some("client-secret") => Ok(Mode::ClientSecret),
            Some("developer-tools") => Ok(Mode::DeveloperTools),
            Some(other) => Err(format!(
                "{MODE_ENV}={other} is not one of auto, managed-identity, client-secret, \
                 developer-tools"
            )),
        };
        let service_principal = match (
            var("AZURE_TENANT_ID"),
            var("AZURE_CLIENT_ID"),
            var("AZURE_CLIENT_SECRET"),
        ) {
            (Some(tenant_id), Some(client_id), Some(secret)) => Some(ServicePrincipal {
                tenant_id,
                client_id,
                secret,
            }),
            _ => None,
        };
        Self {
            mode,
            app_service: var("IDENTITY_ENDPOINT").is_some() && var("IDENTITY_HEADER").is_some(),
            service_principal,
            allow_loopback: var(ALLOW_LOOPBACK_ENV).is_some_and(|v| v.trim() == "1"),
        }
    }

    /// Whether loopback vault URLs are allowed (`WHARF_KEYVAULT_ALLOW_LOOPBACK=1`).
    pub(crate) fn allow_loopback(&self) -> bool {
        self.allow_loopback
    }
}

/// A chosen credential; also the cache key (one credential per client id).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Plan {
    /// Managed identity, user-assigned when a client id is given.
    ManagedIdentity(Option<String>),
    /// The `AZURE_*` service principal (its client id).
    ClientSecret(String),
    /// Azure CLI, then Azure Developer CLI.
    DeveloperTools,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Plan::ManagedIdentity(Some(id)) => {
                write!(f, "the user-assigned managed identity with client ID {id}")
            }
            Plan::ManagedIdentity(None) => f.write_str("the system-assigned managed identity"),
            Plan::ClientSecret(id) => {
                write!(f, "the service principal {id} (AZURE_CLIENT_SECRET)")
            }
            Plan::DeveloperTools => f.write_str("the Azure CLI / Azure Developer CLI login"),
        }
    }
}

/// How the presence of a managed identity endpoint is established.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// No probe: an App Service style endpoint is configured, or the first
    /// credential is not a managed identity.
    None,
    /// IMDS must answer as Azure's does (the automatic choice).
    AzureImds,
    /// Any answer at the IMDS address will do (managed identity forced).
    AnyImds,
}

/// The credentials to try for a declaration, chosen without network access.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Selection {
    /// The credential to try first.
    pub(crate) first: Plan,
    /// Whether `first` (a managed identity) needs the IMDS probe.
    pub(crate) probe: Probe,
    /// Used instead of `first` when the probe finds no endpoint (`None`: fail).
    pub(crate) if_no_endpoint: Option<Plan>,
    /// Tried after `first` when it cannot give a token.
    pub(crate) if_no_token: Option<Plan>,
}

impl Selection {
    /// Just this credential.
    fn only(plan: Plan) -> Selection {
        Selection {
            first: plan,
            probe: Probe::None,
            if_no_endpoint: None,
            if_no_token: None,
        }
    }
}

/// Choose the credentials for a declaration's client id.
pub(crate) fn select(cfg: &EnvConfig, client_id: Option<&str>) -> Result<Selection, String> {
    let mode = cfg.mode.clone()?;
    let sp = cfg.service_principal.as_ref();
    let mi = Plan::ManagedIdentity(client_id.map(str::to_owned));
    Ok(match mode {
        Mode::ManagedIdentity => Selection {
            probe: if cfg.app_service {
                Probe::None
            } else {
                Probe::AnyImds
            },
            ..Selection::only(mi)
        },
        Mode::DeveloperTools => Selection::only(Plan::DeveloperTools),
        Mode::ClientSecret => match sp {
            Some(sp) => Selection::only(Plan::ClientSecret(sp.client_id.clone())),
            None => {
                return Err(format!(
                    "{MODE_ENV}=client-secret needs AZURE_TENANT_ID, AZURE_CLIENT_ID and \
                     AZURE_CLIENT_SECRET"
                ));
            }
        },
        Mode::Auto => {
            let next = match sp {
                Some(sp) => Plan::ClientSecret(sp.client_id.clone()),
                None => Plan::DeveloperTools,
            };
            let probe = if cfg.app_service {
                Probe::None
            } else {
                Probe::AzureImds
            };
            Selection {
                first: mi,
                probe,
                if_no_endpoint: (probe != Probe::None).then(|| next.clone()),
                // A declared clientID asks for that identity and nothing else.
                if_no_token: client_id.is_none().then_some(next),
            }
        }
    })
}

/// Why no token could be had.
#[derive(Debug)]
pub(crate) struct CredentialFailure {
    /// Which credential, e.g. "the system-assigned managed identity", or
    /// which were tried.
    pub(crate) credential: String,
    /// What failed.
    pub(crate) message: String,
}

/// What answers at the IMDS address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Imds {
    /// Azure's Instance Metadata Service.
    Azure,
    /// Something else: another cloud's metadata service, a proxy, …
    Other,
    /// Nothing.
    Absent,
}

/// Credentials, created on first use and cached per [`Plan`].
pub(crate) struct Credentials {
    cfg: EnvConfig,
    imds_base: String,
    imds: OnceCell<Imds>,
    cache: Mutex<HashMap<Plan, Arc<dyn TokenCredential>>>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("cfg", &self.cfg)
            .field("imds", &self.imds.get())
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Nothing created yet.
    pub(crate) fn new(cfg: EnvConfig) -> Self {
        Self::with_imds(cfg, IMDS_BASE)
    }

    /// With the IMDS probe sent to `imds_base` (`http://host:port`).
    pub(crate) fn with_imds(cfg: EnvConfig, imds_base: &str) -> Self {
        Self {
            cfg,
            imds_base: imds_base.to_owned(),
            imds: OnceCell::new(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The environment this was made with.
    pub(crate) fn env(&self) -> &EnvConfig {
        &self.cfg
    }

    /// A token for `scope` for a declaration's client id, and the credential
    /// that gave it. `direct` is a client without proxy, used for the IMDS
    /// probe.
    pub(crate) async fn token(
        &self,
        client_id: Option<&str>,
        scope: &str,
        direct: &reqwest::Client,
    ) -> Result<(AccessToken, Plan), CredentialFailure> {
        let selection = select(&self.cfg, client_id).map_err(|message| CredentialFailure {
            credential: "the configured credential".to_owned(),
            message,
        })?;
        let imds = match selection.probe {
            Probe::None => None,
            Probe::AzureImds | Probe::AnyImds => Some(
                *self
                    .imds
                    .get_or_init(|| probe_imds(direct, &self.imds_base))
                    .await,
            ),
        };
        let endpoint = match (selection.probe, imds) {
            (Probe::AzureImds, Some(found)) => found == Imds::Azure,
            (Probe::AnyImds, Some(found)) => found != Imds::Absent,
            _ => true,
        };
        if endpoint {
            let order: Vec<Plan> = std::iter::once(selection.first)
                .chain(selection.if_no_token)
                .collect();
            return first_token(order, |plan| self.token_from(plan, scope)).await;
        }
        let note = match imds {
            Some(Imds::Other) => {
                "something answers at 169.254.169.254, but not as Azure's Instance Metadata \
                 Service does"
            }
            _ => "the Azure Instance Metadata Service does not answer",
        };
        let Some(plan) = selection.if_no_endpoint else {
            return Err(CredentialFailure {
                credential: selection.first.to_string(),
                message: format!(
                    "{MODE_ENV}=managed-identity, but there is no managed identity endpoint \
                     here (IDENTITY_ENDPOINT/IDENTITY_HEADER are not set and {note})"
                ),
            });
        };
        first_token(vec![plan], |plan| self.token_from(plan, scope))
            .await
            .map_err(|mut failure| {
                failure.message = format!(
                    "{} (no managed identity was tried: IDENTITY_ENDPOINT/IDENTITY_HEADER are \
                     not set and {note})",
                    failure.message
                );
                failure
            })
    }

    /// A token from one credential; the error as text.
    async fn token_from(&self, plan: Plan, scope: &str) -> Result<AccessToken, String> {
        let credential = self.credential(&plan).map_err(|e| error_chain(&e))?;
        credential
            .get_token(&[scope], None)
            .await
            .map_err(|e| error_chain(&e))
    }

    /// The cached credential for `plan`, created on first use.
    fn credential(&self, plan: &Plan) -> azure_core::Result<Arc<dyn TokenCredential>> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cred) = cache.get(plan) {
            return Ok(Arc::clone(cred));
        }
        let cred = self.create(plan)?;
        cache.insert(plan.clone(), Arc::clone(&cred));
        Ok(cred)
    }

    fn create(&self, plan: &Plan) -> azure_core::Result<Arc<dyn TokenCredential>> {
        Ok(match plan {
            Plan::ManagedIdentity(client_id) => {
                ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                    user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                    ..Default::default()
                }))?
            }
            Plan::ClientSecret(_) => {
                let Some(sp) = &self.cfg.service_principal else {
                    return Err(azure_core::Error::with_message(
                        azure_core::error::ErrorKind::Credential,
                        "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET are not all set",
                    ));
                };
                ClientSecretCredential::new(
                    &sp.tenant_id,
                    sp.client_id.clone(),
                    Secret::new(sp.secret.clone()),
                    None,
                )?
            }
            Plan::DeveloperTools => DeveloperToolsCredential::new(None)?,
        })
    }
}

/// Try the credentials in `order` until one gives a token. When all fail, the
/// failure names each one tried and why it failed.
async fn first_token<T, F, Fut>(
    order: Vec<Plan>,
    mut attempt: F,
) -> Result<(T, Plan), CredentialFailure>
where
    F: FnMut(Plan) -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let mut failures: Vec<(Plan, String)> = Vec::new();
    for plan in order {
        match attempt(plan.clone()).await {
            Ok(token) => return Ok((token, plan)),
            Err(message) => failures.push((plan, message)),
        }
    }
    Err(match failures.as_slice() {
        [(plan, message)] => CredentialFailure {
            credential: plan.to_string(),
            message: message.clone(),
        },
        _ => CredentialFailure {
            credential: failures
                .iter()
                .map(|(plan, _)| plan.to_string())
                .collect::<Vec<_>>()
                .join(" or "),
            message: failures
                .iter()
                .enumerate()
                .map(|(i, (plan, message))| {
                    let step = if i == 0 { "tried" } else { "then" };
                    format!("{step} {plan}: {message}")
                })
                .collect::<Vec<_>>()
                .join("; "),
        },
    })
}

/// What answers at the IMDS address `base`: Azure's IMDS answers the compute
/// metadata request (sent with `Metadata: true`, without which Azure refuses
/// it) with JSON that has a `vmId`.
async fn probe_imds(direct: &reqwest::Client, base: &str) -> Imds {
    let request = direct
        .get(format!("{base}{IMDS_PROBE_PATH}"))
        .header("Metadata", "true")
        .timeout(IMDS_PROBE_TIMEOUT);
    let Ok(mut response) = request.send().await else {
        return Imds::Absent;
    };
    if response.status() != reqwest::StatusCode::OK {
        return Imds::Other;
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() <= IMDS_PROBE_MAX_BODY => {
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Ok(Some(_)) | Err(_) => return Imds::Other,
        }
    }
    if is_azure_compute_metadata(&body) {
        Imds::Azure
    } else {
        Imds::Other
    }
}

/// Whether `body` is Azure IMDS compute metadata: a JSON object with a
/// non-empty string `vmId`.
fn is_azure_compute_metadata(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|json| {
        json.get("vmId")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|id| !id.trim().is_empty())
    })
}

/// An error and its sources, joined with `: `, without repeats.
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use azure_core::credentials::TokenRequestOptions;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn cfg(vars: &[(&str, &str)]) -> EnvConfig {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        EnvConfig::from_lookup(move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    const SP: &[(&str, &str)] = &[
        ("AZURE_TENANT_ID", "t"),
        ("AZURE_CLIENT_ID", "sp-client"),
        ("AZURE_CLIENT_SECRET", "hunter2"),
    ];
    const APP_SERVICE: &[(&str, &str)] = &[
        ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/token"),
        ("IDENTITY_HEADER", "h"),
    ];

    fn only(p: Plan) -> Result<Selection, String> {
        Ok(Selection::only(p))
    }

    fn mi(client_id: Option<&str>) -> Plan {
        Plan::ManagedIdentity(client_id.map(str::to_owned))
    }

    /// The automatic choice: managed identity, else (or after it) `next`.
    fn auto(client_id: Option<&str>, probe: Probe, next: Plan) -> Result<Selection, String> {
        Ok(Selection {
            first: mi(client_id),
            probe,
            if_no_endpoint: (probe != Probe::None).then(|| next.clone()),
            if_no_token: client_id.is_none().then_some(next),
        })
    }

    #[test]
    fn app_service_endpoint_means_managed_identity_without_a_probe() {
        let mut vars = APP_SERVICE.to_vec();
        vars.extend_from_slice(SP);
        let sp = Plan::ClientSecret("sp-client".into());
        assert_eq!(
            select(&cfg(&vars), None),
            auto(None, Probe::None, sp.clone())
        );
        assert_eq!(
            select(&cfg(&vars), Some("c1")),
            auto(Some("c1"), Probe::None, sp)
        );
        // Both variables are needed.
        assert_eq!(
            select(&cfg(&APP_SERVICE[..1]), None),
            auto(None, Probe::AzureImds, Plan::DeveloperTools)
        );
    }

    #[test]
    fn imds_then_service_principal_then_developer_tools() {
        let sp = Plan::ClientSecret("sp-client".into());
        assert_eq!(
            select(&cfg(SP), None),
            auto(None, Probe::AzureImds, sp.clone())
        );
        // With a client id, the fallback applies only when there is no
        // managed identity endpoint at all.
        let with_client_id = select(&cfg(SP), Some("c1"));
        assert_eq!(
            with_client_id,
            Ok(Selection {
                first: mi(Some("c1")),
                probe: Probe::AzureImds,
                if_no_endpoint: Some(sp),
                if_no_token: None,
            })
        );
        // An incomplete service principal does not count.
        assert_eq!(
            select(&cfg(&SP[..2]), None),
            auto(None, Probe::AzureImds, Plan::DeveloperTools)
        );
        assert_eq!(
            select(&cfg(&[]), Some("c1")),
            auto(Some("c1"), Probe::AzureImds, Plan::DeveloperTools)
        );
    }

    #[test]
    fn override_variable() {
        let with = |mode: &str, extra: &[(&str, &str)]| {
            let mut vars = vec![(MODE_ENV, mode)];
            vars.extend_from_slice(extra);
            cfg(&vars)
        };
        assert_eq!(
            select(&with("managed-identity", SP), Some("c1")),
            Ok(Selection {
                probe: Probe::AnyImds,
                ..Selection::only(mi(Some("c1")))
            })
        );
        assert_eq!(
            select(&with("managed-identity", SP), None),
            Ok(Selection {
                probe: Probe::AnyImds,
                ..Selection::only(mi(None))
            })
        );
        assert_eq!(
            select(&with("managed-identity", APP_SERVICE), None),
            only(mi(None))
        );
        assert_eq!(
            select(&with("developer-tools", APP_SERVICE), Some("c1")),
            only(Plan::DeveloperTools)
        );
        assert_eq!(
            select(&with("client-secret", SP), Some("c1")),
            only(Plan::ClientSecret("sp-client".into()))
        );
        assert!(select(&with("client-secret", &[]), None).is_err());
        let Err(e) = select(&with("magic", &[]), None) else {
            panic!("bad mode accepted");
        };
        assert!(e.contains("WHARF_AZURE_CREDENTIAL=magic"), "{e}");
        assert_eq!(
            select(&with("auto", &[]), None),
            auto(None, Probe::AzureImds, Plan::DeveloperTools)
        );
    }

    #[test]
    fn loopback_vaults_need_the_opt_in() {
        assert!(!cfg(&[]).allow_loopback());
        assert!(!cfg(&[(ALLOW_LOOPBACK_ENV, "0")]).allow_loopback());
        assert!(!cfg(&[(ALLOW_LOOPBACK_ENV, "yes")]).allow_loopback());
        assert!(cfg(&[(ALLOW_LOOPBACK_ENV, "1")]).allow_loopback());
    }

    #[test]
    fn debug_never_shows_the_client_secret() {
        let debug = format!("{:?}", Credentials::new(cfg(SP)));
        assert!(debug.contains("sp-client"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn plans_describe_themselves() {
        assert_eq!(
            Plan::ManagedIdentity(Some("c1".into())).to_string(),
            "the user-assigned managed identity with client ID c1"
        );
        assert_eq!(
            Plan::ManagedIdentity(None).to_string(),
            "the system-assigned managed identity"
        );
    }

    // -- the IMDS probe, against stand-ins on loopback --------------------------

    /// A stand-in for whatever answers at 169.254.169.254: `answer` gets the
    /// request head (lower-cased) and returns the status and body.
    struct MetadataServer {
        base: String,
        requests: Arc<Mutex<Vec<String>>>,
    }

    impl MetadataServer {
        async fn start(answer: fn(&str) -> (u16, &'static str)) -> MetadataServer {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let base = format!(
                "http://{}",
                listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
            );
            let requests = Arc::new(Mutex::new(Vec::new()));
            let seen = Arc::clone(&requests);
            tokio::spawn(async move {
                while let Ok((mut stream, _)) = listener.accept().await {
                    let mut head = Vec::new();
                    let mut buf = [0_u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                    let (status, body) = answer(&head);
                    seen.lock().unwrap_or_else(|e| e.into_inner()).push(head);
                    let response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                }
            });
            MetadataServer { base, requests }
        }

        fn requests(&self) -> Vec<String> {
            self.requests
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
        }
    }

    const AZURE_COMPUTE: &str = r#"{"azEnvironment":"AzurePublicCloud","location":"westeurope","name":"vm1","osType":"Linux","vmId":"02aab8a4-74ef-476e-8182-f6d2ba4166a6","vmSize":"Standard_D2s_v3"}"#;

    /// Azure's IMDS: compute metadata only with `Metadata: true`.
    fn azure(head: &str) -> (u16, &'static str) {
        if !head.contains("\r\nmetadata: true\r\n") {
            return (
                400,
                r#"{"error":"Bad request. Required metadata header not specified"}"#,
            );
        }
        if head.starts_with("get /metadata/instance/compute?") {
            (200, AZURE_COMPUTE)
        } else {
            (404, r#"{"error":"Not found"}"#)
        }
    }

    /// AWS's IMDS: no such path.
    fn aws(_: &str) -> (u16, &'static str) {
        (
            404,
            "<?xml version=\"1.0\"?><Error><Code>NotFound</Code></Error>",
        )
    }

    /// A metadata service that answers 200 to anything, but not with Azure's JSON.
    fn anything_goes(_: &str) -> (u16, &'static str) {
        (200, "ami-id\nhostname\ninstance-id\n")
    }

    /// JSON, but not compute metadata.
    fn other_json(_: &str) -> (u16, &'static str) {
        (200, r#"{"instance":{"id":"ocid1.instance"}}"#)
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn only_azure_shaped_answers_count_as_imds() {
        let server = MetadataServer::start(azure).await;
        assert_eq!(probe_imds(&client(), &server.base).await, Imds::Azure);
        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        assert!(
            requests[0].starts_with(
                "get /metadata/instance/compute?api-version=2021-02-01&format=json http/1.1"
            ),
            "{}",
            requests[0]
        );
        assert!(
            requests[0].contains("\r\nmetadata: true\r\n"),
            "{}",
            requests[0]
        );

        for answer in [aws, anything_goes, other_json] {
            let server = MetadataServer::start(answer).await;
            assert_eq!(probe_imds(&client(), &server.base).await, Imds::Other);
        }

        // Nothing listening: the port of a listener that is gone.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        drop(listener);
        assert_eq!(
            probe_imds(&client(), &format!("http://{addr}")).await,
            Imds::Absent
        );
    }

    #[test]
    fn azure_compute_metadata_is_recognised() {
        assert!(is_azure_compute_metadata(AZURE_COMPUTE.as_bytes()));
        for body in [
            "",
            "null",
            "[\"vmId\"]",
            r#"{"vmId":""}"#,
            r#"{"vmId":7}"#,
            r#"{"compute":{"vmId":"x"}}"#,
            "ami-id",
        ] {
            assert!(!is_azure_compute_metadata(body.as_bytes()), "{body}");
        }
    }

    // -- which credential gives the token ---------------------------------------

    /// A credential that gives `token`, or fails with `error`.
    #[derive(Debug)]
    struct Fake {
        result: Result<&'static str, &'static str>,
        calls: AtomicUsize,
    }

    impl Fake {
        fn gives(token: &'static str) -> Arc<Fake> {
            Arc::new(Fake {
                result: Ok(token),
                calls: AtomicUsize::new(0),
            })
        }

        fn fails(error: &'static str) -> Arc<Fake> {
            Arc::new(Fake {
                result: Err(error),
                calls: AtomicUsize::new(0),
            })
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    // What `#[async_trait]` generates, written out (the crate does not depend
    // on async-trait).
    impl TokenCredential for Fake {
        fn get_token<'life0, 'life1, 'life2, 'life3, 'async_trait>(
            &'life0 self,
            _scopes: &'life1 [&'life2 str],
            _options: Option<TokenRequestOptions<'life3>>,
        ) -> Pin<Box<dyn Future<Output = azure_core::Result<AccessToken>> + Send + 'async_trait>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            'life2: 'async_trait,
            'life3: 'async_trait,
            Self: 'async_trait,
        {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let result = match self.result {
                Ok(token) => Ok(AccessToken::new(
                    Secret::new(token),
                    azure_core::time::OffsetDateTime::now_utc()
                        + azure_core::time::Duration::hours(1),
                )),
                Err(error) => Err(azure_core::Error::with_message(
                    azure_core::error::ErrorKind::Credential,
                    error,
                )),
            };
            Box::pin(std::future::ready(result))
        }
    }

    /// Credentials whose IMDS probe goes to `imds` and whose credentials are
    /// the given fakes.
    fn with_fakes(vars: &[(&str, &str)], imds: &str, fakes: &[(Plan, &Arc<Fake>)]) -> Credentials {
        let credentials = Credentials::with_imds(cfg(vars), imds);
        {
            let mut cache = credentials.cache.lock().unwrap_or_else(|e| e.into_inner());
            for (plan, fake) in fakes {
                let fake: Arc<dyn TokenCredential> = Arc::clone(*fake) as Arc<dyn TokenCredential>;
                cache.insert(plan.clone(), fake);
            }
        }
        credentials
    }

    const SCOPE: &str = "https://vault.azure.net/.default";

    async fn token(
        credentials: &Credentials,
        client_id: Option<&str>,
    ) -> Result<(String, Plan), CredentialFailure> {
        credentials
            .token(client_id, SCOPE, &client())
            .await
            .map(|(token, plan)| (token.token.secret().to_owned(), plan))
    }

    #[tokio::test]
    async fn another_clouds_metadata_service_is_not_a_managed_identity() {
        for answer in [aws, anything_goes, other_json] {
            let server = MetadataServer::start(answer).await;
            let managed = Fake::gives("tok-mi");
            let developer = Fake::gives("tok-dev");
            let credentials = with_fakes(
                &[],
                &server.base,
                &[
                    (mi(None), &managed),
                    (mi(Some("c1")), &managed),
                    (Plan::DeveloperTools, &developer),
                ],
            );
            for client_id in [None, Some("c1")] {
                let got = token(&credentials, client_id).await.map_err(|f| f.message);
                assert_eq!(got, Ok(("tok-dev".to_owned(), Plan::DeveloperTools)));
            }
            assert_eq!(managed.calls(), 0);
            // Probed once per resolver.
            assert_eq!(server.requests().len(), 1);
        }
    }

    #[tokio::test]
    async fn azure_imds_means_the_managed_identity() {
        let server = MetadataServer::start(azure).await;
        let system = Fake::gives("tok-system");
        let user = Fake::gives("tok-user");
        let developer = Fake::gives("tok-dev");
        let credentials = with_fakes(
            &[],
            &server.base,
            &[
                (mi(None), &system),
                (mi(Some("c1")), &user),
                (Plan::DeveloperTools, &developer),
            ],
        );
        let got = token(&credentials, None).await.map_err(|f| f.message);
        assert_eq!(got, Ok(("tok-system".to_owned(), mi(None))));
        let got = token(&credentials, Some("c1")).await.map_err(|f| f.message);
        assert_eq!(got, Ok(("tok-user".to_owned(), mi(Some("c1")))));
        assert_eq!(developer.calls(), 0);
    }

    #[tokio::test]
    async fn a_managed_identity_without_a_token_falls_back_unless_a_client_id_is_declared() {
        let server = MetadataServer::start(azure).await;
        let no_identity = Fake::fails("Identity not found");
        let sp = Fake::gives("tok-sp");
        let sp_plan = Plan::ClientSecret("sp-client".into());
        let credentials = with_fakes(
            SP,
            &server.base,
            &[
                (mi(None), &no_identity),
                (mi(Some("c1")), &no_identity),
                (sp_plan.clone(), &sp),
            ],
        );
        let got = token(&credentials, None).await.map_err(|f| f.message);
        assert_eq!(got, Ok(("tok-sp".to_owned(), sp_plan)));
        assert_eq!((no_identity.calls(), sp.calls()), (1, 1));

        // The declared identity is what ACR would use: no fallback.
        let Err(failure) = token(&credentials, Some("c1")).await else {
            panic!("fell back from a declared clientID");
        };
        assert_eq!(
            failure.credential,
            "the user-assigned managed identity with client ID c1"
        );
        assert!(
            failure.message.contains("Identity not found"),
            "{failure:?}"
        );
        assert_eq!((no_identity.calls(), sp.calls()), (2, 1));
    }

    #[tokio::test]
    async fn when_every_credential_fails_the_error_says_what_was_tried() {
        let server = MetadataServer::start(azure).await;
        let no_identity = Fake::fails("Identity not found");
        let no_login = Fake::fails("Please run 'az login' to setup account.");
        let credentials = with_fakes(
            &[],
            &server.base,
            &[(mi(None), &no_identity), (Plan::DeveloperTools, &no_login)],
        );
        let Err(failure) = token(&credentials, None).await else {
            panic!("got a token");
        };
        assert_eq!(
            failure.credential,
            "the system-assigned managed identity or the Azure CLI / Azure Developer CLI login"
        );
        assert_eq!(
            failure.message,
            "tried the system-assigned managed identity: Identity not found; then the Azure \
             CLI / Azure Developer CLI login: Please run 'az login' to setup account."
        );
    }

    #[tokio::test]
    async fn without_imds_the_error_says_no_managed_identity_was_tried() {
        let server = MetadataServer::start(aws).await;
        let no_login = Fake::fails("Please run 'az login' to setup account.");
        let credentials = with_fakes(&[], &server.base, &[(Plan::DeveloperTools, &no_login)]);
        let Err(failure) = token(&credentials, None).await else {
            panic!("got a token");
        };
        assert_eq!(
            failure.credential,
            "the Azure CLI / Azure Developer CLI login"
        );
        assert!(
            failure.message.starts_with("Please run 'az login'")
                && failure.message.contains("no managed identity was tried")
                && failure
                    .message
                    .contains("not as Azure's Instance Metadata Service"),
            "{failure:?}"
        );
    }

    #[tokio::test]
    async fn a_forced_managed_identity_takes_any_metadata_answer_but_not_none() {
        let forced = [(MODE_ENV, "managed-identity")];
        let server = MetadataServer::start(aws).await;
        let managed = Fake::gives("tok-mi");
        let credentials = with_fakes(&forced, &server.base, &[(mi(None), &managed)]);
        let got = token(&credentials, None).await.map_err(|f| f.message);
        assert_eq!(got, Ok(("tok-mi".to_owned(), mi(None))));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        drop(listener);
        let credentials = with_fakes(&forced, &format!("http://{addr}"), &[(mi(None), &managed)]);
        let Err(failure) = token(&credentials, None).await else {
            panic!("got a token without an endpoint");
        };
        assert!(
            failure
                .message
                .contains("there is no managed identity endpoint here"),
            "{failure:?}"
        );
        assert_eq!(managed.calls(), 1);
    }
}
