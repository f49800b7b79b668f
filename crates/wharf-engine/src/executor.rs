//! The interface between the engine and what actually runs steps.
//!
//! The engine knows executors only through [`Executor`]: it decides *when* a step
//! runs, how often, and what counts as failure; the executor decides *how* (a
//! Docker container, a registry push, ...).

use std::future::Future;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use wharf_spec::Step;

use crate::event::Stream;

/// How one attempt of a step ended, as the executor saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The container (or operation) finished with this code; 0 is success.
    Code(i64),
    /// A detached container started and keeps running.
    Detached,
    /// The step succeeded without a process exit code (a push).
    Done,
}

/// An executor could not run the step at all (as opposed to the step failing).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExecError {
    /// What went wrong, for the user. The engine masks secrets in it.
    pub message: String,
}

impl ExecError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> ExecError {
        ExecError {
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

/// Runs steps. Implemented by the Docker executor; tests may provide their own.
pub trait Executor: Send + Sync + 'static {
    /// Creates what the whole run needs before any step starts (networks, the shared
    /// workspace, volumes). Called once.
    fn prepare(&self) -> impl Future<Output = Result<(), ExecError>> + Send;

    /// Runs one attempt of `step`, writing its output to `output`. Returns when the
    /// attempt is over; for a detached step, as soon as its container has started.
    /// When `cancel` fires (timeout, interruption, another step failed) it must stop
    /// the step promptly and return.
    fn run_step(
        &self,
        step: &Step,
        output: Output,
        cancel: CancellationToken,
    ) -> impl Future<Output = Result<Exit, ExecError>> + Send;

    /// Removes everything the run created (containers, networks, volumes). Called once,
    /// however the run ended; returns the problems it met, if any.
    fn cleanup(&self) -> impl Future<Output = Vec<String>> + Send;
}
