//! Errors of the crate. None holds a token or a SAS signature.

/// What went wrong talking to ACR.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag or input is not acceptable (exit code 2 territory).
    #[error("{0}")]
    Usage(String),
    /// `WHARF_ARM_ENDPOINT` (or another URL) is not acceptable.
    #[error("{what} {url:?} is not acceptable: {why}")]
    Endpoint {
        /// Which URL (e.g. `WHARF_ARM_ENDPOINT`).
        what: String,
        /// The URL (SAS query removed).
        url: String,
        /// Why.
        why: String,
    },
    /// No token.
    #[error(transparent)]
    Credential(#[from] wharf_secrets::AzureCredentialError),
    /// A request could not be sent or its answer read.
    #[error("{operation}: {message}")]
    Http {
        /// What was being done.
        operation: String,
        /// Why it failed.
        message: String,
    },
    /// ARM (or the blob service) answered with an error.
    #[error("{operation}: {status} {code}: {message}")]
    Api {
        /// What was being done.
        operation: String,
        /// The HTTP status.
        status: u16,
        /// ARM's error code (or the blob service's).
        code: String,
        /// ARM's message.
        message: String,
    },
    /// No registry with that login server in the subscription.
    #[error(
        "no registry with the login server {login_server} in subscription {subscription}{}",
        scope_note(.resource_group)
    )]
    RegistryNotFound {
        /// What was looked for.
        login_server: String,
        /// Where.
        subscription: String,
        /// The resource group, when given.
        resource_group: Option<String>,
    },
    /// Several registries have that login server.
    #[error("more than one registry has the login server {login_server}: {ids}")]
    RegistryAmbiguous {
        /// What was looked for.
        login_server: String,
        /// Their resource ids.
        ids: String,
    },
    /// Reading or packing the context.
    #[error("{path}: {message}")]
    Context {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// An answer that does not have the shape the API documents.
    #[error("{operation}: unexpected answer: {message}")]
    Protocol {
        /// What was being done.
        operation: String,
        /// What was wrong.
        message: String,
    },
}

impl Error {
    /// Whether trying again may help: a connection problem, a timeout, 429
    /// (throttled) or a 5xx answer.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Http { .. } => true,
            Error::Api { status, .. } => *status == 408 || *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

fn scope_note(rg: &Option<String>) -> String {
    match rg {
        Some(rg) => format!(", resource group {rg}"),
        None => String::new(),
    }
}

/// The crate's result.
pub type Result<T> = std::result::Result<T, Error>;
