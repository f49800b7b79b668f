//! `--provenance` with `--on acr://`: the local Azure stand-in's run reports an
//! output image in a real distribution registry (pushed here first, standing in
//! for what ACR built); wharf attests it there after the run, and `wharf
//! verify-attestation` passes with the ACR builder id. A failed run attests
//! nothing; `--no-wait` is refused.

mod common;
#[path = "../../wharf-acr/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::{IDENTITY_HEADER, SUBSCRIPTION, Script, StandIn};
use wharf_e2e::Registry;
use wharf_registry::{Client, Digest, Repository};

const ACR_BUILDER: &str = "https://wharf.dev/builders/acr-tasks";
const SECRET: &str = "hunter2-in-no-statement";

struct World {
    rt: tokio::runtime::Runtime,
    server: StandIn,
    home: tempfile::TempDir,
    registry: Registry,
    digest: Digest,
}

/// The registry with `app:cb1` in it, and the stand-in reporting it (with
/// `status`) as the run's output image.
fn world(status: &str) -> World {
    let rt = common::runtime();
    let registry = Registry::start();
    let client = Client::with_defaults().unwrap_or_else(|e| panic!("{e}"));
    let repo = Repository::new(&registry.host, "app");
    let digest = rt
        .block_on(common::push_image(&client, &repo, &["cb1"], "acr", None))
        .digest;
    let server = rt.block_on(StandIn::start(Script {
        log: vec![b"Step ID: build marked as successful\r\n".to_vec()],
        status: status.into(),
        output_images: serde_json::json!([{
            "registry": registry.host, "repository": "app", "tag": "cb1", "digest": digest.to_string()
        }]),
        ..Script::default()
    }));
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    World {
        rt,
        server,
        home,
        registry,
        digest,
    }
}

fn wharf(w: &World, dir: &Path) -> Command {
    let mut cmd = common::wharf(w.home.path());
    cmd.current_dir(dir)
        .env("XDG_DATA_HOME", w.home.path().join("data"))
        .env("WHARF_ARM_ENDPOINT", &w.server.base)
        .env("IDENTITY_ENDPOINT", format!("{}/msi/token", w.server.base))
        .env("IDENTITY_HEADER", IDENTITY_HEADER)
        .env("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION)
        .env("WHARF_ACR_POLL_MS", "1");
    for var in [
        "WHARF_REGISTRY",
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_SECRET",
        "WHARF_AZURE_CREDENTIAL",
        "MSI_ENDPOINT",
        "MSI_SECRET",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn output(cmd: &mut Command) -> (Output, String, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// The private key file and the public key file.
fn keypair(home: &Path) -> (String, String) {
    let made = wharf_trust::certs::generate_test("acr", 1, jiff::Timestamp::now())
        .unwrap_or_else(|e| panic!("{e}"));
    let key = wharf_trust::keys::SigningKey::from_pem(&made.key_pem, "key")
        .unwrap_or_else(|e| panic!("{e}"));
    let private = home.join("acr.key");
    let public = home.join("acr.pub");
    std::fs::write(&private, &made.key_pem).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        &public,
        wharf_trust::certs::pem_encode("PUBLIC KEY", &key.public_key_der().unwrap_or_default()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    (private.display().to_string(), public.display().to_string())
}

fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap_or_else(|e| panic!("{e}"));
    }
    dir
}

/// `verify-attestation -o json` of `app:cb1`: its exit code and JSON.
fn verify(w: &World, public: &str, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let (out, stdout, stderr) = output(
        wharf(w, w.home.path())
            .args([
                "verify-attestation",
                &format!("{}/app:cb1", w.registry.host),
            ])
            .args(["--key", public, "-o", "json"])
            .args(extra),
    );
    let v = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    if out.status.code() == Some(0) {
        assert_eq!(v["verified"], true, "{stdout}\n{stderr}");
    }
    (out.status.code(), v)
}

fn dependency<'a>(statement: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    statement["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["name"] == name))
        .unwrap_or_else(|| panic!("no dependency {name}: {statement}"))
}

const TASK: &str = "version: v1.1.0\nsteps:\n  - id: build\n    build: -t $Registry/app:$ID .\n  - push: [\"$Registry/app:$ID\"]\n";

#[test]
fn a_run_on_acr_attests_its_output_images_in_their_registry() {
    let w = world("Succeeded");
    let (key, public) = keypair(w.home.path());
    let dir = context(&[("acb.yaml", TASK), ("Dockerfile", "FROM scratch\n")]);
    let (out, stdout, stderr) = output(wharf(&w, dir.path()).args([
        "run",
        "--on",
        "acr://my-reg.azurecr.io",
        "--set",
        "greeting=hi",
        "--set-secret",
        &format!("pw={SECRET}"),
        "--provenance",
        "--provenance-key",
        &key,
    ]));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let subject = format!("{}/app@{}", w.registry.host, w.digest);
    assert!(
        stdout.contains(&format!("provenance: {subject} -> attestation sha256:")),
        "{stdout}\n{stderr}"
    );

    let (code, v) = verify(&w, &public, &["--builder", ACR_BUILDER]);
    assert_eq!(code, Some(0), "{v}");
    let statement = &v["statement"];
    assert_eq!(statement["subject"][0]["digest"]["sha256"], w.digest.hex());
    let predicate = &statement["predicate"];
    let external = &predicate["buildDefinition"]["externalParameters"];
    assert_eq!(external["target"], "acr://my-reg.azurecr.io");
    assert_eq!(external["registry"], "my-reg.azurecr.io");
    assert_eq!(external["taskFile"], "acb.yaml");
    assert_eq!(external["values"]["greeting"], "hi");
    assert_eq!(external["secrets"], serde_json::json!(["pw"]));
    assert_eq!(predicate["runDetails"]["builder"]["id"], ACR_BUILDER);
    assert_eq!(predicate["runDetails"]["metadata"]["invocationId"], "cb1");
    // The uploaded context, by the digest of the archive ACR was sent.
    let source = w.server.scheduled()[0]["sourceLocation"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let archive = w.server.uploads().get(&source).cloned().unwrap_or_default();
    let context = dependency(statement, "context");
    assert_eq!(context["digest"]["sha256"], Digest::sha256(&archive).hex());
    assert_eq!(context["annotations"]["sourceLocation"], source.as_str());
    let task = dependency(statement, "task");
    assert_eq!(
        task["digest"]["sha256"],
        Digest::sha256(TASK.as_bytes()).hex()
    );
    assert!(!statement.to_string().contains(SECRET));
    // The local builder's id does not pass for it.
    let (code, _) = verify(
        &w,
        &public,
        &["--builder", "https://wharf.dev/builders/local"],
    );
    assert_eq!(code, Some(1));
    let _ = &w.rt;
}

#[test]
fn a_quick_build_on_acr_attests_its_image_with_the_request_as_task() {
    let w = world("Succeeded");
    let (key, public) = keypair(w.home.path());
    let dir = context(&[("Dockerfile", "FROM scratch\n")]);
    let (out, stdout, stderr) = output(wharf(&w, dir.path()).args([
        "build",
        "--on",
        "acr://my-reg.azurecr.io",
        "-t",
        "app:cb1",
        "--provenance",
        "--provenance-key",
        &key,
        ".",
    ]));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let (code, v) = verify(&w, &public, &["--builder", ACR_BUILDER]);
    assert_eq!(code, Some(0), "{v}");
    let external = &v["statement"]["predicate"]["buildDefinition"]["externalParameters"];
    assert_eq!(external["taskFile"], "inline:build");
    assert_eq!(external["target"], "acr://my-reg.azurecr.io");
    dependency(&v["statement"], "context");
}

#[test]
fn a_failed_acr_run_attests_nothing() {
    let w = world("Failed");
    let (key, public) = keypair(w.home.path());
    let dir = context(&[("acb.yaml", TASK), ("Dockerfile", "FROM scratch\n")]);
    let (out, stdout, stderr) = output(wharf(&w, dir.path()).args([
        "run",
        "--on",
        "acr://my-reg.azurecr.io",
        "--provenance",
        "--provenance-key",
        &key,
    ]));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(!stdout.contains("provenance:"), "{stdout}");
    assert_eq!(w.registry.tags("app"), ["cb1"], "no attestation was pushed");
    let (code, _) = verify(&w, &public, &[]);
    assert_eq!(code, Some(1));
}

#[test]
fn provenance_with_no_wait_or_a_secret_key_is_refused_before_azure_is_contacted() {
    let w = world("Succeeded");
    let (key, _) = keypair(w.home.path());
    let dir = context(&[("acb.yaml", TASK)]);
    for (extra, want) in [
        (
            vec!["--provenance-key", key.as_str(), "--no-wait"],
            "--no-wait",
        ),
        (vec!["--provenance-key", "secret:signing"], "give a file"),
        (vec![], "--provenance needs --provenance-key"),
    ] {
        let (out, _, stderr) = output(
            wharf(&w, dir.path())
                .args(["run", "--on", "acr://my-reg.azurecr.io", "--provenance"])
                .args(&extra),
        );
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(want), "{extra:?}: {stderr}");
    }
    assert!(w.server.seen().is_empty(), "Azure was contacted");
}
