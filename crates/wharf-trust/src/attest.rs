//! Attestations in a registry, in the layout cosign v3 writes and its
//! `verify-attestation --new-bundle-format` reads: a referrer manifest of the image
//! whose `artifactType` is the Sigstore bundle v0.3 media type, with the empty config,
//! one layer holding the bundle (a DSSE envelope of an in-toto Statement and the
//! key's hint, or its certificate), and the annotations
//! `dev.sigstore.bundle.content: dsse-envelope` and
//! `dev.sigstore.bundle.predicateType: <uri>`. It is stored through the referrers API,
//! or the `sha256-<hex>` fallback index (annotations kept in the descriptor).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Digest as _;
use wharf_registry::client::{BlobPush, Error as RegistryError};
use wharf_registry::manifest::{Descriptor, EMPTY_BLOB, Manifest, media_type};
use wharf_registry::referrers::ReferrersMode;
use wharf_registry::{Client, Digest, ImageRef, Repository};

use crate::Error;
use crate::dsse::{self, Envelope, IN_TOTO_PAYLOAD_TYPE};
use crate::keys::SigningKey;
use crate::provenance::{Policy, Statement};

/// The Sigstore bundle v0.3 media type: the artifact type and the layer's.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The older bundle media type, read too.
pub const BUNDLE_V02_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle+json;version=0.2";
/// The manifest annotation saying what the bundle holds.
pub const ANNOTATION_CONTENT: &str = "dev.sigstore.bundle.content";
/// The manifest annotation naming the statement's predicate type (unsigned: a hint
/// for listings; the signed statement is what is checked).
pub const ANNOTATION_PREDICATE_TYPE: &str = "dev.sigstore.bundle.predicateType";

/// The largest bundle read.
const MAX_BUNDLE: u64 = 4 << 20;

/// A Sigstore bundle (protobuf-specs `Bundle`, JSON form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    /// [`BUNDLE_MEDIA_TYPE`].
    pub media_type: String,
    /// What verifies it.
    pub verification_material: VerificationMaterial,
    /// The signed statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsse_envelope: Option<Envelope>,
}

/// `verificationMaterial`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    /// A public key, by hint (base64 SHA-256 of its SubjectPublicKeyInfo DER, as
    /// sigstore-go writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKeyIdentifier>,
    /// The signing certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<Certificate>,
    /// Transparency log entries (none: wharf does not upload to Rekor).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tlog_entries: Vec<Value>,
}

/// `publicKey`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyIdentifier {
    /// The key's hint.
    pub hint: String,
}

/// `certificate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Certificate {
    /// DER, base64.
    pub raw_bytes: String,
}

/// The hint of a public key: base64 of the SHA-256 of its SPKI DER.
pub fn key_hint(spki_der: &[u8]) -> String {
    STANDARD.encode(sha2::Sha256::digest(spki_der))
}

/// Signs `statement` with `key` into a bundle; `certificate` (the leaf, DER) goes in
/// the verification material instead of the key's hint when given.
pub fn bundle(
    statement: &Statement,
    key: &SigningKey,
    certificate: Option<&[u8]>,
) -> Result<Bundle, Error> {
    let envelope = dsse::sign(IN_TOTO_PAYLOAD_TYPE, &statement.to_bytes(), key);
    let verification_material = match certificate {
        Some(der) => VerificationMaterial {
            certificate: Some(Certificate {
                raw_bytes: STANDARD.encode(der),
            }),
            ..VerificationMaterial::default()
        },
        None => VerificationMaterial {
            public_key: Some(PublicKeyIdentifier {
                hint: key_hint(&key.public_key_der()?),
            }),
            ..VerificationMaterial::default()
        },
    };
    Ok(Bundle {
        media_type: BUNDLE_MEDIA_TYPE.into(),
        verification_material,
        dsse_envelope: Some(envelope),
    })
}

/// The referrer manifest of `subject` carrying `bundle` (its bytes), and the blobs to
/// push first.
pub fn manifest(
    subject: &Descriptor,
    bundle: &[u8],
    predicate_type: &str,
    created: jiff::Timestamp,
) -> (Bytes, Vec<BlobPush>) {
    let layer = BlobPush::bytes(BUNDLE_MEDIA_TYPE, Bytes::copy_from_slice(bundle));
    let config = BlobPush::bytes(media_type::OCI_EMPTY, Bytes::from_static(EMPTY_BLOB));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "artifactType": BUNDLE_MEDIA_TYPE,
        "config": {
            "mediaType": media_type::OCI_EMPTY,
            "artifactType": BUNDLE_MEDIA_TYPE,
            "digest": config.descriptor.digest.as_str(),
            "size": EMPTY_BLOB.len(),
        },
        "layers": [{
            "mediaType": BUNDLE_MEDIA_TYPE,
            "digest": layer.descriptor.digest.as_str(),
            "size": layer.descriptor.size,
        }],
        "subject": {
            "mediaType": subject.media_type,
            "digest": subject.digest.as_str(),
            "size": subject.size,
        },
        "annotations": {
            wharf_registry::manifest::ANNOTATION_CREATED: created.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            ANNOTATION_CONTENT: "dsse-envelope",
            ANNOTATION_PREDICATE_TYPE: predicate_type,
        },
    });
    (Bytes::from(manifest.to_string()), vec![config, layer])
}

/// A pushed attestation.
#[derive(Debug, Clone, PartialEq)]
pub struct Attested {
    /// The attested manifest.
    pub subject: Descriptor,
    /// The attestation manifest.
    pub digest: Digest,
    /// The referrers API took it (else the fallback index lists it).
    pub api: bool,
}

/// Signs `statement` and pushes it as a referrer of `subject` in `repo`.
pub async fn push(
    client: &Client,
    repo: &Repository,
    subject: &Descriptor,
    statement: &Statement,
    key: &SigningKey,
    certificate: Option<&[u8]>,
    mode: ReferrersMode,
) -> Result<Attested, Error> {
    let bundle = bundle(statement, key, certificate)?;
    let bytes = serde_json::to_vec(&bundle).map_err(|e| Error::Invalid(e.to_string()))?;
    let (manifest, blobs) = manifest(
        subject,
        &bytes,
        &statement.predicate_type,
        jiff::Timestamp::now(),
    );
    client.push_blobs(repo, &blobs).await?;
    let pushed = client
        .push_referrer(repo, media_type::OCI_MANIFEST, manifest, mode)
        .await?;
    Ok(Attested {
        subject: subject.clone(),
        digest: pushed.digest,
        api: pushed.api,
    })
}

/// A verified attestation.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// What the reference resolves to, and the statement covers.
    pub subject: Descriptor,
    /// The attestation manifest that verified.
    pub attestation: Digest,
    /// The verified statement.
    pub statement: Statement,
}

/// Verifies that an attestation signed by `public_key` (SPKI DER) covers exactly the
/// digest `image` resolves to now, with an in-toto payload and statement that
/// `policy` accepts.
pub async fn verify(
    client: &Client,
    image: &ImageRef,
    public_key: &[u8],
    policy: &Policy,
) -> Result<Verified, Error> {
    let subject = client.resolve(image).await?.ok_or_else(|| {
        Error::from(RegistryError::NotFound {
            registry: image.registry.clone(),
            repository: image.repository.clone(),
            what: format!("manifest {}", image.manifest_reference()),
            no_repository: false,
        })
    })?;
    let repo = Repository::of(image);
    let referrers = client
        .referrers(&repo, &subject.digest, Some(BUNDLE_MEDIA_TYPE))
        .await?;
    let mut failures = Vec::new();
    let mut other_types = Vec::new();
    let mut candidates = 0;
    for referrer in &referrers.descriptors {
        if let Some(t) = referrer.annotations.get(ANNOTATION_PREDICATE_TYPE)
            && *t != policy.predicate_type
        {
            other_types.push(t.clone());
            continue;
        }
        candidates += 1;
        match verify_one(client, &repo, &subject, referrer, public_key, policy).await {
            Ok(statement) => {
                return Ok(Verified {
                    subject,
                    attestation: referrer.digest.clone(),
                    statement,
                });
            }
            Err(e @ Error::Registry(_)) => return Err(e),
            Err(e) => failures.push(e),
        }
    }
    if candidates == 0 {
        let found = if other_types.is_empty() {
            String::new()
        } else {
            other_types.sort();
            other_types.dedup();
            format!(" (found: {})", other_types.join(", "))
        };
        return Err(Error::NoSignature(format!(
            "no attestation of predicate type {} for {repo}@{}{found}",
            policy.predicate_type, subject.digest
        )));
    }
    Err(combine(failures))
}

/// One error from several attempts: the first, with the others' reasons appended.
fn combine(mut failures: Vec<Error>) -> Error {
    let count = failures.len();
    let first = failures.remove(0);
    if count == 1 {
        return first;
    }
    let rest: Vec<String> = failures.iter().map(ToString::to_string).collect();
    let more = |m: String| format!("{m} (and {} more: {})", count - 1, rest.join("; "));
    match first {
        Error::Invalid(m) => Error::Invalid(more(m)),
        Error::Untrusted(m) => Error::Untrusted(more(m)),
        Error::Mismatch(m) => Error::Mismatch(more(m)),
        other => other,
    }
}

async fn verify_one(
    client: &Client,
    repo: &Repository,
    subject: &Descriptor,
    referrer: &Descriptor,
    public_key: &[u8],
    policy: &Policy,
) -> Result<Statement, Error> {
    let pulled = client
        .pull_manifest_in(repo, referrer.digest.as_str(), Some(&referrer.digest))
        .await?;
    let Ok(Manifest::Image(manifest)) = pulled.parse() else {
        return Err(Error::Invalid(format!(
            "attestation {} is not an image manifest",
            referrer.digest
        )));
    };
    let Some(layer) = manifest
        .layers
        .iter()
        .find(|l| l.media_type == BUNDLE_MEDIA_TYPE || l.media_type == BUNDLE_V02_MEDIA_TYPE)
    else {
        return Err(Error::Invalid(format!(
            "attestation {} has no Sigstore bundle layer",
            referrer.digest
        )));
    };
    let bytes = client.pull_blob(repo, layer, MAX_BUNDLE).await?;
    let bundle: Bundle = serde_json::from_slice(&bytes).map_err(|e| {
        Error::Invalid(format!(
            "attestation {} is not a Sigstore bundle: {e}",
            referrer.digest
        ))
    })?;
    let Some(envelope) = bundle.dsse_envelope else {
        return Err(Error::Invalid(format!(
            "attestation {} holds no DSSE envelope (a message signature, not an attestation)",
            referrer.digest
        )));
    };
    let payload = envelope.verify(public_key)?;
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(Error::Invalid(format!(
            "invalid payloadType {} on the envelope (want {IN_TOTO_PAYLOAD_TYPE})",
            envelope.payload_type
        )));
    }
    let statement = Statement::parse(&payload)?;
    if !statement.covers(&subject.digest) {
        let covered: Vec<String> = statement
            .subject
            .iter()
            .flat_map(|s| s.digest.iter().map(|(a, h)| format!("{a}:{h}")))
            .collect();
        return Err(Error::Mismatch(format!(
            "the attestation covers {}, not {}",
            covered.join(", "),
            subject.digest
        )));
    }
    policy.check(&statement)?;
    Ok(statement)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_referrer_layout_is_cosigns() {
        let subject = Descriptor::of(media_type::OCI_MANIFEST, b"{\"image\":1}");
        let (bytes, blobs) = manifest(
            &subject,
            b"{\"bundle\":1}",
            crate::provenance::SLSA_PROVENANCE_V1,
            "2026-01-02T03:04:05Z".parse().unwrap_or_default(),
        );
        let m: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        assert_eq!(m["artifactType"], BUNDLE_MEDIA_TYPE);
        assert_eq!(
            m["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(m["config"]["size"], 2);
        assert_eq!(m["layers"].as_array().map(Vec::len), Some(1));
        assert_eq!(m["layers"][0]["mediaType"], BUNDLE_MEDIA_TYPE);
        assert_eq!(m["subject"]["digest"], subject.digest.as_str());
        assert_eq!(m["subject"]["size"], subject.size);
        assert_eq!(m["annotations"][ANNOTATION_CONTENT], "dsse-envelope");
        assert_eq!(
            m["annotations"][ANNOTATION_PREDICATE_TYPE],
            "https://slsa.dev/provenance/v1"
        );
        assert_eq!(
            m["annotations"]["org.opencontainers.image.created"],
            "2026-01-02T03:04:05Z"
        );
        assert_eq!(blobs.len(), 2);
    }

    #[test]
    fn a_bundle_names_the_key_or_the_certificate() {
        let made = crate::certs::generate_test("b", 1, jiff::Timestamp::now())
            .unwrap_or_else(|e| panic!("{e}"));
        let key = SigningKey::from_pem(&made.key_pem, "k").unwrap_or_else(|e| panic!("{e}"));
        let statement = crate::provenance::tests_support::statement();
        let b = bundle(&statement, &key, None).unwrap_or_else(|e| panic!("{e}"));
        let v = serde_json::to_value(&b).unwrap_or_default();
        assert_eq!(v["mediaType"], BUNDLE_MEDIA_TYPE);
        let spki = key.public_key_der().unwrap_or_default();
        assert_eq!(
            v["verificationMaterial"]["publicKey"]["hint"],
            key_hint(&spki)
        );
        assert_eq!(v["dsseEnvelope"]["payloadType"], IN_TOTO_PAYLOAD_TYPE);
        let envelope = b
            .dsse_envelope
            .clone()
            .unwrap_or_else(|| panic!("envelope"));
        let payload = envelope.verify(&spki).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(payload, statement.to_bytes());
        let chain = crate::certs::parse_certificates(made.cert_pem.as_bytes(), "c")
            .unwrap_or_else(|e| panic!("{e}"));
        let with_cert = bundle(&statement, &key, Some(&chain[0])).unwrap_or_else(|e| panic!("{e}"));
        let v = serde_json::to_value(&with_cert).unwrap_or_default();
        assert_eq!(
            v["verificationMaterial"]["certificate"]["rawBytes"],
            STANDARD.encode(&chain[0])
        );
        assert!(v["verificationMaterial"].get("publicKey").is_none());
    }
}
