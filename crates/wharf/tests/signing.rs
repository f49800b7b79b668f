//! `wharf cert|sign|verify|attach|registry referrers` end to end: the real binary
//! against the distribution registry (no referrers API: the `sha256-<hex>` fallback)
//! and wharf's own registry (the referrers API), with images pushed by the registry
//! client.

mod common;
use common::*;

use std::path::Path;

use bytes::Bytes;
use wharf_e2e::Registry;
use wharf_registry::client::BlobPush;
use wharf_registry::manifest::{Descriptor, media_type};
use wharf_registry::referrers::ReferrersMode;
use wharf_registry::{Client, LocalRegistry, Repository};

fn generate(home: &Path, name: &str) {
    let out = ok(&run(wharf(home).args([
        "cert",
        "generate-test",
        name,
        "--days",
        "30",
        "--dir",
        "certs",
    ])));
    assert!(out.contains(&format!("CN={name}")), "{out}");
}

/// The public key of `certs/NAME.key`, PEM, for cosign verification.
fn public_pem(home: &Path, name: &str) -> std::path::PathBuf {
    let pem = std::fs::read_to_string(home.join(format!("certs/{name}.key"))).unwrap_or_default();
    let key =
        wharf_trust::keys::SigningKey::from_pem(&pem, "key").unwrap_or_else(|e| panic!("{e}"));
    let der = key.public_key_der().unwrap_or_default();
    let path = home.join(format!("certs/{name}.pub"));
    std::fs::write(&path, wharf_trust::certs::pem_encode("PUBLIC KEY", &der))
        .unwrap_or_else(|e| panic!("{e}"));
    path
}

/// Everything a user relies on, against `host`; `api` says whether the registry has
/// the referrers API.
fn scenario(host: &str, api: bool) {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let home = home.path();
    let rt = runtime();
    let client = Client::with_defaults().unwrap_or_else(|e| panic!("{e}"));
    let repo = Repository::new(host, "team/app");
    let image = rt.block_on(push_image(&client, &repo, &["v1"], "one", None));
    let reference = format!("{host}/team/app:v1");

    generate(home, "signer");
    generate(home, "stranger");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(home.join("certs/signer.key"))
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        assert_eq!(mode, 0o600, "the key is private");
    }

    // Unsigned: exit 1, no signature.
    refused(
        &run(wharf(home).args(["verify", &reference, "--cert", "certs/signer.crt"])),
        "no signature",
    );

    // Sign (notation, the default) and verify with the certificate.
    let signed = json(&run(wharf(home).args([
        "sign",
        &reference,
        "--key",
        "certs/signer.key",
        "--cert",
        "certs/signer.crt",
        "-o",
        "json",
    ])));
    assert_eq!(signed["digest"], image.digest.as_str());
    let verified = ok(&run(wharf(home).args([
        "verify",
        &reference,
        "--cert",
        "certs/signer.crt",
    ])));
    assert!(
        verified.contains("Successfully verified") && verified.contains("CN=signer"),
        "{verified}"
    );

    // The wrong signer.
    refused(
        &run(wharf(home).args(["verify", &reference, "--cert", "certs/stranger.crt"])),
        "untrusted signer",
    );

    // A trust policy with a trust store: the right identity passes, another fails.
    let store = home.join("store/x509/ca/wharf");
    std::fs::create_dir_all(&store).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(home.join("certs/signer.crt"), store.join("signer.crt"))
        .unwrap_or_else(|e| panic!("{e}"));
    for (identity, passes) in [
        (
            "x509.subject: C=US, ST=WA, L=Seattle, O=Notary, CN=signer",
            true,
        ),
        (
            "x509.subject: C=US, ST=WA, L=Seattle, O=Notary, CN=stranger",
            false,
        ),
    ] {
        let policy = serde_json::json!({
            "version": "1.0",
            "trustPolicies": [{
                "name": "wharf",
                "registryScopes": [format!("{host}/team/app")],
                "signatureVerification": {"level": "strict"},
                "trustStores": ["ca:wharf"],
                "trustedIdentities": [identity],
            }],
        });
        std::fs::write(home.join("trustpolicy.json"), policy.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        let out = run(wharf(home).args([
            "verify",
            &reference,
            "--trust-policy",
            "trustpolicy.json",
            "--trust-store",
            "store",
        ]));
        if passes {
            ok(&out);
        } else {
            refused(&out, "is not a trusted identity");
        }
    }

    // An altered signature: the envelope of one image with another's signature value.
    let altered_image = rt.block_on(push_image(&client, &repo, &["altered"], "altered", None));
    let key_pem = std::fs::read_to_string(home.join("certs/signer.key")).unwrap_or_default();
    let key =
        wharf_trust::keys::SigningKey::from_pem(&key_pem, "k").unwrap_or_else(|e| panic!("{e}"));
    let chain = wharf_trust::certs::parse_certificates(
        &std::fs::read(home.join("certs/signer.crt")).unwrap_or_default(),
        "c",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let options = wharf_trust::notation::SignOptions {
        signing_time: jiff::Timestamp::now(),
        expiry: None,
        agent: "test".into(),
        annotations: Default::default(),
    };
    let good = wharf_trust::notation::sign(&altered_image, &key, &chain, &options)
        .unwrap_or_else(|e| panic!("{e}"));
    let other = wharf_trust::notation::sign(&image, &key, &chain, &options)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut envelope: serde_json::Value = serde_json::from_slice(&good).unwrap_or_default();
    let other: serde_json::Value = serde_json::from_slice(&other).unwrap_or_default();
    envelope["signature"] = other["signature"].clone();
    let push_signature = |subject: &Descriptor, envelope: &[u8]| {
        let (manifest, blobs) =
            wharf_trust::notation::manifest(subject, envelope, &chain, jiff::Timestamp::now());
        rt.block_on(async {
            client.push_blobs(&repo, &blobs).await?;
            client
                .push_referrer(
                    &repo,
                    media_type::OCI_MANIFEST,
                    manifest,
                    ReferrersMode::Auto,
                )
                .await
        })
        .unwrap_or_else(|e| panic!("{e}"));
    };
    push_signature(&altered_image, envelope.to_string().as_bytes());
    refused(
        &run(wharf(home).args([
            "verify",
            &format!("{host}/team/app:altered"),
            "--cert",
            "certs/signer.crt",
        ])),
        "invalid signature",
    );

    // The tag moves to other content: v1's signature does not cover it.
    let moved = rt.block_on(push_image(&client, &repo, &["v1"], "two", None));
    assert_ne!(moved.digest, image.digest);
    refused(
        &run(wharf(home).args(["verify", &reference, "--cert", "certs/signer.crt"])),
        "no signature",
    );
    // ... nor does a signature of the old content re-pointed at the new.
    let old_envelope = wharf_trust::notation::sign(&image, &key, &chain, &options)
        .unwrap_or_else(|e| panic!("{e}"));
    push_signature(&moved, &old_envelope);
    refused(
        &run(wharf(home).args(["verify", &reference, "--cert", "certs/signer.crt"])),
        "does not match",
    );
    // By digest, the old content still verifies.
    ok(&run(wharf(home).args([
        "verify",
        &format!("{host}/team/app@{}", image.digest),
        "--cert",
        "certs/signer.crt",
    ])));

    // Expired: a certificate that was valid for a day, ten days ago.
    let past = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(240);
    let old = wharf_trust::certs::generate_test("old", 1, past).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(home.join("certs/old.key"), &old.key_pem).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(home.join("certs/old.crt"), &old.cert_pem).unwrap_or_else(|e| panic!("{e}"));
    let expired_ref = format!("{host}/team/app:expired");
    rt.block_on(push_image(&client, &repo, &["expired"], "expired", None));
    ok(&run(wharf(home).args([
        "sign",
        &expired_ref,
        "--key",
        "certs/old.key",
        "--cert",
        "certs/old.crt",
    ])));
    refused(
        &run(wharf(home).args(["verify", &expired_ref, "--cert", "certs/old.crt"])),
        "expired",
    );

    // cosign's keyed format: two signers append to one .sig manifest.
    let cosigned = format!("{host}/team/app:cosigned");
    let cosigned_image = rt.block_on(push_image(&client, &repo, &["cosigned"], "cosigned", None));
    for signer in ["signer", "stranger"] {
        ok(&run(wharf(home).args([
            "sign",
            &cosigned,
            "--format",
            "cosign",
            "--key",
            &format!("certs/{signer}.key"),
        ])));
    }
    let sig_tag = format!("{}.sig", cosigned_image.digest.as_str().replace(':', "-"));
    let sig = rt
        .block_on(client.pull_manifest_in(&repo, &sig_tag, None))
        .unwrap_or_else(|e| panic!("{e}"));
    let sig: serde_json::Value = serde_json::from_slice(&sig.bytes).unwrap_or_default();
    assert_eq!(sig["layers"].as_array().map(Vec::len), Some(2), "{sig}");
    assert_eq!(
        sig["layers"][0]["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    for signer in ["signer", "stranger"] {
        let public = public_pem(home, signer);
        ok(&run(wharf(home)
            .args(["verify", &cosigned, "--format", "cosign", "--key"])
            .arg(&public)));
    }
    generate(home, "nobody");
    let nobody = public_pem(home, "nobody");
    refused(
        &run(wharf(home)
            .args(["verify", &cosigned, "--format", "cosign", "--key"])
            .arg(&nobody)),
        "untrusted signer",
    );

    // attach an SBOM, and list the referrers as oras discover does.
    std::fs::write(home.join("sbom.cdx.json"), "{\"bomFormat\":\"CycloneDX\"}")
        .unwrap_or_else(|e| panic!("{e}"));
    let attached = json(&run(wharf(home).args([
        "attach",
        &format!("{host}/team/app@{}", image.digest),
        "--artifact-type",
        "application/vnd.cyclonedx+json",
        "sbom.cdx.json:application/vnd.cyclonedx+json",
        "-o",
        "json",
    ])));
    let listed = json(&run(wharf(home).args([
        "registry",
        "referrers",
        &format!("{host}/team/app@{}", image.digest),
        "-o",
        "json",
    ])));
    let manifests = listed["manifests"].as_array().cloned().unwrap_or_default();
    let types: Vec<&str> = manifests
        .iter()
        .filter_map(|m| m["artifactType"].as_str())
        .collect();
    assert!(
        types.contains(&"application/vnd.cncf.notary.signature"),
        "{listed}"
    );
    assert!(
        types.contains(&"application/vnd.cyclonedx+json"),
        "{listed}"
    );
    let sbom = manifests
        .iter()
        .find(|m| m["digest"] == attached["digest"])
        .unwrap_or_else(|| panic!("attached artifact listed: {listed}"));
    assert!(
        sbom["annotations"]["org.opencontainers.image.created"].is_string(),
        "annotations travel with the descriptor: {sbom}"
    );
    let tree = ok(&run(wharf(home).args([
        "registry",
        "referrers",
        &format!("{host}/team/app@{}", image.digest),
    ])));
    assert!(
        tree.contains("├── application/vnd.c") && tree.contains("└── application/vnd.c"),
        "{tree}"
    );
    let only = json(&run(wharf(home).args([
        "registry",
        "referrers",
        &format!("{host}/team/app@{}", image.digest),
        "--artifact-type",
        "application/vnd.cyclonedx+json",
        "-o",
        "json",
    ])));
    assert_eq!(
        only["manifests"].as_array().map(Vec::len),
        Some(1),
        "{only}"
    );

    // Where the referrers live.
    let tags = rt.block_on(client.tags(&repo)).unwrap_or_default();
    let fallback = format!("sha256-{}", image.digest.hex());
    assert_eq!(tags.contains(&fallback), !api, "{tags:?}");
}

#[test]
fn signing_against_the_distribution_registry() {
    let registry = Registry::start();
    scenario(&registry.host, false);
}

#[test]
fn signing_against_wharfs_registry() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rt = runtime();
    let registry = rt
        .block_on(LocalRegistry::start(
            dir.path().to_path_buf(),
            "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    let host = registry.host();
    scenario(&host, true);

    // tags --detail shows when each tag was last pushed, newest first.
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let tags = json(&run(wharf(home.path()).args([
        "registry",
        "tags",
        &format!("{host}/team/app"),
        "--detail",
        "-o",
        "json",
    ])));
    let rows = tags["tags"].as_array().cloned().unwrap_or_default();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["lastPushed"].is_string()), "{tags}");
    let times: Vec<&str> = rows
        .iter()
        .filter_map(|r| r["lastPushed"].as_str())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    drop(registry);
}

#[test]
fn bad_input_is_exit_code_2() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let home = home.path();
    generate(home, "signer");
    std::fs::write(
        home.join("garbage.key"),
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "sign",
                "localhost:5999/app:1",
                "--key",
                "missing.key",
                "--cert",
                "certs/signer.crt",
            ],
            "cannot read the key missing.key",
        ),
        (
            vec![
                "sign",
                "localhost:5999/app:1",
                "--key",
                "garbage.key",
                "--cert",
                "certs/signer.crt",
            ],
            "garbage.key is not a PEM EC P-256 private key",
        ),
        (
            vec![
                "sign",
                "app:1",
                "--key",
                "certs/signer.key",
                "--cert",
                "certs/signer.crt",
            ],
            "names no registry",
        ),
        (
            vec!["verify", "team/app:1", "--cert", "certs/signer.crt"],
            "names no registry",
        ),
        (
            vec!["verify", "localhost:5999/app:1", "--cert", "missing.crt"],
            "cannot read",
        ),
        (vec!["verify", "localhost:5999/app:1"], "say whom to trust"),
        (
            vec!["sign", "localhost:5999/app:1", "--key", "certs/signer.key"],
            "needs --cert",
        ),
        (
            vec![
                "attach",
                "localhost:5999/app:1",
                "--artifact-type",
                "nonsense",
                "x",
            ],
            "is not a media type",
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
        assert!(
            !stderr.contains("c2VjcmV0"),
            "key content never shown: {stderr}"
        );
    }
}

#[test]
fn a_task_signs_with_a_sign_step() {
    wharf_e2e::require_docker!();
    let registry = Registry::start();
    let host = registry.host.clone();
    let rt = runtime();
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let home = home.path();
    generate(home, "signer");
    let client = Client::with_defaults().unwrap_or_else(|e| panic!("{e}"));
    let repo = Repository::new(&host, "task/app");
    let image = rt.block_on(push_image(&client, &repo, &["v1"], "task", None));
    let key_pem = std::fs::read_to_string(home.join("certs/signer.key")).unwrap_or_default();
    std::fs::write(
        home.join("acb.yaml"),
        "version: v1.1.0\n\
         secrets:\n  - id: signkey\n    keyvault: https://kv.vault.azure.net/secrets/signkey\n\
         steps:\n  - id: sign\n    sign: [\"$Registry/task/app:v1\"]\n    key: signkey\n    cert: certs/signer.crt\n\
         \x20 - id: cosign\n    sign: [\"$Registry/task/app:v1\"]\n    key: certs/signer.key\n    format: cosign\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // The plan names where the key is, never the key.
    let plan = ok(&run(wharf(home).args([
        "plan",
        "acb.yaml",
        "--registry",
        &host,
    ])));
    assert!(
        plan.contains("sign") && !plan.contains("PRIVATE KEY"),
        "{plan}"
    );
    let out = run(wharf(home)
        .args([
            "run",
            "acb.yaml",
            "--registry",
            &host,
            "--secret",
            "signkey",
            "--json",
        ])
        .env("signkey", &key_pem));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{all}");
    assert!(
        !all.contains("PRIVATE KEY") && !all.contains(key_pem.lines().nth(1).unwrap_or("-")),
        "{all}"
    );
    assert!(
        all.contains(&format!("Signed {host}/task/app@{}", image.digest)),
        "{all}"
    );
    // Both signatures verify.
    ok(&run(wharf(home).args([
        "verify",
        &format!("{host}/task/app:v1"),
        "--cert",
        "certs/signer.crt",
    ])));
    let public = public_pem(home, "signer");
    ok(&run(wharf(home)
        .args([
            "verify",
            &format!("{host}/task/app:v1"),
            "--format",
            "cosign",
            "--key",
        ])
        .arg(&public)));
    // validate --acr lists it as an extension.
    let validate = run(wharf(home).args(["validate", "acb.yaml", "--acr"]));
    let said = format!("{}{}", text(&validate.stdout), text(&validate.stderr));
    assert!(said.contains("`sign:` is a wharf extension"), "{said}");
}

#[test]
fn concurrent_writers_of_one_fallback_index_all_land() {
    // Separate processes: the in-process lock does not apply, the read-back merge does.
    let registry = Registry::start();
    let host = registry.host.clone();
    let rt = runtime();
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let home = home.path();
    let client = Client::with_defaults().unwrap_or_else(|e| panic!("{e}"));
    let repo = Repository::new(&host, "race/app");
    let image = rt.block_on(push_image(&client, &repo, &["v1"], "race", None));
    let reference = format!("{host}/race/app@{}", image.digest);
    // The blob every writer shares is there first: concurrent uploads of one blob are
    // a race of distribution's own storage, not the one under test.
    rt.block_on(client.push_blob(
        &repo,
        &BlobPush::bytes(media_type::OCI_EMPTY, Bytes::from_static(b"{}")),
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let writers: Vec<std::process::Child> = (0..4)
        .map(|i| {
            let file = format!("note-{i}.txt");
            std::fs::write(home.join(&file), format!("note {i}")).unwrap_or_else(|e| panic!("{e}"));
            wharf(home)
                .args(["attach", &reference, "--artifact-type", "text/plain", &file])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    for mut w in writers {
        assert!(w.wait().is_ok_and(|s| s.success()));
    }
    let listed = rt
        .block_on(client.referrers(&repo, &image.digest, None))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(listed.descriptors.len(), 4, "{:?}", listed.descriptors);
}

/// `wharf registry copy -r`: signatures (notation and cosign), an attached SBOM and a
/// signature of that SBOM travel with the image, from the distribution registry
/// (fallback index) to wharf's (referrers API) and back to another repository of the
/// first; verification passes at each destination, and fails after a copy without -r.
#[test]
fn signatures_and_attachments_travel_with_copy_r() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let home = home.path();
    let rt = runtime();
    let dist = Registry::start();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let own = rt
        .block_on(LocalRegistry::start(
            dir.path().to_path_buf(),
            "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    let client = Client::with_defaults().unwrap_or_else(|e| panic!("{e}"));
    let repo = Repository::new(&dist.host, "team/app");
    let image = rt.block_on(push_image(&client, &repo, &["v1"], "copied", None));
    let source = format!("{}/team/app:v1", dist.host);
    generate(home, "signer");
    let public = public_pem(home, "signer");
    ok(&run(wharf(home).args([
        "sign",
        &source,
        "--key",
        "certs/signer.key",
        "--cert",
        "certs/signer.crt",
    ])));
    ok(&run(wharf(home).args([
        "sign",
        &source,
        "--format",
        "cosign",
        "--key",
        "certs/signer.key",
    ])));
    std::fs::write(home.join("sbom.cdx.json"), "{\"bomFormat\":\"CycloneDX\"}")
        .unwrap_or_else(|e| panic!("{e}"));
    let attached = json(&run(wharf(home).args([
        "attach",
        &source,
        "--artifact-type",
        "application/vnd.cyclonedx+json",
        "sbom.cdx.json:application/vnd.cyclonedx+json",
        "-o",
        "json",
    ])));
    let sbom_digest = attached["digest"].as_str().unwrap_or_default().to_string();
    ok(&run(wharf(home).args([
        "sign",
        &format!("{}/team/app@{sbom_digest}", dist.host),
        "--key",
        "certs/signer.key",
        "--cert",
        "certs/signer.crt",
    ])));

    let verifies = |reference: &str| {
        ok(&run(wharf(home).args([
            "verify",
            reference,
            "--cert",
            "certs/signer.crt",
        ])));
        ok(&run(wharf(home)
            .args(["verify", reference, "--format", "cosign", "--key"])
            .arg(&public)));
    };
    let referrer_types = |reference: &str| -> Vec<String> {
        let listed = json(&run(wharf(home).args([
            "registry",
            "referrers",
            reference,
            "-o",
            "json",
        ])));
        let mut types: Vec<String> = listed["manifests"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|m| m["artifactType"].as_str().map(str::to_string))
            .collect();
        types.sort();
        types
    };
    let expected = [
        "application/vnd.cncf.notary.signature",
        "application/vnd.cyclonedx+json",
    ];

    // Without -r: the image only, so nothing verifies there.
    let bare = format!("{}/bare/app:v1", own.host());
    ok(&run(wharf(home).args(["registry", "copy", &source, &bare])));
    refused(
        &run(wharf(home).args(["verify", &bare, "--cert", "certs/signer.crt"])),
        "no signature",
    );

    // distribution (fallback index) -> wharf's registry (referrers API) -> distribution.
    let hops = [
        (source.clone(), format!("{}/mirror/app:v1", own.host())),
        (
            format!("{}/mirror/app:v1", own.host()),
            format!("{}/back/app:v1", dist.host),
        ),
    ];
    for (from, to) in &hops {
        let report = json(&run(
            wharf(home).args(["registry", "copy", "-r", from, to, "-o", "json"])
        ));
        assert_eq!(report["digest"], image.digest.as_str(), "{report}");
        assert_eq!(
            report["referrers"].as_array().map(Vec::len),
            Some(3),
            "two on the image, one on the SBOM: {report}"
        );
        assert_eq!(
            report["cosignTags"],
            serde_json::json!([format!("{}.sig", image.digest.as_str().replace(':', "-"))]),
            "{report}"
        );
        verifies(to);
        assert_eq!(referrer_types(to), expected, "{to}");
        let (repository, _) = to.rsplit_once(':').unwrap_or_default();
        let sbom = format!("{repository}@{sbom_digest}");
        assert_eq!(
            referrer_types(&sbom),
            ["application/vnd.cncf.notary.signature"],
            "the SBOM's own signature came along: {sbom}"
        );
        ok(&run(wharf(home).args([
            "verify",
            &sbom,
            "--cert",
            "certs/signer.crt",
        ])));
    }

    // -r into an OCI layout is refused before anything is copied.
    let out = run(wharf(home)
        .args(["registry", "copy", "-r", &source])
        .arg(format!("oci:{}", home.join("layout").display())));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("referrers are copied between registries only"),
        "{}",
        text(&out.stderr)
    );
    assert!(!home.join("layout").exists(), "nothing was written");
    drop(own);
}
