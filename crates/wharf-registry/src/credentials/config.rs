//! Docker's `config.json`: where it is, its shape, and matching its keys to a host.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use super::{Credential, CredentialError};

/// The server URL Docker uses for Docker Hub in config files and helper calls.
const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// The Docker config directory: `$DOCKER_CONFIG`, else `$HOME/.docker`.
pub fn docker_config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".docker"))
}

/// `config.json` as far as credentials go. `Debug` is written by hand: it shows the
/// `auths` keys, user names, `credsStore` and `credHelpers`, never `auth`, `password`
/// or `identitytoken`.
#[derive(Default, Deserialize)]
pub(super) struct ConfigFile {
    #[serde(default)]
    auths: Option<HashMap<String, AuthEntry>>,
    #[serde(default, rename = "credsStore")]
    pub(super) creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: Option<HashMap<String, String>>,
}

/// One `auths` entry; its `Debug` shows the user name and which secrets are present.
#[derive(Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

impl fmt::Debug for ConfigFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Sorted, so the output does not depend on HashMap order.
        let auths = self.auths.as_ref().map(|auths| {
            let mut entries: Vec<_> = auths.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            entries
        });
        let helpers = self.cred_helpers.as_ref().map(|helpers| {
            let mut entries: Vec<_> = helpers.iter().collect();
            entries.sort();
            entries
        });
        f.debug_struct("ConfigFile")
            .field("auths", &auths.map(DebugMap))
            .field("creds_store", &self.creds_store)
            .field("cred_helpers", &helpers.map(DebugMap))
            .finish()
    }
}

impl fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthEntry")
            .field("auth", &self.auth.as_ref().map(|_| Redacted))
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| Redacted))
            .field(
                "identitytoken",
                &self.identitytoken.as_ref().map(|_| Redacted),
            )
            .finish()
    }
}

/// Stands in for a secret in `Debug` output.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Sorted `(key, value)` pairs shown as a map.
struct DebugMap<'a, V>(Vec<(&'a String, &'a V)>);

impl<V: fmt::Debug> fmt::Debug for DebugMap<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter().copied()).finish()
    }
}

/// Reads the config file; `Ok(None)` when it does not exist.
pub(super) fn read(path: &Path) -> Result<Option<ConfigFile>, CredentialError> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CredentialError::ReadConfig {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    // serde_json's messages can quote the offending value (which may be a secret):
    // report only its category and position.
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| CredentialError::InvalidConfig {
            path: path.to_path_buf(),
            problem: format!("{:?} error", e.classify()).to_lowercase(),
            line: e.line(),
            column: e.column(),
        })
}

/// The server address helpers are asked about: Docker Hub's legacy URL, else the host.
pub(super) fn server_address(host: &str) -> String {
    if normalize(host) == "docker.io" {
        DOCKER_HUB_SERVER.to_string()
    } else {
        host.to_string()
    }
}

/// A config key or host reduced to a comparable host: scheme and path removed,
/// lower-cased, Docker Hub's aliases unified.
fn normalize(key: &str) -> String {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = rest.split('/').next().unwrap_or(rest).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        _ => host,
    }
}

/// Whether config key `key` names `host` (any spelling: scheme, path, case, Docker
/// Hub's aliases).
pub(super) fn same_host(key: &str, host: &str) -> bool {
    normalize(key) == normalize(host)
}

/// The entry of `map` for `host`: an exact key first (`host` or its server address),
/// then any key that normalizes to the same host.
fn find<'a, V>(map: &'a HashMap<String, V>, host: &str) -> Option<(&'a String, &'a V)> {
    let server = server_address(host);
    if let Some(found) = map
        .get_key_value(host)
        .or_else(|| map.get_key_value(&server))
    {
        return Some(found);
    }
    let wanted = normalize(host);
    let mut matches: Vec<_> = map.iter().filter(|(k, _)| normalize(k) == wanted).collect();
    // Deterministic when several keys match (HashMap order is not).
    matches.sort_by(|a, b| a.0.cmp(b.0));
    matches.into_iter().next()
}

impl ConfigFile {
    /// The `credHelpers` helper named for `host`, if any.
    pub(super) fn helper_for(&self, host: &str) -> Option<&str> {
        let helpers = self.cred_helpers.as_ref()?;
        find(helpers, host)
            .map(|(_, name)| name.as_str())
            .filter(|name| !name.is_empty())
    }

    /// The credential stored in `auths` for `host`.
    pub(super) fn auth_for(
        &self,
        host: &str,
        path: &Path,
    ) -> Result<Option<Credential>, CredentialError> {
        let Some((key, entry)) = self.auths.as_ref().and_then(|auths| find(auths, host)) else {
            return Ok(None);
        };
        if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credential::IdentityToken(token.to_string())));
        }
        if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            let invalid = || CredentialError::InvalidAuth {
                path: path.to_path_buf(),
                key: key.clone(),
            };
            let engine = base64::engine::GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                base64::engine::GeneralPurposeConfig::new()
                    .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
            );
            let decoded = engine.decode(auth.trim()).map_err(|_| invalid())?;
            let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
            let (username, password) = decoded.split_once(':').ok_or_else(invalid)?;
            return Ok(Some(Credential::Basic {
                username: username.to_string(),
                password: password.to_string(),
            }));
        }
        match (&entry.username, &entry.password) {
            (Some(username), Some(password)) if !username.is_empty() => {
                Ok(Some(Credential::Basic {
                    username: username.clone(),
                    password: password.clone(),
                }))
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_normalize_to_hosts() {
        assert_eq!(normalize("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalize("http://myreg.io/v1/"), "myreg.io");
        assert_eq!(normalize("MyReg.io:5000"), "myreg.io:5000");
        assert_eq!(normalize("registry-1.docker.io"), "docker.io");
        assert_eq!(server_address("docker.io"), DOCKER_HUB_SERVER);
        assert_eq!(server_address("localhost:5000"), "localhost:5000");
    }

    #[test]
    fn debug_output_hides_auth_password_and_identity_token() {
        // "bWU6aHVudGVyMg==" is base64 for "me:hunter2".
        let json = r#"{
            "auths": {
                "a.example": {"auth": "bWU6aHVudGVyMg=="},
                "b.example": {"username": "bob", "password": "pw-secret-1"},
                "c.example": {"identitytoken": "tok-secret-2"}
            },
            "credsStore": "desktop",
            "credHelpers": {"d.example": "acr"}
        }"#;
        let config: ConfigFile = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"));
        let shown = format!("{config:?} {config:#?}");
        for secret in ["bWU6aHVudGVyMg==", "hunter2", "pw-secret-1", "tok-secret-2"] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
        for visible in [
            "a.example",
            "c.example",
            "bob",
            "desktop",
            "d.example",
            "acr",
        ] {
            assert!(shown.contains(visible), "{visible} not in {shown}");
        }
        assert!(shown.contains("<redacted>"), "{shown}");
        assert_eq!(
            format!("{:?}", AuthEntry::default()),
            "AuthEntry { auth: None, username: None, password: None, identitytoken: None }"
        );
    }
}
