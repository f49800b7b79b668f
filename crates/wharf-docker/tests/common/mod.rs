//! Shared helpers: tasks from YAML driven through the real scheduler (`wharf_engine::run`)
//! and the Docker executor, against the real engine.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;
use wharf_docker::{DockerExecutor, DockerOptions};
use wharf_engine::{Event, RunOptions, RunReport, StepResult, StepStatus, Stream, run};
use wharf_spec::Task;

/// One test's names: every step id, run id and network carries a unique suffix, since
/// tests run in parallel on one engine.
pub struct T {
    pub name: String,
    pub suffix: String,
    pub run_id: String,
}

impl T {
    pub fn new(name: &str) -> T {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let suffix = format!("{:x}{:x}", std::process::id() % 0xfff, nanos % 0xfffff);
        T {
            run_id: format!("{name}-{suffix}"),
            name: name.to_string(),
            suffix,
        }
    }

    /// A step id: `base` plus the suffix (write ids as `base@` in YAML).
    pub fn id(&self, base: &str) -> String {
        format!("{base}{}", self.suffix)
    }

    /// The name of step `base`'s container in this test's run (`<run id>-<step id>`).
    pub fn container(&self, base: &str) -> String {
        wharf_docker::step_container(&self.run_id, &self.id(base))
    }

    /// The test's own network.
    pub fn network(&self) -> String {
        format!("wharf_test_{}_{}", self.name, self.suffix)
    }

    /// `steps` (a YAML block starting at `steps:`) with `@` replaced by the suffix, and a
    /// network of the test's own as the default (so parallel tests never share one).
    pub fn yaml(&self, rest: &str) -> String {
        format!(
            "version: v1.1.0\nnetworks:\n  - name: {}\n    isDefault: true\n{}",
            self.network(),
            rest.replace('@', &self.suffix)
        )
    }

    /// Like [`T::yaml`], without a network (the task gets `acb_default_network`).
    pub fn yaml_default_network(&self, rest: &str) -> String {
        format!("version: v1.1.0\n{}", rest.replace('@', &self.suffix))
    }

    /// Executor options for this test.
    pub fn options(&self, context: &Path) -> DockerOptions {
        DockerOptions::new(self.run_id.clone(), context)
    }
}

/// A build context made of `(path, contents)` files.
pub fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (path, contents) in files {
        let path = dir.path().join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(path, contents).unwrap_or_else(|e| panic!("{e}"));
    }
    dir
}

pub fn task(yaml: &str) -> Task {
    wharf_spec::load_task(yaml)
        .unwrap_or_else(|f| panic!("test task does not load: {:?}\n{yaml}", f.diagnostics))
}

/// A finished run.
pub struct Outcome {
    pub report: RunReport,
    pub events: Vec<Event>,
}

impl Outcome {
    pub fn step(&self, id: &str) -> StepResult {
        self.report
            .steps
            .iter()
            .find(|s| s.step == id)
            .cloned()
            .unwrap_or_else(|| panic!("no step {id} in {:?}", self.report))
    }

    pub fn status(&self, id: &str) -> StepStatus {
        self.step(id).status
    }

    /// Lines a step wrote (stdout and stderr).
    pub fn logs(&self, id: &str) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Log { step, line, .. } if step == id => Some(line.clone()),
                _ => None,
            })
            .collect()
    }

    /// Lines a step wrote to stdout.
    pub fn stdout(&self, id: &str) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Log {
                    step,
                    line,
                    stream: Stream::Stdout,
                    ..
                } if step == id => Some(line.clone()),
                _ => None,
            })
            .collect()
    }

    /// Lines about the run as a whole (why it could not be prepared).
    pub fn run_lines(&self) -> Vec<String> {
        self.logs("")
    }

    /// Everything, for assertion messages.
    pub fn dump(&self) -> String {
        let mut s = format!("{:#?}\n", self.report);
        for e in &self.events {
            if let Event::Log {
                step, stream, line, ..
            } = e
            {
                s.push_str(&format!("[{step} {stream:?}] {line}\n"));
            }
        }
        s
    }
}

/// Runs `yaml` with `options` to the end.
pub async fn run_yaml(yaml: &str, options: DockerOptions) -> Outcome {
    run_yaml_with(yaml, options, CancellationToken::new()).await
}

/// Runs `yaml` with `options`; `interrupt` stops it. A generous guard turns a hang into
/// a failure.
pub async fn run_yaml_with(
    yaml: &str,
    options: DockerOptions,
    interrupt: CancellationToken,
) -> Outcome {
    let task = Arc::new(task(yaml));
    let run_id = options.run_id.clone();
    let executor = DockerExecutor::connect(Arc::clone(&task), options)
        .await
        .unwrap_or_else(|e| panic!("cannot connect: {e}"));
    let (tx, collector) = wharf_engine::collect_events();
    let run_options = RunOptions {
        run_id,
        secrets: Vec::new(),
    };
    let report = tokio::time::timeout(
        Duration::from_secs(600),
        run(&task, Arc::new(executor), run_options, tx, interrupt),
    )
    .await
    .unwrap_or_else(|_| panic!("the run hung"));
    let events = collector.await.unwrap_or_default();
    Outcome { report, events }
}

/// Asserts that nothing labelled with the run is left.
pub fn assert_clean(t: &T) {
    let left = wharf_e2e::labelled(&format!("dev.wharf.run={}", t.run_id));
    assert!(left.is_empty(), "left behind by run {}: {left:?}", t.run_id);
}

/// `docker` with arguments; its stdout, or None when it fails.
pub fn docker(args: &[&str]) -> Option<String> {
    let out = Command::new("docker").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether the container `name` is running.
pub fn running(name: &str) -> bool {
    docker(&["inspect", "-f", "{{.State.Running}}", name]).is_some_and(|s| s.trim() == "true")
}

/// The busybox test image.
pub fn busybox() -> &'static str {
    wharf_e2e::busybox_image()
}

/// Removes images when dropped, so a failing assertion leaves none behind.
pub struct Images(pub Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        for image in &self.0 {
            let _ = Command::new("docker").args(["rmi", "-f", image]).output();
        }
    }
}
