//! The Azure credential wharf chooses for Key Vault, offered to other Azure
//! APIs (Azure Resource Manager for `wharf run --on acr://`): one choice of
//! credential for everything wharf asks Azure.

use std::fmt;

use crate::credential::{CredentialFailure, Credentials, EnvConfig};

/// A token source for any Azure scope, chosen exactly as for Key Vault
/// (managed identity, service principal from the environment, Azure CLI;
/// see the crate docs). Created once; credentials are made on first use and
/// keep their token caches.
pub struct AzureCredential {
    credentials: Credentials,
    direct: reqwest::Client,
}

impl fmt::Debug for AzureCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureCredential")
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// Why no token could be had: which credential (or credentials) were tried,
/// and why each failed. Never holds a token.
#[derive(Debug, thiserror::Error)]
#[error("cannot get an Azure token from {credential}: {message}")]
pub struct AzureCredentialError {
    /// The credential, or the credentials tried.
    pub credential: String,
    /// What failed.
    pub message: String,
}

impl AzureCredential {
    /// The credential the process environment chooses (read now).
    pub fn from_environment() -> Result<AzureCredential, AzureCredentialError> {
        let direct =
            reqwest::Client::builder()
                .no_proxy()
                .build()
                .map_err(|e| AzureCredentialError {
                    credential: "the HTTP client".into(),
                    message: e.to_string(),
                })?;
        Ok(AzureCredential {
            credentials: Credentials::new(EnvConfig::from_process()),
            direct,
        })
    }

    /// A bearer token for `scope` (e.g. `https://management.azure.com/.default`).
    pub async fn token(&self, scope: &str) -> Result<String, AzureCredentialError> {
        match self.credentials.token(None, scope, &self.direct).await {
            Ok((token, _plan)) => Ok(token.token.secret().to_owned()),
            Err(CredentialFailure {
                credential,
                message,
            }) => Err(AzureCredentialError {
                credential,
                message,
            }),
        }
    }
}
