//! The error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while collecting or resolving secret values.
///
/// No variant carries a secret value, an access token or a client secret, so
/// both `Display` and `Debug` are safe to print and log. Messages name the
/// secret id (and, for Key Vault, the vault) so the user knows which
/// declaration failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// A `--secret` flag is malformed or names an unset environment variable.
    #[error("--secret {flag}: {reason}")]
    Flag {
        /// The flag as the user wrote it, with any value replaced by `…`.
        flag: String,
        /// What is wrong.
        reason: String,
    },

    /// A `--secret-file` could not be read.
    #[error("--secret-file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A line of a `--secret-file` is malformed.
    #[error("{}:{line}: {reason}", path.display())]
    Dotenv {
        /// The file.
        path: PathBuf,
        /// 1-based line number (where the entry starts).
        line: usize,
        /// What is wrong (never the value).
        reason: String,
    },

    /// The `keyvault` URL of a declaration is not a Key Vault secret URL.
    #[error("secret `{id}`: invalid keyvault URL `{url}`: {reason}")]
    InvalidUrl {
        /// Secret id.
        id: String,
        /// The URL as declared.
        url: String,
        /// What is wrong.
        reason: String,
    },

    /// No access token could be obtained for the vault.
    #[error(
        "secret `{id}`: cannot get a token for Key Vault {vault} from {credential}: {message} \
         (or give the value locally with --secret {id}=VALUE or --secret-file)"
    )]
    Credential {
        /// Secret id.
        id: String,
        /// Vault URL (`https://<vault-host>`).
        vault: String,
        /// Which credential was used, e.g. "the system-assigned managed identity".
        credential: String,
        /// Why it failed.
        message: String,
    },

    /// Key Vault answered 401: it did not accept the token.
    #[error(
        "secret `{id}`: Key Vault {vault} did not accept the token of {credential} \
         (HTTP 401: {detail}); check that the identity belongs to the vault's tenant"
    )]
    Unauthorized {
        /// Secret id.
        id: String,
        /// Vault URL.
        vault: String,
        /// Which credential was used.
        credential: String,
        /// Key Vault's error code and message.
        detail: String,
    },

    /// Key Vault answered 403: the identity may not read the secret.
    #[error(
        "secret `{id}`: {credential} may not read secrets in Key Vault {vault} \
         (HTTP 403: {detail}); grant it the \"Key Vault Secrets User\" role \
         or a `get` secret access policy"
    )]
    Forbidden {
        /// Secret id.
        id: String,
        /// Vault URL.
        vault: String,
        /// Which credential was used.
        credential: String,
        /// Key Vault's error code and message.
        detail: String,
    },

    /// Key Vault answered 404: no such secret (or version).
    #[error("secret `{id}`: Key Vault {vault} has no secret {what} (HTTP 404: {detail})")]
    NotFound {
        /// Secret id.
        id: String,
        /// Vault URL.
        vault: String,
        /// The secret name, with the version when one was declared.
        what: String,
        /// Key Vault's error code and message.
        detail: String,
    },

    /// Key Vault answered with another error status.
    #[error("secret `{id}`: Key Vault {vault} answered HTTP {status}: {detail}")]
    KeyVault {
        /// Secret id.
        id: String,
        /// Vault URL.
        vault: String,
        /// HTTP status code.
        status: u16,
        /// Key Vault's error code and message.
        detail: String,
    },

    /// The request to Key Vault could not be sent or its answer not read.
    #[error("secret `{id}`: cannot reach Key Vault {vault}: {message}")]
    Transport {
        /// Secret id.
        id: String,
        /// Vault URL.
        vault: String,
        /// The connection error.
        message: String,
    },

    /// Key Vault answered 200 with a body that is not a secret bundle.
    #[error("secret `{id}`: unexpected answer from Key Vault {vault}: {reason}")]
    InvalidResponse {
        /// Secret id.
        id: String,
        /// Vault URL.
        vault: String,
        /// What is wrong (never the body).
        reason: String,
    },

    /// Getting the token and the secret took longer than the resolve timeout.
    #[error("secret `{id}`: timed out after {seconds} s reading it from Key Vault {vault}")]
    Timeout {
        /// Secret id.
        id: String,
        /// Vault URL.
        vault: String,
        /// The timeout.
        seconds: u64,
    },

    /// The HTTP client could not be set up, or a resolve task failed.
    #[error("secret `{id}`: {message}")]
    Internal {
        /// Secret id.
        id: String,
        /// What failed.
        message: String,
    },
}
