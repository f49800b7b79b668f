//! `wharf run` end to end: the real binary against a real dockerd and a real
//! distribution registry. Every test checks that the run leaves nothing behind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use wharf_e2e::{Registry, busybox_image, labelled, require_docker, sh};

fn wharf() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wharf"));
    cmd.env("NO_COLOR", "1").env_remove("WHARF_REGISTRY");
    cmd
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap_or_else(|e| panic!("{e}"));
    path
}

/// Runs `wharf run` in `dir` with a fixed run id; returns the output.
fn run_in(dir: &Path, run_id: &str, extra: &[&str]) -> Output {
    wharf()
        .current_dir(dir)
        .args(["run", "--id", run_id])
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("cannot run wharf: {e}"))
}

/// Starts `wharf run` in `dir` and reads its output until a line contains `marker`;
/// returns the process and the rest of its output.
fn spawn_until(
    dir: &Path,
    run_id: &str,
    marker: &str,
) -> (
    std::process::Child,
    std::io::Lines<BufReader<std::process::ChildStdout>>,
) {
    let mut child = wharf()
        .current_dir(dir)
        .args(["run", "--id", run_id, "--registry", "localhost:5000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains(marker) => break,
            Some(Ok(_)) => {}
            _ => panic!("the run ended before printing {marker:?}"),
        }
    }
    (child, lines)
}

fn assert_nothing_left(run_id: &str) {
    let left = labelled(&format!("dev.wharf.run={run_id}"));
    assert!(left.is_empty(), "run {run_id} left {left:?}");
}

#[test]
fn a_pipeline_builds_runs_a_test_container_probes_it_by_id_and_pushes() {
    require_docker!();
    let registry = Registry::start_with_auth("pusher", "abc>>>def+/");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = registry.docker_config(&dir.path().join("docker-config"));
    write(dir.path(), "index.html", "hello from the workspace\n");
    write(
        dir.path(),
        "Dockerfile",
        &format!(
            "FROM {}\nCOPY index.html /www/index.html\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n",
            busybox_image()
        ),
    );
    write(
        dir.path(),
        "acb.yaml",
        "version: v1.1.0\nsteps:\n  - id: e2e-build\n    build: -t $Registry/e2e/web:$ID .\n  - id: e2e-web\n    cmd: $Registry/e2e/web:$ID\n    detach: true\n  - id: e2e-probe\n    cmd: $Registry/e2e/web:$ID wget -qO- http://e2e-web:8080/\n    retries: 5\n    retryDelay: 1\n  - id: e2e-push\n    push: [\"$Registry/e2e/web:$ID\"]\n",
    );
    let out = wharf()
        .current_dir(dir.path())
        .env("DOCKER_CONFIG", &config)
        .args(["run", "--id", "e2erun1", "--registry", &registry.host])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\n{}",
        text(&out.stderr),
        registry.log()
    );
    assert!(
        stdout.contains("e2e-probe") && stdout.contains("hello from the workspace"),
        "{stdout}"
    );
    assert_eq!(registry.tags("e2e/web"), vec!["e2erun1".to_string()]);
    assert_nothing_left("e2erun1");
    let _ = Command::new("docker")
        .args(["rmi", &format!("{}/e2e/web:e2erun1", registry.host)])
        .output();
}

#[test]
fn a_failing_step_exits_1_skips_the_rest_and_cleans_up() {
    require_docker!();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let image = busybox_image();
    write(
        dir.path(),
        "acb.yaml",
        &format!(
            "steps:\n  - id: fail-first\n    cmd: {image} sh -c 'echo about to fail; exit 3'\n  - id: fail-never\n    cmd: {image} echo unreachable\n"
        ),
    );
    let out = run_in(dir.path(), "e2efail", &["--registry", "localhost:5000"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("about to fail"), "{stdout}");
    assert!(stdout.contains("exit code 3"), "{stdout}");
    assert!(!stdout.contains("unreachable"), "{stdout}");
    assert!(
        stdout.contains("skipped"),
        "the summary lists the skipped step: {stdout}"
    );
    assert_nothing_left("e2efail");
}

#[test]
fn json_events_describe_the_run() {
    require_docker!();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let image = busybox_image();
    write(
        dir.path(),
        "acb.yaml",
        &format!(
            "steps:\n  - id: json-a\n    cmd: {image} echo one\n  - id: json-b\n    cmd: {image} sh -c 'echo two >&2'\n    when: [\"-\"]\n"
        ),
    );
    let out = run_in(
        dir.path(),
        "e2ejson",
        &["--json", "--registry", "localhost:5000"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    assert_eq!(
        events.first().map(|e| e["event"].clone()),
        Some("run.started".into())
    );
    assert_eq!(
        events.last().map(|e| e["event"].clone()),
        Some("run.finished".into())
    );
    assert_eq!(
        events.last().map(|e| e["status"].clone()),
        Some("succeeded".into())
    );
    let finished = events
        .iter()
        .filter(|e| e["event"] == "step.finished")
        .count();
    assert_eq!(finished, 2);
    assert!(events.iter().any(|e| e["event"] == "log"
        && e["step"] == "json-a"
        && e["line"] == "one"
        && e["stream"] == "stdout"));
    assert!(events.iter().any(|e| e["event"] == "log"
        && e["step"] == "json-b"
        && e["line"] == "two"
        && e["stream"] == "stderr"));
    assert_nothing_left("e2ejson");
}

#[test]
fn secrets_never_reach_the_output_even_split_across_writes() {
    require_docker!();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let image = busybox_image();
    write(
        dir.path(),
        "acb.yaml",
        &format!(
            "secrets:\n  - id: token\n    keyvault: https://example.vault.azure.net/secrets/token\nsteps:\n  - id: secret-echo\n    cmd: {image} sh -c 'printf \"%s\" \"$T\" | head -c 5; sleep 0.3; printf \"%s\\n\" \"$T\" | tail -c +6; echo done'\n    env: [\"T={{{{.Secrets.token}}}}\"]\n  - id: secret-fail\n    cmd: {image} sh -c 'echo {{{{.Secrets.token}}}}; exit 1'\n"
        ),
    );
    let out = run_in(
        dir.path(),
        "e2esecret",
        &[
            "--secret",
            "token=s3cr3t-value-42",
            "--registry",
            "localhost:5000",
        ],
    );
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(!all.contains("s3cr3t"), "a secret leaked: {all}");
    assert!(all.contains("***"), "{all}");
    assert!(all.contains("done"), "{all}");
    let json = run_in(
        dir.path(),
        "e2esecret2",
        &[
            "--json",
            "--secret",
            "token=s3cr3t-value-42",
            "--registry",
            "localhost:5000",
        ],
    );
    assert!(
        !text(&json.stdout).contains("s3cr3t"),
        "{}",
        text(&json.stdout)
    );
    assert_nothing_left("e2esecret");
    assert_nothing_left("e2esecret2");
}

#[test]
fn ctrl_c_stops_the_run_removes_everything_and_exits_130() {
    require_docker!();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let image = busybox_image();
    write(
        dir.path(),
        "acb.yaml",
        &format!(
            "steps:\n  - id: sigint-server\n    cmd: {image} httpd -f -p 8080\n    detach: true\n  - id: sigint-sleep\n    cmd: {image} sh -c 'echo sleeping; sleep 300'\n"
        ),
    );
    let (mut child, lines) = spawn_until(dir.path(), "e2esigint", "sleeping");
    sh(Command::new("kill").args(["-INT", &child.id().to_string()]));
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status.code(), Some(130), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("interrupted")), "{rest:?}");
    assert_nothing_left("e2esigint");
}

#[test]
fn dry_run_prints_docker_commands_and_creates_nothing() {
    require_docker!();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(
        dir.path(),
        "acb.yaml",
        "steps:\n  - id: dry-web\n    cmd: nginx:alpine\n    detach: true\n    ports: [\"8080:80\"]\n    env: [\"MSG=hello world\"]\n",
    );
    let out = run_in(dir.path(), "e2edry", &["-n"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("docker run --detach --name e2edry-dry-web"),
        "{stdout}"
    );
    assert!(
        stdout.contains("-p 8080:80") && stdout.contains("-e 'MSG=hello world'"),
        "{stdout}"
    );
    assert_nothing_left("e2edry");
}

#[test]
fn clean_removes_what_a_crashed_run_left() {
    require_docker!();
    sh(Command::new("docker").args([
        "run",
        "-d",
        "--name",
        "clean-leftover",
        "--label",
        "dev.wharf.managed=true",
        "--label",
        "dev.wharf.run=e2eclean",
        busybox_image(),
        "sleep",
        "300",
    ]));
    sh(Command::new("docker").args([
        "volume",
        "create",
        "--label",
        "dev.wharf.managed=true",
        "--label",
        "dev.wharf.run=e2eclean",
        "clean-leftover-volume",
    ]));
    let out = wharf()
        .args(["clean", "--run", "e2eclean"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("clean-leftover"),
        "{}",
        text(&out.stdout)
    );
    assert_nothing_left("e2eclean");
}

#[test]
fn without_a_registry_images_go_to_wharfs_own() {
    require_docker!();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("data");
    write(
        dir.path(),
        "Dockerfile",
        &format!("FROM {}\n", busybox_image()),
    );
    write(
        dir.path(),
        "acb.yaml",
        "version: v1.1.0\nsteps:\n  - id: own-build\n    build: -t $Registry/own/app:$ID .\n  - push: [\"$Registry/own/app:$ID\"]\n",
    );
    let out = wharf()
        .current_dir(dir.path())
        .env("XDG_DATA_HOME", &data)
        .args(["run", "--id", "e2eown"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{}\n{stderr}", text(&out.stdout));
    assert!(stderr.contains("wharf's own registry"), "{stderr}");
    // Serve the same storage again and read the tag with skopeo.
    let port = wharf_e2e::free_port();
    let mut server = wharf()
        .env("XDG_DATA_HOME", &data)
        .args(["registry", "serve", "--addr", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    let tags = loop {
        let out = Command::new("skopeo")
            .args([
                "list-tags",
                "--tls-verify=false",
                &format!("docker://127.0.0.1:{port}/own/app"),
            ])
            .output();
        if let Ok(o) = out
            && o.status.success()
        {
            break text(&o.stdout);
        }
        assert!(
            Instant::now() < deadline,
            "the registry did not serve the pushed image"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = server.kill();
    let _ = server.wait();
    assert!(tags.contains("e2eown"), "{tags}");
    assert_nothing_left("e2eown");
}

#[test]
fn the_hello_web_example_runs_end_to_end() {
    require_docker!();
    let registry = Registry::start();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello-web");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for f in ["acb.yaml", "Dockerfile", ".dockerignore"] {
        std::fs::copy(example.join(f), dir.path().join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    std::fs::copy(wharf_e2e::hello_web_binary(), dir.path().join("hello-web"))
        .unwrap_or_else(|e| panic!("{e}"));
    let out = run_in(dir.path(), "e2ehello", &["--registry", &registry.host]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("probe: http://web:8080/health -> HTTP/1.1 200 OK ok"),
        "{stdout}"
    );
    assert_eq!(registry.tags("hello-web"), vec!["e2ehello".to_string()]);
    assert_nothing_left("e2ehello");
    let _ = Command::new("docker")
        .args(["rmi", &format!("{}/hello-web:e2ehello", registry.host)])
        .output();
}

#[test]
fn unreachable_secrets_fail_the_run_with_exit_1_and_say_how_to_pass_them() {
    require_docker!();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(
        dir.path(),
        "acb.yaml",
        &format!(
            "secrets:\n  - id: pw\n    keyvault: https://example.vault.azure.net/secrets/pw\nsteps:\n  - cmd: {} echo {{{{.Secrets.pw}}}}\n",
            busybox_image()
        ),
    );
    // No managed identity endpoint here: the forced managed-identity credential fails at once.
    let out = wharf()
        .current_dir(dir.path())
        .env("WHARF_AZURE_CREDENTIAL", "managed-identity")
        .env_remove("IDENTITY_ENDPOINT")
        .env_remove("IDENTITY_HEADER")
        .args(["run", "--id", "e2ekv", "--registry", "localhost:5000"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("secret `pw`") && err.contains("--secret pw="),
        "{err}"
    );
    assert_nothing_left("e2ekv");
}

#[test]
fn a_second_ctrl_c_forces_the_exit_and_clean_sweeps_what_remains() {
    require_docker!();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let image = busybox_image();
    write(
        dir.path(),
        "acb.yaml",
        &format!(
            "steps:\n  - id: force-sleep\n    cmd: {image} sh -c 'echo sleeping; sleep 300'\n  - id: force-server\n    cmd: {image} httpd -f -p 8080\n    detach: true\n    when: [\"-\"]\n"
        ),
    );
    let (child, _lines) = spawn_until(dir.path(), "e2eforce", "sleeping");
    // The second signal comes while the first one's cleanup runs (removing the run's
    // network alone takes well over 50 ms).
    sh(Command::new("kill").args(["-INT", &child.id().to_string()]));
    std::thread::sleep(Duration::from_millis(50));
    sh(Command::new("kill").args(["-INT", &child.id().to_string()]));
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(130));
    assert!(
        text(&out.stderr).contains("forced exit"),
        "{}",
        text(&out.stderr)
    );
    let clean = wharf()
        .args(["clean", "--run", "e2eforce"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(clean.status.success(), "{}", text(&clean.stderr));
    assert_nothing_left("e2eforce");
}

#[test]
fn secrets_are_masked_in_diagnostics_and_secret_volume_files() {
    require_docker!();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let image = busybox_image();
    // "dG9wLXNlY3JldC1maWxlLTk5" is base64 for "top-secret-file-99".
    write(
        dir.path(),
        "acb.yaml",
        &format!(
            "secrets:\n  - id: pw\n    keyvault: https://example.vault.azure.net/secrets/pw\nvolumes:\n  - name: creds\n    secret:\n      token: dG9wLXNlY3JldC1maWxlLTk5\nsteps:\n  - id: mask-diag\n    cmd: {image} sh -c 'cat /creds/token; echo'\n    env: [\"{{{{.Secrets.pw}}}}\"]\n    volumeMounts:\n      - name: creds\n        mountPath: /creds\n"
        ),
    );
    let out = run_in(
        dir.path(),
        "e2emaskdiag",
        &[
            "--secret",
            "pw=hunter2-value",
            "--registry",
            "localhost:5000",
        ],
    );
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("has no `=`"),
        "the env warning is shown: {all}"
    );
    assert!(
        !all.contains("hunter2"),
        "a secret leaked in a diagnostic: {all}"
    );
    assert!(
        !all.contains("top-secret-file-99"),
        "a secret file leaked: {all}"
    );
    assert_nothing_left("e2emaskdiag");
}

#[test]
fn a_missing_context_and_a_bad_run_id_are_usage_errors() {
    require_docker!();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(dir.path(), "acb.yaml", "steps:\n  - cmd: busybox true\n");
    let out = wharf()
        .current_dir(dir.path())
        .args(["run", "-C", "no-such-dir", "--registry", "localhost:5000"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("not a directory"));
    let out = run_in(dir.path(), "pr#12", &["--registry", "localhost:5000"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn sigterm_during_cleanup_does_not_abort_it() {
    require_docker!();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let image = busybox_image();
    write(
        dir.path(),
        "acb.yaml",
        &format!("steps:\n  - id: term-sleep\n    cmd: {image} sh -c 'echo sleeping; sleep 300'\n"),
    );
    let (child, _lines) = spawn_until(dir.path(), "e2eterm", "sleeping");
    // What CI systems do on cancel: SIGINT, then SIGTERM a moment later.
    sh(Command::new("kill").args(["-INT", &child.id().to_string()]));
    std::thread::sleep(Duration::from_millis(50));
    sh(Command::new("kill").args(["-TERM", &child.id().to_string()]));
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("forced exit"),
        "{}",
        text(&out.stderr)
    );
    assert_nothing_left("e2eterm");
}

#[test]
fn every_step_kind_example_runs() {
    require_docker!();
    let registry = Registry::start();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/step-kinds");
    let expect: [(&str, &[&str]); 4] = [
        ("build.yaml", &["hello from a wharf build step"]),
        ("cmd.yaml", &["hello from a wharf build step", "30"]),
        ("push.yaml", &["pushed ", " as sha256:"]),
        (
            "helm.yaml",
            &["Pushed: ", "/workspace/dist/greeting-1.0.0-"],
        ),
    ];
    for (file, wanted) in expect {
        let run_id = format!("kinds{}", file.trim_end_matches(".yaml"));
        let out = wharf()
            .current_dir(&examples)
            .args(["run", "--id", &run_id, "--registry", &registry.host])
            .args(["--set", &format!("base={}", busybox_image())])
            .arg(file)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "{file}: {stdout}\n{}",
            text(&out.stderr)
        );
        for w in wanted {
            assert!(stdout.contains(w), "{file}: no {w:?} in\n{stdout}");
        }
        assert_nothing_left(&run_id);
    }
    let mut tags = registry.tags("examples/greeting");
    tags.sort();
    assert_eq!(tags, ["kindspush", "latest"]);
    assert_eq!(registry.tags("charts/greeting"), ["1.0.0-kindshelm"]);
    for tag in ["kindsbuild", "kindspush", "latest"] {
        let _ = Command::new("docker")
            .args(["rmi", &format!("{}/examples/greeting:{tag}", registry.host)])
            .output();
    }
}
