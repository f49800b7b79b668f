//! The `wharf` binary as a user runs it: exit codes, output streams, formats.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn wharf() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wharf"));
    cmd.env("NO_COLOR", "1").env_remove("WHARF_REGISTRY");
    cmd
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run wharf: {e}"))
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

#[test]
fn every_example_plans_as_json() {
    let examples = root().join("examples");
    let mut count = 0;
    for entry in std::fs::read_dir(&examples).into_iter().flatten().flatten() {
        let file = entry.path().join("acb.yaml");
        if !file.exists() {
            continue;
        }
        count += 1;
        let out = run(wharf()
            .args([
                "plan",
                "--format",
                "json",
                "--registry",
                "localhost:5000",
                "-C",
            ])
            .arg(entry.path())
            .arg(&file));
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            text(&out.stderr)
        );
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", file.display()));
        let steps = plan["steps"].as_array().map_or(0, Vec::len);
        assert!(steps > 0, "{} has no steps", file.display());
        for step in plan["steps"].as_array().into_iter().flatten() {
            assert!(
                step["dependsOn"].is_array() && step["type"].is_string(),
                "{step}"
            );
        }
    }
    assert!(
        count >= 3,
        "expected at least three examples, found {count}"
    );
}

#[test]
fn plan_json_has_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = write(
        dir.path(),
        "acb.yaml",
        "version: v1.1.0\nsteps:\n  - id: build\n    build: -t $Registry/app:$ID .\n  - id: test\n    cmd: busybox echo {{.Values.msg}}\n    when: [\"-\"]\n  - push: [\"$Registry/app:$ID\"]\n    when: [build, test]\n",
    );
    let out = run(wharf().current_dir(dir.path()).args([
        "plan",
        "--format",
        "json",
        "--registry",
        "r.io",
        "--id",
        "cb1",
        "--set",
        "msg=hi",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(plan["version"], "v1.1.0");
    let steps = &plan["steps"];
    assert_eq!(steps[0]["type"], "build");
    assert_eq!(steps[0]["build"], "-t r.io/app:cb1 .");
    assert_eq!(steps[0]["tags"], serde_json::json!(["r.io/app:cb1"]));
    assert_eq!(steps[1]["cmd"], "busybox echo hi");
    assert_eq!(steps[1]["dependsOn"], serde_json::json!([]));
    assert_eq!(steps[2]["id"], "acb_step_2");
    assert_eq!(steps[2]["push"], serde_json::json!(["r.io/app:cb1"]));
    assert_eq!(steps[2]["dependsOn"], serde_json::json!(["build", "test"]));
    for key in [
        "timeout",
        "startDelay",
        "retries",
        "retryDelay",
        "repeat",
        "ignoreErrors",
        "detach",
        "keep",
        "env",
        "network",
        "workingDirectory",
    ] {
        assert!(steps[0].get(key).is_some(), "missing {key}");
    }
    drop(file);
}

#[test]
fn bad_input_exits_2_with_every_problem_located_on_stderr() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(
        dir.path(),
        "acb.yaml",
        "steps:\n  - id: my step\n    cmd: busybox true\n    retries: -1\n  - cmd: busybox true\n    when: [nowhere]\n",
    );
    let out = run(wharf().current_dir(dir.path()).arg("validate"));
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(err.contains("step ID cannot contain spaces"), "{err}");
    assert!(err.contains("acb.yaml:2:9"), "{err}");
    assert!(err.contains("acb.yaml:4:14"), "{err}");
    assert!(err.contains("acb.yaml:6:12"), "{err}");
    assert!(
        err.contains("^") || err.contains("─"),
        "a caret marks the place: {err}"
    );
    assert!(err.contains("error: acb.yaml: 3 errors"), "{err}");
}

#[test]
fn missing_file_and_bad_usage_exit_2() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = run(wharf().current_dir(dir.path()).arg("plan"));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("acb.yaml"));
    let out = run(wharf().args(["plan", "--format", "yaml"]));
    assert_eq!(out.status.code(), Some(2));
    let out = run(wharf().arg("frobnicate"));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn warnings_go_to_stderr_and_strict_makes_them_errors() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(
        dir.path(),
        "acb.yaml",
        "steps:\n  - cmd: busybox true\n    timout: 5\n",
    );
    let out = run(wharf()
        .current_dir(dir.path())
        .args(["plan", "--format", "json"]));
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains("did you mean `timeout`?"),
        "{}",
        text(&out.stderr)
    );
    assert!(serde_json::from_slice::<serde_json::Value>(&out.stdout).is_ok());
    let out = run(wharf()
        .current_dir(dir.path())
        .args(["validate", "--strict"]));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn validate_acr_lists_what_az_acr_run_would_do_differently() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(
        dir.path(),
        "acb.yaml",
        "steps:\n  - id: a\n    build: -t app .\n  - id: bee\n    cmd: busybox true\n    when: [a, a]\n    env: [\"MSG=hello world\"]\n",
    );
    let out = run(wharf().current_dir(dir.path()).args(["validate", "--acr"]));
    assert!(
        out.status.success(),
        "--acr findings are advice unless --strict"
    );
    let err = text(&out.stderr);
    assert!(err.contains("run hangs"), "{err}");
    assert!(err.contains("unquoted"), "{err}");
    assert!(err.contains("not a valid container name"), "{err}");
    let out = run(wharf()
        .current_dir(dir.path())
        .args(["validate", "--acr", "--strict"]));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn graph_formats() {
    let file = root().join("examples/parallel/acb.yaml");
    let out = run(wharf().args(["graph", "--format", "mermaid"]).arg(&file));
    let mermaid = text(&out.stdout);
    assert!(mermaid.starts_with("flowchart TD"), "{mermaid}");
    assert_eq!(mermaid.matches("-->").count(), 3);
    let out = run(wharf().args(["graph", "--format", "dot"]).arg(&file));
    let dot = text(&out.stdout);
    assert!(dot.contains("\"lint\" -> \"report\";"), "{dot}");
    let out = run(wharf().arg("graph").arg(&file));
    let plain = text(&out.stdout);
    assert!(
        plain.contains("stage 1") && plain.contains("stage 2"),
        "{plain}"
    );
    assert!(
        plain.contains("report [cmd]  <- lint, unit, docs"),
        "{plain}"
    );
}

#[test]
fn schema_is_a_json_schema_of_the_task_file() {
    let out = run(wharf().arg("schema"));
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    let step = &schema["properties"]["steps"]["items"]["properties"];
    for key in [
        "cmd",
        "build",
        "push",
        "when",
        "volumeMounts",
        "retryOnErrors",
    ] {
        assert!(step.get(key).is_some(), "schema lacks step key {key}");
    }
}

#[test]
fn values_files_are_relative_to_the_working_directory() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(dir.path().join("ctx")).unwrap_or_default();
    write(dir.path(), "vals.yaml", "who: world\n");
    write(
        &dir.path().join("ctx"),
        "acb.yaml",
        "steps:\n  - cmd: busybox echo {{.Values.who}}\n",
    );
    let out = run(wharf().current_dir(dir.path()).args([
        "plan",
        "--format",
        "json",
        "--values",
        "vals.yaml",
        "-C",
        "ctx",
        "ctx/acb.yaml",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(plan["steps"][0]["cmd"], "busybox echo world");
}

/// Serves one HTTP response on loopback; returns the URL.
fn serve_once(status: &str, body: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(response.as_bytes());
        }
    });
    format!("http://{addr}/aliases.yaml")
}

#[test]
fn remote_alias_sources_are_fetched_over_http() {
    let url = serve_once("200 OK", "tool: myorg/tool:1\n");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(
        dir.path(),
        "acb.yaml",
        &format!("version: v1.1.0\nalias:\n  src:\n    - {url}\nsteps:\n  - cmd: $tool run\n"),
    );
    let out = run(wharf()
        .current_dir(dir.path())
        .args(["plan", "--format", "json"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(plan["steps"][0]["cmd"], "myorg/tool:1 run");
}

#[test]
fn remote_alias_source_errors_are_reported_at_the_entry() {
    let url = serve_once("404 Not Found", "no such file");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(
        dir.path(),
        "acb.yaml",
        &format!("version: v1.1.0\nalias:\n  src:\n    - {url}\nsteps:\n  - cmd: busybox true\n"),
    );
    let out = run(wharf().current_dir(dir.path()).arg("validate"));
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("acb.yaml:4:7") && err.contains("404"), "{err}");
}

#[test]
fn plan_never_shows_secret_values() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(
        dir.path(),
        "acb.yaml",
        "secrets:\n  - id: pw\n    keyvault: https://v.vault.azure.net/secrets/pw\nsteps:\n  - cmd: busybox echo {{.Secrets.pw}}\n",
    );
    let out = run(wharf()
        .current_dir(dir.path())
        .args(["plan", "--format", "json"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(plan["steps"][0]["cmd"], "busybox echo ***");
}

const EXTENSIONS: &str = "version: v1.1.0\nsteps:\n  - id: build\n    build: -t $Registry/app:$ID .\n  - id: tags\n    plugin: semver-tagger\n    with: {version: 1.2.3, image: \"$(steps.build.outputs.image)\"}\n  - push: [\"$(steps.tags.outputs.refs)\"]\nnotify:\n  - plugin: webhook-notifier\n    on: [failure]\n    with: {url: \"http://127.0.0.1:9000/hook\"}\n    allow: {http: [\"127.0.0.1:9000\"]}\n";

#[test]
fn plugin_steps_and_notifications_show_in_plan_graph_and_dry_run() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(dir.path(), "acb.yaml", EXTENSIONS);
    let out = run(wharf().current_dir(dir.path()).args([
        "plan",
        "--format",
        "json",
        "--registry",
        "r.io",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(plan["steps"][1]["type"], "plugin");
    assert_eq!(plan["steps"][1]["with"]["version"], "1.2.3");
    assert_eq!(
        plan["steps"][1]["with"]["image"],
        "$(steps.build.outputs.image)"
    );
    assert_eq!(plan["notify"][0]["on"], serde_json::json!(["failure"]));
    assert_eq!(plan["notify"][0]["allow"]["http"][0], "127.0.0.1:9000");

    let out = run(wharf()
        .current_dir(dir.path())
        .args(["plan", "--registry", "r.io"]));
    let plan = text(&out.stdout);
    assert!(plan.contains("2. tags [plugin] after build"), "{plan}");
    assert!(plan.contains("plugin semver-tagger"), "{plan}");
    assert!(plan.contains("notify_0 [notify] on failure"), "{plan}");

    let out = run(wharf()
        .current_dir(dir.path())
        .args(["graph", "--format", "mermaid"]));
    let graph = text(&out.stdout);
    assert!(graph.contains("s2 -.-> n0"), "{graph}");

    let out = run(wharf()
        .current_dir(dir.path())
        .args(["run", "--dry-run", "--registry", "r.io"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dry = text(&out.stdout);
    assert!(
        dry.contains("plugin webhook-notifier with {\"url\":\"http://127.0.0.1:9000/hook\"}   # allow http=127.0.0.1:9000"),
        "{dry}"
    );
    assert!(
        dry.contains("notify_0 (after the run, on failure)"),
        "{dry}"
    );
}

#[test]
fn validate_acr_lists_wharf_extensions() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = EXTENSIONS.replace("notify:", "  - helm: package ./chart\nnotify:");
    write(dir.path(), "acb.yaml", &file);
    let out = run(wharf().current_dir(dir.path()).args(["validate", "--acr"]));
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    for kind in ["plugin", "helm"] {
        assert!(
            err.contains(&format!(
                "`{kind}:` is a wharf extension: az acr run refuses this step"
            )),
            "{err}"
        );
    }
    assert!(err.contains("`notify:` is a wharf extension"), "{err}");
    assert!(err.contains("`with:` is a wharf extension"), "{err}");
    // --strict turns them into a failure, for CI that wants portable files.
    let out = run(wharf()
        .current_dir(dir.path())
        .args(["validate", "--acr", "--strict"]));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn validate_acr_prints_each_unknown_key_once_with_its_suggestion() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(
        dir.path(),
        "acb.yaml",
        "steps:\n  - cmd: busybox true\n    timout: 5\n",
    );
    let out = run(wharf().current_dir(dir.path()).args(["validate", "--acr"]));
    let err = text(&out.stderr);
    assert_eq!(err.matches("unknown key `timout`").count(), 1, "{err}");
    assert!(
        err.contains("did you mean `timeout`? (az acr run silently ignores it)"),
        "{err}"
    );
}

#[test]
fn a_build_without_context_names_the_value_that_rendered_empty() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(
        dir.path(),
        "acb.yaml",
        "steps:\n  - build: -t app {{.Values.context}}\n    cache: enabled\n",
    );
    let out = run(wharf().current_dir(dir.path()).arg("validate"));
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("no build context"), "{err}");
    assert!(
        err.contains("the context may come from `.Values.context`, which rendered empty"),
        "{err}"
    );
    // The step is a build step whose arguments failed: no word about `cache`.
    assert!(!err.contains("only applies to build steps"), "{err}");
}

#[test]
fn validate_acr_says_what_acrs_b64enc_makes_of_a_number() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(
        dir.path(),
        "acb.yaml",
        "steps:\n  - cmd: busybox echo {{ .Values.n | b64enc }} {{ b64enc \"text\" }}\n",
    );
    let out = run(wharf()
        .current_dir(dir.path())
        .args(["validate", "--acr", "--set", "n=12"]));
    let err = text(&out.stderr);
    // --set values are strings: no difference there.
    assert!(err.contains("az acr run should behave the same"), "{err}");
    write(dir.path(), "values.yaml", "n: 12\n");
    let out =
        run(wharf()
            .current_dir(dir.path())
            .args(["validate", "--acr", "--values", "values.yaml"]));
    let err = text(&out.stderr);
    assert!(
        err.contains("b64enc of a value of type int: ACR encodes the text `<int Value>` (PGludCBWYWx1ZT4=), not the value"),
        "{err}"
    );
    assert!(err.contains("acb.yaml:2:"), "{err}");
    assert_eq!(err.matches("[acr-template]").count(), 1, "{err}");
}

/// Runs wharf with stdout, or stdout and stderr, on a pipe whose reader is gone
/// before wharf writes (what `| head` does once it has its lines): its status and
/// whatever it wrote to stderr, if stderr is kept.
fn with_reader_gone(cmd: &mut Command, stderr_too: bool) -> (std::process::ExitStatus, String) {
    let (reader, writer) = std::io::pipe().unwrap_or_else(|e| panic!("pipe: {e}"));
    drop(reader);
    if stderr_too {
        let second = writer.try_clone().unwrap_or_else(|e| panic!("pipe: {e}"));
        cmd.stderr(second);
    } else {
        cmd.stderr(std::process::Stdio::piped());
    }
    let child = cmd
        .stdout(writer)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run wharf: {e}"));
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("cannot wait for wharf: {e}"));
    (out.status, text(&out.stderr))
}

#[test]
fn a_reader_that_goes_away_is_not_a_panic() {
    // Written by clap_complete, which panics on a failed write when given stdout.
    let (status, stderr) = with_reader_gone(wharf().args(["completions", "bash"]), false);
    assert_eq!(status.code(), Some(0), "completions: {stderr}");
    assert!(!stderr.contains("panicked"), "completions: {stderr}");

    // A line on stdout before the purge goes to the registry (nobody listens there):
    // the purge goes on to its own error, exit 1, and says it on stderr.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("port: {e}"));
    let (status, stderr) = with_reader_gone(
        wharf()
            .args([
                "registry",
                "purge",
                "--registry",
                &format!("127.0.0.1:{port}"),
                "--filter",
                "app:.*",
                "--ago",
                "1d",
                "--concurrency",
                "0",
                "--dry-run",
            ])
            .env("WHARF_RETRY_BUDGET", "0"),
        false,
    );
    assert!(!stderr.contains("panicked"), "purge: {stderr}");
    assert_eq!(status.code(), Some(1), "purge: {stderr}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}")),
        "purge: {stderr}"
    );

    // A report on stderr, with stderr gone too (`wharf validate 2>&1 | head`): still
    // exit 2, the file's problem, not 101.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let file = write(
        dir.path(),
        "acb.yaml",
        "version: v1.1.0\nsteps:\n  - cmd: [\n",
    );
    let (status, _) = with_reader_gone(wharf().arg("validate").arg(&file), true);
    assert_eq!(status.code(), Some(2));
}

#[test]
fn without_a_registry_a_task_is_read_for_wharfs_own_as_run_does() {
    // The demo pipeline pushes its chart to oci://$Registry/charts: with $Registry
    // empty that was no target, and validate refused a file `wharf run` runs.
    let file = root().join("examples/hello-web/release.yaml");
    let context = root().join("examples/hello-web");
    let out = run(wharf().arg("validate").arg("-C").arg(&context).arg(&file));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(wharf()
        .args(["plan", "--format", "json", "-C"])
        .arg(&context)
        .arg(&file));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(
        plan.contains("127.0.0.1:5050/hello-web:"),
        "the image is not named for wharf's own registry: {plan}"
    );
}

#[test]
fn a_cmd_step_id_docker_cannot_name_a_container_is_refused_at_its_place() {
    // acr-builder loads it; docker refuses the name when the step starts, in ACR as
    // here. validate and run say so before anything runs, with the id's place.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = write(
        dir.path(),
        "acb.yaml",
        "steps:\n  - id: ok-step\n    cmd: busybox true\n  - id: a\n    cmd: busybox true\n",
    );
    for args in [&["validate"][..], &["run", "-n"][..]] {
        let out = run(wharf().args(args).arg(&file));
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("docker refuses `a` as a container name"),
            "{args:?}: {err}"
        );
        assert!(err.contains("acb.yaml:4:9"), "{args:?}: {err}");
        assert!(err.contains("`id: step-a`"), "{args:?}: {err}");
        assert!(!err.contains("ok-step` as"), "{args:?}: {err}");
    }
}
