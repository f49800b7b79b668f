//! The reference tools' published signatures verify with wharf's code (interop without
//! their binaries): notation-go's JWS envelope and a cosign keyed signature from
//! sigstore-rs. Origins: tests/fixtures/signing/ORIGIN.md.

use std::path::PathBuf;

use wharf_registry::Digest;
use wharf_registry::manifest::{Descriptor, media_type};
use wharf_trust::{Error, certs, cosign, keys, notation};

fn fixture(path: &str) -> Vec<u8> {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/signing")
        .join(path);
    std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

#[test]
fn notation_gos_jws_signature_verifies() {
    let envelope = fixture("notation/jws_signature.sig");
    let target = Descriptor::of(
        media_type::OCI_MANIFEST,
        &fixture("notation/target-manifest.json"),
    );
    assert_eq!(target.size, 481);
    let verified = notation::verify(&envelope).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(verified.algorithm, keys::Algorithm::Ps256);
    verified.covers(&target).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        verified.signing_time.map(|t| t.to_string()),
        Some("2023-03-14T08:10:02Z".to_string())
    );
    // Its certificate is its own root: trusted when it is the trust anchor.
    let leaf = &verified.chain[0];
    certs::check_leaf(leaf).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        certs::subject(leaf).ok().as_deref(),
        Some("C=US, ST=WA, L=Seattle, O=Notary, CN=alpine")
    );
    certs::verify_chain(&verified.chain, &verified.chain, jiff::Timestamp::now())
        .unwrap_or_else(|e| panic!("{e}"));
    // Other content is not covered.
    let other = Descriptor::of(media_type::OCI_MANIFEST, b"{}");
    assert!(matches!(verified.covers(&other), Err(Error::Mismatch(_))));
}

#[test]
fn an_altered_notation_signature_fails() {
    let envelope = fixture("notation/jws_signature.sig");
    let mut value: serde_json::Value = serde_json::from_slice(&envelope).unwrap_or_default();
    let sig = value["signature"].as_str().unwrap_or("").to_string();
    let flipped = match sig.strip_prefix('e') {
        Some(rest) => format!("f{rest}"),
        None => format!("e{}", sig.get(1..).unwrap_or("")),
    };
    value["signature"] = serde_json::json!(flipped);
    let err = notation::verify(value.to_string().as_bytes()).err();
    assert!(matches!(err, Some(Error::Invalid(_))), "{err:?}");
    // Without its certificate chain it cannot be checked at all.
    let text = String::from_utf8_lossy(&envelope).replace("\"x5c\"", "\"x5cX\"");
    assert!(matches!(
        notation::verify(text.as_bytes()),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn a_cosign_signature_verifies_and_wharf_writes_the_same_payload() {
    let key = keys::public_key_from_pem(
        &String::from_utf8_lossy(&fixture("cosign/cosign.pub")),
        "cosign.pub",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let payload = fixture("cosign/payload.json");
    let signature = String::from_utf8_lossy(&fixture("cosign/signature.b64")).to_string();
    let digest =
        Digest::parse("sha256:f3cfc9d0dbf931d3db4685ec659b7ac68e2a578219da4aae65427886e649b06b")
            .unwrap_or_else(|e| panic!("{e}"));
    cosign::verify(&key, &payload, &signature, &digest).unwrap_or_else(|e| panic!("{e}"));
    // The payload wharf signs for that image is byte for byte the one cosign signed.
    assert_eq!(
        cosign::payload("registry-testing.svc.lan/busybox", &digest),
        payload
    );
    // Another key, another digest: refused with the reason.
    let other = keys::public_key_from_pem(
        &String::from_utf8_lossy(&fixture("cosign/other.pub")),
        "other.pub",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        cosign::verify(&other, &payload, &signature, &digest),
        Err(Error::Untrusted(_))
    ));
    let moved = Digest::sha256(b"other");
    assert!(matches!(
        cosign::verify(&key, &payload, &signature, &moved),
        Err(Error::Mismatch(_))
    ));
}
