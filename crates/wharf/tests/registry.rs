//! `wharf registry ...` and native pushes end to end: the real binary against the
//! real distribution registry (htpasswd), with docker and skopeo as peers.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use wharf_e2e::{Registry, busybox_image, require_docker, sh};

const USER: &str = "wharf";
const PASSWORD: &str = "abc>>>def+/";

fn wharf(config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wharf"));
    cmd.env("NO_COLOR", "1")
        .env_remove("WHARF_REGISTRY")
        .env_remove("WHARF_LOG")
        .env("DOCKER_CONFIG", config);
    cmd
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run wharf: {e}"))
}

fn login(config: &Path, registry: &Registry, password: &str) -> Output {
    let mut child = wharf(config)
        .args([
            "registry",
            "login",
            &registry.host,
            "-u",
            USER,
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    child
        .stdin
        .take()
        .unwrap_or_else(|| panic!("stdin"))
        .write_all(format!("{password}\n").as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    child.wait_with_output().unwrap_or_else(|e| panic!("{e}"))
}

fn json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

#[test]
fn login_ls_tags_inspect_copy_delete_logout_against_a_real_registry() {
    require_docker!();
    let registry = Registry::start_with_auth(USER, PASSWORD);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = dir.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap_or_else(|e| panic!("{e}"));
    let image = format!("{}/team/busybox:1", registry.host);
    sh(Command::new("skopeo").args([
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &format!("{USER}:{PASSWORD}"),
        &format!("docker-daemon:{}", busybox_image()),
        &format!("docker://{image}"),
    ]));

    // Before login: a clear authentication error, exit code 1.
    let out = run(wharf(&config).args(["registry", "ls", &registry.host]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("wharf registry login"),
        "{}",
        text(&out.stderr)
    );

    // A wrong password is refused and nothing is stored.
    let out = login(&config, &registry, "not-it");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("not-it"));
    assert!(!config.join("config.json").exists());

    let out = login(&config, &registry, PASSWORD);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Login Succeeded\n");
    // docker uses what wharf stored.
    let pulled = Command::new("docker")
        .arg("--config")
        .arg(&config)
        .args(["pull", &image])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(pulled.status.success(), "{}", text(&pulled.stderr));
    let _ = Command::new("docker").args(["rmi", "-f", &image]).output();

    let ls = json(&run(wharf(&config).args([
        "registry",
        "ls",
        &registry.host,
        "-o",
        "json",
    ])));
    assert_eq!(ls["repositories"], serde_json::json!(["team/busybox"]));
    let plain = run(wharf(&config).args(["registry", "ls", &registry.host]));
    assert_eq!(text(&plain.stdout), "team/busybox\n");

    let repo = format!("{}/team/busybox", registry.host);
    let tags =
        json(&run(wharf(&config).args([
            "registry", "tags", &repo, "--detail", "--output", "json",
        ])));
    let row = &tags["tags"][0];
    assert_eq!(row["tag"], "1");
    assert_eq!(
        row["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert!(
        row["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{tags}"
    );
    assert!(
        row["created"].as_str().is_some(),
        "the image config's creation time: {tags}"
    );

    let inspect = json(&run(
        wharf(&config).args(["registry", "inspect", &image, "-o", "json"])
    ));
    assert_eq!(inspect["digest"], row["digest"]);
    assert_eq!(inspect["platform"], "linux/amd64");
    assert!(inspect["layers"].as_array().is_some_and(|l| !l.is_empty()));
    let raw = run(wharf(&config).args(["registry", "inspect", &image, "--raw"]));
    let skopeo_raw = sh(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &format!("{USER}:{PASSWORD}"),
        &format!("docker://{image}"),
    ]));
    assert_eq!(
        text(&raw.stdout),
        skopeo_raw,
        "--raw is the manifest as stored"
    );

    // copy: to another repository (mounted), to an OCI layout (skopeo reads it).
    let copied = format!("{}/team/copied:2", registry.host);
    let report = json(&run(
        wharf(&config).args(["registry", "copy", &image, &copied, "-o", "json"])
    ));
    assert_eq!(report["digest"], row["digest"]);
    assert!(
        report["blobsMounted"].as_u64().is_some_and(|n| n >= 2),
        "{report}"
    );
    let layout = format!("oci:{}:bb", dir.path().join("layout").display());
    let report = json(&run(
        wharf(&config).args(["registry", "copy", &image, &layout, "-o", "json"])
    ));
    let inspected: serde_json::Value =
        serde_json::from_str(&sh(Command::new("skopeo").args(["inspect", &layout])))
            .unwrap_or_default();
    assert_eq!(inspected["Digest"], report["digest"]);
    let from_layout = json(&run(
        wharf(&config).args(["registry", "inspect", &layout, "-o", "json"])
    ));
    assert_eq!(from_layout["digest"], report["digest"]);

    // delete, then it is gone (exit 1, "not found").
    let out = run(wharf(&config).args(["registry", "delete", &copied]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(wharf(&config).args(["registry", "inspect", &copied]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not found"),
        "{}",
        text(&out.stderr)
    );

    // Bad input: exit code 2, the input named.
    let out = run(wharf(&config).args(["registry", "inspect", "Team/Bad:1"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("Team/Bad:1"),
        "{}",
        text(&out.stderr)
    );
    let out = run(wharf(&config).args(["registry", "tags", &image]));
    assert_eq!(
        out.status.code(),
        Some(2),
        "a tag where a repository is wanted"
    );
    let out = run(wharf(&config).args([
        "registry",
        "inspect",
        &format!("oci:{}", dir.path().display()),
    ]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("not an OCI image layout"),
        "{}",
        text(&out.stderr)
    );

    // -v shows requests and auth decisions, never the password.
    let out = run(wharf(&config).args(["-v", "registry", "inspect", &image]));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("registry request"), "{stderr}");
    assert!(stderr.contains("sending basic credentials"), "{stderr}");
    assert!(
        !stderr.contains(PASSWORD) && !stderr.contains("YWJj"),
        "{stderr}"
    );

    // No user name: only for ACR (or --azure), and this registry announces no tokens.
    let out = run(wharf(&config).args(["registry", "login", &registry.host]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("-u USER --password-stdin"),
        "{}",
        text(&out.stderr)
    );
    let out = run(wharf(&config).args(["registry", "login", &registry.host, "--azure"]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("does not announce token authentication"),
        "{}",
        text(&out.stderr)
    );
    let out = run(wharf(&config).args(["registry", "login", &registry.host, "-u", USER]));
    assert_eq!(
        out.status.code(),
        Some(2),
        "a password never comes as an argument"
    );

    let out = run(wharf(&config).args(["registry", "logout", &registry.host]));
    assert!(out.status.success());
    let out = run(wharf(&config).args(["registry", "ls", &registry.host]));
    assert_eq!(out.status.code(), Some(1), "logged out");
}

#[test]
fn run_json_has_progress_events_and_the_acr_digest_line() {
    require_docker!();
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = dir.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {}\nRUN head -c 3000000 /dev/urandom > /noise\n",
            busybox_image()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("acb.yaml"),
        "version: v1.1.0\nsteps:\n  - id: build\n    build: -t $Registry/json/app:1 .\n  - id: push\n    push: [\"$Registry/json/app:1\"]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("data");
    let out = run(wharf(&config)
        .current_dir(dir.path())
        .env("XDG_DATA_HOME", &data)
        .args(["run", "--json", "--registry", &registry.host]));
    let _ = Command::new("docker")
        .args(["rmi", "-f", &format!("{}/json/app:1", registry.host)])
        .output();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let progress: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["event"] == "progress").collect();
    assert!(!progress.is_empty(), "{}", text(&out.stdout));
    for p in &progress {
        assert_eq!(p["step"], "push");
        assert_eq!(p["action"], "push");
        assert!(p["item"].as_str().is_some_and(|i| i.len() == 12));
        assert!(p["current"].as_u64() <= p["total"].as_u64());
    }
    // Each item's last event completes it.
    let last = progress.last().unwrap_or_else(|| panic!("progress"));
    assert_eq!(last["current"], last["total"]);
    let lines: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "log" && e["step"] == "push")
        .filter_map(|e| e["line"].as_str())
        .collect();
    let closing = lines
        .iter()
        .find(|l| l.starts_with("1: digest: sha256:"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    let finished = events
        .iter()
        .find(|e| e["event"] == "step.finished" && e["step"] == "push")
        .unwrap_or_else(|| panic!("no step.finished"));
    let digest = finished["outputs"]["digests"][0]
        .as_str()
        .unwrap_or_default();
    assert!(
        closing.contains(digest) && !digest.is_empty(),
        "{closing} {digest}"
    );
    // What skopeo sees is what the step says it pushed.
    let inspected: serde_json::Value = serde_json::from_str(&sh(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{}/json/app:1", registry.host),
    ])))
    .unwrap_or_default();
    assert_eq!(inspected["Digest"], digest);
}
