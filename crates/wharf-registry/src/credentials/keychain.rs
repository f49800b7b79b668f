//! One place to ask for a registry's credential: explicit ones first, then what
//! `docker login` stored, each host looked up once per keychain.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Mutex;

use super::{Credential, CredentialError, CredentialLookup, docker_config_dir};

/// A lookup given as a function: the credential of a registry host, if any.
pub type LookupFn = std::sync::Arc<dyn Fn(&str) -> Option<Credential> + Send + Sync>;

/// Credentials per registry host, cached: a credential helper runs at most once per
/// host for the life of the keychain.
pub struct Keychain {
    lookup: Option<CredentialLookup>,
    function: Option<LookupFn>,
    explicit: HashMap<String, Credential>,
    cache: Mutex<HashMap<String, Option<Credential>>>,
}

impl fmt::Debug for Keychain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut hosts: Vec<&String> = self.explicit.keys().collect();
        hosts.sort();
        f.debug_struct("Keychain")
            .field("lookup", &self.lookup)
            .field("function", &self.function.is_some())
            .field("explicit_hosts", &hosts)
            .finish_non_exhaustive()
    }
}

impl Keychain {
    /// What `docker login` stored: `$DOCKER_CONFIG/config.json`, else
    /// `~/.docker/config.json`, and the credential helpers it names.
    pub fn docker() -> Keychain {
        Keychain {
            lookup: docker_config_dir().map(CredentialLookup::new),
            function: None,
            explicit: HashMap::new(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// What is stored in `config_dir/config.json` (and its helpers).
    pub fn docker_config(config_dir: PathBuf) -> Keychain {
        Keychain::from_lookup(CredentialLookup::new(config_dir))
    }

    /// Lookups through `lookup` (a config directory, optionally with a helper `PATH`).
    pub fn from_lookup(lookup: CredentialLookup) -> Keychain {
        Keychain {
            lookup: Some(lookup),
            function: None,
            explicit: HashMap::new(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// No stored credentials: every registry is asked anonymously unless
    /// [`Keychain::with`] gives one.
    pub fn anonymous() -> Keychain {
        Keychain {
            lookup: None,
            function: None,
            explicit: HashMap::new(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Credentials from `function` (asked once per host).
    pub fn from_fn(function: LookupFn) -> Keychain {
        Keychain {
            lookup: None,
            function: Some(function),
            explicit: HashMap::new(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Uses `credential` for `host`, whatever is stored.
    pub fn with(mut self, host: &str, credential: Credential) -> Keychain {
        self.explicit.insert(host.to_ascii_lowercase(), credential);
        self
    }

    /// The docker config directory this keychain reads, if any.
    pub fn config_dir(&self) -> Option<&std::path::Path> {
        self.lookup.as_ref().map(CredentialLookup::config_dir)
    }

    /// The credential for `host`, or `None` for anonymous access. May run a
    /// credential helper (a blocking call) the first time a host is asked for.
    pub fn get(&self, host: &str) -> Result<Option<Credential>, CredentialError> {
        let key = host.to_ascii_lowercase();
        if let Some(credential) = self.explicit.get(&key) {
            return Ok(Some(credential.clone()));
        }
        if let Some(found) = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
        {
            return Ok(found.clone());
        }
        let found = match (&self.lookup, &self.function) {
            (Some(lookup), _) => lookup.lookup(host)?,
            (None, Some(function)) => function(host),
            (None, None) => None,
        };
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, found.clone());
        Ok(found)
    }

    /// Forgets what was looked up for `host` (after a login or logout).
    pub fn forget(&self, host: &str) {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&host.to_ascii_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_credentials_win_and_lookups_are_cached() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // "dTpw" is base64 for "u:p".
        let config = dir.path().join("config.json");
        std::fs::write(&config, r#"{"auths":{"a.example":{"auth":"dTpw"}}}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        let keychain = Keychain::docker_config(dir.path().to_path_buf())
            .with("B.example", Credential::IdentityToken("t".into()));
        let basic = Some(Credential::Basic {
            username: "u".into(),
            password: "p".into(),
        });
        assert_eq!(keychain.get("a.example").ok(), Some(basic.clone()));
        assert_eq!(
            keychain.get("b.example").ok(),
            Some(Some(Credential::IdentityToken("t".into())))
        );
        // Cached: a changed file is not read again until forgotten.
        std::fs::write(&config, r#"{"auths":{}}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(keychain.get("a.example").ok(), Some(basic));
        keychain.forget("a.example");
        assert_eq!(keychain.get("a.example").ok(), Some(None));
        assert_eq!(Keychain::anonymous().get("a.example").ok(), Some(None));
    }
}
