//! Plugins as OCI artifacts: `wharf plugin push|pull|ls|inspect` against the real
//! distribution registry with skopeo as the peer, and `plugin: oci://...` steps
//! pulled once and run from the cache by digest.

use std::path::Path;
use std::process::{Command, Output};

use wharf_e2e::{Registry, busybox_image, labelled, require_docker, sh};

fn wharf(cache: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wharf"));
    cmd.env("NO_COLOR", "1")
        .env_remove("WHARF_REGISTRY")
        .env("WHARF_PLUGIN_CACHE", cache)
        .env("WHARF_PLUGIN_PATH", cache.join("no-plugins-here"));
    cmd
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn sha256_of(path: &Path) -> String {
    let out = sh(Command::new("sha256sum").arg(path));
    format!("sha256:{}", out.split_whitespace().next().unwrap_or(""))
}

#[test]
fn a_pushed_plugin_is_a_wasm_artifact_that_steps_pull_once_and_run_by_digest() {
    require_docker!();
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cache = dir.path().join("cache");
    let wasm = wharf_e2e::plugins::plugin_wasm("semver-tagger");
    let reference = format!("{}/plugins/semver-tagger:1.0", registry.host);

    // push, then read the artifact with skopeo.
    let pushed: serde_json::Value = serde_json::from_str(&ok(wharf(&cache)
        .args(["plugin", "push"])
        .arg(&wasm)
        .args([&format!("oci://{reference}"), "-o", "json"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"))))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pushed["world"], "tagger");
    let digest = pushed["digest"].as_str().unwrap_or("").to_string();
    let raw = sh(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]));
    let manifest: serde_json::Value = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(manifest["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(manifest["layers"][0]["digest"], sha256_of(&wasm).as_str());
    assert_eq!(
        manifest["layers"][0]["annotations"]["org.opencontainers.image.title"],
        "semver_tagger.wasm"
    );
    let config = sh(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--config",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]));
    let config: serde_json::Value = serde_json::from_str(&config).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "wasip2");
    assert_eq!(config["component"]["target"], "wharf:plugin/tagger@0.1.0");

    // pull: downloaded once, then cached.
    let first = ok(wharf(&cache)
        .args(["plugin", "pull", &reference])
        .output()
        .unwrap_or_else(|e| panic!("{e}")));
    assert!(first.starts_with("pulled"), "{first}");
    let again = ok(wharf(&cache)
        .args(["plugin", "pull", &reference])
        .output()
        .unwrap_or_else(|e| panic!("{e}")));
    assert!(again.starts_with("cached"), "{again}");
    let listed = ok(wharf(&cache)
        .args(["plugin", "ls"])
        .output()
        .unwrap_or_else(|e| panic!("{e}")));
    assert!(listed.contains(&digest), "{listed}");
    let inspected: serde_json::Value = serde_json::from_str(&ok(wharf(&cache)
        .args([
            "plugin",
            "inspect",
            &format!("oci://{reference}"),
            "-o",
            "json",
        ])
        .output()
        .unwrap_or_else(|e| panic!("{e}"))))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(inspected["world"], "tagger");
    assert_eq!(inspected["manifest"], digest.as_str());
    assert_eq!(inspected["digest"], sha256_of(&wasm).as_str());

    // A step by tag, then by digest; with the registry gone, the digest still runs
    // from the cache.
    let image = busybox_image();
    let by_digest = format!("{}/plugins/semver-tagger@{digest}", registry.host);
    for (run_id, source) in [
        ("ocitag", reference.clone()),
        ("ocidigest", by_digest.clone()),
    ] {
        std::fs::write(
            dir.path().join("acb.yaml"),
            format!(
                "steps:\n  - id: tag\n    plugin: oci://{source}\n    with: {{ image: {image}, version: 7.1.0, latest: \"false\" }}\n"
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let out = ok(wharf(&cache)
            .current_dir(dir.path())
            .args(["run", "--id", run_id, "--registry", "localhost:5000"])
            .output()
            .unwrap_or_else(|e| panic!("{e}")));
        assert!(out.contains("7.1.0, 7.1, 7"), "{out}");
        assert!(labelled(&format!("dev.wharf.run={run_id}")).is_empty());
    }
    drop(registry);
    let out = ok(wharf(&cache)
        .current_dir(dir.path())
        .args(["run", "--id", "ocioffline", "--registry", "localhost:5000"])
        .output()
        .unwrap_or_else(|e| panic!("{e}")));
    assert!(out.contains("7.1.0, 7.1, 7"), "{out}");
    for tag in ["7.1.0", "7.1", "7"] {
        let _ = Command::new("docker")
            .args(["rmi", &format!("wharf-test/busybox:{tag}")])
            .output();
    }
}

#[test]
fn what_is_not_a_plugin_is_refused_with_exit_2() {
    require_docker!();
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cache = dir.path().join("cache");
    // A component of no wharf world cannot be pushed.
    let out = wharf(&cache)
        .args(["plugin", "push"])
        .arg(wharf_e2e::plugins::plugin_wasm("not-a-plugin"))
        .arg(format!("{}/plugins/nope:1", registry.host))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("not a wharf plugin"),
        "{}",
        text(&out.stderr)
    );
    // An image is not a plugin artifact.
    let image = format!("{}/plugins/an-image:1", registry.host);
    sh(Command::new("skopeo").args([
        "copy",
        "--dest-tls-verify=false",
        &format!("docker-daemon:{}", busybox_image()),
        &format!("docker://{image}"),
    ]));
    let out = wharf(&cache)
        .args(["plugin", "pull", &image])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("is not a Wasm plugin artifact"),
        "{}",
        text(&out.stderr)
    );
}
