//! Azure Container Registry sign-in, the way `az acr login` does it (Azure/acr
//! `docs/AAD-OAuth.md`):
//!
//! 1. an Azure AD token from azure_identity: a service principal from the
//!    environment (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`), a
//!    managed identity (App Service style `IDENTITY_ENDPOINT`, else IMDS on an Azure
//!    VM; user-assigned when only `AZURE_CLIENT_ID` is set), or the Azure CLI /
//!    Azure Developer CLI login;
//! 2. `POST <realm origin>/oauth2/exchange` with
//!    `grant_type=access_token&service=<registry>&tenant=<tid>&access_token=<AAD>`
//!    gives an ACR refresh token. The AAD token is asked for ACR's audience
//!    (`https://containerregistry.azure.net/.default`) first and, if the exchange
//!    refuses it, for Azure Resource Manager's (`https://management.azure.com/.default`),
//!    which some managed identity setups still need;
//! 3. `POST <realm>` with `grant_type=refresh_token&service&scope&refresh_token`
//!    gives an access token per scope (done by the bearer flow in `auth`).
//!
//! The refresh token is also what `wharf registry login` stores, with the user
//! name `00000000-0000-0000-0000-000000000000`, as `az acr login` has docker store it.

use std::fmt;
use std::sync::Arc;

use azure_core::credentials::{Secret, TokenCredential};
use azure_identity::{
    ClientSecretCredential, DeveloperToolsCredential, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId,
};
use base64::Engine as _;
use serde::Deserialize;
use tokio::sync::OnceCell;
use url::Url;

use super::error::Error;

/// The AAD audience ACR documents today.
pub const ACR_AUDIENCE: &str = "https://containerregistry.azure.net/.default";
/// The Azure Resource Manager audience, accepted by the exchange too.
pub const ARM_AUDIENCE: &str = "https://management.azure.com/.default";

/// DNS suffixes of Azure Container Registry hosts (public and sovereign clouds).
const ACR_SUFFIXES: [&str; 4] = [".azurecr.io", ".azurecr.cn", ".azurecr.us", ".azurecr.de"];

/// Where Azure AD tokens come from.
pub struct AzureSignIn {
    explicit: Option<(String, Arc<dyn TokenCredential>)>,
    chain: OnceCell<Vec<(String, Arc<dyn TokenCredential>)>>,
}

impl fmt::Debug for AzureSignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureSignIn")
            .field("explicit", &self.explicit.as_ref().map(|(name, _)| name))
            .finish_non_exhaustive()
    }
}

impl AzureSignIn {
    /// The credentials the environment offers, tried in the order of the module
    /// docs, created when a token is first needed.
    pub fn from_environment() -> AzureSignIn {
        AzureSignIn {
            explicit: None,
            chain: OnceCell::new(),
        }
    }

    /// Exactly `credential` (named `name` in errors).
    pub fn with_credential(name: &str, credential: Arc<dyn TokenCredential>) -> AzureSignIn {
        AzureSignIn {
            explicit: Some((name.to_string(), credential)),
            chain: OnceCell::new(),
        }
    }

    async fn credentials(&self) -> Vec<(String, Arc<dyn TokenCredential>)> {
        if let Some(explicit) = &self.explicit {
            return vec![explicit.clone()];
        }
        self.chain
            .get_or_init(|| async { environment_chain() })
            .await
            .clone()
    }

    /// An AAD token for `audience`, from the first credential that gives one. The
    /// error names each credential tried and why it failed.
    pub(crate) async fn token(&self, audience: &str) -> Result<Secret, String> {
        let mut failures = Vec::new();
        for (name, credential) in self.credentials().await {
            match credential.get_token(&[audience], None).await {
                Ok(token) => {
                    tracing::debug!(credential = %name, audience, "got an Azure AD token");
                    return Ok(token.token);
                }
                Err(e) => failures.push(format!("{name}: {}", error_chain(&e))),
            }
        }
        if failures.is_empty() {
            return Err("no Azure credential is available".into());
        }
        Err(failures.join("; then "))
    }
}

fn environment_chain() -> Vec<(String, Arc<dyn TokenCredential>)> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let mut chain: Vec<(String, Arc<dyn TokenCredential>)> = Vec::new();
    let client_id = var("AZURE_CLIENT_ID");
    if let (Some(tenant), Some(client), Some(secret)) = (
        var("AZURE_TENANT_ID"),
        client_id.clone(),
        var("AZURE_CLIENT_SECRET"),
    ) {
        match ClientSecretCredential::new(&tenant, client.clone(), Secret::new(secret), None) {
            Ok(c) => chain.push((
                format!("the service principal {client} (AZURE_CLIENT_SECRET)"),
                c,
            )),
            Err(e) => tracing::debug!(error = %error_chain(&e), "no service principal credential"),
        }
    }
    let managed = || {
        ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
            user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
            ..Default::default()
        }))
    };
    let app_service = var("IDENTITY_ENDPOINT").is_some() && var("IDENTITY_HEADER").is_some();
    if app_service && let Ok(c) = managed() {
        chain.push(("the managed identity (IDENTITY_ENDPOINT)".into(), c));
    }
    match DeveloperToolsCredential::new(None) {
        Ok(c) => chain.push(("the Azure CLI / Azure Developer CLI login".into(), c)),
        Err(e) => tracing::debug!(error = %error_chain(&e), "no developer tools credential"),
    }
    if !app_service && let Ok(c) = managed() {
        chain.push(("the managed identity (IMDS)".into(), c));
    }
    chain
}

/// Which registries get the Azure AD sign-in when nothing is stored for them.
#[derive(Debug, Clone)]
pub struct AzureOptions {
    /// Where AAD tokens come from.
    pub sign_in: Arc<AzureSignIn>,
    /// Hosts treated as ACR besides `*.azurecr.io` and the sovereign clouds' (for a
    /// registry behind a custom domain, or a local stand-in).
    pub extra_hosts: Vec<String>,
}

impl Default for AzureOptions {
    fn default() -> Self {
        AzureOptions {
            sign_in: Arc::new(AzureSignIn::from_environment()),
            extra_hosts: Vec::new(),
        }
    }
}

impl AzureOptions {
    /// Whether `host` is an Azure Container Registry.
    pub fn is_acr(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let name = host.split(':').next().unwrap_or(&host);
        ACR_SUFFIXES.iter().any(|s| name.ends_with(s))
            || self
                .extra_hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(&host))
    }
}

#[derive(Deserialize)]
struct ExchangeAnswer {
    refresh_token: Option<String>,
}

/// `POST <realm origin>/oauth2/exchange`: an ACR refresh token for the AAD token.
pub(crate) async fn exchange(
    http: &reqwest::Client,
    registry: &str,
    realm: &Url,
    service: &str,
    aad_token: &Secret,
) -> Result<Result<String, String>, Error> {
    let mut url = realm.clone();
    url.set_path("/oauth2/exchange");
    url.set_query(None);
    let tenant = tenant_of(aad_token.secret());
    let mut form: Vec<(&str, &str)> = vec![
        ("grant_type", "access_token"),
        ("service", service),
        ("access_token", aad_token.secret()),
    ];
    if let Some(tenant) = tenant.as_deref() {
        form.push(("tenant", tenant));
    }
    tracing::debug!(
        registry,
        exchange_host = url.host_str().unwrap_or(""),
        tenant = tenant.as_deref().unwrap_or(""),
        "exchanging an Azure AD token for an ACR refresh token"
    );
    let response = http
        .post(url.clone())
        .form(&form)
        .send()
        .await
        .map_err(|e| super::transport::connection_error(registry, &e))?;
    let status = response.status();
    if !status.is_success() {
        // The answer is not quoted: it is the registry's, but it is about a token.
        return Ok(Err(format!(
            "the exchange at {} answered {status}",
            super::transport::origin_text(&url)
        )));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| super::transport::connection_error(registry, &e))?;
    let answer: ExchangeAnswer = serde_json::from_slice(&bytes).map_err(|_| Error::Protocol {
        registry: registry.to_string(),
        message: "the ACR token exchange answered something other than {\"refresh_token\"} JSON"
            .into(),
    })?;
    match answer.refresh_token.filter(|t| !t.is_empty()) {
        Some(token) => Ok(Ok(token)),
        None => Ok(Err("the exchange answered without a refresh_token".into())),
    }
}

/// The `tid` claim of a JWT, when the token is one.
fn tenant_of(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("tid")?.as_str().map(str::to_string)
}

/// An error and its sources, one line.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acr_hosts_are_recognized() {
        let options = AzureOptions {
            extra_hosts: vec!["127.0.0.1:5000".into()],
            ..AzureOptions::default()
        };
        assert!(options.is_acr("myreg.azurecr.io"));
        assert!(options.is_acr("MyReg.AzureCR.io"));
        assert!(options.is_acr("myreg.azurecr.cn"));
        assert!(options.is_acr("127.0.0.1:5000"));
        assert!(!options.is_acr("127.0.0.1:5001"));
        assert!(!options.is_acr("azurecr.io.example.com"));
        assert!(!options.is_acr("docker.io"));
    }

    #[test]
    fn the_tenant_comes_from_the_token_claims() {
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"tid":"72f988bf-0000","aud":"x"}"#);
        assert_eq!(
            tenant_of(&format!("eyJhbGciOiJub25lIn0.{claims}.sig")).as_deref(),
            Some("72f988bf-0000")
        );
        assert_eq!(tenant_of("opaque-token"), None);
    }
}
