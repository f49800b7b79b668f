//! `wharf watch` end to end, each trigger against real parts: a base image in the
//! distribution registry and in wharf's own, a git repository made here, a timer on a
//! fake clock; Ctrl-C; bad schedules.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use wharf_e2e::{Registry, busybox_image, labelled, require_docker, sh};

fn wharf(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wharf"));
    cmd.env("NO_COLOR", "1")
        .env_remove("WHARF_REGISTRY")
        .env("XDG_DATA_HOME", data);
    cmd
}

/// A running `wharf watch` whose stderr is read line by line; killed on drop.
struct Watcher {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Watcher {
    fn start(mut cmd: Command) -> Watcher {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        let stderr = child.stderr.take().unwrap_or_else(|| panic!("stderr"));
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Watcher {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (up to three minutes) for a stderr line containing `text`, counting
    /// from the last one returned.
    fn wait_for(&mut self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {text:?}:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Waits (up to three minutes) for the exit code.
    fn exit_code(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "the watcher did not exit:\n{}",
                self.seen.join("\n")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn signal(&self, name: &str) {
        sh(Command::new("kill").args(["-s", name, &self.child.id().to_string()]));
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The triggers of the recorded runs, oldest first.
fn triggers(data: &Path) -> Vec<String> {
    let out = wharf(data)
        .args(["runs", "ls", "-o", "json", "--top", "0"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let mut t: Vec<String> = runs
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            format!(
                "{} {}",
                r["trigger"].as_str().unwrap_or(""),
                r["status"].as_str().unwrap_or("")
            )
        })
        .collect();
    t.reverse();
    t
}

/// A task directory (the context) and a data directory outside it.
fn dirs(acb: &str, files: &[(&str, &str)]) -> (tempfile::TempDir, tempfile::TempDir) {
    let ctx = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(ctx.path().join("acb.yaml"), acb).unwrap_or_else(|e| panic!("{e}"));
    for (name, text) in files {
        std::fs::write(ctx.path().join(name), text).unwrap_or_else(|e| panic!("{e}"));
    }
    (ctx, tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")))
}

fn echo_task() -> String {
    format!("steps:\n  - cmd: {} echo watched\n", busybox_image())
}

#[test]
fn a_bad_schedule_is_a_usage_error() {
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for bad in ["* * * *", "0 0 * * * 2026", "70 * * * *"] {
        let out = wharf(data.path())
            .args(["watch", "--schedule", bad])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--schedule") && err.contains(bad), "{err}");
    }
}

#[test]
fn a_timer_on_a_fake_clock_triggers_a_run() {
    require_docker!();
    let (ctx, data) = dirs(&echo_task(), &[]);
    let mut w = Watcher::start({
        let mut c = wharf(data.path());
        c.current_dir(ctx.path())
            .env("WHARF_FAKE_NOW", "2026-12-31T23:59:58Z")
            .args([
                "watch",
                "--schedule",
                "nightly:0 0 * * *",
                "--max-runs",
                "2",
            ]);
        c
    });
    let line = w.wait_for("run 2 (Timer");
    assert!(
        line.contains("timer nightly at 2027-01-01T00:00:00Z"),
        "{line}"
    );
    assert_eq!(w.exit_code(), Some(0));
    assert_eq!(
        triggers(data.path()),
        ["Manual Succeeded", "Timer Succeeded"]
    );
}

#[test]
fn a_commit_on_the_branch_triggers_a_run() {
    require_docker!();
    let (ctx, data) = dirs(&echo_task(), &[]);
    let git = |args: &[&str]| {
        sh(Command::new("git")
            .arg("-C")
            .arg(ctx.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args))
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "one"]);
    let mut w = Watcher::start({
        let mut c = wharf(data.path());
        c.current_dir(ctx.path())
            .args(["watch", "--max-runs", "2", "--poll", "1"]);
        c
    });
    w.wait_for("commits on main trigger runs");
    w.wait_for("waiting for a trigger");
    std::fs::write(ctx.path().join("more.txt"), "x").unwrap_or_else(|e| panic!("{e}"));
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "two"]);
    let head = git(&["rev-parse", "--short=7", "HEAD"]);
    let line = w.wait_for("run 2 (Commit");
    assert!(line.contains(head.trim()), "{line}");
    assert_eq!(w.exit_code(), Some(0));
    assert_eq!(
        triggers(data.path()),
        ["Manual Succeeded", "Commit Succeeded"]
    );
}

/// Builds a variant of the busybox image (one more file) and tags it `tag`.
fn variant(tag: &str, content: &str) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!("FROM {}\nRUN echo {content} > /variant\n", busybox_image()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    sh(Command::new("docker")
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "-t", tag])
        .arg(dir.path()));
}

fn nonce() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{n:x}")
}

/// Removes the images the watched builds made.
fn remove_built() {
    let ids = sh(Command::new("docker").args(["images", "-q", "wharf-test/watched-app"]));
    for id in ids.split_whitespace() {
        let _ = Command::new("docker").args(["rmi", "-f", id]).output();
    }
}

fn skopeo_copy(from: &str, to: &str) {
    sh(Command::new("skopeo").args(["copy", "--dest-tls-verify=false", from, to]));
}

fn digest(image: &str) -> String {
    let out = sh(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        &format!("docker://{image}"),
    ]));
    out.trim().to_string()
}

fn build_task(base: &str) -> (tempfile::TempDir, tempfile::TempDir) {
    dirs(
        "steps:\n  - build: -t wharf-test/watched-app:{{.Run.ID}} .\n",
        &[(
            "Dockerfile",
            &format!("ARG BASE={base}\nFROM $BASE\nRUN echo built\n"),
        )],
    )
}

#[test]
fn a_new_digest_of_a_base_image_in_a_registry_triggers_one_run() {
    require_docker!();
    let registry = Registry::start();
    let base = format!("{}/base/bb:1", registry.host);
    let first = format!("wharf-test/watch-base:{}", nonce());
    variant(&first, "first");
    skopeo_copy(
        &format!("docker-daemon:{first}"),
        &format!("docker://{base}"),
    );
    let (ctx, data) = build_task(&base);
    let mut w = Watcher::start({
        let mut c = wharf(data.path());
        c.current_dir(ctx.path()).args([
            "watch",
            "--no-docker-socket",
            "--max-runs",
            "2",
            "--poll",
            "1",
        ]);
        c
    });
    w.wait_for("waiting for a trigger");
    // The same content again: no new digest, no run.
    skopeo_copy(
        &format!("docker-daemon:{first}"),
        &format!("docker://{base}"),
    );
    let second = format!("wharf-test/watch-base:{}", nonce());
    variant(&second, "second");
    skopeo_copy(
        &format!("docker-daemon:{second}"),
        &format!("docker://{base}"),
    );
    let new = digest(&base);
    let line = w.wait_for("run 2 (Image Update");
    assert!(line.contains(&base) && line.contains(&new), "{line}");
    assert_eq!(w.exit_code(), Some(0));
    assert_eq!(
        triggers(data.path()),
        ["Manual Succeeded", "Image Update Succeeded"]
    );
    for image in [&first, &second] {
        let _ = Command::new("docker").args(["rmi", "-f", image]).output();
    }
    remove_built();
}

#[test]
fn wharfs_own_registry_tells_the_watcher_at_once() {
    require_docker!();
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let port = wharf_e2e::free_port();
    let mut server = wharf(data.path())
        .args(["registry", "serve", "--addr", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let base = format!("127.0.0.1:{port}/base/own:1");
    let first = format!("wharf-test/watch-own:{}", nonce());
    variant(&first, "first");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Command::new("skopeo")
        .args([
            "copy",
            "--dest-tls-verify=false",
            &format!("docker-daemon:{first}"),
            &format!("docker://{base}"),
        ])
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        assert!(
            Instant::now() < deadline,
            "wharf registry serve did not start"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (ctx, _unused) = build_task(&base);
    // An hour between polls: only the registry's notification can be in time.
    let mut w = Watcher::start({
        let mut c = wharf(data.path());
        c.current_dir(ctx.path()).args([
            "watch",
            "--no-docker-socket",
            "--max-runs",
            "2",
            "--poll",
            "3600",
        ]);
        c
    });
    w.wait_for("notifies this watcher");
    w.wait_for("waiting for a trigger");
    let second = format!("wharf-test/watch-own:{}", nonce());
    variant(&second, "second");
    skopeo_copy(
        &format!("docker-daemon:{second}"),
        &format!("docker://{base}"),
    );
    let line = w.wait_for("run 2 (Image Update");
    assert!(line.contains(&base), "{line}");
    assert_eq!(w.exit_code(), Some(0));
    let _ = server.kill();
    let _ = server.wait();
    for image in [&first, &second] {
        let _ = Command::new("docker").args(["rmi", "-f", image]).output();
    }
    remove_built();
}

#[test]
fn ctrl_c_stops_the_run_in_progress_and_the_watcher_leaving_nothing() {
    require_docker!();
    let (ctx, data) = dirs(
        &format!(
            "steps:\n  - id: slow\n    cmd: {} sh -c 'echo started; sleep 300'\n",
            busybox_image()
        ),
        &[],
    );
    let mut w = Watcher::start({
        let mut c = wharf(data.path());
        c.current_dir(ctx.path())
            .args(["watch", "--id", "e2ewatchc", "--schedule", "0 0 1 1 *"]);
        c
    });
    w.wait_for("run 1 (Manual");
    // The run's first line is in the history once the step runs.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !String::from_utf8_lossy(
        &wharf(data.path())
            .args(["runs", "logs", "e2ewatchc"])
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default(),
    )
    .contains("started")
    {
        assert!(Instant::now() < deadline, "the step never started");
        std::thread::sleep(Duration::from_millis(200));
    }
    w.signal("INT");
    assert_eq!(w.exit_code(), Some(130));
    assert!(labelled("dev.wharf.run=e2ewatchc").is_empty());
    assert_eq!(triggers(data.path()), ["Manual Interrupted"]);
}
