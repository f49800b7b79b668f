//! DSSE (Dead Simple Signing Envelope) v1, as in-toto attestations and Sigstore
//! bundles carry them: the signature is over the pre-authentication encoding
//! `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body` (LEN in ASCII
//! decimal, no leading zeros), never over the bare payload. Signatures are ECDSA P-256
//! over SHA-256, ASN.1 DER, as cosign and sigstore-go write them; a verifier also
//! accepts the fixed `r || s` form and both standard and URL-safe base64.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::keys::{self, Algorithm, SigningKey};

/// The payload type of an in-toto Statement (the one cosign's `verify-attestation`
/// accepts).
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// The pre-authentication encoding of `body` of `payload_type`.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The signature, base64.
    pub sig: String,
    /// Which key signed (optional; empty is omitted, as protobuf JSON does).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub keyid: String,
}

/// A DSSE envelope: `{"payload", "payloadType", "signatures"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// The serialized body, base64.
    pub payload: String,
    /// What the body is.
    pub payload_type: String,
    /// At least one signature.
    pub signatures: Vec<Signature>,
}

/// Decodes base64 in either alphabet, padded or not (DSSE verifiers MUST accept both).
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE.decode(text))
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
        .ok()
}

/// Signs `body` of `payload_type` with `key`: one DER signature over the PAE.
pub fn sign(payload_type: &str, body: &[u8], key: &SigningKey) -> Envelope {
    let signature = key.sign_der(&pae(payload_type, body));
    Envelope {
        payload: STANDARD.encode(body),
        payload_type: payload_type.to_string(),
        signatures: vec![Signature {
            sig: STANDARD.encode(signature),
            keyid: String::new(),
        }],
    }
}

impl Envelope {
    /// The decoded payload, unverified.
    pub fn body(&self) -> Result<Vec<u8>, Error> {
        decode_base64(&self.payload)
            .ok_or_else(|| Error::Invalid("the DSSE payload is not base64".into()))
    }

    /// Checks that some signature verifies over the PAE of the payload with
    /// `public_key` (SPKI DER, EC P-256); returns the payload. The payload type is the
    /// caller's to check.
    pub fn verify(&self, public_key: &[u8]) -> Result<Vec<u8>, Error> {
        let body = self.body()?;
        if self.signatures.is_empty() {
            return Err(Error::Invalid("the DSSE envelope has no signature".into()));
        }
        let message = pae(&self.payload_type, &body);
        for signature in &self.signatures {
            let Some(raw) = decode_base64(&signature.sig) else {
                continue;
            };
            let ok = keys::verify_der_p256(public_key, &message, &raw)
                || (raw.len() == 64
                    && keys::verify_fixed(Algorithm::Es256, public_key, &message, &raw));
            if ok {
                return Ok(body);
            }
        }
        Err(Error::Untrusted(
            "the DSSE signature does not verify with the given key (another signer, or an altered payload)".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        let pem = crate::certs::generate_test("dsse", 1, jiff::Timestamp::now())
            .unwrap_or_else(|e| panic!("{e}"))
            .key_pem;
        SigningKey::from_pem(&pem, "key").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn pae_is_dssev1() {
        // The DSSE v1 protocol's example, and sigstore-rs's `compute_pae`.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
        assert_eq!(
            pae(IN_TOTO_PAYLOAD_TYPE, b"{}"),
            b"DSSEv1 28 application/vnd.in-toto+json 2 {}".to_vec()
        );
    }

    #[test]
    fn sign_and_verify_round_trip() {
        let key = key();
        let public = key.public_key_der().unwrap_or_default();
        let envelope = sign(IN_TOTO_PAYLOAD_TYPE, b"{\"a\":1}", &key);
        assert_eq!(
            envelope.verify(&public).ok().as_deref(),
            Some(&b"{\"a\":1}"[..])
        );
        // The signature is over the PAE, not the bare payload.
        let raw = decode_base64(&envelope.signatures[0].sig).unwrap_or_default();
        assert!(keys::verify_der_p256(
            &public,
            &pae(IN_TOTO_PAYLOAD_TYPE, b"{\"a\":1}"),
            &raw
        ));
        assert!(!keys::verify_der_p256(&public, b"{\"a\":1}", &raw));
        // Serialized as DSSE has it: payloadType, no empty keyid.
        let json = serde_json::to_value(&envelope).unwrap_or_default();
        assert_eq!(json["payloadType"], IN_TOTO_PAYLOAD_TYPE);
        assert!(json["signatures"][0].get("keyid").is_none(), "{json}");
    }

    #[test]
    fn altered_envelopes_fail() {
        let key = key();
        let public = key.public_key_der().unwrap_or_default();
        let envelope = sign(IN_TOTO_PAYLOAD_TYPE, b"{\"a\":1}", &key);
        // Another payload under the same signature.
        let mut tampered = envelope.clone();
        tampered.payload = STANDARD.encode(b"{\"a\":2}");
        assert!(matches!(tampered.verify(&public), Err(Error::Untrusted(_))));
        // Another payload type: the PAE differs.
        let mut retyped = envelope.clone();
        retyped.payload_type = "application/json".into();
        assert!(matches!(retyped.verify(&public), Err(Error::Untrusted(_))));
        // Another key.
        let other = self::key().public_key_der().unwrap_or_default();
        assert!(matches!(envelope.verify(&other), Err(Error::Untrusted(_))));
        // No signature at all.
        let mut bare = envelope;
        bare.signatures.clear();
        assert!(matches!(bare.verify(&public), Err(Error::Invalid(_))));
    }

    #[test]
    fn url_safe_base64_and_fixed_signatures_are_accepted() {
        let key = key();
        let public = key.public_key_der().unwrap_or_default();
        let body = b"??>>??>>";
        let fixed = key.sign_fixed(&pae(IN_TOTO_PAYLOAD_TYPE, body));
        let envelope = Envelope {
            payload: URL_SAFE_NO_PAD.encode(body),
            payload_type: IN_TOTO_PAYLOAD_TYPE.into(),
            signatures: vec![Signature {
                sig: URL_SAFE.encode(&fixed),
                keyid: "k".into(),
            }],
        };
        assert_eq!(envelope.verify(&public).ok().as_deref(), Some(&body[..]));
    }
}
