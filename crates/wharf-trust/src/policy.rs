//! Notary Project trust policies (`trustpolicy.json` v1.0) and trust stores
//! (`<dir>/x509/<type>/<name>/*.crt|*.pem`): which policy applies to a repository,
//! its verification level, trust stores and trusted identities.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Error, certs};

/// A `trustpolicy.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustPolicyDocument {
    /// `1.0`.
    pub version: String,
    /// The policies.
    pub trust_policies: Vec<TrustPolicy>,
}

/// One policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustPolicy {
    /// Its name.
    pub name: String,
    /// `registry/repository` names, or `*`.
    pub registry_scopes: Vec<String>,
    /// The level and overrides.
    pub signature_verification: SignatureVerification,
    /// `ca:<name>` (or `signingAuthority:<name>`).
    #[serde(default)]
    pub trust_stores: Vec<String>,
    /// `*` or `x509.subject: <DN>`.
    #[serde(default)]
    pub trusted_identities: Vec<String>,
}

/// `signatureVerification`.
#[derive(Debug, Clone, Deserialize)]
pub struct SignatureVerification {
    /// `strict`, `permissive`, `audit` or `skip`.
    pub level: String,
    /// Per-check overrides (`expiry`, `authenticity`, `revocation`: `enforce|log|skip`).
    #[serde(default, rename = "override")]
    pub overrides: std::collections::BTreeMap<String, String>,
}

/// What a failed check does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Fails verification.
    Enforce,
    /// Is reported, verification passes.
    Log,
    /// Is not checked.
    Skip,
}

/// The actions of one policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actions {
    /// Integrity (always enforced unless the level is skip).
    pub integrity: Action,
    /// A trusted signer.
    pub authenticity: Action,
    /// Signature and certificate expiry.
    pub expiry: Action,
}

impl TrustPolicy {
    /// The actions of this policy's level with its overrides.
    pub fn actions(&self) -> Result<Actions, Error> {
        use Action::*;
        let mut actions = match self.signature_verification.level.as_str() {
            "strict" => Actions {
                integrity: Enforce,
                authenticity: Enforce,
                expiry: Enforce,
            },
            "permissive" => Actions {
                integrity: Enforce,
                authenticity: Enforce,
                expiry: Log,
            },
            "audit" => Actions {
                integrity: Enforce,
                authenticity: Log,
                expiry: Log,
            },
            "skip" => Actions {
                integrity: Skip,
                authenticity: Skip,
                expiry: Skip,
            },
            other => {
                return Err(Error::Input(format!(
                    "trust policy {:?}: level {other:?} is not strict, permissive, audit or skip",
                    self.name
                )));
            }
        };
        for (check, action) in &self.signature_verification.overrides {
            let action = match action.as_str() {
                "enforce" => Enforce,
                "log" => Log,
                "skip" => Skip,
                other => {
                    return Err(Error::Input(format!(
                        "trust policy {:?}: override {check}: {other:?} is not enforce, log or skip",
                        self.name
                    )));
                }
            };
            match check.as_str() {
                "authenticity" => actions.authenticity = action,
                "expiry" => actions.expiry = action,
                "revocation" | "authenticTimestamp" => {}
                other => {
                    return Err(Error::Input(format!(
                        "trust policy {:?}: unknown override {other:?}",
                        self.name
                    )));
                }
            }
        }
        Ok(actions)
    }
}

impl TrustPolicyDocument {
    /// Reads `path`.
    pub fn load(path: &Path) -> Result<TrustPolicyDocument, Error> {
        let text = std::fs::read(path)
            .map_err(|e| Error::Input(format!("cannot read {}: {e}", path.display())))?;
        let doc: TrustPolicyDocument = serde_json::from_slice(&text).map_err(|e| {
            Error::Input(format!(
                "{}:{}:{}: not a trust policy: {e}",
                path.display(),
                e.line(),
                e.column()
            ))
        })?;
        if doc.version != "1.0" {
            return Err(Error::Input(format!(
                "{}: trust policy version {:?} is not 1.0",
                path.display(),
                doc.version
            )));
        }
        for p in &doc.trust_policies {
            p.actions()?;
            for id in &p.trusted_identities {
                if id != "*" {
                    let dn = id.strip_prefix("x509.subject:").ok_or_else(|| {
                        Error::Input(format!(
                            "{}: policy {:?}: identity {id:?} is not \"*\" or \"x509.subject: ...\"",
                            path.display(),
                            p.name
                        ))
                    })?;
                    certs::parse_dn(dn)?;
                }
            }
        }
        Ok(doc)
    }

    /// The policy for `repository` (`registry/name`): the one naming it, else the `*`
    /// one.
    pub fn for_repository(&self, repository: &str) -> Result<&TrustPolicy, Error> {
        self.trust_policies
            .iter()
            .find(|p| p.registry_scopes.iter().any(|s| s == repository))
            .or_else(|| {
                self.trust_policies
                    .iter()
                    .find(|p| p.registry_scopes.iter().any(|s| s == "*"))
            })
            .ok_or_else(|| Error::Untrusted(format!("no trust policy applies to {repository}")))
    }
}

/// Whether `leaf` (DER) is one of `identities` (`*`, `x509.subject: ...`).
pub fn identity_trusted(leaf: &[u8], identities: &[String]) -> Result<bool, Error> {
    for id in identities {
        if id == "*" {
            return Ok(true);
        }
        if let Some(dn) = id.strip_prefix("x509.subject:")
            && certs::subject_matches(leaf, dn.trim())?
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The certificates of the trust stores `stores` (`ca:<name>`) under `dir`.
pub fn load_stores(dir: &Path, stores: &[String]) -> Result<Vec<Vec<u8>>, Error> {
    let mut certs_out = Vec::new();
    for store in stores {
        let (kind, name) = store.split_once(':').ok_or_else(|| {
            Error::Input(format!("trust store {store:?} is not TYPE:NAME (ca:acme)"))
        })?;
        if !["ca", "signingAuthority"].contains(&kind) {
            return Err(Error::Input(format!(
                "trust store type {kind:?} is not supported (ca, signingAuthority)"
            )));
        }
        let path: PathBuf = dir.join("x509").join(kind).join(name);
        let entries = std::fs::read_dir(&path)
            .map_err(|e| Error::Input(format!("trust store {}: {e}", path.display())))?;
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for file in files.into_iter().filter(|f| f.is_file()) {
            let bytes = std::fs::read(&file)
                .map_err(|e| Error::Input(format!("cannot read {}: {e}", file.display())))?;
            certs_out.extend(certs::parse_certificates(
                &bytes,
                &file.display().to_string(),
            )?);
        }
    }
    Ok(certs_out)
}
