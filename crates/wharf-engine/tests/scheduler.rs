//! The scheduler's rules, driven through a scripted executor: each `cmd` is a small
//! script (`sleep 100`, `exit 3`, `echo text`, `fail-times 2`, `hang`, `detach`).
//! Time is virtual (tokio's paused clock), so delays and timeouts are exact and the
//! tests never depend on the machine's speed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use wharf_engine::{
    Event, ExecError, Executor, Exit, Output, RunOptions, RunReport, RunStatus, StepStatus, Stream,
    run,
};
use wharf_spec::{Action, Step, Task};

#[derive(Default)]
struct Log {
    /// (step, "start" | "end" | "cancelled") in order.
    timeline: Vec<(String, &'static str)>,
    running: usize,
    max_running: usize,
    attempts: HashMap<String, u64>,
    prepared: usize,
    cleaned: usize,
}

#[derive(Default)]
struct Script {
    log: Mutex<Log>,
    fail_prepare: bool,
}

impl Script {
    fn note(&self, step: &str, what: &'static str) {
        if let Ok(mut log) = self.log.lock() {
            log.timeline.push((step.to_string(), what));
            match what {
                "start" => {
                    log.running += 1;
                    log.max_running = log.max_running.max(log.running);
                    *log.attempts.entry(step.to_string()).or_default() += 1;
                }
                _ => log.running -= 1,
            }
        }
    }

    fn attempts(&self, step: &str) -> u64 {
        self.log
            .lock()
            .map(|l| l.attempts.get(step).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

impl Executor for Script {
    async fn prepare(&self) -> Result<(), ExecError> {
        if let Ok(mut log) = self.log.lock() {
            log.prepared += 1;
        }
        if self.fail_prepare {
            return Err(ExecError::new("no engine"));
        }
        Ok(())
    }

    async fn run_step(
        &self,
        step: &Step,
        output: Output,
        cancel: CancellationToken,
    ) -> Result<Exit, ExecError> {
        let Action::Cmd { cmd } = &step.action else {
            return Ok(Exit::Code(0));
        };
        self.note(&step.id, "start");
        let attempt = self.attempts(&step.id);
        let words: Vec<&str> = cmd.split_whitespace().collect();
        let result = match words.as_slice() {
            ["ok"] => Ok(Exit::Code(0)),
            ["detach"] => Ok(Exit::Detached),
            ["exit", n] => Ok(Exit::Code(n.parse().unwrap_or(1))),
            ["error", rest @ ..] => Err(ExecError::new(rest.join(" "))),
            ["echo", rest @ ..] => {
                // Written in two chunks to exercise line assembly.
                let text = rest.join(" ");
                let (a, b) = text.split_at(text.len() / 2);
                output.write(Stream::Stdout, a.as_bytes());
                output.write(Stream::Stdout, format!("{b}\n").as_bytes());
                Ok(Exit::Code(0))
            }
            ["say-then-fail", rest @ ..] => {
                output.line(Stream::Stderr, &rest.join(" "));
                Ok(Exit::Code(1))
            }
            ["fail-times", n] => {
                let n: u64 = n.parse().unwrap_or(0);
                Ok(Exit::Code(if attempt <= n { 1 } else { 0 }))
            }
            ["sleep", ms] | ["sleep-then-fail", ms] => {
                let ms = ms.parse().unwrap_or(0);
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(ms)) => {
                        Ok(Exit::Code(if words[0] == "sleep" { 0 } else { 1 }))
                    }
                    () = cancel.cancelled() => {
                        self.note(&step.id, "cancelled");
                        return Ok(Exit::Code(137));
                    }
                }
            }
            ["panic"] => panic!("a bug in the executor"),
            ["hang"] => {
                cancel.cancelled().await;
                self.note(&step.id, "cancelled");
                return Ok(Exit::Code(137));
            }
            _ => Err(ExecError::new(format!("unknown script {cmd}"))),
        };
        self.note(&step.id, "end");
        result
    }

    async fn cleanup(&self) -> Vec<String> {
        if let Ok(mut log) = self.log.lock() {
            log.cleaned += 1;
        }
        Vec::new()
    }
}

fn task(yaml: &str) -> Task {
    wharf_spec::load_task(yaml)
        .unwrap_or_else(|f| panic!("test task does not load: {:?}", f.diagnostics))
}

async fn go(yaml: &str, script: Arc<Script>, secrets: &[&str]) -> (RunReport, Vec<Event>) {
    go_with(yaml, script, secrets, CancellationToken::new()).await
}

async fn go_with(
    yaml: &str,
    script: Arc<Script>,
    secrets: &[&str],
    interrupt: CancellationToken,
) -> (RunReport, Vec<Event>) {
    let task = task(yaml);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let options = RunOptions {
        run_id: "r1".into(),
        secrets: secrets.iter().map(|s| s.to_string()).collect(),
    };
    let report = run(&task, script, options, tx, interrupt).await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (report, events)
}

fn status(report: &RunReport, step: &str) -> StepStatus {
    report
        .steps
        .iter()
        .find(|s| s.step == step)
        .map(|s| s.status)
        .unwrap_or(StepStatus::Skipped)
}

fn log_lines(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Log { line, .. } => Some(line.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn independent_steps_run_in_parallel() {
    let script = Arc::new(Script::default());
    let (report, _) = go(
        "steps:\n- {id: a, cmd: sleep 1000, when: ['-']}\n- {id: b, cmd: sleep 1000, when: ['-']}\n- {id: c, cmd: sleep 1000, when: ['-']}\n- {id: d, cmd: sleep 1000, when: ['-']}\n",
        script.clone(),
        &[],
    )
    .await;
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(script.log.lock().map(|l| l.max_running).unwrap_or(0), 4);
}

#[tokio::test(start_paused = true)]
async fn a_step_starts_only_after_its_dependencies_succeed() {
    let script = Arc::new(Script::default());
    let (report, _) = go(
        "steps:\n- {id: a, cmd: sleep 50}\n- {id: b, cmd: sleep 10, when: ['-']}\n- {id: c, cmd: ok, when: [a, b]}\n- {id: d, cmd: ok}\n",
        script.clone(),
        &[],
    )
    .await;
    assert_eq!(report.status, RunStatus::Succeeded);
    let timeline = script
        .log
        .lock()
        .map(|l| l.timeline.clone())
        .unwrap_or_default();
    let pos = |step: &str, what: &str| timeline.iter().position(|(s, w)| s == step && *w == what);
    assert!(pos("a", "end") < pos("c", "start"));
    assert!(pos("b", "end") < pos("c", "start"));
    // d has no `when`, so it waits for the previous step, c.
    assert!(pos("c", "end") < pos("d", "start"));
    assert_eq!(script.log.lock().map(|l| l.max_running).unwrap_or(0), 2);
}

#[tokio::test(start_paused = true)]
async fn first_failure_stops_running_steps_and_skips_the_rest() {
    let script = Arc::new(Script::default());
    let (report, events) = go(
        "steps:\n- {id: slow, cmd: hang, when: ['-']}\n- {id: bad, cmd: sleep-then-fail 10, when: ['-']}\n- {id: after, cmd: ok, when: [bad]}\n- {id: later, cmd: ok, when: [slow]}\n",
        script.clone(),
        &[],
    )
    .await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(status(&report, "bad"), StepStatus::Failed);
    assert_eq!(status(&report, "slow"), StepStatus::Cancelled);
    assert_eq!(status(&report, "after"), StepStatus::Skipped);
    assert_eq!(status(&report, "later"), StepStatus::Skipped);
    let log = script
        .log
        .lock()
        .map(|l| (l.prepared, l.cleaned))
        .unwrap_or_default();
    assert_eq!(log, (1, 1), "prepare and cleanup run exactly once");
    assert!(matches!(
        events.last(),
        Some(Event::RunFinished {
            status: RunStatus::Failed,
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn ignored_errors_let_dependents_run() {
    let script = Arc::new(Script::default());
    let (report, _) = go(
        "steps:\n- {id: flaky, cmd: exit 3, ignoreErrors: true}\n- {id: next, cmd: ok}\n",
        script,
        &[],
    )
    .await;
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(status(&report, "flaky"), StepStatus::Ignored);
    assert_eq!(report.steps[0].exit_code, Some(3));
    assert_eq!(status(&report, "next"), StepStatus::Succeeded);
}

#[tokio::test(start_paused = true)]
async fn retries_wait_retry_delay_between_attempts() {
    let script = Arc::new(Script::default());
    let start = tokio::time::Instant::now();
    let (report, events) = go(
        "steps:\n- {id: s, cmd: fail-times 2, retries: 2, retryDelay: 7}\n",
        script.clone(),
        &[],
    )
    .await;
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(report.steps[0].attempts, 3);
    assert_eq!(start.elapsed(), Duration::from_secs(14));
    let retrying = events
        .iter()
        .filter(|e| matches!(e, Event::StepRetrying { .. }))
        .count();
    assert_eq!(retrying, 2);
}

#[tokio::test(start_paused = true)]
async fn retries_run_out() {
    let script = Arc::new(Script::default());
    let (report, _) = go(
        "steps:\n- {id: s, cmd: exit 4, retries: 1, retryDelay: 1}\n",
        script,
        &[],
    )
    .await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.steps[0].attempts, 2);
    assert_eq!(report.steps[0].error.as_deref(), Some("exit code 4"));
}

#[tokio::test(start_paused = true)]
async fn retry_on_errors_retries_only_matching_failures() {
    let script = Arc::new(Script::default());
    let (report, _) = go(
        "steps:\n- {id: match, cmd: say-then-fail connection refused by peer, retries: 3, retryOnErrors: [connection refused]}\n- {id: other, cmd: say-then-fail disk full, retries: 3, retryOnErrors: [connection refused], when: ['-'], ignoreErrors: true}\n",
        script,
        &[],
    )
    .await;
    let attempts: HashMap<&str, u64> = report
        .steps
        .iter()
        .map(|s| (s.step.as_str(), s.attempts))
        .collect();
    assert_eq!(attempts["match"], 4);
    assert_eq!(attempts["other"], 1);
}

#[tokio::test(start_paused = true)]
async fn repeat_runs_every_time_and_fails_if_any_run_failed() {
    let script = Arc::new(Script::default());
    let (report, _) = go(
        "steps:\n- {id: s, cmd: fail-times 1, repeat: 2}\n",
        script.clone(),
        &[],
    )
    .await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.steps[0].attempts, 3);
    assert_eq!(
        report.steps[0].error.as_deref(),
        Some("run 1 of 3: exit code 1")
    );
}

#[tokio::test(start_paused = true)]
async fn timeout_stops_the_step() {
    let script = Arc::new(Script::default());
    let start = tokio::time::Instant::now();
    let (report, _) = go(
        "steps:\n- {id: s, cmd: hang, timeout: 30}\n",
        script.clone(),
        &[],
    )
    .await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(start.elapsed(), Duration::from_secs(30));
    let error = report.steps[0].error.clone().unwrap_or_default();
    assert!(error.contains("timed out after 30s"), "{error}");
    let cancelled = script
        .log
        .lock()
        .map(|l| {
            l.timeline
                .iter()
                .any(|(s, w)| s == "s" && *w == "cancelled")
        })
        .unwrap_or(false);
    assert!(cancelled, "the executor was told to stop");
}

#[tokio::test(start_paused = true)]
async fn start_delay_is_waited_and_not_counted_in_the_timeout() {
    let script = Arc::new(Script::default());
    let start = tokio::time::Instant::now();
    let (report, _) = go(
        "steps:\n- {id: s, cmd: sleep 2000, startDelay: 5, timeout: 3}\n",
        script,
        &[],
    )
    .await;
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(start.elapsed(), Duration::from_secs(7));
}

#[tokio::test(start_paused = true)]
async fn interruption_cancels_running_steps_and_still_cleans_up() {
    let script = Arc::new(Script::default());
    let interrupt = CancellationToken::new();
    let trigger = interrupt.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        trigger.cancel();
    });
    let (report, _) = go_with(
        "steps:\n- {id: a, cmd: hang}\n- {id: b, cmd: ok}\n",
        script.clone(),
        &[],
        interrupt,
    )
    .await;
    assert_eq!(report.status, RunStatus::Interrupted);
    assert_eq!(status(&report, "a"), StepStatus::Cancelled);
    assert_eq!(status(&report, "b"), StepStatus::Skipped);
    assert_eq!(script.log.lock().map(|l| l.cleaned).unwrap_or(0), 1);
}

#[tokio::test(start_paused = true)]
async fn secrets_are_masked_in_logs_and_errors_even_when_split() {
    let script = Arc::new(Script::default());
    let (report, events) = go(
        "steps:\n- {id: a, cmd: echo the password is hunter2-xyz ok}\n- {id: b, cmd: error login failed for hunter2-xyz}\n",
        script,
        &["hunter2-xyz"],
    )
    .await;
    let lines = log_lines(&events);
    assert!(
        lines.contains(&"the password is *** ok".to_string()),
        "{lines:?}"
    );
    let all = serde_json::to_string(&events).unwrap_or_default();
    assert!(!all.contains("hunter2"), "a secret leaked: {all}");
    assert_eq!(
        report.steps[1].error.as_deref(),
        Some("login failed for ***")
    );
}

#[tokio::test(start_paused = true)]
async fn detached_steps_count_as_started() {
    let script = Arc::new(Script::default());
    let (report, _) = go(
        "steps:\n- {id: web, cmd: detach, detach: true}\n- {id: probe, cmd: ok}\n",
        script,
        &[],
    )
    .await;
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(report.steps[0].exit_code, None);
}

#[tokio::test(start_paused = true)]
async fn a_failed_prepare_skips_every_step_and_cleans_up() {
    let script = Arc::new(Script {
        fail_prepare: true,
        ..Script::default()
    });
    let (report, events) = go("steps:\n- {id: a, cmd: ok}\n", script.clone(), &[]).await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(status(&report, "a"), StepStatus::Skipped);
    assert_eq!(script.log.lock().map(|l| l.cleaned).unwrap_or(0), 1);
    assert!(log_lines(&events).iter().any(|l| l.contains("no engine")));
}

#[tokio::test(start_paused = true)]
async fn push_steps_are_not_retried_by_the_engine() {
    // The executor reports push failures after its own fixed attempts (ACR: 3).
    struct FailingPush(Mutex<u64>);
    impl Executor for FailingPush {
        async fn prepare(&self) -> Result<(), ExecError> {
            Ok(())
        }
        async fn run_step(
            &self,
            _: &Step,
            _: Output,
            _: CancellationToken,
        ) -> Result<Exit, ExecError> {
            if let Ok(mut n) = self.0.lock() {
                *n += 1;
            }
            Err(ExecError::new("push denied"))
        }
        async fn cleanup(&self) -> Vec<String> {
            Vec::new()
        }
    }
    let exec = Arc::new(FailingPush(Mutex::new(0)));
    let task = task("steps:\n- {push: [app], retries: 3, retryDelay: 1}\n");
    let (tx, _rx) = mpsc::unbounded_channel();
    let report = run(
        &task,
        exec.clone(),
        RunOptions::default(),
        tx,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(exec.0.lock().map(|n| *n).unwrap_or(0), 1);
}

#[tokio::test(start_paused = true)]
async fn the_duration_starts_after_start_delay() {
    let script = Arc::new(Script::default());
    let (report, _) = go(
        "steps:\n- {id: s, cmd: sleep 2000, startDelay: 5}\n",
        script,
        &[],
    )
    .await;
    assert_eq!(report.steps[0].duration_ms, 2000);
}

#[tokio::test(start_paused = true)]
async fn retry_on_errors_also_matches_engine_errors() {
    let script = Arc::new(Script::default());
    let (report, _) = go(
        "steps:\n- {id: s, cmd: error port is already allocated, retries: 2, retryDelay: 1, retryOnErrors: [already allocated]}\n",
        script,
        &[],
    )
    .await;
    assert_eq!(report.steps[0].attempts, 3);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_step_fails_the_run_instead_of_vanishing() {
    let script = Arc::new(Script::default());
    let (report, _) = go(
        "steps:\n- {id: boom, cmd: panic}\n- {id: after, cmd: ok}\n",
        script.clone(),
        &[],
    )
    .await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(status(&report, "boom"), StepStatus::Failed);
    let error = report.steps[0].error.clone().unwrap_or_default();
    assert!(error.contains("internal error"), "{error}");
    assert_eq!(status(&report, "after"), StepStatus::Skipped);
    let cleaned = script
        .log
        .lock()
        .map(|l| l.cleaned)
        .unwrap_or_else(|e| e.into_inner().cleaned);
    assert_eq!(cleaned, 1);
}
