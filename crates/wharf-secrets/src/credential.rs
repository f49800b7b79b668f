//! Which Azure credential reads Key Vault, and one cached credential per
//! client id.
//!
//! Selection (environment read once, when the [`Resolver`](crate::Resolver)
//! is created):
//!
//! 1. A managed identity endpoint exists: `IDENTITY_ENDPOINT` and
//!    `IDENTITY_HEADER` are set (App Service style), or else the Azure
//!    Instance Metadata Service answers (an Azure VM, which is where ACR runs
//!    tasks). Then `ManagedIdentityCredential`: user-assigned with the
//!    declaration's `clientID` when it has one, else system-assigned — what
//!    ACR does. The IMDS probe is one request with a one-second timeout, made
//!    at most once per resolver and only when a secret needs Key Vault.
//! 2. `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET` are all
//!    set: that service principal (`AZURE_AUTHORITY_HOST` picks the cloud).
//! 3. Otherwise the developer tools: the Azure CLI (`az login`), then the
//!    Azure Developer CLI.
//!
//! So a task written for ACR, with a `clientID`, runs on a laptop with the
//! developer's own login, where that managed identity cannot exist anyway.
//! `WHARF_AZURE_CREDENTIAL` overrides the automatic choice:
//! `managed-identity` (fails fast when no endpoint exists), `client-secret`,
//! `developer-tools` or `auto`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_core::credentials::{Secret, TokenCredential};
use azure_identity::{
    ClientSecretCredential, DeveloperToolsCredential, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId,
};
use tokio::sync::OnceCell;

/// Environment variable that overrides the automatic credential choice.
pub(crate) const MODE_ENV: &str = "WHARF_AZURE_CREDENTIAL";

/// The IMDS token endpoint; any HTTP answer means IMDS is there.
const IMDS_PROBE_URL: &str =
    "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01";
const IMDS_PROBE_TIMEOUT: Duration = Duration::from_secs(1);

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

/// What the credential choice needs from the environment.
#[derive(Clone)]
pub(crate) struct EnvConfig {
    mode: Result<Mode, String>,
    app_service: bool,
    service_principal: Option<ServicePrincipal>,
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
        }
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

/// The outcome of choosing without network access.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Selection {
    /// This credential.
    Plan(Plan),
    /// `managed` if IMDS answers, else `otherwise` (`None`: fail).
    ProbeImds {
        /// The managed identity plan.
        managed: Plan,
        /// The fallback.
        otherwise: Option<Plan>,
    },
}

/// Choose the credential for a declaration's client id.
pub(crate) fn select(cfg: &EnvConfig, client_id: Option<&str>) -> Result<Selection, String> {
    let mode = cfg.mode.clone()?;
    let sp = cfg.service_principal.as_ref();
    let mi = Plan::ManagedIdentity(client_id.map(str::to_owned));
    Ok(match mode {
        Mode::ManagedIdentity if cfg.app_service => Selection::Plan(mi),
        Mode::ManagedIdentity => Selection::ProbeImds {
            managed: mi,
            otherwise: None,
        },
        Mode::DeveloperTools => Selection::Plan(Plan::DeveloperTools),
        Mode::ClientSecret => match sp {
            Some(sp) => Selection::Plan(Plan::ClientSecret(sp.client_id.clone())),
            None => {
                return Err(format!(
                    "{MODE_ENV}=client-secret needs AZURE_TENANT_ID, AZURE_CLIENT_ID and \
                     AZURE_CLIENT_SECRET"
                ));
            }
        },
        Mode::Auto if cfg.app_service => Selection::Plan(mi),
        Mode::Auto => Selection::ProbeImds {
            managed: mi,
            otherwise: Some(match sp {
                Some(sp) => Plan::ClientSecret(sp.client_id.clone()),
                None => Plan::DeveloperTools,
            }),
        },
    })
}

/// Why no credential could be made.
#[derive(Debug)]
pub(crate) struct CredentialFailure {
    /// Which credential, e.g. "the system-assigned managed identity".
    pub(crate) credential: String,
    /// What failed.
    pub(crate) message: String,
}

/// Credentials, created on first use and cached per [`Plan`].
pub(crate) struct Credentials {
    cfg: EnvConfig,
    imds: OnceCell<bool>,
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
        Self {
            cfg,
            imds: OnceCell::new(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The credential for a declaration's client id, and which one it is.
    /// `direct` is a client without proxy, used for the IMDS probe.
    pub(crate) async fn get(
        &self,
        client_id: Option<&str>,
        direct: &reqwest::Client,
    ) -> Result<(Arc<dyn TokenCredential>, Plan), CredentialFailure> {
        let selection = select(&self.cfg, client_id).map_err(|message| CredentialFailure {
            credential: "the configured credential".to_owned(),
            message,
        })?;
        let plan = match selection {
            Selection::Plan(plan) => plan,
            Selection::ProbeImds { managed, otherwise } => {
                if *self.imds.get_or_init(|| imds_available(direct)).await {
                    managed
                } else if let Some(plan) = otherwise {
                    plan
                } else {
                    return Err(CredentialFailure {
                        credential: managed.to_string(),
                        message: format!(
                            "{MODE_ENV}=managed-identity, but there is no managed identity \
                             endpoint here (IDENTITY_ENDPOINT/IDENTITY_HEADER are not set and \
                             the Azure Instance Metadata Service does not answer)"
                        ),
                    });
                }
            }
        };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cred) = cache.get(&plan) {
            return Ok((Arc::clone(cred), plan));
        }
        let cred = self.create(&plan).map_err(|e| CredentialFailure {
            credential: plan.to_string(),
            message: error_chain(&e),
        })?;
        cache.insert(plan.clone(), Arc::clone(&cred));
        Ok((cred, plan))
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

/// Whether the Azure Instance Metadata Service answers at all.
async fn imds_available(direct: &reqwest::Client) -> bool {
    direct
        .get(IMDS_PROBE_URL)
        .timeout(IMDS_PROBE_TIMEOUT)
        .send()
        .await
        .is_ok()
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

    fn plan(p: Plan) -> Result<Selection, String> {
        Ok(Selection::Plan(p))
    }

    fn probe(managed: Plan, otherwise: Option<Plan>) -> Result<Selection, String> {
        Ok(Selection::ProbeImds { managed, otherwise })
    }

    fn mi(client_id: Option<&str>) -> Plan {
        Plan::ManagedIdentity(client_id.map(str::to_owned))
    }

    #[test]
    fn app_service_endpoint_means_managed_identity() {
        let mut vars = APP_SERVICE.to_vec();
        vars.extend_from_slice(SP);
        assert_eq!(select(&cfg(&vars), None), plan(mi(None)));
        assert_eq!(select(&cfg(&vars), Some("c1")), plan(mi(Some("c1"))));
        // Both variables are needed.
        assert_eq!(
            select(&cfg(&APP_SERVICE[..1]), None),
            probe(mi(None), Some(Plan::DeveloperTools))
        );
    }

    #[test]
    fn imds_then_service_principal_then_developer_tools() {
        let sp = Plan::ClientSecret("sp-client".into());
        assert_eq!(select(&cfg(SP), None), probe(mi(None), Some(sp.clone())));
        assert_eq!(
            select(&cfg(SP), Some("c1")),
            probe(mi(Some("c1")), Some(sp))
        );
        // An incomplete service principal does not count.
        assert_eq!(
            select(&cfg(&SP[..2]), None),
            probe(mi(None), Some(Plan::DeveloperTools))
        );
        assert_eq!(
            select(&cfg(&[]), Some("c1")),
            probe(mi(Some("c1")), Some(Plan::DeveloperTools))
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
            probe(mi(Some("c1")), None)
        );
        assert_eq!(
            select(&with("managed-identity", APP_SERVICE), None),
            plan(mi(None))
        );
        assert_eq!(
            select(&with("developer-tools", APP_SERVICE), Some("c1")),
            plan(Plan::DeveloperTools)
        );
        assert_eq!(
            select(&with("client-secret", SP), Some("c1")),
            plan(Plan::ClientSecret("sp-client".into()))
        );
        assert!(select(&with("client-secret", &[]), None).is_err());
        let Err(e) = select(&with("magic", &[]), None) else {
            panic!("bad mode accepted");
        };
        assert!(e.contains("WHARF_AZURE_CREDENTIAL=magic"), "{e}");
        assert_eq!(
            select(&with("auto", &[]), None),
            probe(mi(None), Some(Plan::DeveloperTools))
        );
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
}
