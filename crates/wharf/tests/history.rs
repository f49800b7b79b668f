//! The run history end to end: two `wharf run` of one file at once on one engine
//! (both run and both are recorded), and a run whose process is killed (shown as
//! interrupted, never lost).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wharf_e2e::{busybox_image, labelled, require_docker};

fn wharf(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wharf"));
    cmd.env("NO_COLOR", "1")
        .env_remove("WHARF_REGISTRY")
        .env("XDG_DATA_HOME", data);
    cmd
}

fn runs(data: &Path) -> Vec<serde_json::Value> {
    let out = wharf(data)
        .args(["runs", "ls", "-o", "json", "--top", "0"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

fn find<'a>(runs: &'a [serde_json::Value], id: &str) -> Option<&'a serde_json::Value> {
    runs.iter().find(|r| r["runId"] == id)
}

#[test]
fn two_runs_of_one_file_at_once_both_run_and_both_are_recorded() {
    require_docker!();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // Not inside the context, which the run copies (SQLite's locks are per process:
    // a process that opens and closes the database's files drops its own locks).
    let data_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = data_dir.path().to_path_buf();
    std::fs::write(dir.path().join("index.html"), "twin service\n")
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("acb.yaml"),
        format!(
            "version: v1.1.0\nsteps:\n  - id: web\n    cmd: {b} httpd -f -p 8080 -h /workspace\n    detach: true\n  - id: probe\n    cmd: {b} sh -c 'for i in $(seq 1 100); do wget -qO- http://web:8080/index.html && exit 0; sleep 0.1; done; exit 1'\n  - id: hold\n    cmd: {b} sleep 3\n",
            b = busybox_image()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let start = |id: &str| {
        wharf(&data)
            .current_dir(dir.path())
            .args(["run", "--id", id])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let (a, b) = (start("e2ehtwa"), start("e2ehtwb"));
    let (a, b) = (
        a.wait_with_output().unwrap_or_else(|e| panic!("{e}")),
        b.wait_with_output().unwrap_or_else(|e| panic!("{e}")),
    );
    for out in [&a, &b] {
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("twin service"));
    }
    let runs = runs(&data);
    for id in ["e2ehtwa", "e2ehtwb"] {
        let run = find(&runs, id).unwrap_or_else(|| panic!("{id} not recorded: {runs:?}"));
        assert_eq!(run["status"], "Succeeded", "{run}");
        assert_eq!(run["task"], "acb.yaml", "{run}");
        let logs = wharf(&data)
            .args(["runs", "logs", id])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(String::from_utf8_lossy(&logs.stdout).contains("twin service"));
        assert!(labelled(&format!("dev.wharf.run={id}")).is_empty());
    }
}

#[test]
fn a_killed_run_shows_as_interrupted_with_its_logs() {
    require_docker!();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // Inside the context, which the run copies file by file while readers poll the
    // history: SQLite's locks are per process, and the copy opens and closes the
    // database's files; the history must hold up all the same.
    let data = dir.path().join("data");
    std::fs::write(
        dir.path().join("acb.yaml"),
        format!(
            "steps:\n  - id: long\n    cmd: {} sh -c 'echo before-the-kill; sleep 300'\n",
            busybox_image()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    /// Kills the run when the test fails half way, and removes what it left.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
            if std::thread::panicking() {
                let _ = Command::new(env!("CARGO_BIN_EXE_wharf"))
                    .args(["clean", "--run", "e2ehkill"])
                    .output();
            }
        }
    }
    let child = wharf(&data)
        .current_dir(dir.path())
        .args(["run", "--id", "e2ehkill"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap_or_else(|e| panic!("{e}")))
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let child = Kill(child);
    // Until the history holds the run and its first line.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let logs = wharf(&data)
            .args(["runs", "logs", "e2ehkill"])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        if String::from_utf8_lossy(&logs.stdout).contains("before-the-kill") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the run never logged: {}",
            std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        find(&runs(&data), "e2ehkill").map(|r| r["status"].clone()),
        Some("Running".into())
    );
    drop(child); // SIGKILL: no cleanup, no last write
    let runs = runs(&data);
    let run = find(&runs, "e2ehkill").unwrap_or_else(|| panic!("lost: {runs:?}"));
    assert_eq!(run["status"], "Interrupted", "{run}");
    assert!(
        run["note"].as_str().is_some_and(|n| n.contains("killed")),
        "{run}"
    );
    let logs = wharf(&data)
        .args(["runs", "logs", "e2ehkill"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(String::from_utf8_lossy(&logs.stdout).contains("before-the-kill"));
    let clean = wharf(&data)
        .args(["clean", "--run", "e2ehkill"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(clean.status.success());
    assert!(labelled("dev.wharf.run=e2ehkill").is_empty());
}

#[test]
fn a_run_that_cannot_be_prepared_says_why_once_and_keeps_it_in_its_log() {
    require_docker!();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = data_dir.path().to_path_buf();
    std::fs::write(
        dir.path().join("acb.yaml"),
        format!("steps:\n  - cmd: {} true\n", busybox_image()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // Objects of a run with this id exist already (a run still going, or one that
    // crashed): the run refuses to start.
    let id = "e2ehprep";
    let network = format!("wharf-test-{id}");
    let made = Command::new("docker")
        .args(["network", "create", "--label", "dev.wharf.managed=true"])
        .args(["--label", &format!("dev.wharf.run={id}"), &network])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let out = wharf(&data)
        .current_dir(dir.path())
        .args(["run", "--id", id])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let logs = wharf(&data)
        .args(["runs", "logs", id])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = Command::new("docker")
        .args(["network", "rm", &network])
        .output();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let why = format!(
        "wharf: cannot prepare the run: objects of wharf run {id} already exist (network {network})"
    );
    assert_eq!(
        stderr.matches(&why).count(),
        1,
        "said once on stderr: {stderr}"
    );
    let logs = String::from_utf8_lossy(&logs.stdout);
    assert!(logs.contains(&why), "the history's log: {logs}");
}
