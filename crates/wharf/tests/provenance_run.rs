//! `wharf run --provenance` and `wharf build --provenance` end to end: a git
//! repository made here whose Dockerfile builds `FROM` a base image in a real
//! registry (the distribution registry: the `sha256-<hex>` fallback; wharf's own: the
//! referrers API), pushed with provenance, then checked with `wharf
//! verify-attestation`: the statement names the base image's manifest digest, the
//! commit and whether the tree was dirty, and never a secret.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;

use wharf_e2e::{Registry, busybox_image, remove_images, require_docker, sh};
use wharf_registry::{Client, Digest, ImageRef, LocalRegistry};

const SECRET: &str = "s3cr3t-never-in-a-statement";

/// The key's PEM file, and its public key's.
fn keypair(home: &Path, name: &str) -> (PathBuf, PathBuf, String) {
    let made = wharf_trust::certs::generate_test(name, 1, jiff::Timestamp::now())
        .unwrap_or_else(|e| panic!("{e}"));
    let key = wharf_trust::keys::SigningKey::from_pem(&made.key_pem, "key")
        .unwrap_or_else(|e| panic!("{e}"));
    let private = home.join(format!("{name}.key"));
    let public = home.join(format!("{name}.pub"));
    std::fs::write(&private, &made.key_pem).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        &public,
        wharf_trust::certs::pem_encode("PUBLIC KEY", &key.public_key_der().unwrap_or_default()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    (private, public, made.key_pem)
}

/// wharf with its history and Docker config in `home`.
fn wharf_in(home: &Path) -> Command {
    let mut cmd = wharf(home);
    cmd.env("XDG_DATA_HOME", home.join("data"))
        .env_remove("WHARF_REGISTRY");
    cmd
}

fn git(repo: &Path, args: &[&str]) -> String {
    sh(Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args))
    .trim()
    .to_string()
}

/// The statement `verify-attestation -o json` verified, after asserting it passed.
fn verified(home: &Path, reference: &str, public: &Path, extra: &[&str]) -> serde_json::Value {
    let out = run(wharf_in(home)
        .args(["verify-attestation", reference, "--key"])
        .arg(public)
        .args(extra)
        .args(["-o", "json"]));
    let v = json(&out);
    assert_eq!(v["verified"], true, "{v}");
    v["statement"].clone()
}

fn dependency<'a>(statement: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    statement["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["name"] == name))
        .unwrap_or_else(|| panic!("no dependency {name}: {statement}"))
}

fn scenario(host: &str) {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let home = home.path();
    let rt = runtime();
    let client = Client::with_defaults().unwrap_or_else(|e| panic!("{e}"));

    // The base image, in the registry.
    sh(Command::new("skopeo").args([
        "copy",
        "-q",
        "--dest-tls-verify=false",
        &format!("docker-daemon:{}", busybox_image()),
        &format!("docker://{host}/base:1"),
    ]));
    let base = ImageRef::parse(&format!("{host}/base:1")).unwrap_or_else(|e| panic!("{e}"));
    let base_digest = rt
        .block_on(client.resolve(&base))
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("the base is there"))
        .digest;

    // A git repository building FROM it.
    let repo = home.join("repo");
    std::fs::create_dir_all(&repo).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        repo.join("acb.yaml"),
        "version: v1.1.0\nsteps:\n  - id: build\n    build: -t $Registry/app:$ID .\n  - id: push\n    push: [\"$Registry/app:$ID\"]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        repo.join("Dockerfile"),
        format!("FROM {host}/base:1\nCOPY hello.txt /hello.txt\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(repo.join("hello.txt"), "hello\n").unwrap_or_else(|e| panic!("{e}"));
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "one"]);
    let commit = git(&repo, &["rev-parse", "HEAD"]);
    let top = git(&repo, &["rev-parse", "--show-toplevel"]);
    let source = format!("git+file://{top}@refs/heads/main");
    let (key, public, key_pem) = keypair(home, "signer");
    let (_, stranger, _) = keypair(home, "stranger");
    let id1 = format!("p{}", wharf_registry_suffix());
    let id2 = format!("{id1}d");

    let wharf_run = |id: &str, key_args: &[&str]| {
        let mut cmd = wharf_in(home);
        cmd.args(["run", "-C"])
            .arg(&repo)
            .arg(repo.join("acb.yaml"))
            .args(["--registry", host, "--id", id, "--provenance"])
            .args(key_args)
            .args(["--secret", &format!("token={SECRET}")])
            .args(["--set", &format!("note=says {SECRET}")])
            .env("WHARF_TEST_SIGNING_KEY", &key_pem);
        run(&mut cmd)
    };

    // Clean tree, key from a file.
    let out = wharf_run(&id1, &["--provenance-key", &key.display().to_string()]);
    let said = ok(&out);
    let line = said
        .lines()
        .find(|l| l.starts_with("provenance: "))
        .unwrap_or_else(|| panic!("no provenance line: {said}"));
    assert!(
        line.contains(&format!("{host}/app@sha256:")) && line.contains("-> attestation sha256:"),
        "{line}"
    );
    let reference = format!("{host}/app:{id1}");
    let statement = verified(home, &reference, &public, &["--source", &source]);
    let text = statement.to_string();
    assert!(!text.contains(SECRET), "a secret in the statement: {text}");
    assert_eq!(
        statement["predicate"]["runDetails"]["builder"]["id"],
        "https://wharf.dev/builders/local"
    );
    assert_eq!(
        statement["predicate"]["runDetails"]["metadata"]["invocationId"],
        id1
    );
    let external = &statement["predicate"]["buildDefinition"]["externalParameters"];
    assert_eq!(external["source"], source);
    assert_eq!(external["taskFile"], "acb.yaml");
    assert_eq!(external["target"], "local");
    assert_eq!(external["registry"], host);
    assert_eq!(external["secrets"], serde_json::json!(["token"]));
    assert_eq!(external["values"]["note"], "says ***");
    let git_dep = dependency(&statement, "source");
    assert_eq!(git_dep["digest"]["gitCommit"], commit);
    assert_eq!(git_dep["annotations"]["dirty"], false);
    let base_dep = dependency(&statement, &format!("{host}/base:1"));
    assert_eq!(base_dep["digest"]["sha256"], base_digest.hex());
    assert_eq!(base_dep["annotations"]["role"], "base");
    let internal = &statement["predicate"]["buildDefinition"]["internalParameters"];
    assert!(
        internal["engineVersion"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
            && internal["engineApiVersion"]
                .as_str()
                .is_some_and(|v| v.contains('.')),
        "{internal}"
    );
    let task_digest = Digest::sha256(&std::fs::read(repo.join("acb.yaml")).unwrap_or_default());
    assert_eq!(
        dependency(&statement, "task")["digest"]["sha256"],
        task_digest.hex()
    );

    // The wrong key fails.
    refused(
        &run(wharf_in(home)
            .args(["verify-attestation", &reference, "--key"])
            .arg(&stranger)),
        "does not verify",
    );

    // A dirty tree, key from a secret: dirty=true, the same commit.
    std::fs::write(repo.join("hello.txt"), "changed\n").unwrap_or_else(|e| panic!("{e}"));
    ok(&wharf_run(
        &id2,
        &[
            "--provenance-key",
            "secret:WHARF_TEST_SIGNING_KEY",
            "--secret",
            "WHARF_TEST_SIGNING_KEY",
        ],
    ));
    let dirty = verified(home, &format!("{host}/app:{id2}"), &public, &[]);
    let git_dep = dependency(&dirty, "source");
    assert_eq!(git_dep["digest"]["gitCommit"], commit);
    assert_eq!(git_dep["annotations"]["dirty"], true);
    assert!(!dirty.to_string().contains("BEGIN PRIVATE KEY"));

    // A moved tag: what it names now is not attested.
    sh(Command::new("skopeo").args([
        "copy",
        "-q",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{host}/base:1"),
        &format!("docker://{reference}"),
    ]));
    refused(
        &run(wharf_in(home)
            .args(["verify-attestation", &reference, "--key"])
            .arg(&public)),
        "no attestation",
    );

    // wharf build: the quick task, taskFile inline:build.
    let built = format!("{host}/quick:{id1}");
    let out = run(wharf_in(home)
        .args(["build", "-r", host, "-t", &format!("quick:{id1}")])
        .arg(&repo)
        .args(["--provenance", "--provenance-key"])
        .arg(&key));
    ok(&out);
    let quick = verified(home, &built, &public, &["--source", &source]);
    let external = &quick["predicate"]["buildDefinition"]["externalParameters"];
    assert_eq!(external["taskFile"], "inline:build");
    assert_eq!(
        dependency(&quick, &format!("{host}/base:1"))["digest"]["sha256"],
        base_digest.hex()
    );

    remove_images(&format!("{host}/app"), &[&id1, &id2]);
    remove_images(&format!("{host}/quick"), &[&id1]);
}

/// A suffix unique to this test run, for run ids.
fn wharf_registry_suffix() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}", n % 0xffff_ffff)
}

#[test]
fn provenance_on_the_distribution_registry() {
    require_docker!();
    let registry = Registry::start();
    scenario(&registry.host);
}

#[test]
fn provenance_on_wharfs_registry() {
    require_docker!();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rt = runtime();
    let registry = rt
        .block_on(LocalRegistry::start(
            dir.path().to_path_buf(),
            "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    scenario(&registry.host());
    drop(registry);
}

#[test]
fn provenance_without_a_usable_key_is_exit_code_2_before_anything_runs() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let home = home.path();
    // No engine is needed to refuse: DOCKER_HOST points nowhere.
    std::fs::write(home.join("acb.yaml"), "steps:\n  - cmd: busybox echo ran\n")
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(home.join("garbage.key"), "not a key").unwrap_or_else(|e| panic!("{e}"));
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["run", "--provenance"],
            "--provenance needs --provenance-key",
        ),
        (
            vec!["run", "--provenance", "--provenance-key", "missing.key"],
            "--provenance-key: cannot read missing.key",
        ),
        (
            vec!["run", "--provenance", "--provenance-key", "garbage.key"],
            "garbage.key is not a PEM EC P-256 private key",
        ),
        (
            vec!["run", "--provenance-key", "garbage.key"],
            "--provenance",
        ),
        (
            vec!["build", "-t", "app:1", ".", "--provenance"],
            "--provenance needs --provenance-key",
        ),
    ];
    for (args, reason) in cases {
        let out = run(wharf_in(home)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .args(&args));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(reason), "{args:?}: {stderr}");
        assert!(!stderr.contains("Docker engine"), "{args:?}: {stderr}");
    }
}

#[test]
fn an_attestation_that_cannot_be_pushed_fails_the_run_after_the_push() {
    require_docker!();
    let registry = Registry::start();
    let host = registry.host.as_str();
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let home = home.path();
    let (key, public, _) = keypair(home, "signer");
    let image = format!("{host}/fail:1");
    sh(Command::new("docker").args(["tag", busybox_image(), &image]));
    std::fs::write(
        home.join("acb.yaml"),
        format!("steps:\n  - id: push\n    push: [\"{image}\"]\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let push = |provenance: bool| {
        let mut cmd = wharf_in(home);
        cmd.args(["run", "acb.yaml", "--registry", host]);
        if provenance {
            cmd.args(["--provenance", "--provenance-key"]).arg(&key);
        }
        run(&mut cmd)
    };
    ok(&push(false));
    let digest = sh(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        &format!("docker://{image}"),
    ]));
    let digest = digest.trim().trim_start_matches("sha256:").to_string();
    // An image where the referrers fallback index of the pushed digest belongs: the
    // push succeeds again, its attestation cannot be recorded.
    sh(Command::new("skopeo").args([
        "copy",
        "-q",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{image}"),
        &format!("docker://{host}/fail:sha256-{digest}"),
    ]));
    let out = push(true);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("push") && stdout.contains("succeeded"),
        "{stdout}"
    );
    refused(
        &out,
        &format!("error: provenance: cannot attest {host}/fail@sha256:{digest}"),
    );
    refused(
        &run(wharf_in(home)
            .args(["verify-attestation", &image, "--key"])
            .arg(&public)),
        "",
    );
    remove_images(&format!("{host}/fail"), &["1"]);
}
