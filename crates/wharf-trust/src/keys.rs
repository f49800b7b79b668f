//! Keys: the P-256 signing key (`PRIVATE KEY` PKCS#8 or `EC PRIVATE KEY` SEC1 PEM),
//! public keys for cosign verification, and signature checks for the algorithms the
//! Notary Project allows (ES256/384, PS256/384/512) on ring.

use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePublicKey as _};
use ring::signature::{self, UnparsedPublicKey};
use x509_parser::prelude::FromDer as _;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::Error;

/// A private key wharf signs with: ECDSA P-256 (what `wharf cert generate-test` and
/// `cosign generate-key-pair` make).
#[derive(Clone)]
pub struct SigningKey(p256::ecdsa::SigningKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(P-256, <redacted>)")
    }
}

impl SigningKey {
    /// Reads a PEM key (`what` names it in errors, never its content).
    pub fn from_pem(text: &str, what: &str) -> Result<SigningKey, Error> {
        let text = text.trim();
        if text.contains("ENCRYPTED") {
            return Err(Error::Input(format!(
                "{what} is an encrypted key; wharf reads unencrypted PKCS#8 or SEC1 EC keys (export it with `openssl pkcs8 -topk8 -nocrypt`)"
            )));
        }
        if text.contains("BEGIN RSA PRIVATE KEY") {
            return Err(Error::Input(format!(
                "{what} is an RSA key; wharf signs with EC P-256 keys (`wharf cert generate-test` makes one)"
            )));
        }
        if let Ok(key) = p256::ecdsa::SigningKey::from_pkcs8_pem(text) {
            return Ok(SigningKey(key));
        }
        if let Ok(secret) = p256::SecretKey::from_sec1_pem(text) {
            return Ok(SigningKey(secret.into()));
        }
        Err(Error::Input(format!(
            "{what} is not a PEM EC P-256 private key (PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`)"
        )))
    }

    /// ECDSA over SHA-256, `r || s` (JWS ES256).
    pub fn sign_fixed(&self, message: &[u8]) -> Vec<u8> {
        let signature: p256::ecdsa::Signature = self.0.sign(message);
        signature.to_bytes().to_vec()
    }

    /// ECDSA over SHA-256, ASN.1 DER (cosign).
    pub fn sign_der(&self, message: &[u8]) -> Vec<u8> {
        let signature: p256::ecdsa::Signature = self.0.sign(message);
        signature.to_der().as_bytes().to_vec()
    }

    /// The public key, SubjectPublicKeyInfo DER.
    pub fn public_key_der(&self) -> Result<Vec<u8>, Error> {
        self.0
            .verifying_key()
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|e| Error::Input(format!("cannot encode the public key: {e}")))
    }
}

/// Reads a PEM public key (`PUBLIC KEY`, SubjectPublicKeyInfo) as cosign writes
/// `cosign.pub`; returns its DER.
pub fn public_key_from_pem(text: &str, what: &str) -> Result<Vec<u8>, Error> {
    let key = p256::PublicKey::from_public_key_pem(text.trim()).map_err(|_| {
        Error::Input(format!(
            "{what} is not a PEM EC P-256 public key (`-----BEGIN PUBLIC KEY-----`)"
        ))
    })?;
    key.to_public_key_der()
        .map(|d| d.as_bytes().to_vec())
        .map_err(|e| Error::Input(format!("{what}: {e}")))
}

/// A JWS algorithm the Notary Project allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// ECDSA P-256 SHA-256.
    Es256,
    /// ECDSA P-384 SHA-384.
    Es384,
    /// RSASSA-PSS SHA-256.
    Ps256,
    /// RSASSA-PSS SHA-384.
    Ps384,
    /// RSASSA-PSS SHA-512.
    Ps512,
}

impl Algorithm {
    /// The JWS `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::Ps256 => "PS256",
            Algorithm::Ps384 => "PS384",
            Algorithm::Ps512 => "PS512",
        }
    }
}

/// The algorithm a key must sign with (the Notary Project's key → algorithm table):
/// EC P-256/384 → ES256/384, RSA 2048/3072/4096 → PS256/384/512.
pub fn algorithm_for(spki_der: &[u8]) -> Result<Algorithm, Error> {
    let (_, spki) = SubjectPublicKeyInfo::from_der(spki_der)
        .map_err(|e| Error::Invalid(format!("the signing key cannot be read: {e}")))?;
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => Ok(Algorithm::Es256),
                Some("1.3.132.0.34") => Ok(Algorithm::Es384),
                other => Err(Error::Invalid(format!(
                    "EC curve {other:?} is not one wharf verifies (P-256, P-384)"
                ))),
            }
        }
        "1.2.840.113549.1.1.1" => {
            let bits = match spki.parsed() {
                Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => rsa.key_size(),
                _ => 0,
            };
            match bits {
                2048 => Ok(Algorithm::Ps256),
                3072 => Ok(Algorithm::Ps384),
                4096 => Ok(Algorithm::Ps512),
                other => Err(Error::Invalid(format!(
                    "an RSA key of {other} bits is not allowed (2048, 3072 or 4096)"
                ))),
            }
        }
        other => Err(Error::Invalid(format!(
            "key algorithm {other} is not one the Notary Project allows"
        ))),
    }
}

/// Whether `signature` by `alg` over `message` verifies with the key `spki_der`.
/// ECDSA signatures are `r || s` (JWS).
pub fn verify_fixed(alg: Algorithm, spki_der: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let Ok((_, spki)) = SubjectPublicKeyInfo::from_der(spki_der) else {
        return false;
    };
    let key = &spki.subject_public_key.data;
    let params: &dyn signature::VerificationAlgorithm = match alg {
        Algorithm::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::Es384 => &signature::ECDSA_P384_SHA384_FIXED,
        Algorithm::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
    };
    UnparsedPublicKey::new(params, key.as_ref())
        .verify(message, signature)
        .is_ok()
}

/// Whether the ASN.1 DER ECDSA P-256 SHA-256 `signature` over `message` verifies with
/// `spki_der` (cosign's signatures).
pub fn verify_der_p256(spki_der: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let Ok((_, spki)) = SubjectPublicKeyInfo::from_der(spki_der) else {
        return false;
    };
    UnparsedPublicKey::new(
        &signature::ECDSA_P256_SHA256_ASN1,
        spki.subject_public_key.data.as_ref(),
    )
    .verify(message, signature)
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sign_and_verify_in_both_encodings() {
        let pem = crate::certs::generate_test("k", 1, jiff::Timestamp::now())
            .unwrap_or_else(|e| panic!("{e}"))
            .key_pem;
        let key = SigningKey::from_pem(&pem, "key").unwrap_or_else(|e| panic!("{e}"));
        let spki = key.public_key_der().unwrap_or_default();
        assert_eq!(algorithm_for(&spki).ok(), Some(Algorithm::Es256));
        let fixed = key.sign_fixed(b"hello");
        assert_eq!(fixed.len(), 64);
        assert!(verify_fixed(Algorithm::Es256, &spki, b"hello", &fixed));
        assert!(!verify_fixed(Algorithm::Es256, &spki, b"hellO", &fixed));
        let der = key.sign_der(b"hello");
        assert!(verify_der_p256(&spki, b"hello", &der));
        assert!(!verify_der_p256(&spki, b"other", &der));
        assert!(format!("{key:?}").contains("redacted"));
    }

    #[test]
    fn unusable_keys_are_named_not_shown() {
        for text in [
            "nonsense",
            "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nabc\n",
        ] {
            let err = SigningKey::from_pem(text, "key.pem")
                .err()
                .map(|e| e.to_string());
            let err = err.unwrap_or_default();
            assert!(err.contains("key.pem") && !err.contains("abc"), "{err}");
        }
    }
}
