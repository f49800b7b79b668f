//! Runs a resolved task (`wharf_spec::Task`): starts each step as soon as every step
//! it depends on has succeeded, in parallel, applying ACR's per-step rules
//! (`startDelay`, `timeout`, `retries`/`retryDelay`/`retryOnErrors`, `repeat`,
//! `ignoreErrors`), and stops at the first failure that is not ignored.
//!
//! The engine knows how steps run only through the [`Executor`] trait, masks every
//! secret in everything it emits (also when a secret is split across two writes),
//! and reports what happens as [`Event`]s.
//!
//! Invariants: no Docker, no registry, no terminal; cleanup is called exactly once
//! per run, however it ends.

pub mod event;
pub mod executor;
pub mod mask;
pub mod run;

pub use event::{Event, RunStatus, StepResult, StepStatus, Stream};
pub use executor::{
    BoxFuture, Dispatch, ErrorKind, ExecError, Executor, Exit, OUTPUT_BUDGET, Outcome, Output,
    Progress, RunSummary, StepContext,
};
pub use mask::{LineScrubber, MASK, Masker};
pub use run::{
    BufferStats, EVENT_QUEUE, RunOptions, RunReport, collect_events, event_channel, run,
};
