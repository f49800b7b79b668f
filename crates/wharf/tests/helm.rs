//! `wharf helm package` as a user runs it: where the archive goes, what it
//! holds, reproducible bytes, and located errors with exit code 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn wharf() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wharf"));
    cmd.env("NO_COLOR", "1").env_remove("SOURCE_DATE_EPOCH");
    cmd
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../wharf-helm/tests/fixtures")
        .join(name)
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run wharf: {e}"))
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("cannot make a temporary directory: {e}"))
}

#[test]
fn package_writes_the_archive_with_the_overrides() {
    let out = tempdir();
    let dest = out.path().join("dist");
    let o = run(wharf()
        .args(["helm", "package"])
        .arg(fixture("web"))
        .args(["--version", "1.4.0-rc.1", "--app-version", "9f3c2e1", "-d"])
        .arg(&dest));
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    let archive = dest.join("web-1.4.0-rc.1.tgz");
    assert_eq!(
        text(&o.stdout),
        format!(
            "Successfully packaged chart and saved it to: {}\n",
            archive.display()
        )
    );
    assert!(o.stderr.is_empty(), "{}", text(&o.stderr));
    let chart = wharf_helm::load_archive(&archive).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(chart.metadata.version, "1.4.0-rc.1");
    assert_eq!(chart.metadata.app_version, "9f3c2e1");
    let subcharts: Vec<&str> = chart.dependencies.iter().map(|c| c.name()).collect();
    assert_eq!(subcharts, ["cache", "db"]);
}

#[test]
fn package_is_reproducible_and_honours_source_date_epoch() {
    let out = tempdir();
    let pack = |dir: &str, epoch: Option<&str>| -> Vec<u8> {
        let dest = out.path().join(dir);
        let mut cmd = wharf();
        cmd.args(["helm", "package"])
            .arg(fixture("lib"))
            .arg("-d")
            .arg(&dest);
        if let Some(epoch) = epoch {
            cmd.env("SOURCE_DATE_EPOCH", epoch);
        }
        let o = run(&mut cmd);
        assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
        std::fs::read(dest.join("common-v1.2.tgz")).unwrap_or_else(|e| panic!("{e}"))
    };
    let plain = pack("a", None);
    assert_eq!(pack("b", None), plain);
    let stamped = pack("c", Some("1700000000"));
    assert_eq!(pack("d", Some("1700000000")), stamped);
    assert_ne!(stamped, plain);

    let o = run(wharf()
        .env("SOURCE_DATE_EPOCH", "-5")
        .args(["helm", "package"])
        .arg(fixture("lib"))
        .arg("-d")
        .arg(out.path().join("e")));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("SOURCE_DATE_EPOCH=\"-5\" is invalid: must not be negative"));
}

#[test]
fn broken_charts_exit_2_with_the_place_and_a_snippet() {
    let out = tempdir();
    let cases = [
        (
            "bad-version",
            "bad-version/Chart.yaml:3:10: version \"1.x.y\" is invalid",
            "3 | version: 1.x.y\n  |          ^^^^^\n",
        ),
        (
            "missing-dependency",
            "missing-dependency/Chart.yaml:5:5: found in Chart.yaml, but missing in charts/ directory: db",
            "5 |   - name: db\n",
        ),
        (
            "duplicate-dependency",
            "duplicate-dependency/Chart.yaml:7:5: more than one dependency with name or alias \"db\"",
            "7 |   - name: db\n",
        ),
        ("no-chart-yaml", "no-chart-yaml: no Chart.yaml here", ""),
    ];
    for (name, message, snippet) in cases {
        let o = run(wharf()
            .args(["helm", "package"])
            .arg(fixture(&format!("broken/{name}")))
            .arg("-d")
            .arg(out.path()));
        let stderr = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(message),
            "{name}: {stderr}"
        );
        assert!(stderr.contains(snippet), "{name}: {stderr}");
        assert!(o.stdout.is_empty(), "{name}");
    }
    assert_eq!(
        std::fs::read_dir(out.path())
            .map(|d| d.count())
            .unwrap_or(1),
        0
    );

    let o = run(wharf()
        .args(["helm", "package"])
        .arg(out.path().join("nowhere")));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("nowhere"));
}

/// `skopeo inspect --raw` of `reference` on `registry`: the manifest as stored.
fn raw_manifest(registry: &wharf_e2e::Registry, reference: &str) -> serde_json::Value {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--raw", "--tls-verify=false"]);
    if let Some((user, password)) = &registry.credentials {
        cmd.arg("--creds").arg(format!("{user}:{password}"));
    }
    let out = wharf_e2e::sh(cmd.arg(format!("docker://{}/{reference}", registry.host)));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn push_then_pull_gives_helms_artifact_and_the_same_bytes() {
    let registry = wharf_e2e::Registry::start_with_auth("wharf", "pa55:w0rd");
    let dir = tempdir();
    let config = registry.docker_config(&dir.path().join("docker"));
    let wharf_with = |args: &[&str]| {
        let mut cmd = wharf();
        cmd.env("DOCKER_CONFIG", &config).args(args);
        run(&mut cmd)
    };
    let dist = dir.path().join("dist");
    let o = run(wharf()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["helm", "package"])
        .arg(fixture("web"))
        .args(["--version", "1.2.3+build.7", "-d"])
        .arg(&dist));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let archive = dist.join("web-1.2.3+build.7.tgz");
    let archive_s = archive.to_string_lossy().into_owned();

    let remote = format!("oci://{}/charts", registry.host);
    let o = wharf_with(&["helm", "push", &archive_s, &remote]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some(format!("Pushed: {}/charts/web:1.2.3+build.7", registry.host).as_str())
    );
    let digest = lines
        .next()
        .and_then(|l| l.strip_prefix("Digest: "))
        .unwrap_or_else(|| panic!("no digest line: {stdout}"))
        .to_string();

    // What an independent client sees: helm's media types, `+` as `_` in the tag,
    // helm's annotations.
    assert_eq!(registry.tags("charts/web"), ["1.2.3_build.7"]);
    let manifest = raw_manifest(&registry, "charts/web:1.2.3_build.7");
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.cncf.helm.config.v1+json"
    );
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
    );
    let bytes = std::fs::read(&archive).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(manifest["layers"][0]["size"], bytes.len());
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.title"],
        "web"
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.version"],
        "1.2.3+build.7"
    );
    let raw = raw_manifest(&registry, &format!("charts/web@{digest}"));
    assert_eq!(raw, manifest, "the printed digest names the manifest");

    // Pulled back, with the version or as the newest: the same bytes, helm's name.
    for args in [
        vec!["--version", "1.2.3+build.7"],
        vec![], // the newest chart version among the tags
    ] {
        let out = dir.path().join(format!("pulled-{}", args.len()));
        let out_s = out.to_string_lossy().into_owned();
        let chart = format!("oci://{}/charts/web", registry.host);
        let mut all = vec!["helm", "pull", chart.as_str(), "-d", &out_s];
        all.extend(args.iter().copied());
        let o = wharf_with(&all);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        assert!(
            text(&o.stdout).contains(&format!("Digest: {digest}")),
            "{}",
            text(&o.stdout)
        );
        let pulled =
            std::fs::read(out.join("web-1.2.3+build.7.tgz")).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            pulled == bytes,
            "the pulled archive differs from the pushed one"
        );
    }

    // The same chart pushed again changes nothing.
    let o = wharf_with(&["helm", "push", &archive_s, &remote, "-o", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let json: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json["digest"], digest.as_str());
    assert_eq!(json["tag"], "1.2.3_build.7");
}

#[test]
fn push_and_pull_errors_say_what_is_wrong_with_exit_codes() {
    let registry = wharf_e2e::Registry::start_with_auth("wharf", "pa55:w0rd");
    let dir = tempdir();
    let config = registry.docker_config(&dir.path().join("docker"));
    let wharf_with = |args: &[&str]| {
        let mut cmd = wharf();
        cmd.env("DOCKER_CONFIG", &config).args(args);
        run(&mut cmd)
    };
    let remote = format!("oci://{}/charts", registry.host);

    // Not a chart archive: exit 2, naming the file.
    let junk = dir.path().join("web-1.0.0.tgz");
    std::fs::write(&junk, b"not gzip").unwrap_or_else(|e| panic!("{e}"));
    let o = wharf_with(&["helm", "push", &junk.to_string_lossy(), &remote]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains(&*junk.to_string_lossy()),
        "{}",
        text(&o.stderr)
    );
    // A missing file: exit 2.
    let o = wharf_with(&["helm", "push", "no-such-chart.tgz", &remote]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("no-such-chart.tgz"));

    // Not an oci:// remote: exit 2 with the form to use.
    let dist = dir.path().join("dist");
    let o = run(wharf()
        .args(["helm", "package"])
        .arg(fixture("web"))
        .arg("-d")
        .arg(&dist));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let archive = std::fs::read_dir(&dist)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .next()
        .unwrap_or_else(|| panic!("no archive"));
    let archive = archive.to_string_lossy().into_owned();
    let o = wharf_with(&["helm", "push", &archive, "https://example.com/charts"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("oci://REGISTRY/NAMESPACE"),
        "{}",
        text(&o.stderr)
    );

    // A wrong password: exit 1, and the password is not shown.
    let bad = dir.path().join("bad-docker");
    std::fs::create_dir_all(&bad).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        bad.join("config.json"),
        format!(
            "{{\"auths\":{{\"{}\":{{\"auth\":\"d2hhcmY6c2VjcmV0LW5vdC1pdA==\"}}}}}}",
            registry.host
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let o = run(wharf()
        .env("DOCKER_CONFIG", &bad)
        .args(["helm", "push", &archive, &remote]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(!text(&o.stderr).contains("secret-not-it"));

    // Pulling a version that is not there: exit 1; a version twice: exit 2.
    let chart = format!("oci://{}/charts/web", registry.host);
    let o = wharf_with(&["helm", "pull", &chart, "--version", "9.9.9"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let tagged = format!("{chart}:1.0.0");
    let o = wharf_with(&["helm", "pull", &tagged, "--version", "1.0.0"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));

    // An image is not a chart: exit 1, saying so.
    let image_config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = wharf_registry::Digest::sha256(image_config);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[]}}"#,
        image_config.len()
    );
    let layout = dir.path().join("layout");
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap_or_else(|e| panic!("{e}"));
    let manifest_digest = wharf_registry::Digest::sha256(manifest.as_bytes());
    std::fs::write(
        layout.join("blobs/sha256").join(config_digest.hex()),
        image_config,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        layout.join("blobs/sha256").join(manifest_digest.hex()),
        &manifest,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        layout.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest_digest}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"1.0.0"}}}}]}}"#,
            manifest.len()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let o = wharf_with(&[
        "registry",
        "copy",
        &format!("oci:{}:1.0.0", layout.display()),
        &format!("{}/charts/image:1.0.0", registry.host),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o = wharf_with(&[
        "helm",
        "pull",
        &format!("oci://{}/charts/image:1.0.0", registry.host),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("is not a helm chart"),
        "{}",
        text(&o.stderr)
    );
}

/// A context with a small chart in `chart/` whose Chart.yaml says `chart_yaml`.
fn chart_context(chart_yaml: &str, pipeline: &str) -> tempfile::TempDir {
    let dir = tempdir();
    let templates = dir.path().join("chart/templates");
    std::fs::create_dir_all(&templates).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("chart/Chart.yaml"), chart_yaml)
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        templates.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("acb.yaml"), pipeline).unwrap_or_else(|e| panic!("{e}"));
    dir
}

#[test]
fn a_helm_step_packages_what_earlier_steps_wrote_pushes_it_and_gives_outputs() {
    wharf_e2e::require_docker!();
    let registry = wharf_e2e::Registry::start_with_auth("wharf", "pa55:w0rd");
    let image = wharf_e2e::busybox_image();
    let pipeline = format!(
        "version: v1.1.0\nsteps:\n  - id: extra\n    cmd: {image} sh -c \"echo extra > chart/templates/extra.yaml\"\n  - id: chart\n    helm: package ./chart --version 1.2.3 --app-version abc -d dist --push oci://$Registry/charts\n  - id: show\n    cmd: {image} sh -c \"ls $(steps.chart.outputs.chart) && echo REF=$(steps.chart.outputs.ref) DIGEST=$(steps.chart.outputs.digest)\"\n"
    );
    let chart_yaml = "apiVersion: v2\nname: web\nversion: 0.1.0\n";
    for (mode, run_id) in [("copy", "helmcopy"), ("bind", "helmbind")] {
        let dir = chart_context(chart_yaml, &pipeline);
        let config = registry.docker_config(&dir.path().join(".docker"));
        let mut cmd = wharf();
        cmd.current_dir(dir.path())
            .env("DOCKER_CONFIG", &config)
            .args(["run", "--id", run_id, "--registry", &registry.host]);
        if mode == "bind" {
            cmd.arg("--bind");
        }
        let out = run(&mut cmd);
        let stdout = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{mode}: {stdout}\n{}",
            text(&out.stderr)
        );
        assert!(
            stdout.contains(
                "Successfully packaged chart and saved it to: /workspace/dist/web-1.2.3.tgz"
            ),
            "{mode}: {stdout}"
        );
        let reference = format!("{}/charts/web:1.2.3", registry.host);
        assert!(
            stdout.contains(&format!("Pushed: {reference}")),
            "{mode}: {stdout}"
        );
        // The later step got the outputs, and found the archive in the workspace.
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("show") && l.ends_with("| /workspace/dist/web-1.2.3.tgz")),
            "{mode}: {stdout}"
        );
        assert!(
            stdout.contains(&format!("REF={reference} DIGEST=sha256:")),
            "{mode}: {stdout}"
        );
        if mode == "bind" {
            // In bind mode the workspace is the context: the archive is on disk.
            assert!(dir.path().join("dist/web-1.2.3.tgz").is_file());
        } else {
            assert!(
                !dir.path().join("dist").exists(),
                "copy mode wrote to the context"
            );
        }
        let left = wharf_e2e::labelled(&format!("dev.wharf.run={run_id}"));
        assert!(left.is_empty(), "{mode}: the run left {left:?}");

        // What was pushed holds the file the first step wrote, and the overrides.
        let pulled = dir.path().join("pulled");
        let o = run(wharf()
            .env("DOCKER_CONFIG", &config)
            .args(["helm", "pull", &format!("oci://{reference}"), "-d"])
            .arg(&pulled));
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        let chart = wharf_helm::load_archive(&pulled.join("web-1.2.3.tgz"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(chart.metadata.app_version, "abc");
        let templates: Vec<&str> = chart.templates.iter().map(|t| t.name.as_str()).collect();
        assert!(
            templates.contains(&"templates/extra.yaml"),
            "{mode}: {templates:?}"
        );
    }
    assert_eq!(registry.tags("charts/web"), ["1.2.3"]);
}

#[test]
fn a_broken_chart_fails_its_step_naming_the_file_in_the_workspace() {
    wharf_e2e::require_docker!();
    let pipeline = "version: v1.1.0\nsteps:\n  - id: chart\n    helm: package ./chart\n";
    let dir = chart_context(
        "apiVersion: v2\nname: web\nversion: not-a-version\n",
        pipeline,
    );
    let out = run(wharf().current_dir(dir.path()).args([
        "run",
        "--id",
        "helmbroken",
        "--registry",
        "127.0.0.1:1",
    ]));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("/workspace/chart/Chart.yaml:3"), "{all}");
    assert!(!all.contains("/tmp/"), "the temporary copy is named: {all}");
    let left = wharf_e2e::labelled("dev.wharf.run=helmbroken");
    assert!(left.is_empty(), "the run left {left:?}");
}
