//! Notary Project signatures (what `notation sign` writes, JWS envelope): the payload,
//! the envelope, the signature manifest, and the envelope's integrity checks.
//!
//! Bytes as notation writes them (`notaryproject/specifications`
//! `signature-specification.md`, `signature-envelope-jws.md`; notation-go):
//!
//! - payload `{"targetArtifact":{"mediaType":…,"digest":…,"size":…[,"annotations":…]}}`;
//! - protected header, keys sorted (Go marshals a map): `alg`, `crit`
//!   (`io.cncf.notary.signingScheme`, and `io.cncf.notary.expiry` when set), `cty`,
//!   `io.cncf.notary.expiry`, `io.cncf.notary.signingScheme: notary.x509`,
//!   `io.cncf.notary.signingTime` (RFC 3339, seconds);
//! - flattened JWS JSON `{"payload","protected","header":{"x5c":[std base64 DER, leaf
//!   first],"io.cncf.notary.signingAgent"},"signature"}`, base64url without padding;
//! - an OCI 1.1 manifest: `artifactType: application/vnd.cncf.notary.signature`, the
//!   empty config, one `application/jose+json` layer, `subject`, and the annotations
//!   `io.cncf.notary.x509chain.thumbprint#S256` (a JSON array of the chain's SHA-256
//!   fingerprints) and `org.opencontainers.image.created`.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use serde_json::{Value, json};
use wharf_registry::client::BlobPush;
use wharf_registry::manifest::{Descriptor, EMPTY_BLOB, media_type};

use crate::keys::{self, SigningKey};
use crate::{Error, certs};

/// The artifact type of a Notary Project signature.
pub const ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.signature";
/// The JWS envelope's media type.
pub const JWS_MEDIA_TYPE: &str = "application/jose+json";
/// The COSE envelope's media type (read, not verified by wharf).
pub const COSE_MEDIA_TYPE: &str = "application/cose";
/// The payload's content type (`cty`).
pub const PAYLOAD_TYPE: &str = "application/vnd.cncf.notary.payload.v1+json";
/// The chain thumbprint annotation.
pub const THUMBPRINT_ANNOTATION: &str = "io.cncf.notary.x509chain.thumbprint#S256";

const SIGNING_SCHEME: &str = "io.cncf.notary.signingScheme";
const SIGNING_TIME: &str = "io.cncf.notary.signingTime";
const EXPIRY: &str = "io.cncf.notary.expiry";
const AUTHENTIC_SIGNING_TIME: &str = "io.cncf.notary.authenticSigningTime";
const SIGNING_AGENT: &str = "io.cncf.notary.signingAgent";

/// What goes into a signature besides the target.
#[derive(Debug, Clone)]
pub struct SignOptions {
    /// The signing time (RFC 3339 to the second in the header).
    pub signing_time: jiff::Timestamp,
    /// When the signature expires, if it does.
    pub expiry: Option<jiff::Timestamp>,
    /// `io.cncf.notary.signingAgent`.
    pub agent: String,
    /// User metadata, put in `targetArtifact.annotations` (`notation sign -m`).
    pub annotations: BTreeMap<String, String>,
}

fn rfc3339(t: jiff::Timestamp) -> String {
    t.round(jiff::Unit::Second)
        .unwrap_or(t)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The payload for `target` (only `mediaType`, `digest`, `size` and annotations, as
/// notation's `SanitizeTargetArtifact` keeps).
pub fn payload(target: &Descriptor, annotations: &BTreeMap<String, String>) -> Vec<u8> {
    let mut artifact = json!({
        "mediaType": target.media_type,
        "digest": target.digest.as_str(),
        "size": target.size,
    });
    let mut merged = target.annotations.clone();
    merged.extend(annotations.clone());
    if !merged.is_empty() {
        artifact["annotations"] = json!(merged);
    }
    json!({ "targetArtifact": artifact })
        .to_string()
        .into_bytes()
}

/// A JWS envelope signing `target` with `key`, whose certificate chain (leaf first,
/// DER) is `chain`. The leaf must be `key`'s certificate.
pub fn sign(
    target: &Descriptor,
    key: &SigningKey,
    chain: &[Vec<u8>],
    options: &SignOptions,
) -> Result<Vec<u8>, Error> {
    let Some(leaf) = chain.first() else {
        return Err(Error::Input(
            "a notation signature needs a certificate".into(),
        ));
    };
    if !certs::is_certificate_of(leaf, key).map_err(|e| Error::Input(e.to_string()))? {
        return Err(Error::Input(
            "the certificate is not the key's: its public key differs".into(),
        ));
    }
    certs::check_leaf(leaf).map_err(|e| Error::Input(e.to_string()))?;
    let mut crit = vec![SIGNING_SCHEME];
    let mut protected: BTreeMap<&str, Value> = BTreeMap::new();
    protected.insert("alg", json!("ES256"));
    protected.insert("cty", json!(PAYLOAD_TYPE));
    protected.insert(SIGNING_SCHEME, json!("notary.x509"));
    protected.insert(SIGNING_TIME, json!(rfc3339(options.signing_time)));
    if let Some(expiry) = options.expiry {
        protected.insert(EXPIRY, json!(rfc3339(expiry)));
        crit.push(EXPIRY);
    }
    protected.insert("crit", json!(crit));
    let protected = URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&protected).map_err(|e| Error::Input(e.to_string()))?);
    let payload = URL_SAFE_NO_PAD.encode(payload(target, &options.annotations));
    let signature = key.sign_fixed(format!("{protected}.{payload}").as_bytes());
    let envelope = json!({
        "payload": payload,
        "protected": protected,
        "header": {
            "x5c": chain.iter().map(|c| STANDARD.encode(c)).collect::<Vec<_>>(),
            SIGNING_AGENT: options.agent,
        },
        "signature": URL_SAFE_NO_PAD.encode(signature),
    });
    Ok(envelope.to_string().into_bytes())
}

/// The signature manifest for `envelope` (JWS) over `subject`, and the blobs it names.
pub fn manifest(
    subject: &Descriptor,
    envelope: &[u8],
    chain: &[Vec<u8>],
    created: jiff::Timestamp,
) -> (Bytes, Vec<BlobPush>) {
    let layer = BlobPush::bytes(JWS_MEDIA_TYPE, Bytes::copy_from_slice(envelope));
    let config = BlobPush::bytes(media_type::OCI_EMPTY, Bytes::from_static(EMPTY_BLOB));
    let thumbprints: Vec<String> = chain.iter().map(|c| certs::thumbprint(c)).collect();
    let subject = json!({
        "mediaType": subject.media_type,
        "digest": subject.digest.as_str(),
        "size": subject.size,
    });
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": {
            "mediaType": media_type::OCI_EMPTY,
            "digest": config.descriptor.digest.as_str(),
            "size": EMPTY_BLOB.len(),
            "data": STANDARD.encode(EMPTY_BLOB),
        },
        "layers": [{
            "mediaType": JWS_MEDIA_TYPE,
            "digest": layer.descriptor.digest.as_str(),
            "size": layer.descriptor.size,
        }],
        "subject": subject,
        "annotations": {
            THUMBPRINT_ANNOTATION: json!(thumbprints).to_string(),
            wharf_registry::manifest::ANNOTATION_CREATED: rfc3339(created),
        },
    });
    (Bytes::from(manifest.to_string()), vec![config, layer])
}

/// A JWS envelope whose signature verified against its own leaf certificate.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The signed `targetArtifact`.
    pub target: Value,
    /// The signing time.
    pub signing_time: Option<jiff::Timestamp>,
    /// The expiry, if any.
    pub expiry: Option<jiff::Timestamp>,
    /// The certificate chain, leaf first, DER.
    pub chain: Vec<Vec<u8>>,
    /// The algorithm.
    pub algorithm: keys::Algorithm,
}

impl Envelope {
    /// Whether the signed target is exactly `subject`: digest, size and media type.
    pub fn covers(&self, subject: &Descriptor) -> Result<(), Error> {
        let t = &self.target;
        let same = t.get("digest").and_then(Value::as_str) == Some(subject.digest.as_str())
            && t.get("size").and_then(Value::as_u64) == Some(subject.size)
            && t.get("mediaType").and_then(Value::as_str) == Some(subject.media_type.as_str());
        if same {
            Ok(())
        } else {
            Err(Error::Mismatch(format!(
                "the signature covers {} ({} bytes, {}), not {} ({} bytes, {})",
                t.get("digest").and_then(Value::as_str).unwrap_or("?"),
                t.get("size").and_then(Value::as_u64).unwrap_or(0),
                t.get("mediaType").and_then(Value::as_str).unwrap_or("?"),
                subject.digest,
                subject.size,
                subject.media_type
            )))
        }
    }
}

fn invalid(why: impl Into<String>) -> Error {
    Error::Invalid(why.into())
}

fn time_header(
    header: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<jiff::Timestamp>, Error> {
    match header.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .map(Some)
            .ok_or_else(|| invalid(format!("the header {name} is not an RFC 3339 time"))),
    }
}

/// Parses a JWS envelope and checks its integrity: the headers notation requires,
/// `crit` (every critical header understood), `alg` matching the leaf key, and the
/// signature. Trust in the certificate is not decided here.
pub fn verify(envelope: &[u8]) -> Result<Envelope, Error> {
    let value: Value = serde_json::from_slice(envelope)
        .map_err(|e| invalid(format!("the JWS envelope is not JSON: {e}")))?;
    let field = |name: &str| {
        value
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("the JWS envelope has no {name}")))
    };
    let (protected_b64, payload_b64, signature_b64) =
        (field("protected")?, field("payload")?, field("signature")?);
    let decode = |what: &str, text: &str| {
        URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| invalid(format!("the JWS {what} is not base64url")))
    };
    let protected: serde_json::Map<String, Value> =
        serde_json::from_slice(&decode("protected header", protected_b64)?)
            .map_err(|_| invalid("the protected header is not a JSON object"))?;
    let header = value
        .get("header")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("the JWS envelope has no unprotected header"))?;
    if protected.get("cty").and_then(Value::as_str) != Some(PAYLOAD_TYPE) {
        return Err(invalid(format!(
            "the content type (cty) is not {PAYLOAD_TYPE}"
        )));
    }
    match protected.get(SIGNING_SCHEME).and_then(Value::as_str) {
        Some("notary.x509") => {}
        Some("notary.x509.signingAuthority") => {
            return Err(invalid(
                "signing scheme notary.x509.signingAuthority is not supported by wharf",
            ));
        }
        other => return Err(invalid(format!("unknown signing scheme {other:?}"))),
    }
    let crit: Vec<&str> = protected
        .get("crit")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("the protected header has no crit"))?
        .iter()
        .map(|v| v.as_str().unwrap_or(""))
        .collect();
    for c in &crit {
        if ![SIGNING_SCHEME, EXPIRY, AUTHENTIC_SIGNING_TIME].contains(c) {
            return Err(invalid(format!("critical header {c:?} is not understood")));
        }
        if !protected.contains_key(*c) {
            return Err(invalid(format!("critical header {c:?} is missing")));
        }
    }
    if !crit.contains(&SIGNING_SCHEME) {
        return Err(invalid("crit does not name io.cncf.notary.signingScheme"));
    }
    if protected.contains_key(EXPIRY) && !crit.contains(&EXPIRY) {
        return Err(invalid("io.cncf.notary.expiry is not marked critical"));
    }
    let signing_time = time_header(&protected, SIGNING_TIME)?;
    if signing_time.is_none() {
        return Err(invalid("the signature has no io.cncf.notary.signingTime"));
    }
    let expiry = time_header(&protected, EXPIRY)?;
    let chain: Vec<Vec<u8>> = header
        .get("x5c")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("the signature carries no certificate chain (x5c)"))?
        .iter()
        .map(|c| {
            c.as_str()
                .and_then(|s| STANDARD.decode(s).ok())
                .ok_or_else(|| invalid("an x5c entry is not base64"))
        })
        .collect::<Result<_, _>>()?;
    let leaf = chain
        .first()
        .ok_or_else(|| invalid("the certificate chain (x5c) is empty"))?;
    let spki = certs::parse(leaf)?.public_key().raw.to_vec();
    let algorithm = keys::algorithm_for(&spki)?;
    if protected.get("alg").and_then(Value::as_str) != Some(algorithm.name()) {
        return Err(invalid(format!(
            "alg {:?} does not match the signing key ({})",
            protected.get("alg"),
            algorithm.name()
        )));
    }
    let signature = decode("signature", signature_b64)?;
    if !keys::verify_fixed(
        algorithm,
        &spki,
        format!("{protected_b64}.{payload_b64}").as_bytes(),
        &signature,
    ) {
        return Err(invalid(
            "the signature does not verify: the envelope was altered or signed by another key",
        ));
    }
    let payload: Value = serde_json::from_slice(&decode("payload", payload_b64)?)
        .map_err(|_| invalid("the payload is not JSON"))?;
    let target = payload
        .get("targetArtifact")
        .filter(|t| t.is_object())
        .cloned()
        .ok_or_else(|| invalid("the payload has no targetArtifact"))?;
    Ok(Envelope {
        target,
        signing_time,
        expiry,
        chain,
        algorithm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Descriptor {
        Descriptor::of(media_type::OCI_MANIFEST, b"{\"x\":1}")
    }

    #[test]
    fn signatures_round_trip_and_tampering_is_caught() {
        let now = jiff::Timestamp::now();
        let test = certs::generate_test("t", 2, now).unwrap_or_else(|e| panic!("{e}"));
        let key = SigningKey::from_pem(&test.key_pem, "k").unwrap_or_else(|e| panic!("{e}"));
        let chain = certs::parse_certificates(test.cert_pem.as_bytes(), "c").unwrap_or_default();
        let options = SignOptions {
            signing_time: now,
            expiry: Some(now + jiff::SignedDuration::from_hours(1)),
            agent: "wharf/test".into(),
            annotations: BTreeMap::new(),
        };
        let envelope = sign(&target(), &key, &chain, &options).unwrap_or_else(|e| panic!("{e}"));
        let verified = verify(&envelope).unwrap_or_else(|e| panic!("{e}"));
        verified.covers(&target()).unwrap_or_else(|e| panic!("{e}"));
        assert!(verified.expiry.is_some());
        assert!(
            verified
                .covers(&Descriptor::of(media_type::OCI_MANIFEST, b"{}"))
                .is_err()
        );

        // Another payload under the same signature.
        let mut value: Value = serde_json::from_slice(&envelope).unwrap_or_default();
        let other = URL_SAFE_NO_PAD.encode(payload(
            &Descriptor::of(media_type::OCI_MANIFEST, b"{}"),
            &BTreeMap::new(),
        ));
        value["payload"] = json!(other);
        let tampered = value.to_string();
        assert!(matches!(
            verify(tampered.as_bytes()),
            Err(Error::Invalid(_))
        ));

        // The protected header names what it must.
        let protected: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(value["protected"].as_str().unwrap_or(""))
                .unwrap_or_default(),
        )
        .unwrap_or_default();
        assert_eq!(protected["crit"], json!([SIGNING_SCHEME, EXPIRY]));
        assert_eq!(protected["cty"], PAYLOAD_TYPE);
        assert_eq!(protected[SIGNING_SCHEME], "notary.x509");

        // A key that is not the certificate's is refused.
        let other = certs::generate_test("o", 2, now).unwrap_or_else(|e| panic!("{e}"));
        let other = SigningKey::from_pem(&other.key_pem, "k").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            sign(&target(), &other, &chain, &options),
            Err(Error::Input(_))
        ));
    }

    #[test]
    fn the_manifest_is_an_oci_1_1_artifact() {
        let (bytes, blobs) = manifest(
            &target(),
            b"{}",
            &[b"cert".to_vec()],
            jiff::Timestamp::now(),
        );
        let m: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        assert_eq!(m["artifactType"], ARTIFACT_TYPE);
        assert_eq!(
            m["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(m["layers"][0]["mediaType"], JWS_MEDIA_TYPE);
        assert_eq!(m["subject"]["digest"], target().digest.as_str());
        let thumbs: Vec<String> = serde_json::from_str(
            m["annotations"][THUMBPRINT_ANNOTATION]
                .as_str()
                .unwrap_or(""),
        )
        .unwrap_or_default();
        assert_eq!(thumbs, [certs::thumbprint(b"cert")]);
        assert_eq!(blobs.len(), 2);
    }
}
