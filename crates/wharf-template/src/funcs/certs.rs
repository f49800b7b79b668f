//! Sprig v2.22's certificate functions: `buildCustomCert`, `genCA`,
//! `genSelfSignedCert` and `genSignedCert`. Each returns Sprig's `certificate`
//! struct, whose `.Cert` and `.Key` are PEM text.
//!
//! Certificates are built as Go 1.26's `x509.CreateCertificate` builds them
//! from Sprig's template: version 3, a random 128-bit serial, subject `CN=cn`,
//! validity from the render's `now` for `days*24h` (Go's `time.Duration`
//! arithmetic, which wraps), RSA 2048 keys, SHA-256 with RSA, and the
//! extensions in Go's order: key usage (critical), extended key usage (server
//! and client auth), basic constraints (critical), a subject key identifier
//! (CAs only: SHA-256 of the public key cut to 20 bytes, Go 1.25's default), an
//! authority key identifier (when the issuer has a subject key identifier and
//! differs from the subject), and the alternative names.

use std::net::IpAddr;
use std::rc::Rc;

use der::asn1::{Ia5String, OctetString, PrintableString, Utf8StringRef};
use der::{Decode, Encode};
use rand_core_06::{OsRng, RngCore};
use rsa::RsaPrivateKey;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::pkcs8::EncodePublicKey;
use rsa::signature::{SignatureEncoding, Signer};
use sha2::Digest;
use x509_cert::Certificate as X509;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::{AsExtension, Extension};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, ObjectIdentifier, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};

use super::crypto::rsa_private_key_pem;
use super::{Ctx, FuncDef, Since, Ty, a, def, n, ok, s};
use crate::data::{Data, RVal};
use crate::{format, pem};

const V2: Since = Since::V2;

pub(crate) const FUNCS: &[FuncDef] = &[
    def("buildCustomCert", &[Ty::Str, Ty::Str], None, V2, |_, x| {
        cert_result(build_custom(&s(&x, 0), &s(&x, 1)))
    }),
    def("genCA", &[Ty::Str, Ty::Int], None, V2, |c, x| {
        cert_result(generate(
            c,
            &s(&x, 0),
            &Data::Nil,
            &Data::Nil,
            n(&x, 1),
            Kind::Ca,
        ))
    }),
    def(
        "genSelfSignedCert",
        &[Ty::Str, Ty::List, Ty::List, Ty::Int],
        None,
        V2,
        |c, x| {
            let (ips, dns) = (a(&x, 1), a(&x, 2));
            cert_result(generate(
                c,
                &s(&x, 0),
                &ips,
                &dns,
                n(&x, 3),
                Kind::SelfSigned,
            ))
        },
    ),
    def(
        "genSignedCert",
        &[Ty::Str, Ty::List, Ty::List, Ty::Int, Ty::Cert],
        None,
        V2,
        |c, x| {
            let (ips, dns) = (a(&x, 1), a(&x, 2));
            let Data::Cert(ca) = a(&x, 4) else {
                return Err("unable to decode certificate".into());
            };
            cert_result(generate(
                c,
                &s(&x, 0),
                &ips,
                &dns,
                n(&x, 3),
                Kind::Signed(&ca),
            ))
        },
    ),
];

/// Sprig's `certificate` struct.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Certificate {
    /// `.Cert`: the PEM certificate.
    pub cert: String,
    /// `.Key`: the PEM private key.
    pub key: String,
}

impl Certificate {
    /// The exported fields in declaration order.
    pub(crate) fn fields(&self) -> [(&'static str, &str); 2] {
        [("Cert", &self.cert), ("Key", &self.key)]
    }

    /// A field by name.
    pub(crate) fn field(&self, name: &str) -> Option<&str> {
        self.fields()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// The struct as `encoding/json` sees it.
    pub(crate) fn to_map(&self) -> Data {
        Data::map(
            self.fields()
                .into_iter()
                .map(|(k, v)| (k.to_string(), Data::str(v)))
                .collect(),
        )
    }
}

fn cert_result(r: Result<Certificate, String>) -> Result<RVal, String> {
    r.and_then(|c| ok(Data::Cert(Rc::new(c))))
}

/// Go's `x509.ParseCertificate` of a PEM block's bytes.
fn parse_certificate(der: &[u8]) -> Result<X509, String> {
    X509::from_der(der).map_err(|_| "x509: malformed certificate".to_string())
}

/// Go's `x509.ParsePKCS1PrivateKey`, with its hints for other key formats.
fn parse_pkcs1_key(der: &[u8]) -> Result<RsaPrivateKey, String> {
    RsaPrivateKey::from_pkcs1_der(der).map_err(|e| {
        if sec1::EcPrivateKey::from_der(der).is_ok() {
            "x509: failed to parse private key (use ParseECPrivateKey instead for this key format)"
                .to_string()
        } else if rsa::pkcs8::PrivateKeyInfo::try_from(der).is_ok() {
            "x509: failed to parse private key (use ParsePKCS8PrivateKey instead for this key format)"
                .to_string()
        } else {
            format!("asn1: structure error: {e}")
        }
    })
}

/// `buildCustomCert`: checks a base64 PEM certificate and PKCS #1 key and
/// returns them as given.
fn build_custom(b64cert: &str, b64key: &str) -> Result<Certificate, String> {
    let cert = pem::go_base64_decode(b64cert)
        .map_err(|_| "unable to decode base64 certificate".to_string())?;
    let key = pem::go_base64_decode(b64key)
        .map_err(|_| "unable to decode base64 private key".to_string())?;
    let der = pem::decode(&cert).ok_or("unable to decode certificate")?;
    parse_certificate(&der)
        .map_err(|e| format!("error parsing certificate: decodedCert.Bytes: {e}"))?;
    let der = pem::decode(&key).ok_or("unable to decode key")?;
    parse_pkcs1_key(&der).map_err(|e| format!("error parsing prive key: decodedKey.Bytes: {e}"))?;
    Ok(Certificate {
        cert: String::from_utf8_lossy(&cert).into_owned(),
        key: String::from_utf8_lossy(&key).into_owned(),
    })
}

/// Sprig's `getNetIPs`: strings that `net.ParseIP` accepts.
fn net_ips(ips: &Data) -> Result<Vec<IpAddr>, String> {
    let Data::List(l) = ips else {
        return Ok(Vec::new());
    };
    l.iter()
        .map(|ip| match ip {
            Data::Str(text) => text
                .parse::<IpAddr>()
                .map_err(|_| format!("error parsing ip: {text}")),
            other => Err(format!(
                "error parsing ip: {} is not a string",
                format::fmt_v(other)
            )),
        })
        .collect()
}

/// Sprig's `getAlternateDNSStrs`.
fn dns_names(names: &Data) -> Result<Vec<String>, String> {
    let Data::List(l) = names else {
        return Ok(Vec::new());
    };
    l.iter()
        .map(|name| match name {
            Data::Str(text) => Ok(text.to_string()),
            other => Err(format!(
                "error processing alternate dns name: {} is not a string",
                format::fmt_v(other)
            )),
        })
        .collect()
}

/// Go's `asn1` string choice: PrintableString when every character is in
/// its set (without `*` and `&`), else UTF8String.
fn directory_string(text: &str) -> der::Result<der::Any> {
    let printable = text.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b' ' | b'\'' | b'(' | b')' | b'+' | b',' | b'-' | b'.' | b'/' | b':' | b'=' | b'?'
            )
    });
    if printable {
        der::Any::encode_from(&PrintableString::new(text)?)
    } else {
        der::Any::encode_from(&Utf8StringRef::new(text)?)
    }
}

/// `pkix.Name{CommonName: cn}`: empty when `cn` is.
fn subject_name(cn: &str) -> der::Result<Name> {
    if cn.is_empty() {
        return Ok(RdnSequence(Vec::new()));
    }
    let atv = AttributeTypeAndValue {
        oid: const_oid_cn(),
        value: directory_string(cn)?,
    };
    let rdn = RelativeDistinguishedName(der::asn1::SetOfVec::try_from(vec![atv])?);
    Ok(RdnSequence(vec![rdn]))
}

fn const_oid_cn() -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap("2.5.4.3")
}

const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const KP_SERVER_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");
const KP_CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");

/// Go's `asn1` time: UTCTime for 1950..2049, GeneralizedTime otherwise
/// (seconds precision). Years before 1970 cannot be written here.
fn asn1_time(t: jiff::Timestamp) -> Result<Time, String> {
    let secs = t.as_second();
    let Ok(unix) = u64::try_from(secs) else {
        return Err("cannot represent a certificate time before 1970".into());
    };
    let d = std::time::Duration::from_secs(unix);
    let year = t.to_zoned(jiff::tz::TimeZone::UTC).year();
    let time = if year < 2050 {
        der::asn1::UtcTime::from_unix_duration(d).map(Time::UtcTime)
    } else {
        der::asn1::GeneralizedTime::from_unix_duration(d).map(Time::GeneralTime)
    };
    time.map_err(|e| format!("asn1: cannot represent time: {e}"))
}

fn extension<E: AsExtension + Encode>(
    ext: &E,
    oid: ObjectIdentifier,
    critical: bool,
) -> Result<Extension, String> {
    let value = ext.to_der().map_err(|e| e.to_string())?;
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value).map_err(|e| e.to_string())?,
    })
}

fn oid_of<E: der::oid::AssociatedOid>(_: &E) -> ObjectIdentifier {
    E::OID
}

/// Which certificate to make.
#[derive(Clone, Copy)]
enum Kind<'a> {
    /// `genCA`: self-signed, a CA.
    Ca,
    /// `genSelfSignedCert`.
    SelfSigned,
    /// `genSignedCert`: signed by this CA.
    Signed(&'a Certificate),
}

/// The signer of a new certificate.
struct Issuer {
    name: Name,
    key: RsaPrivateKey,
    key_id: Option<Vec<u8>>,
    /// The RSA key in the issuer's certificate (None if it is not RSA).
    public: Option<rsa::RsaPublicKey>,
}

fn generate(
    ctx: &Ctx<'_>,
    cn: &str,
    ips: &Data,
    dns: &Data,
    days: i64,
    kind: Kind<'_>,
) -> Result<Certificate, String> {
    let is_ca = matches!(kind, Kind::Ca);
    // Sprig parses the CA before it builds the template.
    let parent = match kind {
        Kind::Signed(ca) => Some(parse_issuer(ca)?),
        _ => None,
    };
    let ips = net_ips(ips)?;
    let dns = dns_names(dns)?;
    let mut serial = [0u8; 16];
    OsRng.fill_bytes(&mut serial);
    let key = RsaPrivateKey::new(&mut OsRng, 2048)
        .map_err(|e| format!("error generating rsa key: {e}"))?;
    let created = |e: String| format!("error creating certificate: {e}");
    let subject = subject_name(cn).map_err(|e| created(e.to_string()))?;
    let parent = match parent {
        Some(p) => p,
        None => Issuer {
            name: subject.clone(),
            key: key.clone(),
            key_id: None,
            public: Some(key.to_public_key()),
        },
    };
    let public = key.to_public_key();
    if parent.public.as_ref() != Some(&parent.key.to_public_key()) {
        return Err(created(
            "x509: provided PrivateKey doesn't match parent's PublicKey".into(),
        ));
    }
    let public_key_bytes = public
        .to_pkcs1_der()
        .map_err(|e| created(e.to_string()))?
        .into_vec();
    let spki = public
        .to_public_key_der()
        .map_err(|e| created(e.to_string()))
        .and_then(|d| {
            SubjectPublicKeyInfoOwned::from_der(d.as_bytes()).map_err(|e| created(e.to_string()))
        })?;

    let not_before = ctx.opts.now.timestamp();
    let span = jiff::SignedDuration::from_nanos(days.wrapping_mul(86_400_000_000_000));
    let not_after = not_before
        .checked_add(span)
        .map_err(|e| created(e.to_string()))?;
    let validity = Validity {
        not_before: asn1_time(not_before).map_err(created)?,
        not_after: asn1_time(not_after).map_err(created)?,
    };

    let mut usages = KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment;
    if is_ca {
        usages |= KeyUsages::KeyCertSign;
    }
    let key_usage = KeyUsage(usages);
    let eku = ExtendedKeyUsage(vec![KP_SERVER_AUTH, KP_CLIENT_AUTH]);
    let basic = BasicConstraints {
        ca: is_ca,
        path_len_constraint: None,
    };
    let mut extensions = vec![
        extension(&key_usage, oid_of(&key_usage), true).map_err(created)?,
        extension(&eku, oid_of(&eku), false).map_err(created)?,
        extension(&basic, oid_of(&basic), true).map_err(created)?,
    ];
    if is_ca {
        let id = &sha2::Sha256::digest(&public_key_bytes)[..20];
        let skid = SubjectKeyIdentifier(OctetString::new(id).map_err(|e| created(e.to_string()))?);
        extensions.push(extension(&skid, oid_of(&skid), false).map_err(created)?);
    }
    let issuer_der = parent.name.to_der().map_err(|e| created(e.to_string()))?;
    let subject_der = subject.to_der().map_err(|e| created(e.to_string()))?;
    if let Some(id) = parent.key_id.as_ref().filter(|_| issuer_der != subject_der) {
        let akid = AuthorityKeyIdentifier {
            key_identifier: Some(
                OctetString::new(id.as_slice()).map_err(|e| created(e.to_string()))?,
            ),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        };
        extensions.push(extension(&akid, oid_of(&akid), false).map_err(created)?);
    }
    if !dns.is_empty() || !ips.is_empty() {
        let mut names = Vec::new();
        for name in &dns {
            if !name.is_ascii() {
                return Err(created(format!(
                    "x509: {} cannot be encoded as an IA5String",
                    format::quote(name)
                )));
            }
            names.push(GeneralName::DnsName(
                Ia5String::new(name).map_err(|e| created(e.to_string()))?,
            ));
        }
        for ip in &ips {
            let bytes = match ip {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                    Some(v4) => v4.octets().to_vec(),
                    None => v6.octets().to_vec(),
                },
            };
            names.push(GeneralName::IpAddress(
                OctetString::new(bytes).map_err(|e| created(e.to_string()))?,
            ));
        }
        let san = SubjectAltName(names);
        extensions.push(extension(&san, oid_of(&san), subject.0.is_empty()).map_err(created)?);
    }

    let algorithm = AlgorithmIdentifierOwned {
        oid: SHA256_WITH_RSA,
        parameters: Some(der::asn1::Null.into()),
    };
    let tbs = x509_cert::TbsCertificate {
        version: x509_cert::Version::V3,
        serial_number: SerialNumber::new(&serial).map_err(|e| created(e.to_string()))?,
        signature: algorithm.clone(),
        issuer: parent.name,
        validity,
        subject,
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let tbs_der = tbs.to_der().map_err(|e| created(e.to_string()))?;
    let signing_key = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(parent.key);
    let signature = signing_key
        .try_sign(&tbs_der)
        .map_err(|e| created(e.to_string()))?
        .to_vec();
    let cert = X509 {
        tbs_certificate: tbs,
        signature_algorithm: algorithm,
        signature: der::asn1::BitString::from_bytes(&signature)
            .map_err(|e| created(e.to_string()))?,
    };
    let der = cert.to_der().map_err(|e| created(e.to_string()))?;
    Ok(Certificate {
        cert: pem::encode("CERTIFICATE", &der),
        key: rsa_private_key_pem(&key),
    })
}

/// `genSignedCert`'s reading of the CA: its subject, keys and key identifier.
fn parse_issuer(ca: &Certificate) -> Result<Issuer, String> {
    let der = pem::decode(ca.cert.as_bytes()).ok_or("unable to decode certificate")?;
    let cert = parse_certificate(&der)
        .map_err(|e| format!("error parsing certificate: decodedSignerCert.Bytes: {e}"))?;
    let der = pem::decode(ca.key.as_bytes()).ok_or("unable to decode key")?;
    let key = parse_pkcs1_key(&der)
        .map_err(|e| format!("error parsing prive key: decodedSignerKey.Bytes: {e}"))?;
    let tbs = &cert.tbs_certificate;
    let public = tbs
        .subject_public_key_info
        .to_der()
        .ok()
        .and_then(|d| rsa::pkcs8::DecodePublicKey::from_public_key_der(&d).ok());
    let key_id = tbs
        .get::<SubjectKeyIdentifier>()
        .ok()
        .flatten()
        .map(|(_, id)| id.0.as_bytes().to_vec());
    Ok(Issuer {
        name: tbs.subject.clone(),
        key,
        key_id,
        public,
    })
}
