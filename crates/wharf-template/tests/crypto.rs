//! The random crypto functions (`genPrivateKey`, `genCA`, `genSelfSignedCert`,
//! `genSignedCert`, `buildCustomCert`) and `getHostByName`: their output is
//! parsed back with independent parsers (x509-parser and der-parser, signatures
//! checked by ring) and checked for what Sprig v2.22 on Go 1.26 produces.

use x509_parser::certificate::X509Certificate;
use x509_parser::der_parser::ber::BerObject;
use x509_parser::der_parser::num_bigint::BigInt;
use x509_parser::der_parser::parse_der;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER, OID_X509_EXT_BASIC_CONSTRAINTS, OID_X509_EXT_KEY_USAGE,
    OID_X509_EXT_SUBJECT_ALT_NAME, OID_X509_EXT_SUBJECT_KEY_IDENTIFIER,
};
use x509_parser::public_key::PublicKey;

use wharf_template::{HostLookup, Options, Template, Value};

const NOW: &str = "2024-05-06T07:08:09Z[UTC]";

fn options() -> Options {
    Options {
        now: NOW.parse().expect("now"),
        ..Options::default()
    }
}

fn render_with(template: &str, opts: &Options) -> Result<String, String> {
    Template::parse("t", template)
        .and_then(|t| t.execute(&Value::Nil, opts))
        .map(|o| o.text)
        .map_err(|e| e.message)
}

fn render(template: &str) -> String {
    render_with(template, &options()).unwrap_or_else(|e| panic!("{template}: {e}"))
}

/// The label and bytes of the one PEM block in `text`, which must be all of it.
fn pem(text: &str) -> (String, Vec<u8>) {
    let (rest, pem) = x509_parser::pem::parse_x509_pem(text.as_bytes()).expect("PEM");
    assert!(rest.iter().all(u8::is_ascii_whitespace), "text after PEM");
    assert!(text.ends_with("-----\n"), "Go ends PEM with a newline");
    for line in text.lines().filter(|l| !l.starts_with("-----")) {
        assert!(line.len() <= 64, "Go writes 64 columns");
    }
    (pem.label, pem.contents)
}

fn integers(der: &[u8]) -> Vec<BigInt> {
    let (rest, obj) = parse_der(der).expect("DER");
    assert!(rest.is_empty());
    obj.as_sequence()
        .expect("SEQUENCE")
        .iter()
        .map(|o: &BerObject| o.as_bigint().expect("INTEGER"))
        .collect()
}

/// Checks a PKCS #1 RSA private key and returns its modulus.
fn check_rsa_key(pem_text: &str, bits: u64) -> BigInt {
    let (label, der) = pem(pem_text);
    assert_eq!(label, "RSA PRIVATE KEY");
    let v = integers(&der);
    assert_eq!(v.len(), 9, "version, n, e, d, p, q, dp, dq, qinv");
    let one = BigInt::from(1);
    let [version, n, e, d, p, q, dp, dq, qinv] = <[BigInt; 9]>::try_from(v).expect("9");
    assert_eq!(version, BigInt::from(0));
    assert_eq!(e, BigInt::from(65537));
    assert_eq!(n.bits(), bits);
    assert_eq!(&p * &q, n);
    assert_eq!((&d * &e) % (&p - &one), one.clone());
    assert_eq!((&d * &e) % (&q - &one), one.clone());
    assert_eq!(dp, &d % (&p - &one));
    assert_eq!(dq, &d % (&q - &one));
    assert_eq!((&qinv * &q) % &p, one);
    n
}

fn parse_cert(pem_text: &str) -> (Vec<u8>, String) {
    let (label, der) = pem(pem_text);
    assert_eq!(label, "CERTIFICATE");
    (der, pem_text.to_string())
}

fn cert_modulus(cert: &X509Certificate<'_>) -> BigInt {
    match cert.public_key().parsed().expect("public key") {
        PublicKey::RSA(k) => {
            BigInt::from_bytes_be(x509_parser::der_parser::num_bigint::Sign::Plus, k.modulus)
        }
        other => panic!("not RSA: {other:?}"),
    }
}

fn common_name(cert: &X509Certificate<'_>) -> Option<String> {
    cert.subject()
        .iter_common_name()
        .next()
        .map(|cn| cn.as_str().expect("CN string").to_string())
}

fn key_id(cert: &X509Certificate<'_>, oid: &x509_parser::oid_registry::Oid<'_>) -> Option<Vec<u8>> {
    let ext = cert.get_extension_unique(oid).expect("unique")?;
    assert!(!ext.critical);
    match ext.parsed_extension() {
        ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
        ParsedExtension::AuthorityKeyIdentifier(a) => {
            assert!(a.authority_cert_issuer.is_none() && a.authority_cert_serial.is_none());
            a.key_identifier.as_ref().map(|id| id.0.to_vec())
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// What Sprig's base template gives every certificate.
fn check_common(cert: &X509Certificate<'_>, is_ca: bool, days: i64) {
    assert_eq!(cert.version(), x509_parser::x509::X509Version::V3);
    assert_eq!(
        cert.signature_algorithm.algorithm.to_id_string(),
        "1.2.840.113549.1.1.11",
        "SHA256WithRSA"
    );
    let serial = cert.raw_serial();
    assert!(
        serial.len() <= 17 && serial[0] & 0x80 == 0,
        "positive 128-bit serial"
    );
    let now = jiff::Timestamp::from_second(1_714_979_289).expect("ts");
    assert_eq!(cert.validity().not_before.timestamp(), now.as_second());
    assert_eq!(
        cert.validity().not_after.timestamp(),
        now.as_second()
            + days
                .wrapping_mul(86_400_000_000_000)
                .div_euclid(1_000_000_000)
    );
    let bc = cert
        .basic_constraints()
        .expect("bc")
        .expect("basic constraints");
    assert!(bc.critical);
    assert_eq!(bc.value.ca, is_ca);
    assert!(bc.value.path_len_constraint.is_none());
    let ku = cert.key_usage().expect("ku").expect("key usage");
    assert!(ku.critical);
    assert!(ku.value.digital_signature() && ku.value.key_encipherment());
    assert_eq!(ku.value.key_cert_sign(), is_ca);
    assert_eq!(ku.value.flags & !0b10_0101, 0, "no other usages");
    // The bytes Go's encoding/asn1 writes (minimal bit strings, defaults omitted).
    let raw = |oid: &x509_parser::oid_registry::Oid<'static>| {
        cert.get_extension_unique(oid)
            .expect("unique")
            .map(|e| e.value.to_vec())
    };
    let (ku_der, bc_der): (&[u8], &[u8]) = if is_ca {
        (&[0x03, 0x02, 0x02, 0xa4], &[0x30, 0x03, 0x01, 0x01, 0xff])
    } else {
        (&[0x03, 0x02, 0x05, 0xa0], &[0x30, 0x00])
    };
    assert_eq!(raw(&OID_X509_EXT_KEY_USAGE), Some(ku_der.to_vec()));
    assert_eq!(raw(&OID_X509_EXT_BASIC_CONSTRAINTS), Some(bc_der.to_vec()));
    let eku = cert
        .extended_key_usage()
        .expect("eku")
        .expect("extended key usage");
    assert!(!eku.critical);
    assert!(eku.value.server_auth && eku.value.client_auth);
    assert!(!eku.value.any && !eku.value.code_signing && eku.value.other.is_empty());
}

fn sans(cert: &X509Certificate<'_>) -> Option<(bool, Vec<String>)> {
    let ext = cert
        .get_extension_unique(&OID_X509_EXT_SUBJECT_ALT_NAME)
        .expect("unique")?;
    let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() else {
        panic!("bad SAN");
    };
    let names = san
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::DNSName(d) => format!("dns:{d}"),
            GeneralName::IPAddress(ip) => format!("ip:{}", hex(ip)),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    Some((ext.critical, names))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{c:02x}")).collect()
}

fn sha256_skid(cert: &X509Certificate<'_>) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(&cert.public_key().subject_public_key.data)[..20].to_vec()
}

fn split(out: &str) -> Vec<String> {
    out.split("@@").map(str::to_string).collect()
}

#[test]
fn gen_private_key_rsa_is_pkcs1_4096() {
    // "" is Sprig's default, the same as "rsa"; one 4096-bit key is enough.
    let out = render(r#"{{ genPrivateKey "" }}"#);
    check_rsa_key(&out, 4096);
}

#[test]
fn gen_private_key_dsa_is_l2048_n256() {
    let out = render(r#"{{ genPrivateKey "dsa" }}"#);
    let (label, der) = pem(&out);
    assert_eq!(label, "DSA PRIVATE KEY");
    let v = integers(&der);
    let [version, p, q, g, y, x] = <[BigInt; 6]>::try_from(v).expect("version, P, Q, G, Y, X");
    assert_eq!(version, BigInt::from(0));
    assert_eq!(p.bits(), 2048);
    assert_eq!(q.bits(), 256);
    assert_eq!(
        (&p - BigInt::from(1)) % &q,
        BigInt::from(0),
        "q divides p-1"
    );
    assert_eq!(g.modpow(&q, &p), BigInt::from(1), "g has order q");
    assert!(x > BigInt::from(0) && x < q);
    assert_eq!(g.modpow(&x, &p), y, "y = g^x mod p");
}

#[test]
fn gen_private_key_ecdsa_is_sec1_p256() {
    use sec1::der::Decode;
    let out = render(r#"{{ genPrivateKey "ecdsa" }}"#);
    let (label, der) = pem(&out);
    assert_eq!(label, "EC PRIVATE KEY");
    let key = sec1::EcPrivateKey::from_der(&der).expect("SEC1");
    assert_eq!(key.private_key.len(), 32);
    let curve = key
        .parameters
        .and_then(|p| p.named_curve())
        .expect("named curve");
    assert_eq!(curve.to_string(), "1.2.840.10045.3.1.7", "P-256");
    let public = key.public_key.expect("public key");
    let secret = p256::SecretKey::from_slice(key.private_key).expect("scalar");
    assert_eq!(
        public,
        p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&secret.public_key(), false)
            .as_bytes()
    );
}

#[test]
fn gen_ca_is_a_self_signed_ca() {
    let out = render(r#"{{ $ca := genCA "wharf-ca" 365 }}{{ $ca.Cert }}@@{{ $ca.Key }}"#);
    let parts = split(&out);
    let (der, _) = parse_cert(&parts[0]);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("X.509");
    check_common(&cert, true, 365);
    assert_eq!(common_name(&cert).as_deref(), Some("wharf-ca"));
    assert_eq!(cert.issuer().as_raw(), cert.subject().as_raw());
    assert_eq!(
        key_id(&cert, &OID_X509_EXT_SUBJECT_KEY_IDENTIFIER),
        Some(sha256_skid(&cert))
    );
    assert_eq!(key_id(&cert, &OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER), None);
    assert!(sans(&cert).is_none());
    cert.verify_signature(None).expect("self-signed");
    assert_eq!(check_rsa_key(&parts[1], 2048), cert_modulus(&cert));
    // Go's extension order: key usage, EKU, basic constraints, SKID.
    let order: Vec<String> = cert
        .extensions()
        .iter()
        .map(|e| e.oid.to_id_string())
        .collect();
    assert_eq!(order, ["2.5.29.15", "2.5.29.37", "2.5.29.19", "2.5.29.14"]);
}

#[test]
fn self_signed_and_signed_certs() {
    let out = render(
        r#"{{- $ca := genCA "ACME CA" 3650 -}}
{{- $self := genSelfSignedCert "web.local" (list "10.0.0.1" "::1" "::ffff:192.0.2.7") (list "web.local" "*.web.local") 30 -}}
{{- $leaf := genSignedCert "api" nil (list "api.internal") 90 $ca -}}
{{ $ca.Cert }}@@{{ $self.Cert }}@@{{ $self.Key }}@@{{ $leaf.Cert }}@@{{ $leaf.Key }}"#,
    );
    let p = split(&out);
    let ca_der = parse_cert(&p[0]).0;
    let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).expect("CA");

    let self_der = parse_cert(&p[1]).0;
    let (_, cert) = x509_parser::parse_x509_certificate(&self_der).expect("self-signed");
    check_common(&cert, false, 30);
    assert_eq!(common_name(&cert).as_deref(), Some("web.local"));
    assert_eq!(cert.issuer().as_raw(), cert.subject().as_raw());
    assert_eq!(key_id(&cert, &OID_X509_EXT_SUBJECT_KEY_IDENTIFIER), None);
    assert_eq!(key_id(&cert, &OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER), None);
    assert_eq!(
        sans(&cert),
        Some((
            false,
            vec![
                "dns:web.local".to_string(),
                "dns:*.web.local".to_string(),
                "ip:0a000001".to_string(),
                "ip:00000000000000000000000000000001".to_string(),
                // Go writes IPv4-mapped addresses in their 4-byte form.
                "ip:c0000207".to_string(),
            ]
        ))
    );
    cert.verify_signature(None).expect("self-signed");
    assert_eq!(check_rsa_key(&p[2], 2048), cert_modulus(&cert));

    let leaf_der = parse_cert(&p[3]).0;
    let (_, leaf) = x509_parser::parse_x509_certificate(&leaf_der).expect("leaf");
    check_common(&leaf, false, 90);
    assert_eq!(common_name(&leaf).as_deref(), Some("api"));
    assert_eq!(leaf.issuer().as_raw(), ca.subject().as_raw());
    assert_eq!(
        key_id(&leaf, &OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER),
        key_id(&ca, &OID_X509_EXT_SUBJECT_KEY_IDENTIFIER)
    );
    assert_eq!(key_id(&leaf, &OID_X509_EXT_SUBJECT_KEY_IDENTIFIER), None);
    assert_eq!(
        sans(&leaf),
        Some((false, vec!["dns:api.internal".to_string()]))
    );
    leaf.verify_signature(Some(ca.public_key()))
        .expect("signed by the CA");
    assert!(leaf.verify_signature(None).is_err(), "not self-signed");
    assert_eq!(check_rsa_key(&p[4], 2048), cert_modulus(&leaf));
    assert_ne!(cert_modulus(&leaf), cert_modulus(&ca));
}

#[test]
fn names_and_validity_as_go_writes_them() {
    let out = render(
        r#"{{ (genSelfSignedCert "" nil (list "only.san") 1).Cert }}@@{{ (genSelfSignedCert "*.example.com" nil nil 200000).Cert }}"#,
    );
    let p = split(&out);
    let der = parse_cert(&p[0]).0;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("cert");
    // An empty CN is an empty subject, and the SAN becomes critical.
    assert_eq!(cert.subject().as_raw(), [0x30, 0x00]);
    assert_eq!(sans(&cert), Some((true, vec!["dns:only.san".to_string()])));

    let der = parse_cert(&p[1]).0;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("cert");
    // `*` is not in PrintableString, so Go writes a UTF8String.
    let cn = cert.subject().iter_common_name().next().expect("CN");
    assert_eq!(
        cn.attr_value().tag(),
        x509_parser::der_parser::asn1_rs::Tag::Utf8String
    );
    // 200000 days overflow Go's time.Duration and wrap into the past.
    check_common(&cert, false, 200_000);
    assert!(cert.validity().not_after < cert.validity().not_before);
    assert!(sans(&cert).is_none());
}

#[test]
fn certificate_values_behave_as_go_structs() {
    let out = render(
        r#"{{ $c := genCA "x" 1 }}{{ typeOf $c }} {{ kindOf $c }} {{ eq $c $c }} {{ keys (fromJson (toJson $c)) | sortAlpha }}@@{{ $c }}@@{{ $c.Cert }}@@{{ $c.Key }}"#,
    );
    let p = split(&out);
    assert_eq!(p[0], "sprig.certificate struct true [Cert Key]");
    assert_eq!(p[1], format!("{{{} {}}}", p[2], p[3]));
    let err = render_with(r#"{{ (genCA "x" 1).Nope }}"#, &options()).expect_err("no field");
    assert!(
        err.ends_with("can't evaluate field Nope in type sprig.certificate"),
        "{err}"
    );
}

#[test]
fn build_custom_cert_round_trips_and_signs() {
    let out = render(
        r#"{{- $ca := genCA "custom" 10 -}}
{{- $c := buildCustomCert ($ca.Cert | b64enc) ($ca.Key | b64enc) -}}
{{- $leaf := genSignedCert "leaf" nil nil 5 $c -}}
{{ eq $c.Cert $ca.Cert }} {{ eq $c.Key $ca.Key }}@@{{ $ca.Cert }}@@{{ $leaf.Cert }}"#,
    );
    let p = split(&out);
    assert_eq!(p[0], "true true");
    let ca_der = parse_cert(&p[1]).0;
    let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).expect("CA");
    let leaf_der = parse_cert(&p[2]).0;
    let (_, leaf) = x509_parser::parse_x509_certificate(&leaf_der).expect("leaf");
    leaf.verify_signature(Some(ca.public_key()))
        .expect("signed by the custom CA");
}

#[test]
fn signing_with_the_wrong_key_fails_as_go_does() {
    let err = render_with(
        r#"{{- $a := genCA "a" 1 -}}{{- $b := genCA "b" 1 -}}
{{- $mixed := buildCustomCert ($a.Cert | b64enc) ($b.Key | b64enc) -}}
{{ genSignedCert "leaf" nil nil 1 $mixed }}"#,
        &options(),
    )
    .expect_err("mismatched key");
    assert!(
        err.ends_with(
            "error calling genSignedCert: error creating certificate: x509: provided PrivateKey doesn't match parent's PublicKey"
        ),
        "{err}"
    );
}

#[test]
fn build_custom_cert_names_other_key_formats() {
    let err = render_with(
        r#"{{ $ca := genCA "a" 1 }}{{ buildCustomCert ($ca.Cert | b64enc) (genPrivateKey "ecdsa" | b64enc) }}"#,
        &options(),
    )
    .expect_err("EC key");
    assert!(
        err.ends_with(
            "error parsing prive key: decodedKey.Bytes: x509: failed to parse private key (use ParseECPrivateKey instead for this key format)"
        ),
        "{err}"
    );
}

#[test]
fn get_host_by_name_uses_the_callers_lookup() {
    let opts = Options {
        host_lookup: Some(HostLookup::new(|name| match name {
            "registry.internal" => Ok(vec!["10.1.2.3".into(), "fd00::3".into()]),
            "empty.internal" => Ok(vec![]),
            _ => Err("no such host".into()),
        })),
        ..options()
    };
    for _ in 0..20 {
        let ip = render_with(r#"{{ "registry.internal" | getHostByName }}"#, &opts).expect("ok");
        assert!(ip == "10.1.2.3" || ip == "fd00::3", "{ip}");
    }
    let err = render_with(r#"{{ getHostByName "nope.internal" }}"#, &opts).expect_err("fails");
    assert!(
        err.ends_with("error calling getHostByName: lookup nope.internal: no such host"),
        "{err}"
    );
    let err = render_with(r#"{{ getHostByName "empty.internal" }}"#, &opts).expect_err("fails");
    assert!(
        err.ends_with("lookup empty.internal: no such host"),
        "{err}"
    );
}

#[test]
fn v3_only_crypto_keeps_warning_or_refusal() {
    // Sprig v2.22 (ACR) has none of these; wharf refuses them the same way.
    for f in [
        "genCAWithKey",
        "genSelfSignedCertWithKey",
        "genSignedCertWithKey",
        "bcrypt",
        "htpasswd",
        "randBytes",
    ] {
        assert!(wharf_template::UNSUPPORTED_FUNCTIONS.contains(&f), "{f}");
    }
    // Every v2.22 crypto, URL and network function is supported as v2.
    let supported = wharf_template::supported_functions();
    for f in [
        "genPrivateKey",
        "derivePassword",
        "buildCustomCert",
        "genCA",
        "genSelfSignedCert",
        "genSignedCert",
        "encryptAES",
        "decryptAES",
        "getHostByName",
        "urlParse",
        "urlJoin",
    ] {
        assert!(supported.contains(&(f, false)), "{f}");
    }
    let t = Template::parse("t", r#"{{ genCA "x" 1 }}{{ urlParse "x" }}"#).expect("parse");
    assert!(t.sprig_v3_only_calls().is_empty());
}
