//! The error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while collecting or resolving secret values.
///
/// No variant carries a secret value, an access token or a client secret, so
/// both `Display` and `Debug` are safe to print and log. Messages name the
/// secret id (and, for Key Vault, the vault) so the user knows which
/// declaration failed; [`SecretError::id`] gives that id. A malformed
/// `--secret` is named by its position, never by its text, which may be a
/// value given without `ID=`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// A `--secret` flag is malformed or names an unset environment variable.
    #[error("the {} --secret: {reason}", ordinal(*position))]
    Flag {
        /// Which `--secret` flag (1-based, in the order given to
        /// [`LocalSecrets::parse_flag`](crate::LocalSecrets::parse_flag)).
        position: usize,
        /// What is wrong, and the expected form; never any of the flag's text.
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

    /// No Azure AD token could be had for a token secret (`aadresourceid`).
    #[error(
        "secret `{id}`: cannot get an Azure AD token for {resource} from {credential}: {message} \
         (or give the value locally with --secret {id}=VALUE or --secret-file)"
    )]
    Token {
        /// Secret id.
        id: String,
        /// The resource the token is for.
        resource: String,
        /// Which credential was used.
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

impl SecretError {
    /// The id of the secret declaration this error is about, so that a caller
    /// can point at that declaration; `None` for errors about `--secret` flags
    /// and `--secret-file` files, which belong to no declaration.
    pub fn id(&self) -> Option<&str> {
        match self {
            SecretError::Flag { .. } | SecretError::Io { .. } | SecretError::Dotenv { .. } => None,
            SecretError::InvalidUrl { id, .. }
            | SecretError::Credential { id, .. }
            | SecretError::Token { id, .. }
            | SecretError::Unauthorized { id, .. }
            | SecretError::Forbidden { id, .. }
            | SecretError::NotFound { id, .. }
            | SecretError::KeyVault { id, .. }
            | SecretError::Transport { id, .. }
            | SecretError::InvalidResponse { id, .. }
            | SecretError::Timeout { id, .. }
            | SecretError::Internal { id, .. } => Some(id.as_str()).filter(|id| !id.is_empty()),
        }
    }
}

/// `1st`, `2nd`, `3rd`, `4th`, …, `11th`, `12th`, `13th`, `21st`, …
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals() {
        let shown: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111]
            .into_iter()
            .map(ordinal)
            .collect();
        assert_eq!(
            shown,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st",
                "111th"
            ]
        );
    }

    #[test]
    fn id_names_the_declaration() {
        let id = |e: SecretError| e.id().map(str::to_owned);
        let vault = || "https://v.vault.azure.net".to_owned();
        assert_eq!(
            id(SecretError::InvalidUrl {
                id: "pw".into(),
                url: "x".into(),
                reason: "r".into(),
            }),
            Some("pw".into())
        );
        assert_eq!(
            id(SecretError::Credential {
                id: "a".into(),
                vault: vault(),
                credential: "c".into(),
                message: "m".into(),
            }),
            Some("a".into())
        );
        assert_eq!(
            id(SecretError::NotFound {
                id: "b".into(),
                vault: vault(),
                what: "w".into(),
                detail: "d".into(),
            }),
            Some("b".into())
        );
        assert_eq!(
            id(SecretError::Timeout {
                id: "c".into(),
                vault: vault(),
                seconds: 30,
            }),
            Some("c".into())
        );
        assert_eq!(
            id(SecretError::Internal {
                id: String::new(),
                message: "m".into(),
            }),
            None
        );
        assert_eq!(
            id(SecretError::Flag {
                position: 1,
                reason: "r".into(),
            }),
            None
        );
        assert_eq!(
            id(SecretError::Dotenv {
                path: "f".into(),
                line: 1,
                reason: "r".into(),
            }),
            None
        );
    }
}
