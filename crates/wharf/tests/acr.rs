//! `wharf run --on acr://…` and `wharf build --on acr://…` end to end: the real
//! binary against the local Azure stand-in (crates/wharf-acr/tests/support):
//! ARM, the blob and log endpoints, and the App Service managed-identity token
//! endpoint, reached through azure_identity as on Azure. Each test has a run
//! history of its own (`XDG_DATA_HOME`), where the ACR runs are recorded.

#[path = "../../wharf-acr/tests/support/mod.rs"]
mod support;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::{IDENTITY_HEADER, LOG_SIG, SUBSCRIPTION, Script, StandIn, UPLOAD_SIG};

struct Azure {
    _rt: tokio::runtime::Runtime,
    server: StandIn,
    /// wharf's data directory (the run history).
    data: tempfile::TempDir,
}

fn azure(script: Script) -> Azure {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let server = rt.block_on(StandIn::start(script));
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    Azure {
        _rt: rt,
        server,
        data,
    }
}

fn wharf(azure: &Azure, dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wharf"));
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env("XDG_DATA_HOME", azure.data.path())
        .env("WHARF_ARM_ENDPOINT", &azure.server.base)
        .env(
            "IDENTITY_ENDPOINT",
            format!("{}/msi/token", azure.server.base),
        )
        .env("IDENTITY_HEADER", IDENTITY_HEADER)
        .env("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION)
        .env("WHARF_ACR_POLL_MS", "1");
    for var in [
        "WHARF_REGISTRY",
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_SECRET",
        "WHARF_AZURE_CREDENTIAL",
        "IDENTITY_SERVER_THUMBPRINT",
        "MSI_ENDPOINT",
        "MSI_SECRET",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn output(cmd: &mut Command) -> (Output, String, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run wharf: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (name, text) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
    }
    dir
}

/// `wharf runs ls --json`: the recorded runs, newest first.
fn history(azure: &Azure) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (out, stdout, stderr) =
        output(wharf(azure, dir.path()).args(["runs", "ls", "--json", "--top", "0"]));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    serde_json::from_str::<Vec<serde_json::Value>>(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

const TASK: &str = "version: v1.1.0\nsteps:\n  - id: hello\n    cmd: busybox echo {{.Values.greeting}} {{.Values.pw}}\n";

fn hello_log() -> Script {
    Script {
        log: vec![
            b"2026/12/02 05:00:01 Downloading source code...\r\nhello hunt".to_vec(),
            b"er2\r\n2026/12/02 05:00:05 Step ID: hello marked as successful\r\n".to_vec(),
        ],
        output_images: serde_json::json!([{"registry": "my-reg.azurecr.io", "repository": "app", "tag": "cb1", "digest": "sha256:0123"}]),
        ..Script::default()
    }
}

#[test]
fn a_context_run_on_acr_streams_its_log_masked() {
    let azure = azure(hello_log());
    let dir = context(&[("acb.yaml", TASK), (".gitignore", "x\n")]);
    let (out, stdout, stderr) = output(wharf(&azure, dir.path()).args([
        "run",
        "--on",
        "acr://my-reg.azurecr.io",
        "--set",
        "greeting=hello",
        "--set-secret",
        "pw=hunter2",
    ]));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("Queued a run with ID: cb1"), "{stderr}");
    assert!(stderr.contains("Sending context ("), "{stderr}");
    assert!(
        stderr.contains("Run ID: cb1 was successful after 8.0s"),
        "{stderr}"
    );
    assert!(
        stderr.contains("output image: my-reg.azurecr.io/app:cb1@sha256:0123"),
        "{stderr}"
    );
    // The log line split across two reads arrives whole, the secret masked.
    assert!(stdout.contains("acr  | hello ***"), "{stdout}");
    for text in [&stdout, &stderr] {
        assert!(!text.contains("hunter2"));
        assert!(!text.contains(UPLOAD_SIG) && !text.contains(LOG_SIG));
    }
    let body = &azure.server.scheduled()[0];
    assert_eq!(body["type"], "FileTaskRunRequest");
    assert_eq!(body["taskFilePath"], "acb.yaml");
    assert_eq!(
        body["values"][1],
        serde_json::json!({"name": "pw", "value": "hunter2", "isSecret": true})
    );
    let source = body["sourceLocation"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let archive = azure
        .server
        .uploads()
        .get(&source)
        .cloned()
        .unwrap_or_default();
    let mut tar = tar_names(&archive);
    tar.sort();
    assert_eq!(tar, ["acb.yaml"], "the top-level .gitignore stays local");
    // The token came from the managed identity endpoint, as on Azure.
    let seen = azure.server.seen();
    assert!(
        seen.iter()
            .any(|r| r.path == "/msi/token"
                && r.header("x-identity-header") == Some(IDENTITY_HEADER))
    );
}

fn tar_names(archive: &[u8]) -> Vec<String> {
    // A minimal reader: gunzip with the system's gzip, list with tar.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("c.tar.gz");
    std::fs::write(&path, archive).unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new("tar")
        .arg("-tzf")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn json_gives_the_local_event_stream_with_the_acr_run_id() {
    let azure = azure(hello_log());
    let dir = context(&[("acb.yaml", TASK)]);
    let (out, stdout, stderr) = output(wharf(&azure, dir.path()).args([
        "run",
        "--json",
        "--on",
        "acr://my-reg.azurecr.io",
        "--set",
        "greeting=hi",
        "--set-secret",
        "pw=hunter2",
    ]));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"run.started"));
    assert_eq!(kinds.get(1), Some(&"step.started"));
    assert_eq!(&kinds[kinds.len() - 2..], ["step.finished", "run.finished"]);
    assert_eq!(events[0]["runId"], "cb1");
    let lines: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "log")
        .filter_map(|e| e["line"].as_str())
        .collect();
    assert_eq!(
        lines,
        [
            "2026/12/02 05:00:01 Downloading source code...",
            "hello ***",
            "2026/12/02 05:00:05 Step ID: hello marked as successful",
        ]
    );
    let last = &events[events.len() - 1];
    assert_eq!(last["status"], "succeeded");
    assert_eq!(last["runId"], "cb1");
    assert_eq!(last["durationMs"], 8000);
    assert_eq!(
        last["steps"][0]["outputs"]["images"][0],
        "my-reg.azurecr.io/app:cb1@sha256:0123"
    );
}

#[test]
fn a_failed_acr_run_exits_1_with_its_status() {
    let azure = azure(Script {
        log: vec![b"run.sh: exit status 3\r\n".to_vec()],
        status: "Failed".into(),
        ..Script::default()
    });
    let dir = context(&[("acb.yaml", "steps:\n  - cmd: busybox false\n")]);
    let (out, stdout, stderr) =
        output(wharf(&azure, dir.path()).args(["run", "--on", "acr://my-reg.azurecr.io"]));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("run.sh: exit status 3"), "{stdout}");
    assert!(
        stderr.contains("Run ID: cb1 finished with status Failed"),
        "{stderr}"
    );
}

#[test]
fn an_encoded_run_without_context_polls_with_no_logs() {
    let azure = azure(Script {
        log: vec![b"a\r\n".to_vec(), b"b\r\n".to_vec()],
        ..Script::default()
    });
    let dir = context(&[("acb.yaml", TASK), ("values.yaml", "greeting: hi\n")]);
    let (out, stdout, stderr) = output(wharf(&azure, dir.path()).args([
        "run",
        "--on",
        "acr://my-reg.azurecr.io",
        "-C",
        "/dev/null",
        "--values",
        "values.yaml",
        "--set-secret",
        "pw=x1",
        "--no-logs",
        "--platform",
        "linux/arm64",
        "--timeout",
        "600",
    ]));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("Run cb1: Succeeded"), "{stderr}");
    let body = &azure.server.scheduled()[0];
    assert_eq!(body["type"], "EncodedTaskRunRequest");
    assert_eq!(body["timeout"], 600);
    assert_eq!(body["platform"]["architecture"], "arm64");
    assert!(body["encodedValuesContent"].is_string());
    assert!(azure.server.uploads().is_empty(), "no context is uploaded");
    assert!(
        !azure
            .server
            .seen()
            .iter()
            .any(|r| r.path.contains("listLogSasUrl")),
        "--no-logs reads no log"
    );
}

#[test]
fn no_wait_returns_once_queued() {
    let azure = azure(Script {
        hang: true,
        ..Script::default()
    });
    let dir = context(&[("acb.yaml", "steps:\n  - cmd: busybox true\n")]);
    let (out, _, stderr) = output(wharf(&azure, dir.path()).args([
        "run",
        "--on",
        "acr://my-reg.azurecr.io",
        "--no-wait",
    ]));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("Queued a run with ID: cb1"));
    assert!(
        !azure
            .server
            .seen()
            .iter()
            .any(|r| r.path.contains("/runs/"))
    );
}

#[test]
fn wharf_only_steps_are_refused_with_their_places_before_azure_is_contacted() {
    let azure = azure(Script::default());
    let task = "steps:\n  - id: tag\n    plugin: semver-tagger\n  - cmd: busybox true\n  - helm: package ./chart\nnotify:\n  - plugin: ./n.wasm\n";
    let dir = context(&[("acb.yaml", task)]);
    let (out, _, stderr) =
        output(wharf(&azure, dir.path()).args(["run", "--on", "acr://my-reg.azurecr.io"]));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("acb.yaml:3:5"), "{stderr}");
    assert!(stderr.contains("acb.yaml:5:5"), "{stderr}");
    assert!(stderr.contains("acb.yaml:6:1"), "{stderr}");
    assert!(
        stderr.contains("3 wharf-only places cannot run on ACR; nothing was sent"),
        "{stderr}"
    );
    assert!(azure.server.seen().is_empty(), "Azure was contacted");
}

#[test]
fn bad_flags_exit_2_without_contacting_azure() {
    let azure = azure(Script::default());
    let dir = context(&[("acb.yaml", "steps:\n  - cmd: busybox true\n")]);
    for (args, want) in [
        (vec!["--timeout", "10"], "ACR accepts 300 to 28800 seconds"),
        (vec!["--platform", "darwin"], "not linux or windows"),
        (
            vec!["--set-secret", "oops"],
            "the 1st --set-secret is not KEY=VALUE",
        ),
        (vec!["--env", "A=1"], "apply to local runs only"),
    ] {
        let (out, _, stderr) = output(
            wharf(&azure, dir.path())
                .args(["run", "--on", "acr://my-reg.azurecr.io"])
                .args(&args),
        );
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    let (out, _, stderr) = output(
        wharf(&azure, dir.path())
            .env_remove("AZURE_SUBSCRIPTION_ID")
            .args(["run", "--on", "acr://my-reg.azurecr.io"]),
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("AZURE_SUBSCRIPTION_ID"), "{stderr}");
    let (out, _, stderr) = output(
        wharf(&azure, dir.path())
            .env("WHARF_ARM_ENDPOINT", "http://arm.example.com")
            .args(["run", "--on", "acr://my-reg.azurecr.io"]),
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("loopback"), "{stderr}");
    assert!(azure.server.seen().is_empty(), "Azure was contacted");
}

#[test]
fn ctrl_c_cancels_the_acr_run_and_exits_130() {
    let azure = azure(Script {
        log: vec![b"step 1 running\r\n".to_vec()],
        hang: true,
        ..Script::default()
    });
    let dir = context(&[("acb.yaml", "steps:\n  - cmd: busybox sleep 3600\n")]);
    let mut child = wharf(&azure, dir.path())
        .args(["run", "--on", "acr://my-reg.azurecr.io"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains("step 1 running") => break,
            Some(Ok(_)) => {}
            _ => panic!("wharf ended before the log arrived"),
        }
    }
    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(killed.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}\n{rest:?}");
    assert!(azure.server.cancelled(), "the run was not cancelled");
    assert!(stderr.contains("cancelling ACR run cb1"), "{stderr}");
    let runs = history(&azure);
    assert_eq!(runs[0]["acrRunId"], "cb1");
    assert_eq!(runs[0]["status"], "Interrupted");
}

#[test]
fn dry_run_shows_what_would_be_sent_with_secrets_masked() {
    let azure = azure(Script::default());
    let dir = context(&[("acb.yaml", TASK)]);
    let (out, stdout, stderr) = output(wharf(&azure, dir.path()).args([
        "run",
        "--dry-run",
        "--on",
        "acr://my-reg.azurecr.io",
        "--set",
        "greeting=hi",
        "--set-secret",
        "pw=hunter2",
        "--set-secret",
        "q=quo\"ted",
    ]));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // Even a value JSON must escape is not shown.
    assert!(!stdout.contains("quo"), "{stdout}");
    assert!(
        stdout.contains("\"type\": \"FileTaskRunRequest\""),
        "{stdout}"
    );
    assert!(stdout.contains("\"value\": \"***\""), "{stdout}");
    assert!(
        stdout.contains("context ") && stdout.contains("1 entries"),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter2") && !stderr.contains("hunter2"));
    assert!(azure.server.seen().is_empty(), "Azure was contacted");
}

#[test]
fn acr_runs_are_in_the_history_with_their_id_target_and_final_status() {
    let azure = azure(Script {
        log: vec![b"run.sh: exit status 3\r\n".to_vec()],
        status: "Failed".into(),
        ..Script::default()
    });
    let dir = context(&[("ci/acb.yaml", TASK)]);
    let (out, _, stderr) = output(wharf(&azure, dir.path()).args([
        "run",
        "--on",
        "acr://my-reg.azurecr.io",
        "-f",
        "ci/acb.yaml",
        "--set",
        "greeting=hi",
        "--set-secret",
        "pw=hunter2",
    ]));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let runs = history(&azure);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    assert_eq!(run["runId"], "cb1");
    assert_eq!(run["acrRunId"], "cb1");
    assert_eq!(run["target"], "acr://my-reg.azurecr.io");
    assert_eq!(run["task"], "ci/acb.yaml");
    assert_eq!(run["status"], "Failed");
    assert_eq!(run["acrStatus"], "Failed");
    assert_eq!(run["trigger"], "Manual");

    // The table shows ACR's status and the target; the log is kept, masked.
    let (out, table, stderr) = output(wharf(&azure, dir.path()).args(["runs", "ls"]));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let header = table.lines().next().unwrap_or_default();
    assert!(header.contains("TARGET"), "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with("cb1 "))
        .unwrap_or_else(|| panic!("no cb1 row: {table}"));
    assert!(
        row.contains("ci/acb.yaml")
            && row.contains("Failed")
            && row.ends_with("acr://my-reg.azurecr.io"),
        "{row}"
    );
    let (out, logs, _) = output(wharf(&azure, dir.path()).args(["runs", "logs", "cb1"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(logs.contains("acr  | run.sh: exit status 3"), "{logs}");

    // Queued with --no-wait: recorded as queued, not as a run that was killed.
    let (out, _, stderr) = output(wharf(&azure, dir.path()).args([
        "run",
        "--on",
        "acr://my-reg.azurecr.io",
        "-f",
        "ci/acb.yaml",
        "--set",
        "greeting=hi",
        "--set",
        "pw=x",
        "--no-wait",
    ]));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let runs = history(&azure);
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["status"], "Queued");
    assert_eq!(runs[0]["acrRunId"], "cb1");
    assert_eq!(runs[0]["acrStatus"], serde_json::Value::Null);
}

const DOCKERFILE: &str = "FROM scratch AS final\nARG MODE\nCOPY app.txt /\n";

#[test]
fn a_quick_build_on_acr_sends_a_docker_build_request_and_is_recorded() {
    let azure = azure(Script {
        log: vec![
            b"Step 1/3 : FROM scratch AS final\r\nStep 2/3 : ARG MODE\r\nusing TOKEN=hunt".to_vec(),
            b"er2\r\nSuccessfully tagged my-reg.azurecr.io/app:v1\r\n".to_vec(),
        ],
        output_images: serde_json::json!([
            {"registry": "my-reg.azurecr.io", "repository": "app", "tag": "v1", "digest": "sha256:feed"},
            {"registry": "my-reg.azurecr.io", "repository": "app", "tag": "latest", "digest": "sha256:feed"}
        ]),
        ..Script::default()
    });
    let dir = context(&[
        ("src/docker/Dockerfile.prod", DOCKERFILE),
        ("src/app.txt", "app\n"),
        // The Dockerfile is dockerignored: it reaches ACR all the same.
        ("src/.dockerignore", "docker\n"),
        ("src/.git/HEAD", "ref: refs/heads/main\n"),
    ]);
    let (out, stdout, stderr) = output(wharf(&azure, dir.path()).args([
        "build",
        "--on",
        "acr://my-reg.azurecr.io",
        "-t",
        "app:v1",
        "-t",
        "app:latest",
        "-f",
        "src/docker/Dockerfile.prod",
        "--build-arg",
        "MODE=prod",
        "--secret-build-arg",
        "TOKEN=hunter2",
        "--platform",
        "linux/arm64",
        "--target",
        "final",
        "src",
    ]));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("Sending context ("), "{stderr}");
    assert!(stderr.contains("Queued a run with ID: cb1"), "{stderr}");
    assert!(
        stderr.contains("Run ID: cb1 was successful after 8.0s"),
        "{stderr}"
    );
    assert!(
        stderr.contains("output image: my-reg.azurecr.io/app:latest@sha256:feed"),
        "{stderr}"
    );
    assert!(stdout.contains("acr  | using TOKEN=***"), "{stdout}");
    for text in [&stdout, &stderr] {
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains(UPLOAD_SIG) && !text.contains(LOG_SIG));
    }

    let body = &azure.server.scheduled()[0];
    assert_eq!(body["type"], "DockerBuildRequest");
    assert_eq!(
        body["imageNames"],
        serde_json::json!(["app:v1", "app:latest"])
    );
    assert_eq!(body["isPushEnabled"], true);
    assert_eq!(body["target"], "final");
    assert_eq!(body["timeout"], 3600);
    assert_eq!(
        body["platform"],
        serde_json::json!({"os": "Linux", "architecture": "arm64"})
    );
    assert_eq!(
        body["arguments"],
        serde_json::json!([
            {"name": "MODE", "value": "prod", "isSecret": false},
            {"name": "TOKEN", "value": "hunter2", "isSecret": true}
        ])
    );
    // As az acr build: the Dockerfile goes into the archive's root a second
    // time, as <32 hex>_<name>, and dockerFilePath names that copy.
    let dockerfile = body["dockerFilePath"].as_str().unwrap_or_default();
    let (hex, base) = dockerfile.split_once('_').unwrap_or_default();
    assert_eq!(base, "Dockerfile.prod", "{dockerfile}");
    assert!(hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()));
    let source = body["sourceLocation"].as_str().unwrap_or_default();
    let archive = azure
        .server
        .uploads()
        .get(source)
        .cloned()
        .unwrap_or_default();
    let mut names = tar_names(&archive);
    names.sort();
    let mut want = vec![
        ".dockerignore".to_string(),
        "app.txt".into(),
        dockerfile.into(),
    ];
    want.sort();
    assert_eq!(
        names, want,
        "the context is src; .git and docker/ stay local"
    );

    let runs = history(&azure);
    let run = &runs[0];
    assert_eq!(run["task"], "(wharf build)");
    assert_eq!(run["acrRunId"], "cb1");
    assert_eq!(run["target"], "acr://my-reg.azurecr.io");
    assert_eq!(run["status"], "Succeeded");
    assert_eq!(run["acrStatus"], "Succeeded");
    assert_eq!(run["branch"], "main");
    assert_eq!(
        run["pushed"],
        serde_json::json!([
            "my-reg.azurecr.io/app:v1@sha256:feed",
            "my-reg.azurecr.io/app:latest@sha256:feed"
        ])
    );
    let (_, logs, _) = output(wharf(&azure, dir.path()).args(["runs", "logs", "cb1"]));
    assert!(
        logs.contains("using TOKEN=***") && !logs.contains("hunter2"),
        "{logs}"
    );
}

#[test]
fn a_quick_build_from_a_git_url_is_handed_to_acr_with_json_events() {
    let azure = azure(Script::default());
    let dir = context(&[]);
    let url = "https://me:s3cr3tpat@github.com/o/app.git#main:web";
    let (out, stdout, stderr) = output(wharf(&azure, dir.path()).args([
        "build",
        "--on",
        "acr://my-reg.azurecr.io",
        "--json",
        "--no-push",
        "-f",
        "web.Dockerfile",
        url,
    ]));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let body = &azure.server.scheduled()[0];
    assert_eq!(body["sourceLocation"], url);
    assert_eq!(body["dockerFilePath"], "web.Dockerfile");
    assert_eq!(body["isPushEnabled"], false);
    assert!(azure.server.uploads().is_empty(), "nothing is uploaded");
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(events[0]["event"], "run.started");
    assert_eq!(events[0]["runId"], "cb1");
    assert_eq!(events[events.len() - 1]["status"], "succeeded");
    // The dry run shows the source with its credentials masked.
    let (out, shown, _) = output(wharf(&azure, dir.path()).args([
        "build",
        "--on",
        "acr://my-reg.azurecr.io",
        "--dry-run",
        "--no-push",
        url,
    ]));
    assert_eq!(out.status.code(), Some(0));
    assert!(
        shown.contains("\"type\": \"DockerBuildRequest\""),
        "{shown}"
    );
    assert!(!shown.contains("s3cr3tpat"), "{shown}");
}

#[test]
fn a_quick_build_with_bad_input_exits_2_without_contacting_azure() {
    let azure = azure(Script::default());
    let dir = context(&[("Dockerfile", DOCKERFILE), ("app.txt", "app\n")]);
    let on = ["build", "--on", "acr://my-reg.azurecr.io"];
    for (args, want) in [
        (vec!["."], "give at least one -t IMAGE, or --no-push"),
        (
            vec!["-t", "app:1", "no-such-dir"],
            "the context no-such-dir does not exist",
        ),
        (
            vec!["-t", "app:1", "-f", "Nope.Dockerfile", "."],
            "Nope.Dockerfile",
        ),
        (
            vec!["-t", "app:1", "--platform", "darwin", "."],
            "not linux or windows",
        ),
        (
            vec!["-t", "app:1", "--timeout", "10", "."],
            "ACR accepts 300 to 28800 seconds",
        ),
        (
            vec!["-t", "app:1", "--id", "x1", "."],
            "apply to local builds only",
        ),
        (
            vec!["-t", "app:1", "--no-wait", "--no-logs", "."],
            "give one",
        ),
        (
            vec!["-t", "app:1", "--secret-build-arg", "BAD NAME=hunter2", "."],
            "the name is not valid",
        ),
    ] {
        let (out, stdout, stderr) = output(wharf(&azure, dir.path()).args(on).args(&args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert!(!stderr.contains("hunter2") && !stdout.contains("hunter2"));
    }
    let (out, _, stderr) = output(
        wharf(&azure, dir.path())
            .env_remove("AZURE_SUBSCRIPTION_ID")
            .args(on)
            .args(["-t", "app:1", "."]),
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("AZURE_SUBSCRIPTION_ID"), "{stderr}");
    assert!(azure.server.seen().is_empty(), "Azure was contacted");
    assert!(history(&azure).is_empty(), "nothing is recorded");
}
