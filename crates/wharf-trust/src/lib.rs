//! Content trust for wharf: signing images and verifying their signatures in the two
//! formats ACR users meet, written byte for byte as the reference tools write them,
//! and stored as OCI referrers through `wharf_registry::referrers`:
//!
//! - [`notation`]: Notary Project signatures (JWS envelope, `notation sign`'s default),
//!   verified against a certificate or a trust policy and trust store ([`policy`]);
//! - [`cosign`]: cosign's keyed `.sig` format;
//! - [`certs`]: test certificates as `notation cert generate-test` makes them, and the
//!   certificate rules; [`keys`]: keys and signature algorithms;
//! - [`ops`]: sign and verify against a registry;
//! - [`provenance`]: SLSA v1 provenance as in-toto Statements, the acb buildType;
//!   [`dsse`]: the envelope that signs them; [`attest`]: attestations as referrers in
//!   cosign v3's bundle layout, and their verification.
//!
//! Key material never appears in errors or `Debug` output.

pub mod attest;
pub mod certs;
pub mod cosign;
pub mod dsse;
pub mod keys;
pub mod notation;
pub mod ops;
pub mod policy;
pub mod provenance;

/// What went wrong. [`Error::is_bad_input`] separates the user's mistakes (exit 2)
/// from a verification that failed (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input: an unreadable key or certificate, a malformed policy, a bad flag.
    #[error("{0}")]
    Input(String),
    /// The registry failed or refused.
    #[error(transparent)]
    Registry(Box<wharf_registry::client::Error>),
    /// No signature of the asked format is there.
    #[error("no signature: {0}")]
    NoSignature(String),
    /// A signature is malformed or does not verify (altered).
    #[error("invalid signature: {0}")]
    Invalid(String),
    /// The signer is not trusted.
    #[error("untrusted signer: {0}")]
    Untrusted(String),
    /// The signature or a certificate has expired (or is not yet valid).
    #[error("expired: {0}")]
    Expired(String),
    /// The signature covers other content (the tag moved, or it was re-pointed).
    #[error("signature does not match: {0}")]
    Mismatch(String),
}

impl From<wharf_registry::client::Error> for Error {
    fn from(e: wharf_registry::client::Error) -> Error {
        Error::Registry(Box::new(e))
    }
}

impl Error {
    /// Whether the input was bad (exit code 2), as opposed to a failed check or
    /// registry (exit code 1).
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::Input(_) => true,
            Error::Registry(e) => e.is_bad_input(),
            _ => false,
        }
    }
}
