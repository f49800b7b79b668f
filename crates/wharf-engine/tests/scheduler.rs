//! The scheduler's rules, driven through a scripted executor: each `cmd` is a small
//! script (`sleep 100`, `exit 3`, `echo text`, `fail-times 2`, `hang`, `detach`).
//! Time is virtual (tokio's paused clock), so delays and timeouts are exact and the
//! tests never depend on the machine's speed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wharf_engine::{
    BoxFuture, Dispatch, ErrorKind, Event, ExecError, Executor, Exit, Outcome, RunOptions,
    RunReport, RunStatus, RunSummary, StepContext, StepStatus, Stream, collect_events, run,
};
use wharf_spec::{Action, OutputValue, Outputs, Step, StepKind, Task};

#[derive(Default)]
struct Log {
    /// (step, "start" | "end" | "cancelled") in order.
    timeline: Vec<(String, &'static str)>,
    running: usize,
    max_running: usize,
    attempts: HashMap<String, u64>,
    prepared: usize,
    cleaned: usize,
    /// What each step was given once its outputs were bound: the cmd, the push list,
    /// or a plugin's `with:` as JSON.
    inputs: HashMap<String, String>,
    /// The run summaries notifications were given, by notification id.
    summaries: HashMap<String, RunSummary>,
}

#[derive(Default)]
struct Script {
    log: Mutex<Log>,
    fail_prepare: bool,
    /// Bytes a `flood` step has handed to its output so far.
    produced: std::sync::atomic::AtomicUsize,
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

impl Script {
    /// A plugin step's script is its `with: {script: ...}`: `outputs K=V K=A,B ...`
    /// (a value with commas is a list), `denied`, `fail`, or nothing (success).
    fn plugin(&self, step: &Step, cx: &StepContext) -> Result<Outcome, ExecError> {
        let Action::Plugin(call) = &step.action else {
            return Ok(Outcome::new(Exit::Done));
        };
        if let Ok(mut log) = self.log.lock() {
            log.inputs.insert(
                step.id.clone(),
                serde_json::Value::Object(call.with.clone()).to_string(),
            );
            if let Some(summary) = &cx.run {
                log.summaries.insert(step.id.clone(), (**summary).clone());
            }
        }
        let script = call
            .with
            .get("script")
            .and_then(|s| s.as_str())
            .unwrap_or("");
        let words: Vec<&str> = script.split_whitespace().collect();
        match words.as_slice() {
            ["outputs", pairs @ ..] => {
                let mut outputs = Outputs::new();
                for pair in pairs {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    let value = if v.contains(',') {
                        OutputValue::List(v.split(',').map(str::to_string).collect())
                    } else {
                        OutputValue::String(v.to_string())
                    };
                    outputs.insert(k.to_string(), value);
                }
                Ok(Outcome::new(Exit::Done).with_outputs(outputs))
            }
            ["denied"] => Err(ExecError::of(
                ErrorKind::Denied,
                "the plugin asked for wasi:http; grant it with allow: http",
            )),
            ["fail"] => Ok(Outcome::new(Exit::Code(1))),
            _ => Ok(Outcome::new(Exit::Done)),
        }
    }

    async fn cmd(&self, step: &Step, cx: StepContext) -> Result<Outcome, ExecError> {
        let (output, cancel) = (cx.output, cx.cancel);
        let cmd = match &step.action {
            Action::Cmd { cmd, .. } => cmd,
            Action::Push { push } => {
                if let Ok(mut log) = self.log.lock() {
                    log.inputs.insert(step.id.clone(), push.join(" "));
                }
                return Ok(Outcome::new(Exit::Done));
            }
            _ => return Ok(Outcome::new(Exit::Code(0))),
        };
        if let Ok(mut log) = self.log.lock() {
            log.inputs.insert(step.id.clone(), cmd.clone());
        }
        self.note(&step.id, "start");
        let attempt = self.attempts(&step.id);
        let words: Vec<&str> = cmd.split_whitespace().collect();
        let result = match words.as_slice() {
            ["ok", ..] => Ok(Exit::Code(0)),
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
                        return Ok(Outcome::new(Exit::Code(137)));
                    }
                }
            }
            ["flood", bytes] => {
                // Lines of 100 bytes, sent in 8 KiB pieces through the bounded path.
                let total: usize = bytes.parse().unwrap_or(0);
                let line = format!("{}\n", "x".repeat(99));
                let piece = line.repeat(82);
                let mut sent = 0;
                while sent < total {
                    output.send(Stream::Stdout, piece.as_bytes()).await;
                    sent += piece.len();
                    self.produced
                        .fetch_add(piece.len(), std::sync::atomic::Ordering::SeqCst);
                }
                Ok(Exit::Code(0))
            }
            ["panic"] => panic!("a bug in the executor"),
            ["hang"] => {
                cancel.cancelled().await;
                self.note(&step.id, "cancelled");
                return Ok(Outcome::new(Exit::Code(137)));
            }
            _ => Err(ExecError::new(format!("unknown script {cmd}"))),
        };
        self.note(&step.id, "end");
        result.map(Outcome::new)
    }
}

impl Executor for Script {
    fn prepare(&self) -> BoxFuture<'_, Result<(), ExecError>> {
        Box::pin(async move {
            if let Ok(mut log) = self.log.lock() {
                log.prepared += 1;
            }
            if self.fail_prepare {
                return Err(ExecError::new("no engine"));
            }
            Ok(())
        })
    }

    fn run_step<'a>(
        &'a self,
        step: &'a Step,
        cx: StepContext,
    ) -> BoxFuture<'a, Result<Outcome, ExecError>> {
        Box::pin(async move {
            match step.action {
                Action::Plugin(_) => self.plugin(step, &cx),
                _ => self.cmd(step, cx).await,
            }
        })
    }

    fn cleanup(&self) -> BoxFuture<'_, Vec<String>> {
        Box::pin(async move {
            if let Ok(mut log) = self.log.lock() {
                log.cleaned += 1;
            }
            Vec::new()
        })
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
    let (tx, collector) = collect_events();
    let options = RunOptions {
        run_id: "r1".into(),
        secrets: secrets.iter().map(|s| s.to_string()).collect(),
    };
    let report = run(&task, script, options, tx, interrupt).await;
    let events = collector.await.unwrap_or_default();
    (report, events)
}

fn status(report: &RunReport, step: &str) -> StepStatus {
    report
        .steps
        .iter()
        .find(|s| s.step == step)
        .map(|s| s.status)
        .unwrap_or_else(|| panic!("the report has no step {step}: {report:?}"))
}

fn input(script: &Script, step: &str) -> String {
    script
        .log
        .lock()
        .ok()
        .and_then(|l| l.inputs.get(step).cloned())
        .unwrap_or_else(|| panic!("step {step} never ran"))
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
        fn prepare(&self) -> BoxFuture<'_, Result<(), ExecError>> {
            Box::pin(async { Ok(()) })
        }
        fn run_step<'a>(
            &'a self,
            _: &'a Step,
            _: StepContext,
        ) -> BoxFuture<'a, Result<Outcome, ExecError>> {
            Box::pin(async move {
                if let Ok(mut n) = self.0.lock() {
                    *n += 1;
                }
                Err(ExecError::new("push denied"))
            })
        }
        fn cleanup(&self) -> BoxFuture<'_, Vec<String>> {
            Box::pin(async { Vec::new() })
        }
    }
    let exec = Arc::new(FailingPush(Mutex::new(0)));
    let task = task("steps:\n- {push: [app], retries: 3, retryDelay: 1}\n");
    let (tx, _events) = collect_events();
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

#[tokio::test(start_paused = true)]
async fn outputs_are_bound_into_later_steps_and_a_list_becomes_several_images() {
    let script = Arc::new(Script::default());
    let (report, events) = go(
        "steps:\n- {id: tags, plugin: semver-tagger, with: {script: 'outputs refs=r/app:1.2.3,r/app:1.2 version=1.2.3'}}\n- {id: say, cmd: 'ok version $(steps.tags.outputs.version) refs $(steps.tags.outputs.refs)'}\n- {id: pub, push: ['$(steps.tags.outputs.refs)', 'r/app'], when: [say]}\n- {id: note, plugin: webhook-notifier, with: {refs: '$(steps.tags.outputs.refs)', text: 'v$(steps.tags.outputs.version)'}, when: [tags]}\n",
        script.clone(),
        &[],
    )
    .await;
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    assert_eq!(
        input(&script, "say"),
        "ok version 1.2.3 refs r/app:1.2.3 r/app:1.2"
    );
    assert_eq!(input(&script, "pub"), "r/app:1.2.3 r/app:1.2 r/app:latest");
    let with: serde_json::Value = serde_json::from_str(&input(&script, "note")).unwrap_or_default();
    assert_eq!(
        with["refs"],
        serde_json::json!(["r/app:1.2.3", "r/app:1.2"])
    );
    assert_eq!(with["text"], "v1.2.3");
    // The outputs are in the step's result, and so in its step.finished event.
    let finished = events.iter().find_map(|e| match e {
        Event::StepFinished { result, .. } if result.step == "tags" => Some(result.clone()),
        _ => None,
    });
    let json = serde_json::to_value(finished).unwrap_or_default();
    assert_eq!(json["outputs"]["version"], "1.2.3");
    assert_eq!(json["outputs"]["refs"][1], "r/app:1.2");
}

#[tokio::test(start_paused = true)]
async fn an_output_a_plugin_did_not_give_fails_the_step_that_wants_it() {
    let script = Arc::new(Script::default());
    let (report, _) = go(
        "steps:\n- {id: tags, plugin: semver-tagger, with: {script: 'outputs refs=a'}}\n- {id: use, cmd: 'ok $(steps.tags.outputs.tag)'}\n",
        script,
        &[],
    )
    .await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(status(&report, "use"), StepStatus::Failed);
    assert_eq!(
        report.steps[1].error.as_deref(),
        Some(
            "step use: `$(steps.tags.outputs.tag)`: step `tags` has no output `tag`; it gave: refs"
        )
    );
}

#[tokio::test(start_paused = true)]
async fn a_step_that_did_not_succeed_gives_no_outputs() {
    let script = Arc::new(Script::default());
    let (report, _) = go(
        "steps:\n- {id: tags, plugin: semver-tagger, with: {script: fail}, ignoreErrors: true}\n- {id: use, cmd: 'ok $(steps.tags.outputs.refs)'}\n",
        script,
        &[],
    )
    .await;
    assert_eq!(status(&report, "tags"), StepStatus::Ignored);
    assert_eq!(status(&report, "use"), StepStatus::Failed);
    let error = report.steps[1].error.clone().unwrap_or_default();
    assert!(error.contains("gave no outputs"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn outputs_are_masked_in_events_but_reach_later_steps_whole() {
    let script = Arc::new(Script::default());
    let (report, events) = go(
        "steps:\n- {id: t, plugin: semver-tagger, with: {script: 'outputs token=xx-hunter2-xx'}}\n- {id: use, cmd: 'ok $(steps.t.outputs.token)'}\n",
        script.clone(),
        &["hunter2"],
    )
    .await;
    assert_eq!(report.status, RunStatus::Succeeded);
    let all = serde_json::to_string(&events).unwrap_or_default();
    assert!(!all.contains("hunter2"), "a secret leaked: {all}");
    assert_eq!(input(&script, "use"), "ok xx-hunter2-xx");
}

#[tokio::test(start_paused = true)]
async fn errors_that_cannot_change_are_not_retried() {
    let script = Arc::new(Script::default());
    let (report, _) = go(
        "steps:\n- {id: p, plugin: ./p.wasm, with: {script: denied}, retries: 3, retryDelay: 1}\n",
        script,
        &[],
    )
    .await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(
        report.steps[0].attempts, 1,
        "a denied grant fails every attempt"
    );
    let error = report.steps[0].error.clone().unwrap_or_default();
    assert!(error.contains("grant it with allow: http"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn notifications_run_after_the_steps_with_the_summary_and_never_change_the_status() {
    let yaml = "steps:\n- {id: build, cmd: ok}\n- {id: tags, plugin: semver-tagger, with: {script: 'outputs refs=a,b'}}\nnotify:\n- {id: always, plugin: webhook-notifier, with: {script: fail, refs: '$(steps.tags.outputs.refs)'}}\n- {id: good-news, plugin: webhook-notifier, on: [success]}\n- {id: bad-news, plugin: webhook-notifier, on: [failure]}\n";
    let script = Arc::new(Script::default());
    let (report, events) = go(yaml, script.clone(), &[]).await;
    assert_eq!(
        report.status,
        RunStatus::Succeeded,
        "a failed notifier changes nothing"
    );
    let ran: Vec<(&str, StepStatus)> = report
        .notifications
        .iter()
        .map(|n| (n.step.as_str(), n.status))
        .collect();
    assert_eq!(
        ran,
        [
            ("always", StepStatus::Failed),
            ("good-news", StepStatus::Succeeded)
        ]
    );
    let summaries = script
        .log
        .lock()
        .map(|l| l.summaries.clone())
        .unwrap_or_default();
    let summary = &summaries["always"];
    assert_eq!(summary.status, RunStatus::Succeeded);
    let steps: Vec<&str> = summary.steps.iter().map(|s| s.step.as_str()).collect();
    assert_eq!(steps, ["build", "tags"]);
    let with: serde_json::Value =
        serde_json::from_str(&input(&script, "always")).unwrap_or_default();
    assert_eq!(with["refs"], serde_json::json!(["a", "b"]));
    // Notifications come before cleanup and the run's end.
    let json = serde_json::to_value(events.last()).unwrap_or_default();
    assert_eq!(json["event"], "run.finished");
    assert_eq!(json["notifications"][0]["step"], "always");
    assert_eq!(script.log.lock().map(|l| l.cleaned).unwrap_or(0), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_or_interrupted_run_notifies_on_failure() {
    let yaml = "steps:\n- {id: a, cmd: hang}\nnotify:\n- {id: good-news, plugin: webhook-notifier, on: [success]}\n- {id: bad-news, plugin: webhook-notifier, on: [failure]}\n";
    let script = Arc::new(Script::default());
    let interrupt = CancellationToken::new();
    let trigger = interrupt.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        trigger.cancel();
    });
    let (report, _) = go_with(yaml, script.clone(), &[], interrupt).await;
    assert_eq!(report.status, RunStatus::Interrupted);
    let ran: Vec<&str> = report
        .notifications
        .iter()
        .map(|n| n.step.as_str())
        .collect();
    assert_eq!(ran, ["bad-news"]);
    assert_eq!(
        status_of(&report.notifications, "bad-news"),
        StepStatus::Succeeded
    );
}

fn status_of(results: &[wharf_engine::StepResult], id: &str) -> StepStatus {
    results
        .iter()
        .find(|r| r.step == id)
        .map(|r| r.status)
        .unwrap_or_else(|| panic!("no result for {id}"))
}

#[tokio::test(start_paused = true)]
async fn dispatch_sends_each_kind_to_its_executor_and_prepares_each_once() {
    let containers = Arc::new(Script::default());
    let plugins = Arc::new(Script::default());
    let dispatch = Dispatch::new()
        .route(
            &[StepKind::Build, StepKind::Cmd, StepKind::Push],
            containers.clone(),
        )
        .route(&[StepKind::Plugin], plugins.clone());
    let task = task(
        "steps:\n- {id: c, cmd: ok}\n- {id: p, plugin: semver-tagger}\n- {id: push, push: [app]}\n",
    );
    let (tx, _events) = collect_events();
    let report = run(
        &task,
        Arc::new(dispatch),
        RunOptions::default(),
        tx,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(report.status, RunStatus::Succeeded);
    let ran = |s: &Script| {
        let log = s.log.lock().unwrap_or_else(|e| e.into_inner());
        let mut ids: Vec<String> = log.inputs.keys().cloned().collect();
        ids.sort();
        (ids, log.prepared, log.cleaned)
    };
    assert_eq!(ran(&containers), (vec!["c".into(), "push".into()], 1, 1));
    assert_eq!(ran(&plugins), (vec!["p".into()], 1, 1));

    // A kind nothing runs fails its step with a clear error.
    let only_containers = Dispatch::new().route(&[StepKind::Cmd], Arc::new(Script::default()));
    let (tx, _events) = collect_events();
    let report = run(
        &task,
        Arc::new(only_containers),
        RunOptions::default(),
        tx,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(status(&report, "p"), StepStatus::Failed);
    assert_eq!(
        report.steps[1].error.as_deref(),
        Some("step p: this run cannot run plugin steps")
    );
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_output_waits_for_a_slow_reader_and_memory_stays_bounded() {
    use std::sync::atomic::Ordering;
    const TOTAL: usize = 16 << 20;
    let script = Arc::new(Script::default());
    let task = task(&format!("steps:\n- {{id: loud, cmd: flood {TOTAL}}}\n"));
    let (tx, mut rx) = wharf_engine::event_channel();
    let producer = Arc::clone(&script);
    let run = tokio::spawn(async move {
        run(
            &task,
            producer,
            RunOptions::default(),
            tx,
            CancellationToken::new(),
        )
        .await
    });
    // The reader looks away for a while: the step can only get so far ahead.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let ahead = script.produced.load(Ordering::SeqCst);
    let slack = wharf_engine::OUTPUT_BUDGET + wharf_engine::EVENT_QUEUE * 100 + (64 << 10);
    assert!(ahead > 0, "the step never started");
    assert!(
        ahead <= slack,
        "the step printed {ahead} bytes while nobody read (at most {slack} may wait)"
    );
    // Then it reads everything: no line is lost.
    let mut lines = 0;
    while let Some(event) = rx.recv().await {
        if matches!(event, Event::Log { .. }) {
            lines += 1;
        }
    }
    let report = run.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.status, RunStatus::Succeeded);
    let printed = script.produced.load(Ordering::SeqCst);
    assert_eq!(lines, printed / 100);
    // The engine's own counters: bounded by its budgets, not by what was printed.
    assert!(
        report.buffers.peak_output_bytes <= wharf_engine::OUTPUT_BUDGET + (64 << 10),
        "{:?}",
        report.buffers
    );
    assert!(report.buffers.peak_queued_events <= wharf_engine::EVENT_QUEUE);
    assert!(report.buffers.peak_queued_events > 0);
}
