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

/// Where an executor writes a step's output. Cheap to clone; bytes may arrive in any
/// chunking — the engine assembles lines and masks secrets.
#[derive(Clone, Debug)]
pub struct Output {
    tx: mpsc::UnboundedSender<(Stream, Vec<u8>)>,
}

impl Output {
    pub(crate) fn new(tx: mpsc::UnboundedSender<(Stream, Vec<u8>)>) -> Output {
        Output { tx }
    }

    /// An output whose bytes go to `tx` (for executors' own tests).
    pub fn to_channel(tx: mpsc::UnboundedSender<(Stream, Vec<u8>)>) -> Output {
        Output { tx }
    }

    /// Writes bytes to `stream`.
    pub fn write(&self, stream: Stream, bytes: &[u8]) {
        if !bytes.is_empty() {
            let _ = self.tx.send((stream, bytes.to_vec()));
        }
    }

    /// Writes a whole line (a newline is added) to `stream`.
    pub fn line(&self, stream: Stream, text: &str) {
        let mut bytes = Vec::with_capacity(text.len() + 1);
        bytes.extend_from_slice(text.as_bytes());
        bytes.push(b'\n');
        let _ = self.tx.send((stream, bytes));
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
