//! The host's typed errors. No variant carries a secret value: messages name
//! secrets by id only, and plugin-supplied text is masked before it gets here.

use std::path::PathBuf;
use std::time::Duration;

/// A plugin was refused a capability: what it asked for and what to grant.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Denied {
    /// The whole message, naming the import or request and the grant to add.
    pub message: String,
    /// The `allow:` keys involved (`env`, `read`, `http`, `secrets`).
    pub grant: Vec<String>,
}

/// A plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read plugin {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The bytes are not a WebAssembly component wasmtime can compile.
    #[error("plugin {name} is not a valid WebAssembly component: {message}")]
    Invalid {
        /// The plugin.
        name: String,
        /// wasmtime's reason.
        message: String,
    },
    /// The component exports none of `tag`, `scan`, `notify` with the contract's types.
    #[error(
        "plugin {name} is not a wharf plugin: it must export `tag` (world tagger), `scan` (scanner) \
         or `notify` (notifier) from wharf:plugin@0.1.0; {detail}"
    )]
    NotAPlugin {
        /// The plugin.
        name: String,
        /// What it exports, or why the export did not match.
        detail: String,
    },
    /// An import the host never provides (raw sockets, a newer WASI, an unknown package).
    #[error("plugin {name} cannot run here: {reason}")]
    Unsupported {
        /// The plugin.
        name: String,
        /// The import and why.
        reason: String,
    },
    /// The compile cache could not be used (the plugin is still compiled; this is
    /// returned only when writing it is impossible and required).
    #[error("plugin cache {path}: {message}")]
    Cache {
        /// The cache file or directory.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// The coarse kind of a [`CallError`], for retry rules and reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallErrorKind {
    /// The call ran past its timeout.
    Timeout,
    /// A capability was not granted.
    Denied,
    /// A resource limit was hit (memory, stack, output).
    Limit,
    /// The plugin trapped (a panic, `unreachable`, a bad memory access).
    Trap,
    /// The plugin returned an error or failed the step.
    Plugin,
    /// The step's configuration is wrong for this plugin (wrong world, `with:`).
    Config,
    /// The host or a service failed (the engine, tag application, reports).
    Host,
}

/// Why a call did not produce a result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// Ran past `timeout`.
    #[error("plugin {plugin} ran past its timeout of {}", humantime(*limit))]
    Timeout {
        /// The plugin.
        plugin: String,
        /// The limit.
        limit: Duration,
    },
    /// Asked for linear memory beyond the cap.
    #[error(
        "plugin {plugin} ran out of memory: it asked for {requested} bytes, more than its limit of {limit} bytes"
    )]
    OutOfMemory {
        /// The plugin.
        plugin: String,
        /// The cap.
        limit: u64,
        /// What it asked for.
        requested: u64,
    },
    /// Recursed past the wasm stack limit.
    #[error("plugin {plugin} exhausted its call stack (runaway recursion)")]
    StackOverflow {
        /// The plugin.
        plugin: String,
    },
    /// Wrote more log/stdout/stderr, or returned more, than allowed.
    #[error("plugin {plugin} produced more than its output limit of {limit} bytes ({what})")]
    OutputLimit {
        /// The plugin.
        plugin: String,
        /// The limit.
        limit: u64,
        /// Which output: `log lines`, `stdout`, `its result`.
        what: String,
    },
    /// Trapped.
    #[error("plugin {plugin} crashed: {message}")]
    Trap {
        /// The plugin.
        plugin: String,
        /// wasmtime's trap message (and the guest's last stderr line, if any).
        message: String,
    },
    /// Needed a grant it was not given (before running, or during the call).
    #[error("{0}")]
    Denied(Denied),
    /// A component built for another world than the step needs.
    #[error("plugin {plugin} is a {found}, but {needed}")]
    WrongWorld {
        /// The plugin.
        plugin: String,
        /// What it is: `tagger`, `scanner`, `notifier`.
        found: String,
        /// What the place needs, as a sentence fragment (`a notify: entry needs a notifier`).
        needed: String,
    },
    /// The step's inputs are wrong (`with: image` missing, ...).
    #[error("plugin {plugin}: {message}")]
    Config {
        /// The plugin.
        plugin: String,
        /// What is wrong.
        message: String,
    },
    /// The plugin returned an error.
    #[error("plugin {plugin} failed: {message}")]
    Plugin {
        /// The plugin.
        plugin: String,
        /// Its variant: `invalid-config`, `access-denied`, `not-found`, `failed`, `other`.
        variant: String,
        /// Its message (masked).
        message: String,
    },
    /// A scanner completed and failed the step (`failOn`); the findings are in the outcome.
    #[error("plugin {plugin} failed the step: {reason}")]
    Failed {
        /// The plugin.
        plugin: String,
        /// Its reason.
        reason: String,
    },
    /// The host or a service failed.
    #[error("plugin {plugin}: {message}")]
    Host {
        /// The plugin.
        plugin: String,
        /// What failed.
        message: String,
    },
}

impl CallError {
    /// The error's kind.
    pub fn kind(&self) -> CallErrorKind {
        match self {
            CallError::Timeout { .. } => CallErrorKind::Timeout,
            CallError::OutOfMemory { .. }
            | CallError::StackOverflow { .. }
            | CallError::OutputLimit { .. } => CallErrorKind::Limit,
            CallError::Trap { .. } => CallErrorKind::Trap,
            CallError::Denied(_) => CallErrorKind::Denied,
            CallError::WrongWorld { .. } | CallError::Config { .. } => CallErrorKind::Config,
            CallError::Plugin { variant, .. } if variant == "access-denied" => {
                CallErrorKind::Denied
            }
            CallError::Plugin { variant, .. } if variant == "invalid-config" => {
                CallErrorKind::Config
            }
            CallError::Plugin { .. } | CallError::Failed { .. } => CallErrorKind::Plugin,
            CallError::Host { .. } => CallErrorKind::Host,
        }
    }
}

fn humantime(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}
