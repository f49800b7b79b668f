//! `plugin:` steps and `notify:` entries in `wharf run`: the real binary, the real
//! plugin host, a real dockerd, the distribution registry and a local HTTP receiver.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wharf_e2e::{Receiver, Registry, busybox_image, labelled, require_docker};

struct Fixture {
    dir: tempfile::TempDir,
    plugins: PathBuf,
}

/// A context directory with a plugin path holding `packages`.
fn fixture(packages: &[&str]) -> Fixture {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let plugins = dir.path().join("plugin-path");
    wharf_e2e::plugins::install(&plugins, packages);
    Fixture { dir, plugins }
}

impl Fixture {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, name: &str, content: &str) {
        std::fs::write(self.path().join(name), content).unwrap_or_else(|e| panic!("{e}"));
    }

    fn run(&self, run_id: &str, extra: &[&str]) -> Output {
        self.run_cached(
            &wharf_e2e::plugins::workspace_root().join("target/plugin-cache-tests"),
            run_id,
            extra,
        )
    }

    /// `wharf run` with the plugin code cache in `cache`.
    fn run_cached(&self, cache: &Path, run_id: &str, extra: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_wharf"))
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env_remove("WHARF_REGISTRY")
            .env("WHARF_PLUGIN_PATH", &self.plugins)
            .env("WHARF_PLUGIN_CACHE", cache)
            .args(["run", "--id", run_id])
            .args(extra)
            .output()
            .unwrap_or_else(|e| panic!("cannot run wharf: {e}"))
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn assert_nothing_left(run_id: &str) {
    let left = labelled(&format!("dev.wharf.run={run_id}"));
    assert!(left.is_empty(), "run {run_id} left {left:?}");
}

#[test]
fn a_tagger_step_tags_the_built_image_push_expands_its_refs_and_notify_runs() {
    require_docker!();
    let registry = Registry::start();
    let receiver = Receiver::start();
    let f = fixture(&["semver-tagger"]);
    // The notifier is given by path, relative to the context.
    std::fs::copy(
        wharf_e2e::plugins::plugin_wasm("calls-http"),
        f.path().join("notifier.wasm"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    f.write("Dockerfile", &format!("FROM {}\n", busybox_image()));
    f.write(
        "acb.yaml",
        &format!(
            "version: v1.1.0\nsteps:\n  - id: build\n    build: -t $Registry/plug/app:build .\n  - id: tag\n    plugin: semver-tagger\n    with:\n      image: $Registry/plug/app:build\n      version: v1.2.3\n  - id: push\n    push: [\"$(steps.tag.outputs.refs)\"]\nnotify:\n  - plugin: ./notifier.wasm\n    on: [success]\n    with:\n      url: {url}\n    allow:\n      http: [\"{addr}\"]\n",
            url = receiver.url("/hook"),
            addr = receiver.addr
        ),
    );
    let out = f.run("plugrun1", &["--registry", &registry.host]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\n{}",
        text(&out.stderr),
        registry.log()
    );
    let mut tags = registry.tags("plug/app");
    tags.sort();
    assert_eq!(tags, ["1", "1.2", "1.2.3", "latest"], "{stdout}");
    let got = receiver.requests();
    assert_eq!(got.len(), 1, "{stdout}");
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].path, "/hook");
    assert_eq!(text(&got[0].body), "plugrun1");
    assert_nothing_left("plugrun1");
    wharf_e2e::remove_images(
        &format!("{}/plug/app", registry.host),
        &["build", "1", "1.2", "1.2.3", "latest"],
    );
}

#[test]
fn plugin_outputs_and_log_lines_are_in_the_json_events() {
    require_docker!();
    let f = fixture(&["semver-tagger"]);
    let image = busybox_image();
    f.write(
        "acb.yaml",
        &format!(
            "steps:\n  - id: tag\n    plugin: semver-tagger\n    with:\n      image: {image}\n      version: 0.3.0-rc.1\n  - id: show\n    cmd: {image} echo $(steps.tag.outputs.tags)\n"
        ),
    );
    let out = f.run("plugjson", &["--registry", "localhost:5000", "--json"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let finished = events
        .iter()
        .find(|e| e["event"] == "step.finished" && e["step"] == "tag")
        .unwrap_or_else(|| panic!("no step.finished for tag: {stdout}"));
    assert_eq!(finished["status"], "succeeded");
    // A pre-release gets only its full version.
    assert_eq!(
        finished["outputs"]["tags"],
        serde_json::json!(["0.3.0-rc.1"])
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "log" && e["step"] == "tag"),
        "the tagger's log lines are log events: {stdout}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "log" && e["step"] == "show" && e["line"] == "0.3.0-rc.1"),
        "a later step binds the output: {stdout}"
    );
    wharf_e2e::remove_images("wharf-test/busybox", &["0.3.0-rc.1"]);
    assert_nothing_left("plugjson");
}

#[test]
fn hostile_plugins_end_their_step_with_a_clear_error_and_the_run_goes_on() {
    require_docker!();
    let f = fixture(&["hostile-plugin", "reads-env", "calls-http"]);
    let image = busybox_image();
    f.write(
        "acb.yaml",
        &format!(
            "secrets:\n  - id: token\n    keyvault: https://example.vault.azure.net/secrets/token\nsteps:\n  - id: spin\n    plugin: hostile-plugin\n    timeout: 2\n    ignoreErrors: true\n    with: {{ image: {image}, mode: spin }}\n  - id: bomb\n    plugin: hostile-plugin\n    ignoreErrors: true\n    with: {{ image: {image}, mode: allocate }}\n  - id: env\n    plugin: reads-env\n    ignoreErrors: true\n    with: {{ image: {image}, secret: token }}\n  - id: granted\n    plugin: reads-env\n    with: {{ image: {image}, secret: token }}\n    allow: {{ secrets: [token] }}\n  - id: world\n    plugin: calls-http\n    ignoreErrors: true\n    with: {{ image: {image}, url: \"http://127.0.0.1:9/\" }}\n  - id: after\n    cmd: {image} echo still-running\n"
        ),
    );
    let out = f.run(
        "plughostile",
        &[
            "--registry",
            "localhost:5000",
            "--json",
            "--secret",
            "token=s3cr3t-v4lue",
        ],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let finished = |id: &str| -> serde_json::Value {
        stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| e["event"] == "step.finished" && e["step"] == id)
            .unwrap_or_else(|| panic!("no step.finished for {id}: {stdout}"))
    };
    let spin = finished("spin");
    assert_eq!(spin["status"], "ignored");
    assert!(
        spin["error"]
            .as_str()
            .unwrap_or("")
            .contains("timed out after 2s")
            || spin["error"].as_str().unwrap_or("").contains("timeout"),
        "{spin}"
    );
    let bomb = finished("bomb");
    assert_eq!(bomb["status"], "ignored");
    assert!(
        bomb["error"]
            .as_str()
            .unwrap_or("")
            .contains("out of memory"),
        "{bomb}"
    );
    let env = finished("env");
    assert_eq!(env["status"], "ignored");
    assert!(
        env["error"].as_str().unwrap_or("").contains("allow"),
        "the error names the grant to add: {env}"
    );
    let world = finished("world");
    assert_eq!(world["status"], "ignored");
    assert!(
        world["error"]
            .as_str()
            .unwrap_or("")
            .contains("notify: list"),
        "a component built for another world: {world}"
    );
    assert_eq!(world["attempts"], 1, "an input error is not retried");
    assert_eq!(finished("granted")["status"], "succeeded");
    assert!(
        !stdout.contains("s3cr3t-v4lue") && !text(&out.stderr).contains("s3cr3t-v4lue"),
        "a granted secret the plugin logs is masked: {stdout}"
    );
    assert!(stdout.contains("the secret is"), "{stdout}");
    assert_eq!(finished("after")["status"], "succeeded");
    assert_nothing_left("plughostile");
}

#[test]
fn notifiers_run_after_a_failed_run_and_never_change_the_exit_code() {
    require_docker!();
    let receiver = Receiver::answering(&[500]);
    let f = fixture(&["calls-http"]);
    let image = busybox_image();
    let notify = format!(
        "notify:\n  - id: tell\n    plugin: calls-http\n    on: [success, failure]\n    with: {{ url: \"{}\" }}\n    allow: {{ http: [\"{}\"] }}\n",
        receiver.url("/x"),
        receiver.addr
    );
    // A failed run: exit 1, the notifier still runs (and fails, which changes nothing).
    f.write(
        "acb.yaml",
        &format!("steps:\n  - id: boom\n    cmd: {image} sh -c 'exit 3'\n{notify}"),
    );
    let out = f.run("plugnotify1", &["--registry", "localhost:5000"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert_eq!(receiver.requests().len(), 1);
    // A run that succeeds stays a success although its notifier fails.
    f.write(
        "acb.yaml",
        &format!("steps:\n  - id: fine\n    cmd: {image} true\n{notify}"),
    );
    let out = f.run("plugnotify2", &["--registry", "localhost:5000"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("answered 500"), "{stdout}");
    assert_eq!(receiver.requests().len(), 2);
    // A plugin not in the plugin path: a clear error naming where it was looked for.
    f.write(
        "acb.yaml",
        "steps:\n  - id: missing\n    plugin: no-such-plugin\n    with: { image: x }\n",
    );
    let out = f.run("plugnotify3", &["--registry", "localhost:5000"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("no no-such-plugin.wasm in the plugin path"),
        "{stdout}"
    );
    assert_nothing_left("plugnotify1");
    assert_nothing_left("plugnotify2");
}

#[test]
fn the_plugin_release_example_builds_tags_scans_pushes_and_notifies() {
    require_docker!();
    let registry = Registry::start();
    let receiver = Receiver::start();
    let f = fixture(&["semver-tagger", "image-scanner", "webhook-notifier"]);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/plugin-release");
    for name in ["acb.yaml", "Dockerfile", "index.html"] {
        std::fs::copy(example.join(name), f.path().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let hook = receiver.addr.clone();
    let out = f.run(
        "plugexample",
        &[
            "--registry",
            &registry.host,
            "--set",
            "version=1.4.2",
            "--set",
            &format!("hook={hook}"),
            "--secret",
            "hook-key=example-signing-key",
        ],
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\n{}",
        text(&out.stderr),
        registry.log()
    );
    let mut tags = registry.tags("plugin-release");
    tags.sort();
    assert_eq!(tags, ["1", "1.4", "1.4.2", "latest"], "{stdout}");
    assert!(
        stdout.contains("scanned"),
        "the scan's summary is in the log: {stdout}"
    );
    let sarif = f.path().join(".wharf/reports/scan/scan.sarif");
    assert!(sarif.is_file(), "no {}", sarif.display());
    let got = receiver.requests();
    assert_eq!(got.len(), 1, "{stdout}");
    let event = got[0].json();
    assert_eq!(event["type"], "dev.wharf.run.succeeded");
    assert_eq!(event["data"]["run"]["id"], "plugexample");
    let images: Vec<&str> = event["data"]["images"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["reference"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(images.len(), 4, "{event}");
    assert!(
        got[0]
            .header("webhook-signature")
            .is_some_and(|s| s.starts_with("v1,")),
        "{:?}",
        got[0].headers
    );
    assert!(!stdout.contains("example-signing-key"));
    assert_nothing_left("plugexample");
    wharf_e2e::remove_images(
        &format!("{}/plugin-release", registry.host),
        &["plugexample", "1", "1.4", "1.4.2", "latest"],
    );
}

/// The demo's pipeline (`cargo xtask demo`), against the distribution registry:
/// build, test container and probe, semver-tagger, image-scanner, push of every tag,
/// the chart packaged and pushed, and webhook-notifier's signed event.
#[test]
fn the_demo_release_pipeline_builds_tests_tags_scans_pushes_charts_and_notifies() {
    require_docker!();
    let registry = Registry::start();
    let receiver = Receiver::start();
    let f = fixture(&["semver-tagger", "image-scanner", "webhook-notifier"]);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello-web");
    for name in [
        "release.yaml",
        "Dockerfile",
        ".dockerignore",
        "chart/Chart.yaml",
        "chart/values.yaml",
        "chart/templates/deployment.yaml",
        "chart/templates/service.yaml",
    ] {
        let to = f.path().join(name);
        std::fs::create_dir_all(to.parent().unwrap_or(f.path())).unwrap_or_else(|e| panic!("{e}"));
        std::fs::copy(example.join(name), &to).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    std::fs::copy(wharf_e2e::hello_web_binary(), f.path().join("hello-web"))
        .unwrap_or_else(|e| panic!("{e}"));
    let out = f.run(
        "demorelease",
        &[
            "-f",
            "release.yaml",
            "--registry",
            &registry.host,
            "--set",
            "version=2.3.4",
            "--set",
            &format!("hook={}", receiver.addr),
            "--secret",
            "hook-key=demo-signing-key",
        ],
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\n{}",
        text(&out.stderr),
        registry.log()
    );
    assert!(
        stdout.contains("probe: http://web:8080/health -> HTTP/1.1 200 OK ok"),
        "the test container answered the probe: {stdout}"
    );
    assert!(stdout.contains("no findings"), "{stdout}");
    let mut tags = registry.tags("hello-web");
    tags.sort();
    assert_eq!(tags, ["2", "2.3", "2.3.4", "latest"], "{stdout}");
    assert_eq!(registry.tags("charts/hello-web"), ["2.3.4"], "{stdout}");
    let got = receiver.requests();
    assert_eq!(got.len(), 1, "{stdout}");
    let event = got[0].json();
    assert_eq!(event["type"], "dev.wharf.run.succeeded");
    assert_eq!(event["data"]["images"].as_array().map(Vec::len), Some(4));
    assert!(!stdout.contains("demo-signing-key"));
    assert!(!text(&out.stderr).contains("demo-signing-key"));
    assert_nothing_left("demorelease");
    wharf_e2e::remove_images(
        &format!("{}/hello-web", registry.host),
        &["demorelease", "2", "2.3", "2.3.4", "latest"],
    );
}

/// Plugins are loaded while the first steps run; a plugin file rewritten during the
/// run (a developer rebuilding it in another terminal) is loaded again, so a later
/// step runs what the file holds when that step starts.
#[test]
fn a_plugin_file_rewritten_during_the_run_is_loaded_again() {
    use std::io::BufRead as _;
    require_docker!();
    let f = fixture(&["hostile-plugin", "semver-tagger"]);
    let plugin = f.path().join("tagger.wasm");
    std::fs::copy(f.plugins.join("hostile-plugin.wasm"), &plugin).unwrap_or_else(|e| panic!("{e}"));
    let image = "plugswap/app";
    wharf_e2e::sh(Command::new("docker").args(["tag", busybox_image(), &format!("{image}:1")]));
    f.write(
        "acb.yaml",
        &format!(
            "steps:\n  - id: before\n    plugin: ./tagger.wasm\n    with: {{ image: \"{image}:1\", mode: noop }}\n  - id: wait\n    cmd: {} sleep 3\n  - id: after\n    plugin: ./tagger.wasm\n    with: {{ image: \"{image}:1\", version: 3.4.5, latest: \"false\" }}\n",
            busybox_image()
        ),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .current_dir(f.path())
        .env("NO_COLOR", "1")
        .env_remove("WHARF_REGISTRY")
        .env("WHARF_PLUGIN_PATH", &f.plugins)
        .env(
            "WHARF_PLUGIN_CACHE",
            wharf_e2e::plugins::workspace_root().join("target/plugin-cache-tests"),
        )
        .args([
            "run",
            "--id",
            "plugswap",
            "--registry",
            "localhost:5000",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run wharf: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut events = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap_or_else(|e| panic!("{e}"));
        let event: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if event["event"] == "step.finished" && event["step"] == "before" {
            // The file is rewritten in place, as a build does (same inode).
            let next = std::fs::read(f.plugins.join("semver-tagger.wasm"))
                .unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(&plugin, next).unwrap_or_else(|e| panic!("{e}"));
        }
        events.push(event);
    }
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    let tags = |id: &str| {
        events
            .iter()
            .find(|e| e["event"] == "step.finished" && e["step"] == id)
            .map(|e| e["outputs"]["tags"].clone())
    };
    let (before, after) = (tags("before"), tags("after"));
    wharf_e2e::remove_images(image, &["1", "noop", "3.4.5", "3.4", "3"]);
    assert!(status.success(), "{events:?}");
    assert_eq!(before, Some(serde_json::json!(["noop"])), "{events:?}");
    assert_eq!(
        after,
        Some(serde_json::json!(["3.4.5", "3.4", "3"])),
        "the rewritten file runs: {events:?}"
    );
    assert_nothing_left("plugswap");
}

/// A plugin's first compile is said in its step's log, and only then; `wharf plugin
/// compile` does it ahead of time, so the step does not pay for it.
#[test]
fn a_first_compile_is_said_in_the_step_log_and_plugin_compile_does_it_ahead() {
    require_docker!();
    let f = fixture(&["semver-tagger"]);
    let image = "plugcompile/app";
    wharf_e2e::sh(Command::new("docker").args(["tag", busybox_image(), &format!("{image}:1")]));
    f.write(
        "acb.yaml",
        &format!(
            "steps:\n  - id: tag\n    plugin: semver-tagger\n    with: {{ image: \"{image}:1\", version: 7.7.7, latest: \"false\" }}\n  - id: again\n    plugin: semver-tagger\n    with: {{ image: \"{image}:1\", version: 7.7.8, latest: \"false\" }}\n"
        ),
    );
    // Said once, by the first step that uses it.
    let said = |out: &Output| {
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
        let lines: Vec<&str> = stdout
            .lines()
            .filter(|l| l.contains("compiled plugin semver-tagger (sha256:"))
            .collect();
        assert!(lines.len() <= 1, "{stdout}");
        lines.first().is_some_and(|l| l.starts_with("tag "))
    };
    let cache = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        said(&f.run_cached(cache.path(), "plugcomp1", &["--registry", "localhost:5000"])),
        "the first use compiles"
    );
    assert!(
        !said(&f.run_cached(cache.path(), "plugcomp2", &["--registry", "localhost:5000"])),
        "the second finds the code"
    );

    let ahead = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let wasm = f.plugins.join("semver-tagger.wasm");
    let compile = || {
        Command::new(env!("CARGO_BIN_EXE_wharf"))
            .env("WHARF_PLUGIN_CACHE", ahead.path())
            .args(["plugin", "compile"])
            .arg(&wasm)
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let first = compile();
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(
        text(&first.stderr).contains("(tagger, sha256:"),
        "{}",
        text(&first.stderr)
    );
    assert!(
        text(&first.stderr).contains(": compiled in "),
        "{}",
        text(&first.stderr)
    );
    assert!(text(&compile().stderr).contains("precompiled already"));
    assert!(
        !said(&f.run_cached(ahead.path(), "plugcomp3", &["--registry", "localhost:5000"])),
        "compiled ahead of time"
    );

    let not_a_plugin = f.path().join("acb.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .env("WHARF_PLUGIN_CACHE", ahead.path())
        .args(["plugin", "compile"])
        .arg(&not_a_plugin)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    for id in ["plugcomp1", "plugcomp2", "plugcomp3"] {
        assert_nothing_left(id);
    }
    wharf_e2e::remove_images(image, &["1", "7.7.7", "7.7.8", "7.7", "7"]);
}
