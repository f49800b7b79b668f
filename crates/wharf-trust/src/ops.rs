//! Signing and verifying images in a registry.

use std::collections::BTreeMap;

use wharf_registry::client::Error as RegistryError;
use wharf_registry::manifest::{Descriptor, Manifest, media_type};
use wharf_registry::referrers::ReferrersMode;
use wharf_registry::{Client, Digest, ImageRef, Repository};

use crate::keys::SigningKey;
use crate::policy::{Action, TrustPolicyDocument};
use crate::{Error, certs, cosign, notation, policy};

/// The largest signature blob read.
const MAX_SIGNATURE: u64 = 4 << 20;

/// A signature format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Notary Project, JWS envelope.
    #[default]
    Notation,
    /// cosign, keyed `.sig` tag.
    Cosign,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "notation" | "notary" => Ok(Format::Notation),
            "cosign" => Ok(Format::Cosign),
            other => Err(format!(
                "unknown signature format {other:?}: use notation or cosign"
            )),
        }
    }
}

/// What to sign with.
#[derive(Debug, Clone)]
pub struct SignRequest {
    /// The format.
    pub format: Format,
    /// The key.
    pub key: SigningKey,
    /// The certificate chain, leaf first (notation).
    pub chain: Vec<Vec<u8>>,
    /// Where the referrer goes (notation).
    pub mode: ReferrersMode,
    /// How long the signature is valid (notation `--expiry`).
    pub expiry: Option<jiff::SignedDuration>,
    /// User metadata (notation `-m`).
    pub annotations: BTreeMap<String, String>,
    /// `io.cncf.notary.signingAgent`.
    pub agent: String,
}

/// A pushed signature.
#[derive(Debug, Clone)]
pub struct Signed {
    /// What was signed (the digest the reference resolved to).
    pub subject: Descriptor,
    /// The signature manifest's digest.
    pub signature: Digest,
    /// Where it is: `repo@digest` (notation) or `repo:sha256-<hex>.sig` (cosign).
    pub location: String,
    /// The referrers API took it (notation).
    pub api: bool,
}

async fn resolve(client: &Client, image: &ImageRef) -> Result<Descriptor, Error> {
    client.resolve(image).await?.ok_or_else(|| {
        Error::from(RegistryError::NotFound {
            registry: image.registry.clone(),
            repository: image.repository.clone(),
            what: format!("manifest {}", image.manifest_reference()),
            no_repository: false,
        })
    })
}

/// cosign's `docker-reference`: the repository without tag.
fn docker_reference(image: &ImageRef) -> String {
    let registry = if image.registry == "docker.io" {
        "index.docker.io"
    } else {
        &image.registry
    };
    format!("{registry}/{}", image.repository)
}

/// Signs what `image` resolves to now, and pushes the signature next to it.
pub async fn sign(
    client: &Client,
    image: &ImageRef,
    request: &SignRequest,
) -> Result<Signed, Error> {
    let subject = resolve(client, image).await?;
    let repo = Repository::of(image);
    let now = jiff::Timestamp::now();
    match request.format {
        Format::Notation => {
            let options = notation::SignOptions {
                signing_time: now,
                expiry: request.expiry.and_then(|e| now.checked_add(e).ok()),
                agent: request.agent.clone(),
                annotations: request.annotations.clone(),
            };
            let envelope = notation::sign(&subject, &request.key, &request.chain, &options)?;
            let (manifest, blobs) = notation::manifest(&subject, &envelope, &request.chain, now);
            client.push_blobs(&repo, &blobs).await?;
            let pushed = client
                .push_referrer(&repo, media_type::OCI_MANIFEST, manifest, request.mode)
                .await?;
            Ok(Signed {
                location: format!("{repo}@{}", pushed.digest),
                signature: pushed.digest,
                subject,
                api: pushed.api,
            })
        }
        Format::Cosign => {
            let tag = cosign::signature_tag(&subject.digest);
            let existing = match client.pull_manifest_in(&repo, &tag, None).await {
                Ok(pulled) => match pulled.parse() {
                    Ok(Manifest::Image(m)) => Some(*m),
                    _ => {
                        return Err(Error::Invalid(format!(
                            "{repo}:{tag} is not a cosign signature manifest"
                        )));
                    }
                },
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e.into()),
            };
            let payload = cosign::payload(&docker_reference(image), &subject.digest);
            let signature = cosign::sign(&request.key, &payload);
            let location = format!("{repo}:{tag}");
            let Some((manifest, blobs)) = cosign::append(existing.as_ref(), &payload, &signature)?
            else {
                let digest = client
                    .resolve(&image.with_tag(&tag))
                    .await?
                    .map(|d| d.digest)
                    .unwrap_or_else(|| Digest::sha256(b""));
                return Ok(Signed {
                    subject,
                    signature: digest,
                    location,
                    api: false,
                });
            };
            client.push_blobs(&repo, &blobs).await?;
            let pushed = client
                .push_manifest(&repo, &tag, media_type::OCI_MANIFEST, manifest)
                .await?;
            Ok(Signed {
                subject,
                signature: pushed.digest,
                location,
                api: false,
            })
        }
    }
}

/// Whom to trust.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Notation signatures whose chain ends in (or is signed by) one of these
    /// certificates (DER), any identity, strict.
    Certificates(Vec<Vec<u8>>),
    /// Notation signatures as a trust policy and its trust store directory say.
    Policy {
        /// The policy document.
        document: TrustPolicyDocument,
        /// The trust store directory (`<dir>/x509/ca/<name>/`).
        store: std::path::PathBuf,
    },
    /// cosign signatures by this public key (SPKI DER).
    CosignKey(Vec<u8>),
}

/// A verified image.
#[derive(Debug, Clone)]
pub struct Verified {
    /// What the reference resolves to, and the signature covers.
    pub subject: Descriptor,
    /// The signature manifest that verified.
    pub signature: Option<Digest>,
    /// Who signed (the leaf's subject, or `key`).
    pub signer: String,
    /// Failures the policy only logs.
    pub warnings: Vec<String>,
}

/// Verifies that a signature from a trusted identity covers exactly what `image`
/// resolves to now (digest, size and media type).
pub async fn verify(client: &Client, image: &ImageRef, trust: &Trust) -> Result<Verified, Error> {
    let subject = resolve(client, image).await?;
    let repo = Repository::of(image);
    let now = jiff::Timestamp::now();
    match trust {
        Trust::CosignKey(key) => verify_cosign(client, &repo, &subject, key).await,
        Trust::Certificates(certs) => {
            let context = NotationTrust {
                trusted: certs.clone(),
                identities: vec!["*".to_string()],
                actions: policy::Actions {
                    integrity: Action::Enforce,
                    authenticity: Action::Enforce,
                    expiry: Action::Enforce,
                },
            };
            verify_notation(client, &repo, &subject, &context, now).await
        }
        Trust::Policy { document, store } => {
            let policy =
                document.for_repository(&format!("{}/{}", image.registry, image.repository))?;
            let actions = policy.actions()?;
            if actions.integrity == Action::Skip {
                return Ok(Verified {
                    subject,
                    signature: None,
                    signer: String::new(),
                    warnings: vec![format!("trust policy {:?} skips verification", policy.name)],
                });
            }
            let context = NotationTrust {
                trusted: policy::load_stores(store, &policy.trust_stores)?,
                identities: policy.trusted_identities.clone(),
                actions,
            };
            verify_notation(client, &repo, &subject, &context, now).await
        }
    }
}

struct NotationTrust {
    trusted: Vec<Vec<u8>>,
    identities: Vec<String>,
    actions: policy::Actions,
}

/// Applies `action` to a failed check: an error, or a warning.
fn apply(action: Action, error: Error, warnings: &mut Vec<String>) -> Result<(), Error> {
    match action {
        Action::Enforce => Err(error),
        Action::Log => {
            warnings.push(error.to_string());
            Ok(())
        }
        Action::Skip => Ok(()),
    }
}

async fn verify_notation(
    client: &Client,
    repo: &Repository,
    subject: &Descriptor,
    trust: &NotationTrust,
    now: jiff::Timestamp,
) -> Result<Verified, Error> {
    let referrers = client
        .referrers(repo, &subject.digest, Some(notation::ARTIFACT_TYPE))
        .await?;
    if referrers.descriptors.is_empty() {
        return Err(Error::NoSignature(format!(
            "no Notary Project signature for {repo}@{}",
            subject.digest
        )));
    }
    let mut failures = Vec::new();
    for referrer in &referrers.descriptors {
        match verify_one_notation(client, repo, subject, referrer, trust, now).await {
            Ok(v) => return Ok(v),
            Err(e @ Error::Registry(_)) => return Err(e),
            Err(e) => failures.push(e),
        }
    }
    let count = failures.len();
    let first = failures.remove(0);
    if count == 1 {
        return Err(first);
    }
    let rest: Vec<String> = failures.iter().map(ToString::to_string).collect();
    Err(match first {
        Error::Invalid(m) => {
            Error::Invalid(format!("{m} (and {} more: {})", count - 1, rest.join("; ")))
        }
        Error::Untrusted(m) => {
            Error::Untrusted(format!("{m} (and {} more: {})", count - 1, rest.join("; ")))
        }
        Error::Expired(m) => {
            Error::Expired(format!("{m} (and {} more: {})", count - 1, rest.join("; ")))
        }
        Error::Mismatch(m) => {
            Error::Mismatch(format!("{m} (and {} more: {})", count - 1, rest.join("; ")))
        }
        other => other,
    })
}

async fn verify_one_notation(
    client: &Client,
    repo: &Repository,
    subject: &Descriptor,
    referrer: &Descriptor,
    trust: &NotationTrust,
    now: jiff::Timestamp,
) -> Result<Verified, Error> {
    let pulled = client
        .pull_manifest_in(repo, referrer.digest.as_str(), Some(&referrer.digest))
        .await?;
    let Ok(Manifest::Image(manifest)) = pulled.parse() else {
        return Err(Error::Invalid(format!(
            "signature {} is not an image manifest",
            referrer.digest
        )));
    };
    let Some(layer) = manifest
        .layers
        .first()
        .filter(|_| manifest.layers.len() == 1)
    else {
        return Err(Error::Invalid(format!(
            "signature {} must have exactly one layer",
            referrer.digest
        )));
    };
    if layer.media_type == notation::COSE_MEDIA_TYPE {
        return Err(Error::Invalid(format!(
            "signature {} is a COSE envelope; wharf verifies JWS envelopes",
            referrer.digest
        )));
    }
    if layer.media_type != notation::JWS_MEDIA_TYPE {
        return Err(Error::Invalid(format!(
            "signature {} has an envelope of type {}",
            referrer.digest, layer.media_type
        )));
    }
    let envelope = client.pull_blob(repo, layer, MAX_SIGNATURE).await?;
    let envelope = notation::verify(&envelope)?;
    envelope.covers(subject)?;
    let mut warnings = Vec::new();
    if let Some(expiry) = envelope.expiry
        && expiry < now
    {
        apply(
            trust.actions.expiry,
            Error::Expired(format!("the signature expired at {expiry}")),
            &mut warnings,
        )?;
    }
    let leaf = &envelope.chain[0];
    let signer = certs::subject(leaf)?;
    if let Err(e) = certs::check_leaf(leaf) {
        apply(trust.actions.authenticity, e, &mut warnings)?;
    }
    match certs::verify_chain(&envelope.chain, &trust.trusted, now) {
        Ok(_) => {}
        Err(e @ Error::Expired(_)) => {
            apply(trust.actions.expiry, e, &mut warnings)?;
            // An expired chain must still end at a trusted certificate.
            let later_ok = trust
                .trusted
                .iter()
                .any(|t| envelope.chain.last() == Some(t))
                || certs::verify_chain(
                    &envelope.chain,
                    &trust.trusted,
                    envelope.signing_time.unwrap_or(now),
                )
                .is_ok();
            if !later_ok {
                apply(
                    trust.actions.authenticity,
                    Error::Untrusted(format!(
                        "{signer:?} does not chain to a trusted certificate"
                    )),
                    &mut warnings,
                )?;
            }
        }
        Err(e) => apply(trust.actions.authenticity, e, &mut warnings)?,
    }
    if !policy::identity_trusted(leaf, &trust.identities)? {
        apply(
            trust.actions.authenticity,
            Error::Untrusted(format!("{signer:?} is not a trusted identity")),
            &mut warnings,
        )?;
    }
    Ok(Verified {
        subject: subject.clone(),
        signature: Some(referrer.digest.clone()),
        signer,
        warnings,
    })
}

async fn verify_cosign(
    client: &Client,
    repo: &Repository,
    subject: &Descriptor,
    key: &[u8],
) -> Result<Verified, Error> {
    let tag = cosign::signature_tag(&subject.digest);
    let pulled = match client.pull_manifest_in(repo, &tag, None).await {
        Ok(p) => p,
        Err(e) if e.is_not_found() => {
            return Err(Error::NoSignature(format!(
                "no cosign signature for {repo}@{} (no tag {tag})",
                subject.digest
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let Ok(Manifest::Image(manifest)) = pulled.parse() else {
        return Err(Error::Invalid(format!(
            "{repo}:{tag} is not an image manifest"
        )));
    };
    let mut failures = Vec::new();
    for layer in manifest
        .layers
        .iter()
        .filter(|l| l.media_type == cosign::SIMPLE_SIGNING)
    {
        let Some(signature) = layer.annotations.get(cosign::SIGNATURE_ANNOTATION) else {
            continue;
        };
        let payload = client.pull_blob(repo, layer, MAX_SIGNATURE).await?;
        match cosign::verify(key, &payload, signature, &subject.digest) {
            Ok(()) => {
                return Ok(Verified {
                    subject: subject.clone(),
                    signature: Some(pulled.digest.clone()),
                    signer: "key".into(),
                    warnings: Vec::new(),
                });
            }
            Err(e) => failures.push(e),
        }
    }
    if failures.is_empty() {
        return Err(Error::NoSignature(format!(
            "{repo}:{tag} holds no cosign signature layer"
        )));
    }
    Err(failures.remove(0))
}
