//! `wharf verify-attestation` and `wharf registry referrers` end to end: the real
//! binary against the distribution registry (no referrers API: the `sha256-<hex>`
//! fallback) and wharf's own registry (the referrers API), attestations pushed in
//! cosign v3's bundle layout, and every way an attestation must fail.

mod common;
use common::*;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use wharf_e2e::Registry;
use wharf_registry::manifest::{Descriptor, media_type};
use wharf_registry::referrers::ReferrersMode;
use wharf_registry::{Client, Digest, LocalRegistry, Repository};
use wharf_trust::attest::{self, BUNDLE_MEDIA_TYPE};
use wharf_trust::dsse;
use wharf_trust::keys::SigningKey;
use wharf_trust::provenance::{self, SLSA_PROVENANCE_V02, Statement};

/// A key pair: the key, and the public key's PEM file.
fn keypair(home: &Path, name: &str) -> (SigningKey, PathBuf) {
    let made = wharf_trust::certs::generate_test(name, 1, jiff::Timestamp::now())
        .unwrap_or_else(|e| panic!("{e}"));
    let key = SigningKey::from_pem(&made.key_pem, "key").unwrap_or_else(|e| panic!("{e}"));
    let public = home.join(format!("{name}.pub"));
    std::fs::write(
        &public,
        wharf_trust::certs::pem_encode("PUBLIC KEY", &key.public_key_der().unwrap_or_default()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    (key, public)
}

/// Pushes `bundle` as an attestation referrer of `subject`, with `annotation` as its
/// predicate type annotation.
async fn push_bundle(
    client: &Client,
    repo: &Repository,
    subject: &Descriptor,
    bundle: &serde_json::Value,
    annotation: &str,
) {
    let bytes = serde_json::to_vec(bundle).unwrap_or_default();
    let (manifest, blobs) = attest::manifest(subject, &bytes, annotation, jiff::Timestamp::now());
    client
        .push_blobs(repo, &blobs)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    client
        .push_referrer(
            repo,
            media_type::OCI_MANIFEST,
            manifest,
            ReferrersMode::Auto,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

fn statement_for(name: &str, digest: &Digest) -> Statement {
    provenance::tests_support::fixture_run().statement(name, digest)
}

fn scenario(host: &str, api: bool) {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let home = home.path();
    let rt = runtime();
    let client = Client::with_defaults().unwrap_or_else(|e| panic!("{e}"));
    let repo = Repository::new(host, "team/app");
    let name = format!("{host}/team/app");
    let image = rt.block_on(push_image(&client, &repo, &["v1"], "one", None));
    let reference = format!("{name}:v1");
    let (key, public) = keypair(home, "signer");
    let (_, stranger) = keypair(home, "stranger");
    let verify = |reference: &str, public: &Path, extra: &[&str]| {
        run(wharf(home)
            .args(["verify-attestation", reference, "--key"])
            .arg(public)
            .args(extra))
    };

    // Unattested: exit 1.
    refused(&verify(&reference, &public, &[]), "no attestation");

    // Attested: it verifies, with the policy fields.
    let statement = statement_for(&name, &image.digest);
    let attested = rt
        .block_on(attest::push(
            &client,
            &repo,
            &image,
            &statement,
            &key,
            None,
            ReferrersMode::Auto,
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(attested.api, api);
    let said = ok(&verify(
        &reference,
        &public,
        &[
            "--type",
            "slsaprovenance1",
            "--builder",
            "https://wharf.dev/builders/local",
            "--source",
            "git+https://github.com/contoso/web@refs/heads/main",
        ],
    ));
    assert!(
        said.contains("Successfully verified the https://slsa.dev/provenance/v1 attestation")
            && said.contains(image.digest.as_str()),
        "{said}"
    );
    let verified = json(&verify(&reference, &public, &["-o", "json"]));
    assert_eq!(verified["verified"], true);
    assert_eq!(verified["digest"], image.digest.as_str());
    assert_eq!(verified["attestation"], attested.digest.as_str());
    assert_eq!(
        verified["statement"]["subject"][0]["digest"]["sha256"],
        image.digest.hex()
    );

    // Policy fields that differ.
    refused(
        &verify(
            &reference,
            &public,
            &["--builder", "https://example.com/ci"],
        ),
        "the builder is https://wharf.dev/builders/local",
    );
    refused(
        &verify(
            &reference,
            &public,
            &[
                "--source",
                "git+https://github.com/evil/web@refs/heads/main",
            ],
        ),
        "the source is",
    );
    // The wrong key.
    refused(&verify(&reference, &stranger, &[]), "does not verify");
    // cosign's slsaprovenance is v0.2: there is none.
    refused(
        &verify(&reference, &public, &["--type", "slsaprovenance"]),
        "no attestation of predicate type https://slsa.dev/provenance/v0.2",
    );

    // The layout cosign v3 reads: listed with the bundle type and both annotations.
    let listed = json(&run(wharf(home).args([
        "registry",
        "referrers",
        &reference,
        "-o",
        "json",
    ])));
    let entry = listed["manifests"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["digest"] == attested.digest.as_str()))
        .cloned()
        .unwrap_or_else(|| panic!("the attestation is listed: {listed}"));
    assert_eq!(entry["artifactType"], BUNDLE_MEDIA_TYPE);
    assert_eq!(
        entry["annotations"]["dev.sigstore.bundle.predicateType"],
        "https://slsa.dev/provenance/v1"
    );
    assert_eq!(
        entry["annotations"]["dev.sigstore.bundle.content"],
        "dsse-envelope"
    );
    let tree = ok(&run(wharf(home).args([
        "registry",
        "referrers",
        &reference,
    ])));
    assert!(
        tree.contains(BUNDLE_MEDIA_TYPE)
            && tree.contains("(predicateType https://slsa.dev/provenance/v1)"),
        "{tree}"
    );
    let manifest = rt
        .block_on(client.pull_manifest_in(&repo, attested.digest.as_str(), None))
        .unwrap_or_else(|e| panic!("{e}"));
    let manifest: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap_or_default();
    assert_eq!(manifest["subject"]["digest"], image.digest.as_str());
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    assert_eq!(manifest["layers"][0]["mediaType"], BUNDLE_MEDIA_TYPE);

    let bundle_of = |statement: &Statement| {
        serde_json::to_value(
            attest::bundle(statement, &key, None).unwrap_or_else(|e| panic!("{e}")),
        )
        .unwrap_or_default()
    };

    // Wrong subject: another image's statement, pushed as this one's referrer.
    let wrong = rt.block_on(push_image(&client, &repo, &["wrong-subject"], "w", None));
    let other = statement_for(&name, &Digest::sha256(b"some other image"));
    rt.block_on(push_bundle(
        &client,
        &repo,
        &wrong,
        &bundle_of(&other),
        provenance::SLSA_PROVENANCE_V1,
    ));
    refused(
        &verify(&format!("{name}:wrong-subject"), &public, &[]),
        "signature does not match: the attestation covers",
    );

    // Wrong payload type, correctly signed.
    let typed = rt.block_on(push_image(&client, &repo, &["wrong-type"], "t", None));
    let mut bundle = bundle_of(&statement_for(&name, &typed.digest));
    let body = statement_for(&name, &typed.digest).to_bytes();
    bundle["dsseEnvelope"] =
        serde_json::to_value(dsse::sign("application/json", &body, &key)).unwrap_or_default();
    rt.block_on(push_bundle(
        &client,
        &repo,
        &typed,
        &bundle,
        provenance::SLSA_PROVENANCE_V1,
    ));
    refused(
        &verify(&format!("{name}:wrong-type"), &public, &[]),
        "invalid payloadType application/json",
    );

    // A v0.2 predicate: not SLSA v1, whatever the annotation says.
    let old = rt.block_on(push_image(&client, &repo, &["v02"], "v02", None));
    let mut v02 = statement_for(&name, &old.digest);
    v02.predicate_type = SLSA_PROVENANCE_V02.into();
    rt.block_on(push_bundle(
        &client,
        &repo,
        &old,
        &bundle_of(&v02),
        SLSA_PROVENANCE_V02,
    ));
    refused(
        &verify(&format!("{name}:v02"), &public, &[]),
        "(found: https://slsa.dev/provenance/v0.2)",
    );
    let lying = rt.block_on(push_image(&client, &repo, &["v02-lying"], "lying", None));
    let mut v02 = statement_for(&name, &lying.digest);
    v02.predicate_type = SLSA_PROVENANCE_V02.into();
    rt.block_on(push_bundle(
        &client,
        &repo,
        &lying,
        &bundle_of(&v02),
        provenance::SLSA_PROVENANCE_V1,
    ));
    refused(
        &verify(&format!("{name}:v02-lying"), &public, &[]),
        "the predicate type is https://slsa.dev/provenance/v0.2",
    );

    // A tampered payload: the builder changed after signing.
    let tampered = rt.block_on(push_image(&client, &repo, &["tampered"], "tampered", None));
    let mut bundle = bundle_of(&statement_for(&name, &tampered.digest));
    let mut changed = statement_for(&name, &tampered.digest);
    changed.predicate["runDetails"]["builder"]["id"] = "https://example.com/trusted-ci".into();
    bundle["dsseEnvelope"]["payload"] = serde_json::json!(STANDARD.encode(changed.to_bytes()));
    rt.block_on(push_bundle(
        &client,
        &repo,
        &tampered,
        &bundle,
        provenance::SLSA_PROVENANCE_V1,
    ));
    refused(
        &verify(&format!("{name}:tampered"), &public, &[]),
        "does not verify",
    );

    // The tag moves: the attestation of the old content does not cover the new.
    let moved = rt.block_on(push_image(&client, &repo, &["v1"], "two", None));
    assert_ne!(moved.digest, image.digest);
    refused(&verify(&reference, &public, &[]), "no attestation");
    // By digest, the old content still verifies.
    ok(&verify(&format!("{name}@{}", image.digest), &public, &[]));

    // Where the attestations live.
    let tags = rt.block_on(client.tags(&repo)).unwrap_or_default();
    let fallback = format!("sha256-{}", image.digest.hex());
    assert_eq!(tags.contains(&fallback), !api, "{tags:?}");
}

#[test]
fn attestations_on_the_distribution_registry() {
    let registry = Registry::start();
    scenario(&registry.host, false);
}

#[test]
fn attestations_on_wharfs_registry() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rt = runtime();
    let registry = rt
        .block_on(LocalRegistry::start(
            dir.path().to_path_buf(),
            "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    scenario(&registry.host(), true);
    drop(registry);
}

#[test]
fn bad_input_is_exit_code_2() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let home = home.path();
    let (_, public) = keypair(home, "signer");
    std::fs::write(home.join("garbage.pub"), "not a key").unwrap_or_else(|e| panic!("{e}"));
    let public = public.display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "verify-attestation",
                "localhost:5999/app:1",
                "--key",
                "missing.pub",
            ],
            "cannot read the public key missing.pub",
        ),
        (
            vec![
                "verify-attestation",
                "localhost:5999/app:1",
                "--key",
                "garbage.pub",
            ],
            "garbage.pub is not a PEM EC P-256 public key",
        ),
        (
            vec!["verify-attestation", "app:1", "--key", &public],
            "names no registry",
        ),
        (
            vec![
                "verify-attestation",
                "localhost:5999/app:1",
                "--key",
                &public,
                "--type",
                "slsa",
            ],
            "--type \"slsa\"",
        ),
    ];
    for (args, reason) in cases {
        let out = run(wharf(home).args(&args));
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let stderr = text(&out.stderr);
        assert!(stderr.contains(reason), "{args:?}: {stderr}");
    }
}
