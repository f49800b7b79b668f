//! The client's errors. Every message names the registry (and the repository or
//! file where there is one), says what went wrong, and what to check. No variant
//! holds a credential: registry error bodies are reduced to their `code` and
//! `message`, and token service answers are never quoted.

use std::path::PathBuf;
use std::time::Duration;

use crate::credentials::CredentialError;
use crate::digest::{Digest, DigestError};
use crate::manifest::ManifestError;
use crate::reference::ReferenceError;

/// What went wrong talking to a registry or an image layout.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A reference could not be parsed.
    #[error(transparent)]
    Reference(#[from] ReferenceError),

    /// A digest could not be parsed (in an answer or a layout).
    #[error("{registry}: {source}")]
    Digest {
        /// The registry (or layout) it came from.
        registry: String,
        /// What is wrong with it.
        source: DigestError,
    },

    /// The registry refused the request's authentication.
    #[error(
        "{registry}: authentication required ({detail}); {}",
        if *had_credentials {
            "the stored credentials were refused: log in again with `wharf registry login` or `docker login`"
        } else {
            "no credentials are stored for it: log in with `wharf registry login` or `docker login`"
        }
    )]
    Unauthorized {
        /// The registry.
        registry: String,
        /// The registry's or token service's reason, when it gave one.
        detail: String,
        /// Whether credentials were sent.
        had_credentials: bool,
    },

    /// The registry (or its token service) refused the request: the credentials are
    /// valid but lack the permission.
    #[error(
        "{registry}: access to {repository} denied ({detail}); check that the account may {action} it"
    )]
    Denied {
        /// The registry.
        registry: String,
        /// The repository, or `the catalog`.
        repository: String,
        /// What was asked: `pull`, `push`, `delete`.
        action: String,
        /// The registry's reason.
        detail: String,
    },

    /// A manifest, blob or repository does not exist.
    #[error("{}", not_found(registry, repository, what, *no_repository))]
    NotFound {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
        /// `manifest latest`, `blob sha256:...`.
        what: String,
        /// The registry said the repository itself does not exist (`NAME_UNKNOWN`).
        no_repository: bool,
    },

    /// Downloaded content does not have the digest it was asked for: the registry,
    /// or something between, is serving the wrong bytes.
    #[error(
        "{registry}: {what} in {repository} should have digest {expected} but the registry sent content with digest {actual}; the registry or a proxy between is serving wrong content"
    )]
    DigestMismatch {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
        /// `blob`, `manifest latest`.
        what: String,
        /// What was asked for.
        expected: Digest,
        /// What arrived.
        actual: Digest,
    },

    /// Downloaded content does not have the size its descriptor gives.
    #[error(
        "{registry}: {what} in {repository} should be {expected} bytes but the registry sent {actual}"
    )]
    SizeMismatch {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
        /// What was downloaded.
        what: String,
        /// The descriptor's size.
        expected: u64,
        /// What arrived (so far, when it was too much).
        actual: u64,
    },

    /// The registry answered with an error status.
    #[error(
        "{registry}: {request} failed: {status}{}",
        describe_code(code, message)
    )]
    Status {
        /// The registry.
        registry: String,
        /// The method and path (never the query, which can hold a signature):
        /// `PUT /v2/app/blobs/uploads/...`.
        request: String,
        /// The HTTP status.
        status: u16,
        /// The first distribution error code, if the body had one.
        code: Option<String>,
        /// Its message.
        message: Option<String>,
        /// What `Retry-After` asked for, if anything.
        retry_after: Option<Duration>,
    },

    /// The connection failed or dropped (refused, reset, timed out, cut mid-body).
    #[error("{registry}: {message}")]
    Connection {
        /// The registry (or the host of a redirect).
        registry: String,
        /// What happened, from the HTTP stack.
        message: String,
    },

    /// Retries ran out: the total retry budget was spent, or the registry asked to
    /// wait longer than what was left of it.
    #[error(
        "{registry}: gave up after {attempts} attempts in {:.1}s ({why}); last error: {last}. Check that {registry} is running and reachable, or raise the retry budget",
        elapsed.as_secs_f64()
    )]
    GaveUp {
        /// The registry.
        registry: String,
        /// How many attempts were made.
        attempts: u32,
        /// Time from the first failure to giving up.
        elapsed: Duration,
        /// Why no further attempt was made.
        why: String,
        /// The last attempt's error.
        last: Box<Error>,
    },

    /// The registry answered something that does not follow the distribution API.
    #[error("{registry}: {message}")]
    Protocol {
        /// The registry.
        registry: String,
        /// What was wrong with the answer.
        message: String,
    },

    /// Credentials were not sent because the request would have carried them to a
    /// host other than the registry and the token service it announced.
    #[error("{registry}: refused to send credentials to {host}: {reason}")]
    CredentialsOffHost {
        /// The registry.
        registry: String,
        /// Where they would have gone.
        host: String,
        /// Why that was refused.
        reason: String,
    },

    /// A manifest could not be read.
    #[error("{registry}: {what}: {source}")]
    Manifest {
        /// The registry (or layout).
        registry: String,
        /// Which manifest.
        what: String,
        /// What is wrong with it.
        source: ManifestError,
    },

    /// Credentials could not be read or stored.
    #[error(transparent)]
    Credentials(#[from] CredentialError),

    /// The Azure AD sign-in for an Azure Container Registry failed.
    #[error("{registry}: Azure sign-in failed: {message}")]
    Azure {
        /// The registry.
        registry: String,
        /// What failed (never a token).
        message: String,
    },

    /// A file of an OCI image layout (or a blob source) could not be read or written.
    #[error("{}: {action}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },

    /// An OCI image layout is not valid.
    #[error("{}: {message}", path.display())]
    Layout {
        /// The layout directory (or file in it).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// What was asked cannot be done (a digest reference pushed as a tag, ...).
    #[error("{0}")]
    Invalid(String),
}

/// 408, 429 and the 5xx a retry can cure.
pub(crate) fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

fn describe_code(code: &Option<String>, message: &Option<String>) -> String {
    match (code, message) {
        (Some(code), Some(message)) => format!(" ({code}: {message})"),
        (Some(code), None) => format!(" ({code})"),
        (None, Some(message)) => format!(" ({message})"),
        (None, None) => String::new(),
    }
}

impl Error {
    /// Whether a retry may succeed, and the delay the server asked for.
    pub(crate) fn retry_hint(&self) -> Option<Option<Duration>> {
        match self {
            Error::Connection { .. } => Some(None),
            Error::Status {
                status,
                retry_after,
                ..
            } if is_transient_status(*status) => Some(*retry_after),
            _ => None,
        }
    }

    /// The error behind retries (the last attempt's), or this one.
    pub fn root(&self) -> &Error {
        match self {
            Error::GaveUp { last, .. } => last.root(),
            other => other,
        }
    }

    /// Whether this is a "not found" answer.
    pub fn is_not_found(&self) -> bool {
        matches!(self.root(), Error::NotFound { .. })
    }

    /// Whether the input (a reference, a layout, a request) is at fault rather than
    /// the registry or the network: the CLI's exit code 2.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self.root(),
            Error::Reference(_) | Error::Invalid(_) | Error::Layout { .. }
        )
    }
}

/// The client's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `r.io: manifest 1 not found in app`, or `r.io: no repository app (asked for
/// manifest 1)` when the registry said the repository does not exist.
fn not_found(registry: &str, repository: &str, what: &str, no_repository: bool) -> String {
    if no_repository {
        format!("{registry}: no repository {repository} (asked for {what})")
    } else {
        format!("{registry}: {what} not found in {repository}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gave_up_names_the_registry_and_the_last_error() {
        let e = Error::GaveUp {
            registry: "r.example".into(),
            attempts: 4,
            elapsed: Duration::from_millis(2500),
            why: "retry budget of 2s spent".into(),
            last: Box::new(Error::Connection {
                registry: "r.example".into(),
                message: "connection refused".into(),
            }),
        };
        let text = e.to_string();
        assert!(
            text.starts_with("r.example: gave up after 4 attempts in 2.5s"),
            "{text}"
        );
        assert!(text.contains("connection refused"), "{text}");
        assert!(text.contains("Check that r.example is running"), "{text}");
        assert!(matches!(e.root(), Error::Connection { .. }));
    }

    #[test]
    fn only_transient_failures_are_retried() {
        let status = |status| Error::Status {
            registry: "r".into(),
            request: "GET /v2/".into(),
            status,
            code: None,
            message: None,
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(status(503).retry_hint(), Some(Some(Duration::from_secs(3))));
        assert_eq!(status(429).retry_hint(), Some(Some(Duration::from_secs(3))));
        assert_eq!(status(400).retry_hint(), None);
        assert_eq!(status(404).retry_hint(), None);
    }
}
