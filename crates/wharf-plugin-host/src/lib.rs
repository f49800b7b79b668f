//! The sandboxed host for wharf's plugin steps: WebAssembly components built
//! against `wharf:plugin@0.1.0` (`wit/` in the repository), run by wasmtime 48.
//!
//! One [`PluginHost`] per process owns the engine (pooling allocator, epoch
//! interruption), an epoch ticker, the linker and the on-disk cache of precompiled
//! code. [`PluginHost::load`] compiles a component (or maps its cached `.cwasm`),
//! finds its world ([`World`]: tagger, scanner, notifier) and what its imports ask
//! for. [`PluginHost::call`] runs it once in a fresh store with the step's
//! [`Grants`] and [`Limits`], and returns the step's outputs, findings, or a typed
//! [`CallError`].
//!
//! The host knows nothing of Docker or the engine: the caller supplies a
//! [`LogSink`], and for scanners and taggers an [`ImageAccess`] and a
//! [`TagApplier`] ([`ImageArchive`] reads a `docker save` archive; with the
//! `docker` feature, [`docker`] wires both to a Docker engine through bollard).
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use wharf_plugin_host::*;
//!
//! let host = PluginHost::new(HostConfig::default())?;
//! let plugin = host.load_file("target/plugins/semver-tagger.wasm".as_ref())?;
//! struct Print;
//! impl LogSink for Print {
//!     fn line(&self, _source: LogSource, text: &str) { println!("{text}") }
//! }
//! let image = ImageRef {
//!     reference: "localhost:5000/app:build".into(),
//!     registry: "localhost:5000".into(),
//!     repository: "app".into(),
//!     tag: Some("build".into()),
//!     digest: None,
//! };
//! let input = CallInput {
//!     with: vec![("version".into(), "1.2.3".into())],
//!     grants: Grants::default(),
//!     limits: Limits::default(),
//!     run: RunInfo::default(),
//!     context_dir: None,
//!     env: vec![],
//!     secrets: vec![],
//!     subject: Subject::Image(image),
//! };
//! let outcome = host.call(&plugin, input, Services::log_only(Arc::new(Print))).await?;
//! println!("{:?}", outcome.output("tags"));
//! # Ok(()) }
//! ```

mod bindings;
mod cache;
mod call;
#[cfg(feature = "docker")]
pub mod docker;
mod error;
mod grants;
mod host;
mod http_policy;
mod image_archive;
mod model;
mod output;
mod plugin;
mod services;
mod state;

pub use cache::Compiled;
pub use call::{CallInput, CallOutcome, CallStats, Services, Subject, valid_tag};
pub use error::{CallError, CallErrorKind, Denied, LoadError};
pub use grants::{Capability, Grants, HOST_CONTRACT, HOST_WASI, Limits};
pub use host::{Allocation, HostConfig, HostError, KEEP_RESIDENT, PluginHost, default_cache_dir};
pub use image_archive::ImageArchive;
pub use model::{
    FileEntry, FileKind, Finding, ImageRef, OutputValue, PushedImage, RunEvent, RunInfo, RunStatus,
    Severity, StepSummary,
};
pub use plugin::{Plugin, World};
pub use services::{
    BoxFuture, DirectoryReports, ImageAccess, ImageError, LogLevel, LogSink, LogSource,
    ReportWriter, TagApplier,
};
