//! The interface between the engine and what actually runs steps.
//!
//! The engine knows executors only through [`Executor`]: it decides *when* a step
//! runs, how often, and what counts as failure; the executor decides *how* (a
//! Docker container, a registry push, a WebAssembly plugin, ...). [`Dispatch`] is
//! the one place that sends each kind of step to its executor.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use wharf_spec::{Outputs, Step, StepKind};

use crate::event::{RunStatus, StepResult, Stream};
use crate::mask::Masker;

/// A boxed future, so that [`Executor`] can be a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How one attempt of a step ended, as the executor saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The container (or operation) finished with this code; 0 is success.
    Code(i64),
    /// A detached container started and keeps running.
    Detached,
    /// The step succeeded without a process exit code (a push, a plugin).
    Done,
}

impl Exit {
    /// Whether the attempt succeeded.
    pub fn succeeded(self) -> bool {
        matches!(self, Exit::Code(0) | Exit::Detached | Exit::Done)
    }
}

/// What one attempt came to: its exit and the outputs it gives later steps
/// (`$(steps.<id>.outputs.<name>)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// How it ended.
    pub exit: Exit,
    /// Its outputs, by name.
    pub outputs: Outputs,
}

impl Outcome {
    /// An outcome without outputs.
    pub fn new(exit: Exit) -> Outcome {
        Outcome {
            exit,
            outputs: Outputs::new(),
        }
    }

    /// This outcome with `outputs`.
    pub fn with_outputs(mut self, outputs: Outputs) -> Outcome {
        self.outputs = outputs;
        self
    }
}

impl From<Exit> for Outcome {
    fn from(exit: Exit) -> Outcome {
        Outcome::new(exit)
    }
}

/// What kind of failure an [`ExecError`] is. The engine decides from the kind
/// whether another attempt can help: a denied grant or bad input fails the same
/// way every time, so `retries` does not repeat it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The step ran out of time (its own deadline, inside the executor).
    Timeout,
    /// The step asked for something it was not granted.
    Denied,
    /// The step's code crashed (a WebAssembly trap).
    Trap,
    /// The step hit a resource limit (memory, CPU fuel, output).
    Limit,
    /// The container engine failed or refused.
    Engine,
    /// A registry failed or refused.
    Registry,
    /// The step's input is wrong (a bad reference, an unknown output, a plugin built
    /// for another kind of step).
    Input,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Whether another attempt may succeed.
    pub fn retryable(self) -> bool {
        !matches!(self, ErrorKind::Denied | ErrorKind::Input)
    }

    /// A short name, for events and logs.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Denied => "denied",
            ErrorKind::Trap => "trap",
            ErrorKind::Limit => "limit",
            ErrorKind::Engine => "engine",
            ErrorKind::Registry => "registry",
            ErrorKind::Input => "input",
            ErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An executor could not run the step at all (as opposed to the step failing).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExecError {
    /// What kind of failure it is.
    pub kind: ErrorKind,
    /// What went wrong, for the user. The engine masks secrets in it.
    pub message: String,
}

impl ExecError {
    /// An error of kind [`ErrorKind::Other`] with this message.
    pub fn new(message: impl Into<String>) -> ExecError {
        ExecError::of(ErrorKind::Other, message)
    }

    /// An error of `kind` with this message.
    pub fn of(kind: ErrorKind, message: impl Into<String>) -> ExecError {
        ExecError {
            kind,
            message: message.into(),
        }
    }
}

/// How far a transfer of a step has come: one layer of a push, say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// What is being transferred (`2f9c1d0e7a3b`, a layer's short digest).
    pub item: String,
    /// What is done with it (`push`).
    pub action: String,
    /// Bytes done so far.
    pub current: u64,
    /// Bytes in all, when known.
    pub total: Option<u64>,
}

/// One piece of a step's output on its way to the engine: the bytes, and how many
/// bytes of the step's budget they hold (returned when the engine has handled them).
#[derive(Debug)]
pub(crate) struct Chunk {
    pub stream: Stream,
    pub bytes: Vec<u8>,
    pub permits: u32,
}

/// How many bytes of one attempt's output may wait for the engine at once: a step
/// that prints faster than the output is shown waits in [`Output::send`].
pub const OUTPUT_BUDGET: usize = 1 << 20;

/// Bytes of step output waiting for the engine, for the whole run.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    now: std::sync::atomic::AtomicUsize,
    peak: std::sync::atomic::AtomicUsize,
}

impl InFlight {
    fn add(&self, n: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        let now = self.now.fetch_add(n, Relaxed) + n;
        self.peak.fetch_max(now, Relaxed);
    }

    pub(crate) fn done(&self, n: usize) {
        self.now.fetch_sub(n, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn peak(&self) -> usize {
        self.peak.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[derive(Clone, Debug)]
enum Sink {
    /// The engine: bounded by a budget of bytes.
    Engine {
        tx: mpsc::UnboundedSender<Chunk>,
        budget: Arc<tokio::sync::Semaphore>,
        in_flight: Arc<InFlight>,
    },
    /// A plain channel (executors' own tests).
    Channel(mpsc::UnboundedSender<(Stream, Vec<u8>)>),
}

/// Where an executor writes a step's output. Cheap to clone; bytes may arrive in any
/// chunking — the engine assembles lines and masks secrets.
///
/// A step's bulk output (a container's log stream) goes through [`Output::send`],
/// which waits while [`OUTPUT_BUDGET`] bytes of the attempt's output are still on
/// their way: however much a step prints, memory stays flat and the step is slowed
/// to the speed of the output. [`Output::write`] and [`Output::line`] never wait; they
/// are for the executor's own short messages.
#[derive(Clone, Debug)]
pub struct Output {
    sink: Sink,
    progress: Option<mpsc::UnboundedSender<Progress>>,
}

impl Output {
    pub(crate) fn new(
        tx: mpsc::UnboundedSender<Chunk>,
        budget: Arc<tokio::sync::Semaphore>,
        in_flight: Arc<InFlight>,
        progress: mpsc::UnboundedSender<Progress>,
    ) -> Output {
        Output {
            sink: Sink::Engine {
                tx,
                budget,
                in_flight,
            },
            progress: Some(progress),
        }
    }

    /// An output whose bytes go to `tx` (for executors' own tests); progress is
    /// dropped.
    pub fn to_channel(tx: mpsc::UnboundedSender<(Stream, Vec<u8>)>) -> Output {
        Output {
            sink: Sink::Channel(tx),
            progress: None,
        }
    }

    /// Reports transfer progress (shown as progress bars, plain lines, or `progress`
    /// events; the engine passes on a few per second per item). Never waits: the
    /// engine keeps only the latest value per item worth showing.
    pub fn progress(&self, progress: Progress) {
        if let Some(tx) = &self.progress {
            let _ = tx.send(progress);
        }
    }

    fn push(&self, stream: Stream, bytes: Vec<u8>, permits: u32) {
        match &self.sink {
            Sink::Engine { tx, in_flight, .. } => {
                in_flight.add(bytes.len());
                let _ = tx.send(Chunk {
                    stream,
                    bytes,
                    permits,
                });
            }
            Sink::Channel(tx) => {
                let _ = tx.send((stream, bytes));
            }
        }
    }

    /// Writes bytes to `stream`, waiting while too much of the step's output is still
    /// on its way (backpressure).
    pub async fn send(&self, stream: Stream, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut permits = 0;
        if let Sink::Engine { budget, .. } = &self.sink {
            let want = u32::try_from(bytes.len().min(OUTPUT_BUDGET)).unwrap_or(u32::MAX);
            // The engine never closes the budget; an error only means it is gone.
            if let Ok(p) = budget.acquire_many(want).await {
                p.forget();
                permits = want;
            }
        }
        self.push(stream, bytes.to_vec(), permits);
    }

    /// Writes bytes to `stream` without waiting (for short messages).
    pub fn write(&self, stream: Stream, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.push(stream, bytes.to_vec(), 0);
        }
    }

    /// Writes a whole line (a newline is added) to `stream`, without waiting.
    pub fn line(&self, stream: Stream, text: &str) {
        let mut bytes = Vec::with_capacity(text.len() + 1);
        bytes.extend_from_slice(text.as_bytes());
        bytes.push(b'\n');
        self.push(stream, bytes, 0);
    }
}

/// How the run went so far, for notifiers (`notify:` entries run after the steps).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSummary {
    /// The run id.
    pub run_id: String,
    /// How the steps ended.
    pub status: RunStatus,
    /// Wall time of the steps, milliseconds.
    pub duration_ms: u64,
    /// Every step, in file order, with its outputs.
    pub steps: Vec<StepResult>,
}

/// What an executor gets with each attempt.
#[derive(Clone, Debug)]
pub struct StepContext {
    /// Where the step's output goes.
    pub output: Output,
    /// Fires when the step must stop (timeout, interruption, another step failed).
    pub cancel: CancellationToken,
    /// For a `notify:` entry, how the run went.
    pub run: Option<Arc<RunSummary>>,
    /// The run's secret masker: a value the executor learns to be secret while it
    /// runs the step (a build secret read from a file) is [added](Masker::add) here
    /// before it could reach any output, and is masked in everything the run emits
    /// from then on.
    pub masker: Masker,
}

/// Runs steps. Implemented by the Docker executor and the plugin host; tests may
/// provide their own. Object safe: the engine holds `Arc<dyn Executor>`.
pub trait Executor: Send + Sync + 'static {
    /// Creates what the whole run needs before any step starts (networks, the shared
    /// workspace, volumes). Called once.
    fn prepare(&self) -> BoxFuture<'_, Result<(), ExecError>>;

    /// Runs one attempt of `step`, writing its output to `cx.output`. Returns when the
    /// attempt is over; for a detached step, as soon as its container has started.
    /// When `cx.cancel` fires it must stop the step promptly and return.
    fn run_step<'a>(
        &'a self,
        step: &'a Step,
        cx: StepContext,
    ) -> BoxFuture<'a, Result<Outcome, ExecError>>;

    /// Removes everything the run created (containers, networks, volumes). Called once,
    /// however the run ended; returns the problems it met, if any.
    fn cleanup(&self) -> BoxFuture<'_, Vec<String>>;
}

/// Sends each kind of step to the executor that runs it: the one place that knows
/// which executor runs what. `prepare` and `cleanup` reach every executor once.
#[derive(Clone, Default)]
pub struct Dispatch {
    routes: Vec<(StepKind, Arc<dyn Executor>)>,
    executors: Vec<Arc<dyn Executor>>,
}

impl fmt::Debug for Dispatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatch")
            .field(
                "routes",
                &self.routes.iter().map(|(k, _)| k.key()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Dispatch {
    /// A dispatch with no routes.
    pub fn new() -> Dispatch {
        Dispatch::default()
    }

    /// Sends steps of `kinds` to `executor` (a later route for the same kind wins).
    pub fn route(mut self, kinds: &[StepKind], executor: Arc<dyn Executor>) -> Dispatch {
        if !self.executors.iter().any(|e| Arc::ptr_eq(e, &executor)) {
            self.executors.push(Arc::clone(&executor));
        }
        for kind in kinds {
            self.routes.retain(|(k, _)| k != kind);
            self.routes.push((*kind, Arc::clone(&executor)));
        }
        self
    }

    fn executor_for(&self, kind: StepKind) -> Option<&Arc<dyn Executor>> {
        self.routes.iter().find(|(k, _)| *k == kind).map(|(_, e)| e)
    }
}

impl Executor for Dispatch {
    fn prepare(&self) -> BoxFuture<'_, Result<(), ExecError>> {
        Box::pin(async move {
            let results =
                futures_util::future::join_all(self.executors.iter().map(|e| e.prepare())).await;
            results
                .into_iter()
                .collect::<Result<Vec<()>, _>>()
                .map(|_| ())
        })
    }

    fn run_step<'a>(
        &'a self,
        step: &'a Step,
        cx: StepContext,
    ) -> BoxFuture<'a, Result<Outcome, ExecError>> {
        let kind = step.action.kind();
        match self.executor_for(kind) {
            Some(executor) => executor.run_step(step, cx),
            None => Box::pin(async move {
                Err(ExecError::of(
                    ErrorKind::Input,
                    format!("step {}: this run cannot run {} steps", step.id, kind.key()),
                ))
            }),
        }
    }

    fn cleanup(&self) -> BoxFuture<'_, Vec<String>> {
        Box::pin(async move {
            futures_util::future::join_all(self.executors.iter().map(|e| e.cleanup()))
                .await
                .into_iter()
                .flatten()
                .collect()
        })
    }
}
