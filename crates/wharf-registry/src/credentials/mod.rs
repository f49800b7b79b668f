//! What `docker login` stored: credentials read from Docker's `config.json` and its
//! credential helpers.
//!
//! The config file is `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
//! For a registry host, the sources are tried in this order, and the first that
//! knows the host answers:
//!
//! 1. `credHelpers[host]`: the helper `docker-credential-<name>`;
//! 2. `credsStore`: the default helper;
//! 3. `auths`: entries keyed by `host`, `https://host`, `http://host/v1/`, ... with
//!    `auth` (base64 `user:password`), `username`/`password`, or `identitytoken`.
//!
//! Docker Hub is `docker.io`, `index.docker.io` or `registry-1.docker.io`; its key in the
//! config file and the server URL given to helpers is `https://index.docker.io/v1/`.
//!
//! A helper is run as `docker-credential-<name> get`, with the server URL on stdin; it
//! prints `{"Username": ..., "Secret": ...}`. The username `<token>` means the secret is
//! an identity token (a refresh token). A helper that answers "credentials not found"
//! means "no credential here", and the next source is tried.
//!
//! Secret values never appear in errors or in `Debug` output.
//!
//! Written here rather than with the `docker_credential` crate (1.4): that crate reads
//! `auths` before `credsStore` (Docker does the reverse), reports a helper's "credentials
//! not found" as an error, cannot tell a missing config file from an unreadable one, and
//! runs helpers only from the process's `PATH`.

mod config;
mod helper;
mod keychain;
mod store;

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

pub use config::docker_config_dir;
pub use keychain::{Keychain, LookupFn};
pub use store::StoredIn;

/// The user name `az acr login` gives docker with an ACR refresh token as the
/// password.
pub const ACR_REFRESH_TOKEN_USER: &str = "00000000-0000-0000-0000-000000000000";

/// A credential for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A user name and password (or an access token used as the password).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// An identity token (OAuth2 refresh token), as `docker login` stores for ACR and
    /// other token-based registries.
    IdentityToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

/// Why credentials could not be read or stored. No variant carries a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The config file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    WriteConfig {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config file exists but cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadConfig {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config file is not valid JSON of the expected shape.
    #[error("{} is not a valid Docker config file: {problem} at line {line}, column {column}", path.display())]
    InvalidConfig {
        /// The config file.
        path: PathBuf,
        /// The kind of problem (syntax, data, ...), without the offending value.
        problem: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// An `auth` entry is not base64 of `user:password`.
    #[error("the \"auth\" entry for {key:?} in {} is not base64 of user:password", path.display())]
    InvalidAuth {
        /// The config file.
        path: PathBuf,
        /// The `auths` key.
        key: String,
    },
    /// The credential helper could not be started or talked to.
    #[error("cannot run credential helper {program}: {source}")]
    HelperSpawn {
        /// `docker-credential-<name>`.
        program: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The credential helper failed (other than "credentials not found").
    #[error("credential helper {program} failed ({status}): {message}")]
    HelperFailed {
        /// `docker-credential-<name>`.
        program: String,
        /// Its exit status.
        status: String,
        /// What it printed about the failure (it prints no secret when it fails).
        message: String,
    },
    /// The credential helper succeeded but its answer is not the expected JSON.
    #[error(
        "credential helper {program} answered something other than {{\"Username\", \"Secret\"}} JSON"
    )]
    HelperOutput {
        /// `docker-credential-<name>`.
        program: String,
    },
}

/// Looks up the credential for `registry_host` in the user's Docker config
/// (`$DOCKER_CONFIG` or `~/.docker`). `Ok(None)` when nothing is configured for it.
pub fn lookup(registry_host: &str) -> Result<Option<Credential>, CredentialError> {
    match docker_config_dir() {
        Some(dir) => CredentialLookup::new(dir).lookup(registry_host),
        None => Ok(None),
    }
}

/// Looks up the credential for `registry_host` in `config_dir/config.json`.
pub fn lookup_in(
    config_dir: &Path,
    registry_host: &str,
) -> Result<Option<Credential>, CredentialError> {
    CredentialLookup::new(config_dir.to_path_buf()).lookup(registry_host)
}

/// A lookup in one Docker config directory, optionally with the `PATH` used to find
/// credential helpers (the process's `PATH` by default).
#[derive(Debug, Clone)]
pub struct CredentialLookup {
    config_dir: PathBuf,
    helper_path: Option<OsString>,
}

impl CredentialLookup {
    /// A lookup in `config_dir` (the directory holding `config.json`).
    pub fn new(config_dir: PathBuf) -> CredentialLookup {
        CredentialLookup {
            config_dir,
            helper_path: None,
        }
    }

    /// Finds credential helpers on `path` (a `PATH`-style list) instead of the
    /// process's `PATH`; the helper also runs with this `PATH`.
    pub fn helper_path(mut self, path: OsString) -> CredentialLookup {
        self.helper_path = Some(path);
        self
    }

    /// The directory holding `config.json`.
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    fn helper_path_os(&self) -> Option<&std::ffi::OsStr> {
        self.helper_path.as_deref()
    }

    /// The credential for `registry_host`, or `None` when nothing is configured for it.
    pub fn lookup(&self, registry_host: &str) -> Result<Option<Credential>, CredentialError> {
        let path = self.config_dir.join("config.json");
        let Some(config) = config::read(&path)? else {
            return Ok(None);
        };
        let server = config::server_address(registry_host);
        if let Some(helper) = config.helper_for(registry_host) {
            let found = helper::get(helper, &server, self.helper_path.as_deref())?;
            if found.is_some() {
                return Ok(found);
            }
        }
        if let Some(store) = config.creds_store.as_deref().filter(|s| !s.is_empty()) {
            let found = helper::get(store, &server, self.helper_path.as_deref())?;
            if found.is_some() {
                return Ok(found);
            }
        }
        config.auth_for(registry_host, &path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_secrets() {
        let basic = Credential::Basic {
            username: "me".into(),
            password: "hunter2".into(),
        };
        let token = Credential::IdentityToken("tok-secret".into());
        let shown = format!("{basic:?} {token:?}");
        assert!(shown.contains("me"));
        assert!(!shown.contains("hunter2"));
        assert!(!shown.contains("tok-secret"));
    }
}
