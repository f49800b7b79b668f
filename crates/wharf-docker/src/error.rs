//! Errors inside the crate, turned into [`ExecError`] at the boundary.

use wharf_engine::{ErrorKind, ExecError};

/// What went wrong while talking to the engine or preparing data for it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// An Engine API call failed; `what` says what wharf was doing.
    #[error("{what}: {}", describe(.source))]
    Docker {
        what: String,
        #[source]
        source: bollard::errors::Error,
    },
    /// A local file operation failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// Anything else, already in words for the user, with its kind.
    #[error("{1}")]
    Message(ErrorKind, String),
}

impl Error {
    /// An Engine API failure while doing `what`.
    pub(crate) fn docker(what: impl Into<String>, source: bollard::errors::Error) -> Error {
        Error::Docker {
            what: what.into(),
            source,
        }
    }

    /// A local I/O failure while doing `what`.
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// A plain message about the engine or the run's data.
    pub(crate) fn msg(message: impl Into<String>) -> Error {
        Error::Message(ErrorKind::Engine, message.into())
    }

    /// The step's own input is wrong (it fails the same way every attempt).
    pub(crate) fn input(message: impl Into<String>) -> Error {
        Error::Message(ErrorKind::Input, message.into())
    }

    /// A registry failed or refused.
    pub(crate) fn registry(message: impl Into<String>) -> Error {
        Error::Message(ErrorKind::Registry, message.into())
    }

    /// What kind of failure this is.
    pub(crate) fn kind(&self) -> ErrorKind {
        match self {
            Error::Docker { .. } => ErrorKind::Engine,
            Error::Io { .. } => ErrorKind::Other,
            Error::Message(kind, _) => *kind,
        }
    }

    /// Whether this only says that the engine stopped reading what wharf sent (the
    /// engine's own answer then explains more).
    pub(crate) fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

impl From<Error> for ExecError {
    fn from(e: Error) -> ExecError {
        ExecError::of(e.kind(), e.to_string())
    }
}

/// The engine's HTTP status of a failed call, if it answered.
pub(crate) fn status_of(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Whether the engine said "not found".
pub(crate) fn is_not_found(e: &bollard::errors::Error) -> bool {
    status_of(e) == Some(404)
}

/// Whether the engine said "conflict" (the name is taken, ...).
pub(crate) fn is_conflict(e: &bollard::errors::Error) -> bool {
    status_of(e) == Some(409)
}

/// A bollard error in words: the engine's own message when it answered.
pub(crate) fn describe(e: &bollard::errors::Error) -> String {
    use bollard::errors::Error as B;
    match e {
        B::DockerResponseServerError {
            status_code,
            message,
        } => {
            let message = message.trim();
            if message.is_empty() {
                format!("the Docker engine answered with HTTP status {status_code}")
            } else {
                message.to_string()
            }
        }
        B::DockerStreamError { error } => error.trim().to_string(),
        B::DockerContainerWaitError { error, code } if error.is_empty() => {
            format!("the container exited with code {code}")
        }
        B::DockerContainerWaitError { error, .. } => error.clone(),
        B::RequestTimeoutError => "the Docker engine did not answer in time".into(),
        B::SocketNotFoundError(path) => format!(
            "no Docker engine socket at {path} (is Docker running? set DOCKER_HOST to use another engine)"
        ),
        B::HyperLegacyError { err } => {
            format!("cannot reach the Docker engine: {}", error_chain(err))
        }
        other => error_chain(other),
    }
}

/// An error with its causes, `a: b: c`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}
