//! Storing and erasing credentials the way `docker login` and `docker logout` do, so
//! that docker (and every tool that reads Docker's config) sees the same login.
//!
//! - The key is the registry host (`https://index.docker.io/v1/` for Docker Hub).
//! - When `credHelpers` names a helper for the host, or `credsStore` is set, the
//!   secret goes to that helper (`docker-credential-<name> store`) and `auths` gets
//!   an empty entry for the host, as docker writes it.
//! - Otherwise `auths[host]` gets `{"auth": base64(user:password)}` (or
//!   `{"identitytoken": ...}` for a refresh token).
//! - Every other field of `config.json` is kept as it was. The file is written to a
//!   temporary file with mode 0600 and renamed over the old one.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Map, Value};

use super::config::server_address;
use super::{Credential, CredentialError, CredentialLookup, helper};

/// Where a login was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoredIn {
    /// In `config.json` itself (base64, not encrypted: as docker does without a helper).
    ConfigFile(PathBuf),
    /// With the credential helper `docker-credential-<name>`.
    Helper(String),
}

impl CredentialLookup {
    /// Stores `credential` for `host` as `docker login` would.
    pub fn store(&self, host: &str, credential: &Credential) -> Result<StoredIn, CredentialError> {
        let path = self.config_dir().join("config.json");
        let mut root = read_object(&path)?;
        let server = server_address(host);
        let helper_name = helper_for(&root, host);
        let entry = match &helper_name {
            Some(name) => {
                helper::store(name, &server, credential, self.helper_path_os())?;
                Value::Object(Map::new())
            }
            None => match credential {
                Credential::Basic { username, password } => {
                    let auth = base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{password}"));
                    serde_json::json!({ "auth": auth })
                }
                Credential::IdentityToken(token) => serde_json::json!({ "identitytoken": token }),
            },
        };
        let auths = root
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        if let Value::Object(auths) = auths {
            // One entry per registry: drop other spellings of the same host.
            let same: Vec<String> = auths
                .keys()
                .filter(|k| *k != &server && super::config::same_host(k, host))
                .cloned()
                .collect();
            for key in same {
                auths.remove(&key);
            }
            auths.insert(server, entry);
        }
        write_object(&path, &root)?;
        Ok(match helper_name {
            Some(name) => StoredIn::Helper(format!("docker-credential-{name}")),
            None => StoredIn::ConfigFile(path),
        })
    }

    /// Removes what is stored for `host` (every spelling of it in `auths`, and the
    /// helper's entry). `Ok(false)` when nothing was stored.
    pub fn erase(&self, host: &str) -> Result<bool, CredentialError> {
        let path = self.config_dir().join("config.json");
        if !path.exists() {
            return Ok(false);
        }
        let mut root = read_object(&path)?;
        let server = server_address(host);
        let had_helper_login = match helper_for(&root, host) {
            Some(name) => {
                let had = helper::get(&name, &server, self.helper_path_os())?.is_some();
                helper::erase(&name, &server, self.helper_path_os())?;
                had
            }
            None => false,
        };
        let mut removed = false;
        if let Some(Value::Object(auths)) = root.get_mut("auths") {
            let keys: Vec<String> = auths
                .keys()
                .filter(|k| super::config::same_host(k, host))
                .cloned()
                .collect();
            for key in keys {
                auths.remove(&key);
                removed = true;
            }
        }
        if removed {
            write_object(&path, &root)?;
        }
        Ok(removed || had_helper_login)
    }
}

/// The helper that holds `host`'s secret: `credHelpers[host]`, else `credsStore`.
fn helper_for(root: &Map<String, Value>, host: &str) -> Option<String> {
    let helpers = root.get("credHelpers").and_then(Value::as_object);
    if let Some(helpers) = helpers {
        let server = server_address(host);
        let mut keys: Vec<&String> = helpers.keys().collect();
        keys.sort();
        let found = helpers
            .get(host)
            .or_else(|| helpers.get(&server))
            .or_else(|| {
                keys.into_iter()
                    .find(|k| super::config::same_host(k, host))
                    .and_then(|k| helpers.get(k))
            })
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty());
        if let Some(name) = found {
            return Some(name.to_string());
        }
    }
    root.get("credsStore")
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
        .map(str::to_string)
}

fn read_object(path: &Path) -> Result<Map<String, Value>, CredentialError> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(source) => {
            return Err(CredentialError::ReadConfig {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if text.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(CredentialError::InvalidConfig {
            path: path.to_path_buf(),
            problem: "not a JSON object".into(),
            line: 1,
            column: 1,
        }),
        Err(e) => Err(CredentialError::InvalidConfig {
            path: path.to_path_buf(),
            problem: format!("{:?} error", e.classify()).to_lowercase(),
            line: e.line(),
            column: e.column(),
        }),
    }
}

fn write_object(path: &Path, root: &Map<String, Value>) -> Result<(), CredentialError> {
    let write_error = |source| CredentialError::WriteConfig {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(write_error)?;
    // Docker indents with tabs.
    let mut text = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut serializer = serde_json::Serializer::with_formatter(&mut text, formatter);
    serde::Serialize::serialize(root, &mut serializer)
        .map_err(|e| write_error(std::io::Error::other(e.to_string())))?;
    text.push(b'\n');
    let mut temp = tempfile::Builder::new()
        .prefix(".config.json.")
        .tempfile_in(dir)
        .map_err(write_error)?;
    std::io::Write::write_all(&mut temp, &text).map_err(write_error)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(write_error)?;
    }
    temp.persist(path).map_err(|e| write_error(e.error))?;
    Ok(())
}
