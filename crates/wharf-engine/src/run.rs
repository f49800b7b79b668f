//! The scheduler: runs a task's steps as their dependencies allow, in parallel, with
//! ACR's per-step rules (startDelay, timeout, retries, retryOnErrors, repeat,
//! ignoreErrors) and its failure rule: the first failure that is not ignored starts
//! nothing new, stops what is running and leaves the rest skipped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use wharf_spec::outputs::bind;
use wharf_spec::{Action, NotifyOn, OutputValue, Outputs, Step, Task};

use crate::event::{Event, RunStatus, StepResult, StepStatus, Stream, now};
use crate::executor::{
    Chunk, ExecError, Executor, Exit, InFlight, OUTPUT_BUDGET, Outcome, Output, RunSummary,
    StepContext,
};
use crate::mask::{LineScrubber, Masker};

/// Settings of one run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The run id (labels, events).
    pub run_id: String,
    /// Secret values to mask in every output.
    pub secrets: Vec<String>,
}

/// How a run went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunReport {
    /// How it ended.
    pub status: RunStatus,
    /// Every step, in file order.
    pub steps: Vec<StepResult>,
    /// Problems met while cleaning up.
    pub cleanup_errors: Vec<String>,
    /// The `notify:` entries that ran.
    pub notifications: Vec<StepResult>,
    /// How much the run held in memory on the way from its steps to the events.
    pub buffers: BufferStats,
}

/// The engine's own counters of what it buffered during a run: they stay bounded
/// however much the steps print.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BufferStats {
    /// The most bytes of step output that were waiting to become log lines at once.
    pub peak_output_bytes: usize,
    /// The most events that were waiting for the receiver at once.
    pub peak_queued_events: usize,
}

/// A channel for [`run`]'s events, of the size the engine is built for.
pub fn event_channel() -> (mpsc::Sender<Event>, mpsc::Receiver<Event>) {
    mpsc::channel(EVENT_QUEUE)
}

/// Collects every event of a run in the background (for tests and tools that read
/// the events after the run): the sender to pass to [`run`], and a handle that
/// yields the events once the sender is dropped.
pub fn collect_events() -> (mpsc::Sender<Event>, tokio::task::JoinHandle<Vec<Event>>) {
    let (tx, mut rx) = event_channel();
    let collector = tokio::spawn(async move {
        let mut events = Vec::new();
        while let Some(e) = rx.recv().await {
            events.push(e);
        }
        events
    });
    (tx, collector)
}

/// How many events may wait for the receiver (the renderer) before the engine, and
/// so the steps' output, waits for it.
pub const EVENT_QUEUE: usize = 256;

/// Sends events, masking secrets in free text. The channel is bounded: when the
/// receiver falls behind, sending waits.
#[derive(Clone)]
struct Events {
    tx: mpsc::Sender<Event>,
    masker: Masker,
    in_flight: Arc<InFlight>,
    peak_queued: Arc<std::sync::atomic::AtomicUsize>,
}

impl Events {
    async fn send(&self, event: Event) {
        // A receiver that is gone (the renderer stopped) must not stop the run.
        let _ = self.tx.send(event).await;
        let queued = self.tx.max_capacity() - self.tx.capacity();
        self.peak_queued
            .fetch_max(queued, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The outputs of the steps that have succeeded, by step id (not masked: later
/// steps get the values themselves).
type OutputsById = Arc<Mutex<HashMap<String, Outputs>>>;

/// Runs `task` with `executor`, sending events to `events` (a bounded channel, see
/// [`EVENT_QUEUE`]: the engine waits for a receiver that falls behind, so a flood of
/// output slows the steps instead of filling memory). `interrupt` stops the run
/// (Ctrl-C); cleanup still happens. After the steps, the task's `notify:` entries
/// whose `on` matches run with the run's summary; they cannot change its status.
/// Returns when everything is cleaned up.
pub async fn run(
    task: &Task,
    executor: Arc<dyn Executor>,
    options: RunOptions,
    events: mpsc::Sender<Event>,
    interrupt: CancellationToken,
) -> RunReport {
    let started = Instant::now();
    let events = Events {
        tx: events,
        masker: Masker::new(&options.secrets),
        in_flight: Arc::default(),
        peak_queued: Arc::default(),
    };
    events
        .send(Event::RunStarted {
            time: now(),
            run_id: options.run_id.clone(),
            steps: task.steps.iter().map(|s| s.id.clone()).collect(),
        })
        .await;

    // `stop` ends the scheduling: on interruption or on the first unignored failure.
    let stop = interrupt.child_token();
    let mut results: Vec<Option<StepResult>> = vec![None; task.steps.len()];
    let outputs: OutputsById = Arc::default();
    let mut prepare_error = None;
    tokio::select! {
        r = executor.prepare() => if let Err(e) = r {
            tracing::debug!(error = %events.masker.mask(&e.message), "preparing the run failed");
            prepare_error = Some(e)
        },
        () = stop.cancelled() => {}
    }
    let mut failed = false;
    if let Some(e) = prepare_error {
        failed = true;
        events
            .send(Event::Log {
                time: now(),
                step: String::new(),
                stream: Stream::Stderr,
                line: events
                    .masker
                    .mask(&format!("cannot prepare the run: {}", e.message)),
            })
            .await;
    } else if !stop.is_cancelled() {
        failed = schedule(task, &executor, &events, &stop, &mut results, &outputs).await;
    }

    for (i, step) in task.steps.iter().enumerate() {
        if results[i].is_none() {
            let result = StepResult {
                step: step.id.clone(),
                status: StepStatus::Skipped,
                exit_code: None,
                duration_ms: 0,
                attempts: 0,
                error: None,
                outputs: Outputs::new(),
            };
            events
                .send(Event::StepFinished {
                    time: now(),
                    result: result.clone(),
                })
                .await;
            results[i] = Some(result);
        }
    }

    let status = if interrupt.is_cancelled() {
        RunStatus::Interrupted
    } else if failed {
        RunStatus::Failed
    } else {
        RunStatus::Succeeded
    };
    let steps: Vec<StepResult> = results.into_iter().flatten().collect();
    let summary = Arc::new(RunSummary {
        run_id: options.run_id.clone(),
        status,
        duration_ms: millis(started.elapsed()),
        steps: steps.clone(),
    });
    let notifications = notify(task, &executor, &events, &outputs, summary).await;
    let cleanup_errors: Vec<String> = executor
        .cleanup()
        .await
        .into_iter()
        .map(|e| events.masker.mask(&e))
        .collect();
    events
        .send(Event::RunFinished {
            time: now(),
            run_id: options.run_id,
            status,
            duration_ms: millis(started.elapsed()),
            steps: steps.clone(),
            cleanup_errors: cleanup_errors.clone(),
            notifications: notifications.clone(),
        })
        .await;
    RunReport {
        status,
        steps,
        cleanup_errors,
        notifications,
        buffers: BufferStats {
            peak_output_bytes: events.in_flight.peak(),
            peak_queued_events: events
                .peak_queued
                .load(std::sync::atomic::Ordering::Relaxed),
        },
    }
}

/// Runs the `notify:` entries whose `on` matches `summary.status`, one after the
/// other, each with its own timeout and no retries. An interrupted run counts as
/// failed; the notifications then still run (a second Ctrl-C ends the process).
async fn notify(
    task: &Task,
    executor: &Arc<dyn Executor>,
    events: &Events,
    outputs: &OutputsById,
    summary: Arc<RunSummary>,
) -> Vec<StepResult> {
    let wanted = match summary.status {
        RunStatus::Succeeded => NotifyOn::Success,
        RunStatus::Failed | RunStatus::Interrupted => NotifyOn::Failure,
    };
    let mut results = Vec::new();
    for entry in task.notify.iter().filter(|n| n.on.contains(&wanted)) {
        let stop = CancellationToken::new();
        let result = run_step(
            &entry.step,
            Arc::clone(executor),
            events,
            &stop,
            outputs,
            Some(Arc::clone(&summary)),
        )
        .await;
        events
            .send(Event::StepFinished {
                time: now(),
                result: result.clone(),
            })
            .await;
        results.push(result);
    }
    results
}

/// Starts steps as their dependencies finish. Returns whether the run failed.
async fn schedule(
    task: &Task,
    executor: &Arc<dyn Executor>,
    events: &Events,
    stop: &CancellationToken,
    results: &mut [Option<StepResult>],
    outputs: &OutputsById,
) -> bool {
    let index_of = |id: &str| task.steps.iter().position(|s| s.id == id);
    let deps: Vec<Vec<usize>> = task
        .steps
        .iter()
        .map(|s| s.depends_on.iter().filter_map(|d| index_of(d)).collect())
        .collect();
    let mut started = vec![false; task.steps.len()];
    let mut running: JoinSet<StepResult> = JoinSet::new();
    let mut index_of_task = std::collections::HashMap::new();
    let mut failed = false;
    loop {
        if !stop.is_cancelled() {
            for (i, step) in task.steps.iter().enumerate() {
                let ready = !started[i]
                    && deps[i].iter().all(|&d| {
                        results[d]
                            .as_ref()
                            .is_some_and(|r| r.status.lets_dependents_run())
                    });
                if ready {
                    started[i] = true;
                    let step = step.clone();
                    let executor = Arc::clone(executor);
                    let events = events.clone();
                    let stop = stop.clone();
                    let outputs = Arc::clone(outputs);
                    let handle = running.spawn(async move {
                        run_step(&step, executor, &events, &stop, &outputs, None).await
                    });
                    index_of_task.insert(handle.id(), i);
                }
            }
        }
        let Some(joined) = running.join_next_with_id().await else {
            break;
        };
        let (i, result) = match joined {
            Ok((id, result)) => (index_of_task.get(&id).copied().unwrap_or_default(), result),
            Err(e) => {
                // The step's task panicked (a bug): the step failed, and so does the run.
                let i = index_of_task.get(&e.id()).copied().unwrap_or_default();
                let result = StepResult {
                    step: task.steps[i].id.clone(),
                    status: StepStatus::Failed,
                    exit_code: None,
                    duration_ms: 0,
                    attempts: 1,
                    error: Some(events.masker.mask(&format!("internal error: {e}"))),
                    outputs: Outputs::new(),
                };
                (i, result)
            }
        };
        if result.status == StepStatus::Failed {
            failed = true;
            stop.cancel();
        }
        events
            .send(Event::StepFinished {
                time: now(),
                result: result.clone(),
            })
            .await;
        results[i] = Some(result);
    }
    failed
}

/// What one attempt came to.
enum Attempt {
    Success(Option<i64>, Outputs),
    Failure {
        exit_code: Option<i64>,
        error: String,
        retry_allowed: bool,
    },
    Stopped,
}

/// Runs a step with its delay, repeats and retries: binds the outputs of the steps
/// it refers to first, and records its own outputs when it succeeds (masked in its
/// result). `run`
/// is the run's summary for a `notify:` entry.
async fn run_step(
    step: &Step,
    executor: Arc<dyn Executor>,
    events: &Events,
    stop: &CancellationToken,
    outputs: &OutputsById,
    run: Option<Arc<RunSummary>>,
) -> StepResult {
    if step.start_delay > 0 && !sleep_or_stop(Duration::from_secs(step.start_delay), stop).await {
        return StepResult {
            step: step.id.clone(),
            status: StepStatus::Cancelled,
            exit_code: None,
            duration_ms: 0,
            attempts: 0,
            error: Some("the run stopped".into()),
            outputs: Outputs::new(),
        };
    }
    // The duration starts after startDelay, as docs/events.md says.
    let started = Instant::now();
    let finish = |status, exit_code, attempts, error: Option<String>| StepResult {
        step: step.id.clone(),
        status,
        exit_code,
        duration_ms: millis(started.elapsed()),
        attempts,
        error: error.map(|e| events.masker.mask(&e)),
        outputs: Outputs::new(),
    };
    let bound = {
        let known = outputs.lock().map(|o| o.clone()).unwrap_or_default();
        bind(step, &known)
    };
    let step = match bound {
        Ok(step) => step,
        Err(e) => {
            return finish(
                StepStatus::Failed,
                None,
                0,
                Some(format!("step {}: {e}", step.id)),
            );
        }
    };
    let step = &step;
    let mut last_outputs = Outputs::new();
    // ACR retries only cmd and build steps; push steps retry inside the executor.
    let retries = match step.action {
        Action::Push { .. } => 0,
        _ => step.retries,
    };
    let mut attempts = 0;
    let mut last_exit = None;
    let mut errors: Vec<String> = Vec::new();
    for repeat in 0..=step.repeat {
        let mut attempt_in_repeat = 0;
        loop {
            attempts += 1;
            attempt_in_repeat += 1;
            tracing::debug!(step = %step.id, attempt = attempts, repeat, "step attempt starts");
            events
                .send(Event::StepStarted {
                    time: now(),
                    step: step.id.clone(),
                    attempt: attempts,
                    repeat,
                })
                .await;
            match attempt(step, &executor, events, stop, run.clone()).await {
                Attempt::Stopped => {
                    return finish(
                        StepStatus::Cancelled,
                        last_exit,
                        attempts,
                        Some("stopped".into()),
                    );
                }
                Attempt::Success(code, outputs) => {
                    last_exit = code;
                    last_outputs = outputs;
                    break;
                }
                Attempt::Failure {
                    exit_code,
                    error,
                    retry_allowed,
                } => {
                    last_exit = exit_code;
                    tracing::debug!(
                        step = %step.id,
                        attempt = attempts,
                        retry_allowed,
                        "step attempt failed"
                    );
                    if attempt_in_repeat <= retries && retry_allowed {
                        events
                            .send(Event::StepRetrying {
                                time: now(),
                                step: step.id.clone(),
                                attempt: attempts,
                                error: events.masker.mask(&error),
                                delay_secs: step.retry_delay,
                            })
                            .await;
                        if !sleep_or_stop(Duration::from_secs(step.retry_delay), stop).await {
                            return finish(
                                StepStatus::Cancelled,
                                last_exit,
                                attempts,
                                Some("stopped".into()),
                            );
                        }
                        continue;
                    }
                    errors.push(if step.repeat > 0 {
                        format!("run {} of {}: {error}", repeat + 1, step.repeat + 1)
                    } else {
                        error
                    });
                    break;
                }
            }
        }
    }
    if errors.is_empty() {
        // Later steps get the values themselves; events and summaries get them masked.
        let masked = mask_outputs(&last_outputs, &events.masker);
        if let Ok(mut known) = outputs.lock() {
            known.insert(step.id.clone(), last_outputs);
        }
        StepResult {
            outputs: masked,
            ..finish(StepStatus::Succeeded, last_exit, attempts, None)
        }
    } else if step.ignore_errors {
        finish(
            StepStatus::Ignored,
            last_exit,
            attempts,
            Some(errors.join("; ")),
        )
    } else {
        finish(
            StepStatus::Failed,
            last_exit,
            attempts,
            Some(errors.join("; ")),
        )
    }
}

/// Masks secrets in every output value: outputs reach events, logs and later steps.
fn mask_outputs(outputs: &Outputs, masker: &Masker) -> Outputs {
    outputs
        .iter()
        .map(|(name, value)| {
            let value = match value {
                OutputValue::String(s) => OutputValue::String(masker.mask(s)),
                OutputValue::List(items) => {
                    OutputValue::List(items.iter().map(|i| masker.mask(i)).collect())
                }
            };
            (name.clone(), value)
        })
        .collect()
}

/// One attempt: run with the step's timeout, forward and mask its output.
async fn attempt(
    step: &Step,
    executor: &Arc<dyn Executor>,
    events: &Events,
    stop: &CancellationToken,
    run: Option<Arc<RunSummary>>,
) -> Attempt {
    let (tx, rx) = mpsc::unbounded_channel();
    let budget = Arc::new(tokio::sync::Semaphore::new(OUTPUT_BUDGET));
    let forwarder = tokio::spawn(forward_output(
        step.id.clone(),
        rx,
        Arc::clone(&budget),
        events.clone(),
        step.retry_on_errors.clone(),
    ));
    let (progress_tx, progress_rx) = mpsc::unbounded_channel();
    let progress = tokio::spawn(forward_progress(
        step.id.clone(),
        progress_rx,
        events.clone(),
    ));
    let cancel = stop.child_token();
    let output = Output::new(tx, budget, Arc::clone(&events.in_flight), progress_tx);
    let timeout = Duration::from_secs(step.timeout);
    let cx = StepContext {
        output,
        cancel: cancel.clone(),
        run,
        masker: events.masker.clone(),
    };
    let result = {
        let fut = executor.run_step(step, cx);
        tokio::pin!(fut);
        tokio::select! {
            r = &mut fut => Some(r),
            () = tokio::time::sleep(timeout) => {
                cancel.cancel();
                let _ = fut.await;
                None
            }
        }
    };
    // The executor has dropped its output handle: the forwarder ends after the last line.
    let retry_matched = forwarder.await.unwrap_or(false);
    let _ = progress.await;
    let succeeded = matches!(&result, Some(Ok(outcome)) if outcome.exit.succeeded());
    if stop.is_cancelled() && !succeeded {
        return Attempt::Stopped;
    }
    // ACR matches retryOnErrors against the docker client's output, where engine
    // errors (a failed pull, a port already allocated) appear too.
    let error_matches = |message: &str| {
        step.retry_on_errors
            .iter()
            .any(|r| message.contains(r.as_str()))
    };
    // An error's kind says whether another attempt can help (a denied grant or a
    // bad input cannot); then ACR's rule: any failure, or one whose output matched.
    let kind_retryable = !matches!(&result, Some(Err(e)) if !e.kind.retryable());
    let retry_allowed = kind_retryable
        && (step.retry_on_errors.is_empty()
            || retry_matched
            || matches!(&result, Some(Err(e)) if error_matches(&e.message)));
    match result {
        None => Attempt::Failure {
            exit_code: None,
            error: format!(
                "timed out after {}s (context deadline exceeded)",
                step.timeout
            ),
            retry_allowed,
        },
        Some(Ok(Outcome {
            exit: Exit::Code(0),
            outputs,
        })) => Attempt::Success(Some(0), outputs),
        Some(Ok(Outcome {
            exit: Exit::Detached | Exit::Done,
            outputs,
        })) => Attempt::Success(None, outputs),
        Some(Ok(Outcome {
            exit: Exit::Code(code),
            ..
        })) => Attempt::Failure {
            exit_code: Some(code),
            error: format!("exit code {code}"),
            retry_allowed,
        },
        Some(Err(ExecError { message, .. })) => Attempt::Failure {
            exit_code: None,
            error: message,
            retry_allowed,
        },
    }
}

/// Turns an attempt's raw output into masked log events, returning each chunk's
/// share of the attempt's budget once its lines are sent. Returns whether any line
/// contained one of `retry_on` (for `retryOnErrors`).
async fn forward_output(
    step: String,
    mut rx: mpsc::UnboundedReceiver<Chunk>,
    budget: Arc<tokio::sync::Semaphore>,
    events: Events,
    retry_on: Vec<String>,
) -> bool {
    let mut stdout = LineScrubber::new(events.masker.clone());
    let mut stderr = LineScrubber::new(events.masker.clone());
    let mut matched = false;
    while let Some(chunk) = rx.recv().await {
        let scrubber = match chunk.stream {
            Stream::Stdout => &mut stdout,
            Stream::Stderr => &mut stderr,
        };
        let lines = scrubber.push(&chunk.bytes);
        for line in lines {
            emit(&events, &step, chunk.stream, line, &retry_on, &mut matched).await;
        }
        events.in_flight.done(chunk.bytes.len());
        budget.add_permits(chunk.permits as usize);
    }
    for (stream, scrubber) in [(Stream::Stdout, &mut stdout), (Stream::Stderr, &mut stderr)] {
        if let Some(line) = scrubber.finish() {
            emit(&events, &step, stream, line, &retry_on, &mut matched).await;
        }
    }
    matched
}

/// Sends one log line, noting whether it matches `retryOnErrors`.
async fn emit(
    events: &Events,
    step: &str,
    stream: Stream,
    line: String,
    retry_on: &[String],
    matched: &mut bool,
) {
    if !*matched && retry_on.iter().any(|r| line.contains(r.as_str())) {
        *matched = true;
    }
    events
        .send(Event::Log {
            time: now(),
            step: step.to_string(),
            stream,
            line,
        })
        .await;
}

/// Passes an attempt's progress on as events: per item, at most one every
/// [`PROGRESS_INTERVAL`], and always the one that completes it. Items are masked like
/// log lines.
async fn forward_progress(
    step: String,
    mut rx: mpsc::UnboundedReceiver<crate::executor::Progress>,
    events: Events,
) {
    let mut last: HashMap<String, Instant> = HashMap::new();
    while let Some(p) = rx.recv().await {
        let done = p.total.is_some_and(|t| p.current >= t);
        let at = Instant::now();
        let due = last
            .get(&p.item)
            .is_none_or(|previous| at.duration_since(*previous) >= PROGRESS_INTERVAL);
        if !done && !due {
            continue;
        }
        last.insert(p.item.clone(), at);
        events
            .send(Event::Progress {
                time: now(),
                step: step.clone(),
                item: events.masker.mask(&p.item),
                action: p.action,
                current: p.current,
                total: p.total,
            })
            .await;
    }
}

/// The shortest time between two progress events of one item.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(200);

/// Sleeps, unless the run stops first; returns whether the whole delay passed.
async fn sleep_or_stop(duration: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(duration) => true,
        () = stop.cancelled() => false,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
