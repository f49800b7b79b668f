//! X.509 for signing: test certificates as `notation cert generate-test` makes them
//! (here EC P-256, with a validity you choose), PEM chains, and the Notary Project's
//! certificate rules (leaf key usage and EKU, chain signatures, validity, identities).

use std::collections::BTreeSet;

use der::asn1::{BitString, OctetString, PrintableString, SetOfVec};
use der::{Decode as _, Encode as _};
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use rand_core_06::{OsRng, RngCore as _};
use sha2::Digest as _;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};
use x509_cert::ext::{AsExtension, Extension};
use x509_cert::name::{RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, ObjectIdentifier, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_parser::prelude::{FromDer as _, X509Certificate};

use crate::Error;

const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const KP_CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");

/// A generated key and certificate, both PEM.
#[derive(Clone)]
pub struct TestCert {
    /// The private key, PKCS#8 PEM (`PRIVATE KEY`).
    pub key_pem: String,
    /// The self-signed certificate, PEM.
    pub cert_pem: String,
}

impl std::fmt::Debug for TestCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCert")
            .field("key_pem", &"<redacted>")
            .field("cert_pem", &self.cert_pem)
            .finish()
    }
}

/// `C=US, ST=WA, L=Seattle, O=Notary, CN=<name>`, as notation's test certificates.
pub fn test_subject(name: &str) -> String {
    format!("C=US, ST=WA, L=Seattle, O=Notary, CN={name}")
}

fn name(pairs: &[(&str, &str)]) -> Result<RdnSequence, Error> {
    let mut rdns = Vec::new();
    for (oid, value) in pairs {
        let value = PrintableString::new(*value)
            .map_err(|_| Error::Input(format!("{value:?} cannot be a certificate name")))?;
        let atv = AttributeTypeAndValue {
            oid: ObjectIdentifier::new_unwrap(oid),
            value: der::Any::encode_from(&value).map_err(der_error)?,
        };
        rdns.push(RelativeDistinguishedName(
            SetOfVec::try_from(vec![atv]).map_err(der_error)?,
        ));
    }
    Ok(RdnSequence(rdns))
}

fn der_error(e: der::Error) -> Error {
    Error::Input(format!("cannot encode the certificate: {e}"))
}

fn asn1_time(t: jiff::Timestamp) -> Result<Time, Error> {
    let secs = u64::try_from(t.as_second())
        .map_err(|_| Error::Input("certificate times before 1970 cannot be written".into()))?;
    let d = std::time::Duration::from_secs(secs);
    let year = t.to_zoned(jiff::tz::TimeZone::UTC).year();
    if year < 2050 {
        der::asn1::UtcTime::from_unix_duration(d).map(Time::UtcTime)
    } else {
        der::asn1::GeneralizedTime::from_unix_duration(d).map(Time::GeneralTime)
    }
    .map_err(der_error)
}

fn extension<E: AsExtension + der::Encode>(
    ext: &E,
    oid: ObjectIdentifier,
    critical: bool,
) -> Result<Extension, Error> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(ext.to_der().map_err(der_error)?).map_err(der_error)?,
    })
}

/// A new EC P-256 key and a self-signed, non-CA code-signing certificate for it, valid
/// from `now` for `days` days: subject [`test_subject`], key usage digitalSignature
/// (critical), EKU codeSigning, as `notation cert generate-test` makes them.
pub fn generate_test(cn: &str, days: u32, now: jiff::Timestamp) -> Result<TestCert, Error> {
    if cn.is_empty() || cn.contains(['/', '\\', ',', '=']) {
        return Err(Error::Input(format!(
            "{cn:?} is not a usable certificate name (no '/', '\\\\', ',' or '=')"
        )));
    }
    let key = p256::ecdsa::SigningKey::random(&mut OsRng);
    let subject = name(&[
        ("2.5.4.6", "US"),
        ("2.5.4.8", "WA"),
        ("2.5.4.7", "Seattle"),
        ("2.5.4.10", "Notary"),
        ("2.5.4.3", cn),
    ])?;
    let spki_der = key
        .verifying_key()
        .to_public_key_der()
        .map_err(|e| Error::Input(format!("cannot encode the public key: {e}")))?;
    let spki = SubjectPublicKeyInfoOwned::from_der(spki_der.as_bytes()).map_err(der_error)?;
    let not_after = now
        .checked_add(jiff::SignedDuration::from_hours(24 * i64::from(days)))
        .map_err(|e| Error::Input(format!("--days {days}: {e}")))?;
    let mut serial = [0u8; 16];
    OsRng.fill_bytes(&mut serial);
    serial[0] &= 0x7f;
    let key_usage = KeyUsage(KeyUsages::DigitalSignature.into());
    let eku = ExtendedKeyUsage(vec![KP_CODE_SIGNING]);
    let basic = BasicConstraints {
        ca: false,
        path_len_constraint: None,
    };
    let extensions = vec![
        extension(&key_usage, ObjectIdentifier::new_unwrap("2.5.29.15"), true)?,
        extension(&eku, ObjectIdentifier::new_unwrap("2.5.29.37"), false)?,
        extension(&basic, ObjectIdentifier::new_unwrap("2.5.29.19"), true)?,
    ];
    let algorithm = AlgorithmIdentifierOwned {
        oid: ECDSA_WITH_SHA256,
        parameters: None,
    };
    let tbs = x509_cert::TbsCertificate {
        version: x509_cert::Version::V3,
        serial_number: SerialNumber::new(&serial).map_err(der_error)?,
        signature: algorithm.clone(),
        issuer: subject.clone(),
        validity: Validity {
            not_before: asn1_time(now)?,
            not_after: asn1_time(not_after)?,
        },
        subject,
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let tbs_der = tbs.to_der().map_err(der_error)?;
    let signature: p256::ecdsa::Signature = key.sign(&tbs_der);
    let cert = x509_cert::Certificate {
        tbs_certificate: tbs,
        signature_algorithm: algorithm,
        signature: BitString::from_bytes(signature.to_der().as_bytes()).map_err(der_error)?,
    };
    let cert_der = cert.to_der().map_err(der_error)?;
    let key_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| Error::Input(format!("cannot encode the key: {e}")))?;
    Ok(TestCert {
        key_pem: key_pem.to_string(),
        cert_pem: pem_encode("CERTIFICATE", &cert_der),
    })
}

/// PEM with 64-column base64 lines.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Every `CERTIFICATE` block of PEM `text`, as DER, in order (`what` names the source
/// in errors). DER input (one certificate) is accepted too.
pub fn parse_certificates(text: &[u8], what: &str) -> Result<Vec<Vec<u8>>, Error> {
    if text.first() == Some(&0x30) {
        X509Certificate::from_der(text)
            .map_err(|e| Error::Input(format!("{what}: not a certificate: {e}")))?;
        return Ok(vec![text.to_vec()]);
    }
    let mut out = Vec::new();
    for pem in x509_parser::pem::Pem::iter_from_buffer(text) {
        let pem = pem.map_err(|e| Error::Input(format!("{what}: bad PEM: {e}")))?;
        if pem.label == "CERTIFICATE" {
            X509Certificate::from_der(&pem.contents)
                .map_err(|e| Error::Input(format!("{what}: not a certificate: {e}")))?;
            out.push(pem.contents);
        }
    }
    if out.is_empty() {
        return Err(Error::Input(format!("{what} holds no PEM certificate")));
    }
    Ok(out)
}

/// The SHA-256 fingerprint of `der`, lowercase hex (as notation's thumbprints).
pub fn thumbprint(der: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(der))
}

pub(crate) fn parse(der: &[u8]) -> Result<X509Certificate<'_>, Error> {
    X509Certificate::from_der(der)
        .map(|(_, c)| c)
        .map_err(|e| Error::Invalid(format!("a certificate in the chain cannot be read: {e}")))
}

/// Whether the certificate `der` is `key`'s: its subject public key is the key's.
pub fn is_certificate_of(der: &[u8], key: &crate::keys::SigningKey) -> Result<bool, Error> {
    Ok(parse(der)?.public_key().raw == key.public_key_der()?.as_slice())
}

/// The subject of `der` as `C=US, ST=WA, ...`.
pub fn subject(der: &[u8]) -> Result<String, Error> {
    Ok(attributes(&parse(der)?)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", "))
}

fn short_name(oid: &str) -> String {
    match oid {
        "2.5.4.6" => "C",
        "2.5.4.8" => "ST",
        "2.5.4.7" => "L",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.3" => "CN",
        "1.2.840.113549.1.9.1" => "E",
        other => other,
    }
    .to_string()
}

fn attributes(cert: &X509Certificate<'_>) -> Vec<(String, String)> {
    cert.subject()
        .iter_attributes()
        .map(|a| {
            (
                short_name(&a.attr_type().to_id_string()),
                a.as_str().map(str::to_string).unwrap_or_default(),
            )
        })
        .collect()
}

/// Whether the subject of `der` is the distinguished name `identity`
/// (`C=US, ST=WA, ..., CN=x`): the same attributes, in any order, as notation compares.
pub fn subject_matches(der: &[u8], identity: &str) -> Result<bool, Error> {
    let want: BTreeSet<(String, String)> = parse_dn(identity)?.into_iter().collect();
    let have: BTreeSet<(String, String)> = attributes(&parse(der)?).into_iter().collect();
    Ok(want == have)
}

/// `K=V, K=V` into pairs (keys upper-cased; `\,` escapes a comma).
pub fn parse_dn(text: &str) -> Result<Vec<(String, String)>, Error> {
    let mut pairs = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    let mut parts = Vec::new();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    current.push(n);
                }
            }
            ',' => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    for part in parts {
        let part = part.trim();
        let Some((k, v)) = part.split_once('=') else {
            return Err(Error::Input(format!(
                "{text:?} is not a distinguished name (K=V, K=V, ...)"
            )));
        };
        pairs.push((k.trim().to_ascii_uppercase(), v.trim().to_string()));
    }
    Ok(pairs)
}

/// The Notary Project's leaf rules: key usage (if present) has digitalSignature; EKU
/// (if present) has codeSigning and nothing for TLS, e-mail or time stamping; not a CA.
pub fn check_leaf(der: &[u8]) -> Result<(), Error> {
    let cert = parse(der)?;
    let untrusted = |why: &str| Err(Error::Untrusted(format!("the signing certificate {why}")));
    match cert.key_usage() {
        Ok(Some(ku)) if !ku.value.digital_signature() => {
            return untrusted("lacks the digitalSignature key usage");
        }
        Err(e) => return untrusted(&format!("has a bad key usage extension: {e}")),
        _ => {}
    }
    match cert.extended_key_usage() {
        Ok(Some(eku)) => {
            let e = eku.value;
            if e.any
                || e.server_auth
                || e.client_auth
                || e.email_protection
                || e.time_stamping
                || e.ocsp_signing
            {
                return untrusted("has an extended key usage other than codeSigning");
            }
            if !e.code_signing {
                return untrusted("lacks the codeSigning extended key usage");
            }
        }
        Err(e) => return untrusted(&format!("has a bad extended key usage extension: {e}")),
        _ => {}
    }
    if let Ok(Some(bc)) = cert.basic_constraints()
        && bc.value.ca
        && cert.subject() != cert.issuer()
    {
        return untrusted("is a CA certificate");
    }
    Ok(())
}

/// Checks `chain` (leaf first) against the `trusted` roots at time `at`: each
/// certificate is signed by the next, the last is a trusted certificate or signed by
/// one, and every certificate is valid at `at`. Returns the trusted certificate.
pub fn verify_chain(
    chain: &[Vec<u8>],
    trusted: &[Vec<u8>],
    at: jiff::Timestamp,
) -> Result<Vec<u8>, Error> {
    let Some(last) = chain.last() else {
        return Err(Error::Invalid(
            "the signature carries no certificate".into(),
        ));
    };
    let time = x509_parser::time::ASN1Time::from_timestamp(at.as_second())
        .map_err(|e| Error::Invalid(e.to_string()))?;
    for der in chain {
        let cert = parse(der)?;
        if !cert.validity().is_valid_at(time) {
            return Err(Error::Expired(format!(
                "certificate {:?} is valid from {} to {}, not at {at}",
                subject(der)?,
                cert.validity().not_before,
                cert.validity().not_after
            )));
        }
    }
    for pair in chain.windows(2) {
        let (child, parent) = (parse(&pair[0])?, parse(&pair[1])?);
        child
            .verify_signature(Some(parent.public_key()))
            .map_err(|_| {
                Error::Untrusted("a certificate in the chain is not signed by the next".into())
            })?;
    }
    if let Some(root) = trusted.iter().find(|t| *t == last) {
        let cert = parse(root)?;
        cert.verify_signature(None).map_err(|_| {
            Error::Untrusted("the trusted root certificate is not self-signed".into())
        })?;
        return Ok(root.clone());
    }
    let last = parse(last)?;
    for root in trusted {
        let cert = parse(root)?;
        if cert.subject() == last.issuer() && last.verify_signature(Some(cert.public_key())).is_ok()
        {
            if !cert.validity().is_valid_at(time) {
                return Err(Error::Expired(format!(
                    "trusted certificate {:?} is not valid at {at}",
                    subject(root)?
                )));
            }
            return Ok(root.clone());
        }
    }
    Err(Error::Untrusted(format!(
        "the signing certificate {:?} does not chain to a trusted certificate",
        subject(&chain[0])?
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_certificates_follow_the_notary_rules() {
        let now = jiff::Timestamp::now();
        let cert = generate_test("wharf.test", 365, now).unwrap_or_else(|e| panic!("{e}"));
        assert!(cert.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let chain = parse_certificates(cert.cert_pem.as_bytes(), "cert").unwrap_or_default();
        assert_eq!(chain.len(), 1);
        check_leaf(&chain[0]).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            subject_matches(&chain[0], "CN=wharf.test, O=Notary, L=Seattle, ST=WA, C=US")
                .unwrap_or(false)
        );
        assert!(
            !subject_matches(&chain[0], "C=US, ST=WA, L=Seattle, O=Notary, CN=other")
                .unwrap_or(true)
        );
        assert_eq!(subject(&chain[0]).ok(), Some(test_subject("wharf.test")));
        verify_chain(&chain, &chain, now).unwrap_or_else(|e| panic!("{e}"));
        let later = now + jiff::SignedDuration::from_hours(24 * 366);
        assert!(matches!(
            verify_chain(&chain, &chain, later),
            Err(Error::Expired(_))
        ));
        let other = generate_test("other", 1, now).unwrap_or_else(|e| panic!("{e}"));
        let other = parse_certificates(other.cert_pem.as_bytes(), "cert").unwrap_or_default();
        assert!(matches!(
            verify_chain(&chain, &other, now),
            Err(Error::Untrusted(_))
        ));
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(generate_test("a/b", 1, jiff::Timestamp::now()).is_err());
        assert!(parse_dn("nonsense").is_err());
    }
}
