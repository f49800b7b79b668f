//! One call of a plugin: a fresh `Store` with the step's grants and limits,
//! instantiation from the plugin's pre-instantiated component, the world's export,
//! and the result turned into step outputs (or a typed error). The store is
//! dropped when the call ends, whatever happened.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx};
use wasmtime_wasi_http::WasiHttpCtx;

use crate::bindings::{notifier, tagger};
use crate::error::{CallError, Denied};
use crate::grants::{Grants, Limits};
use crate::host::PluginHost;
use crate::http_policy::HttpPolicy;
use crate::model::{Finding, ImageRef, OutputValue, RunEvent, RunInfo, RunStatus, Severity};
use crate::output::{Abort, LineLog, LogStream};
use crate::plugin::{Plugin, Pre, World};
use crate::services::{ImageAccess, LogSink, LogSource, ReportWriter, TagApplier};
use crate::state::{CallShared, CallState, MemoryLimiter};

use tagger::wharf::plugin::types as wit;

/// What a plugin step is called on: an image (taggers, scanners) or a finished run
/// (notifiers).
#[derive(Clone, Debug)]
pub enum Subject {
    /// The step's `with: image`, parsed by the caller.
    Image(ImageRef),
    /// The run, for notifiers.
    Run(Box<RunEvent>),
}

/// Everything a call needs from the step and the run.
#[derive(Clone)]
pub struct CallInput {
    /// The step's `with:` values in the order written (already rendered).
    pub with: Vec<(String, serde_json::Value)>,
    /// The step's `allow:` block.
    pub grants: Grants,
    /// The call's limits.
    pub limits: Limits,
    /// The run and step.
    pub run: RunInfo,
    /// The build context on this machine: base of relative `read:` grants and Cargo
    /// manifests.
    pub context_dir: Option<PathBuf>,
    /// Values of environment variables the caller offers; only names in
    /// `grants.env` reach the plugin.
    pub env: Vec<(String, String)>,
    /// The run's secrets by id; only ids in `grants.secrets` can be opened, all are
    /// masked in the plugin's log.
    pub secrets: Vec<(String, String)>,
    /// What the plugin works on.
    pub subject: Subject,
}

impl std::fmt::Debug for CallInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallInput")
            .field("with", &self.with)
            .field("grants", &self.grants)
            .field("limits", &self.limits)
            .field("run", &self.run)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// The services a call may use, wired by the caller.
#[derive(Clone)]
pub struct Services {
    /// The step's log.
    pub log: Arc<dyn LogSink>,
    /// The image scanners read (required for scanners).
    pub image: Option<Arc<dyn ImageAccess>>,
    /// Applies taggers' tags; without one, tags are only reported as outputs.
    pub tags: Option<Arc<dyn TagApplier>>,
    /// Where scanners' reports go.
    pub reports: Option<Arc<dyn ReportWriter>>,
}

impl Services {
    /// Only a log; no image, tags or reports.
    pub fn log_only(log: Arc<dyn LogSink>) -> Services {
        Services {
            log,
            image: None,
            tags: None,
            reports: None,
        }
    }
}

/// Timings of a call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Store creation and instantiation.
    pub instantiate: Duration,
    /// The export call, including host calls.
    pub call: Duration,
    /// Log and stdio bytes written.
    pub log_bytes: u64,
}

/// What a call produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallOutcome {
    /// The step's outputs in order (a tagger's begin with `tags` and `refs`).
    pub outputs: Vec<(String, OutputValue)>,
    /// A scanner's findings.
    pub findings: Vec<Finding>,
    /// Set when a scanner completed but fails the step (`failOn`): the reason.
    pub failed: Option<String>,
    /// Timings.
    pub stats: CallStats,
}

impl CallOutcome {
    /// The output `name`.
    pub fn output(&self, name: &str) -> Option<&OutputValue> {
        self.outputs.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Findings counted by severity, highest first, zero counts omitted.
    pub fn finding_counts(&self) -> Vec<(Severity, u32)> {
        let mut counts = Vec::new();
        for sev in Severity::ALL.iter().rev() {
            let n = self.findings.iter().filter(|f| f.severity == *sev).count();
            if n > 0 {
                counts.push((*sev, u32::try_from(n).unwrap_or(u32::MAX)));
            }
        }
        counts
    }
}

/// A string value as written, anything else as JSON.
fn with_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl PluginHost {
    /// Calls `plugin` once. Checks the grants first (a plugin asking for more than
    /// it is granted does not run), then runs it in a fresh store within `limits`.
    pub async fn call(
        &self,
        plugin: &Plugin,
        input: CallInput,
        services: Services,
    ) -> Result<CallOutcome, CallError> {
        let name = plugin.name().to_string();
        plugin.check(&input.grants).map_err(CallError::Denied)?;
        match (&input.subject, plugin.world()) {
            (Subject::Image(_), World::Tagger | World::Scanner) => {}
            (Subject::Run(_), World::Notifier) => {}
            (Subject::Image(_), World::Notifier) => {
                return Err(CallError::WrongWorld {
                    plugin: name,
                    found: "notifier".into(),
                    needed: "a step that works on an image needs a tagger or a scanner; \
                             use notifiers in the task's notify: list"
                        .into(),
                });
            }
            (Subject::Run(_), world) => {
                return Err(CallError::WrongWorld {
                    plugin: name,
                    found: world.to_string(),
                    needed: "a notify: entry needs a notifier".into(),
                });
            }
        }
        if plugin.world() == World::Scanner && services.image.is_none() {
            return Err(CallError::Host {
                plugin: name,
                message: "a scanner needs access to the image, and none was wired".into(),
            });
        }

        let secret_values: Vec<String> = input.secrets.iter().map(|(_, v)| v.clone()).collect();
        let log = Arc::new(LineLog::new(
            &name,
            &input.run.step_id,
            input.limits.output_bytes,
            secret_values,
            services.log.clone(),
        ));
        let shared = Arc::new(CallShared {
            plugin: name.clone(),
            with: input
                .with
                .iter()
                .map(|(k, v)| (k.clone(), with_text(v)))
                .collect(),
            run: input.run.clone(),
            grants: input.grants.clone(),
            limits: input.limits.clone(),
            context_dir: input.context_dir.clone(),
            secrets: input.secrets.clone(),
            image: services.image.clone(),
            reports: services.reports.clone(),
            log: log.clone(),
            denials: Mutex::new(Vec::new()),
        });

        let started = Instant::now();
        let wasi = self.wasi_ctx(&input, &log, &name)?;
        let mut table = ResourceTable::new();
        table.set_max_capacity(input.limits.resources as usize);
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(64 * 1024);
        let state = CallState {
            wasi,
            http,
            hooks: HttpPolicy {
                shared: Arc::downgrade(&shared),
            },
            table,
            limiter: MemoryLimiter {
                cap: input.limits.memory_bytes,
                refused: None,
            },
            shared: shared.clone(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_hostcall_fuel(usize::try_from(input.limits.hostcall_bytes).unwrap_or(usize::MAX));
        let tick = self.tick.as_nanos().max(1);
        let ticks = input.limits.timeout.as_nanos().div_ceil(tick) + 1;
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        store.epoch_deadline_trap();

        let limit = input.limits.timeout;
        let grace = self.tick * 5 + Duration::from_millis(50);
        let run = run_export(&mut store, plugin, &input.subject, started);
        let result = match tokio::time::timeout(limit + grace, run).await {
            Ok(r) => r,
            Err(_) => {
                log.flush();
                return Err(CallError::Timeout {
                    plugin: name,
                    limit,
                });
            }
        };
        log.flush();
        let mut stats = CallStats {
            log_bytes: log.written(),
            ..CallStats::default()
        };
        let raw = match result {
            Ok((raw, instantiate, call)) => {
                stats.instantiate = instantiate;
                stats.call = call;
                raw
            }
            Err(e) => {
                let refused = store.data().limiter.refused;
                return Err(classify(e, &name, &input.limits, refused, &log, &shared));
            }
        };
        drop(store);
        tracing::debug!(
            plugin = %name,
            instantiate_us = stats.instantiate.as_micros() as u64,
            call_us = stats.call.as_micros() as u64,
            "plugin returned"
        );
        self.finish(plugin, raw, &input, &services, &shared, stats)
            .await
    }

    fn wasi_ctx(
        &self,
        input: &CallInput,
        log: &Arc<LineLog>,
        name: &str,
    ) -> Result<WasiCtx, CallError> {
        let mut b = WasiCtx::builder();
        b.stdout(LogStream {
            log: log.clone(),
            source: LogSource::Stdout,
        });
        b.stderr(LogStream {
            log: log.clone(),
            source: LogSource::Stderr,
        });
        b.max_random_size(1 << 20);
        b.allow_tcp(false);
        b.allow_udp(false);
        b.allow_ip_name_lookup(false);
        for (k, v) in &input.env {
            if input.grants.env.iter().any(|g| g == k) {
                b.env(k, v);
            }
        }
        for path in &input.grants.read {
            let p = std::path::Path::new(path);
            let host = match (&input.context_dir, p.is_absolute()) {
                (Some(c), false) => c.join(p),
                _ => p.to_path_buf(),
            };
            if host.is_dir() {
                b.preopened_dir(&host, path, FsPerms::ReadOnly)
                    .map_err(|e| CallError::Host {
                        plugin: name.into(),
                        message: format!("cannot open {} for the plugin: {e}", host.display()),
                    })?;
            }
        }
        Ok(b.build())
    }

    async fn finish(
        &self,
        plugin: &Plugin,
        raw: RawResult,
        input: &CallInput,
        services: &Services,
        shared: &CallShared,
        stats: CallStats,
    ) -> Result<CallOutcome, CallError> {
        let name = plugin.name().to_string();
        let limit = input.limits.output_bytes;
        let plugin_error = |e: wit::PluginError| {
            // A plugin that reports access-denied after the host refused something
            // gets the host's message, which names the grant.
            let denied: Option<Denied> =
                shared.denials.lock().ok().and_then(|d| d.first().cloned());
            let (variant, message) = match e {
                wit::PluginError::InvalidConfig(m) => ("invalid-config", m),
                wit::PluginError::AccessDenied(m) => ("access-denied", m),
                wit::PluginError::NotFound(m) => ("not-found", m),
                wit::PluginError::Failed(m) => ("failed", m),
                wit::PluginError::Other(m) => ("other", m),
            };
            if let Some(d) = denied {
                return CallError::Denied(d);
            }
            CallError::Plugin {
                plugin: name.clone(),
                variant: variant.into(),
                message: shared.log.mask(&message),
            }
        };
        let mut outcome = CallOutcome {
            stats,
            ..CallOutcome::default()
        };
        match raw {
            RawResult::Tag(r) => {
                let r = r.map_err(plugin_error)?;
                let size: usize =
                    r.tags.iter().map(String::len).sum::<usize>() + outputs_size(&r.outputs);
                if size as u64 > limit {
                    return Err(CallError::OutputLimit {
                        plugin: name,
                        limit,
                        what: "its result".into(),
                    });
                }
                let mut tags: Vec<String> = Vec::new();
                for tag in r.tags {
                    if !valid_tag(&tag) {
                        return Err(CallError::Plugin {
                            plugin: name,
                            variant: "invalid-result".into(),
                            message: format!(
                                "{tag:?} is not a valid image tag (at most 128 of A-Z a-z 0-9 _ . -, not starting with . or -)"
                            ),
                        });
                    }
                    if !tags.contains(&tag) {
                        tags.push(tag);
                    }
                }
                let Subject::Image(image) = &input.subject else {
                    unreachable_world(&name)?
                };
                let refs = match &services.tags {
                    Some(applier) => {
                        let start = Instant::now();
                        let refs = applier.apply(image, &tags).await.map_err(|message| {
                            CallError::Host {
                                plugin: name.clone(),
                                message: format!("cannot tag {}: {message}", image.reference),
                            }
                        })?;
                        tracing::debug!(
                            plugin = %name,
                            image = %image.reference,
                            tags = tags.len(),
                            took_us = start.elapsed().as_micros() as u64,
                            "tags applied"
                        );
                        refs
                    }
                    None => tags.iter().map(|t| image.with_tag(t)).collect(),
                };
                outcome
                    .outputs
                    .push(("tags".into(), OutputValue::List(tags)));
                outcome
                    .outputs
                    .push(("refs".into(), OutputValue::List(refs)));
                add_outputs(&mut outcome, r.outputs, &name, &["tags", "refs"])?;
            }
            RawResult::Scan(r) => {
                let r = r.map_err(plugin_error)?;
                let size: usize = r
                    .findings
                    .iter()
                    .map(|f| {
                        f.rule_id.len() + f.message.len() + f.path.as_ref().map_or(0, String::len)
                    })
                    .sum::<usize>()
                    + outputs_size(&r.outputs);
                if size as u64 > limit {
                    return Err(CallError::OutputLimit {
                        plugin: name,
                        limit,
                        what: "its result".into(),
                    });
                }
                outcome.findings = r
                    .findings
                    .into_iter()
                    .map(|f| Finding {
                        rule_id: f.rule_id,
                        severity: severity_from(f.severity),
                        message: shared.log.mask(&f.message),
                        path: f.path,
                        line: f.line,
                    })
                    .collect();
                add_outputs(&mut outcome, r.outputs, &name, &[])?;
                outcome.failed = r.fail.map(|m| shared.log.mask(&m));
            }
            RawResult::Notify(r) => r.map_err(plugin_error)?,
        }
        Ok(outcome)
    }
}

fn unreachable_world<T>(name: &str) -> Result<T, CallError> {
    Err(CallError::Host {
        plugin: name.into(),
        message: "internal error: the call's subject does not match its world".into(),
    })
}

fn outputs_size(outputs: &[wit::Output]) -> usize {
    outputs
        .iter()
        .map(|o| {
            o.name.len()
                + match &o.value {
                    wit::OutputValue::Text(t) => t.len(),
                    wit::OutputValue::Items(i) => i.iter().map(String::len).sum(),
                }
        })
        .sum()
}

fn add_outputs(
    outcome: &mut CallOutcome,
    outputs: Vec<wit::Output>,
    plugin: &str,
    reserved: &[&str],
) -> Result<(), CallError> {
    for o in outputs {
        let valid = o
            .name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && o.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid || reserved.contains(&o.name.as_str()) || outcome.output(&o.name).is_some() {
            return Err(CallError::Plugin {
                plugin: plugin.into(),
                variant: "invalid-result".into(),
                message: format!(
                    "output name {:?} is invalid or repeated (letters, digits, - and _, starting with a letter; {} are set by the host)",
                    o.name,
                    if reserved.is_empty() {
                        "none".to_string()
                    } else {
                        reserved.join(" and ")
                    }
                ),
            });
        }
        let value = match o.value {
            wit::OutputValue::Text(t) => OutputValue::Text(t),
            wit::OutputValue::Items(i) => OutputValue::List(i),
        };
        outcome.outputs.push((o.name, value));
    }
    Ok(())
}

/// The OCI tag grammar: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    tag.len() <= 128
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn severity_from(s: wit::Severity) -> Severity {
    match s {
        wit::Severity::Info => Severity::Info,
        wit::Severity::Low => Severity::Low,
        wit::Severity::Medium => Severity::Medium,
        wit::Severity::High => Severity::High,
        wit::Severity::Critical => Severity::Critical,
    }
}

fn severity_to(s: Severity) -> wit::Severity {
    match s {
        Severity::Info => wit::Severity::Info,
        Severity::Low => wit::Severity::Low,
        Severity::Medium => wit::Severity::Medium,
        Severity::High => wit::Severity::High,
        Severity::Critical => wit::Severity::Critical,
    }
}

enum RawResult {
    Tag(Result<tagger::TagResult, wit::PluginError>),
    Scan(Result<crate::bindings::scanner::ScanResult, wit::PluginError>),
    Notify(Result<(), wit::PluginError>),
}

fn image_to_wit(i: &ImageRef) -> wit::ImageRef {
    wit::ImageRef {
        reference: i.reference.clone(),
        registry: i.registry.clone(),
        repository: i.repository.clone(),
        tag: i.tag.clone(),
        digest: i.digest.clone(),
    }
}

fn run_to_wit(r: &RunInfo) -> wit::RunInfo {
    wit::RunInfo {
        id: r.id.clone(),
        registry: r.registry.clone(),
        commit: r.commit.clone(),
        branch: r.branch.clone(),
        git_tag: r.git_tag.clone(),
        date: r.date.clone(),
        os: r.os.clone(),
        architecture: r.architecture.clone(),
        task_name: r.task_name.clone(),
        step_id: r.step_id.clone(),
    }
}

fn event_to_wit(e: &RunEvent) -> notifier::RunEvent {
    notifier::RunEvent {
        run: run_to_wit(&e.run),
        status: match e.status {
            RunStatus::Success => notifier::RunStatus::Success,
            RunStatus::Failure => notifier::RunStatus::Failure,
        },
        started: e.started.clone(),
        finished: e.finished.clone(),
        duration_ms: e.duration_ms,
        steps: e
            .steps
            .iter()
            .map(|s| notifier::StepSummary {
                id: s.id.clone(),
                status: s.status.clone(),
                duration_ms: s.duration_ms,
                error: s.error.clone(),
            })
            .collect(),
        images: e
            .images
            .iter()
            .map(|i| notifier::PushedImage {
                image: image_to_wit(&i.image),
                digest: i.digest.clone(),
                media_type: i.media_type.clone(),
                size: i.size,
            })
            .collect(),
        findings: e
            .findings
            .iter()
            .map(|(s, n)| notifier::FindingCount {
                severity: severity_to(*s),
                count: *n,
            })
            .collect(),
        error: e.error.clone(),
    }
}

async fn run_export(
    store: &mut Store<CallState>,
    plugin: &Plugin,
    subject: &Subject,
    started: Instant,
) -> wasmtime::Result<(RawResult, Duration, Duration)> {
    match (&plugin.inner.pre, subject) {
        (Pre::Tagger(pre), Subject::Image(image)) => {
            let instance = pre.instantiate_async(&mut *store).await?;
            let instantiated = started.elapsed();
            let r = instance.call_tag(&mut *store, &image_to_wit(image)).await?;
            Ok((
                RawResult::Tag(r),
                instantiated,
                started.elapsed() - instantiated,
            ))
        }
        (Pre::Scanner(pre), Subject::Image(image)) => {
            let instance = pre.instantiate_async(&mut *store).await?;
            let instantiated = started.elapsed();
            let r = instance
                .call_scan(&mut *store, &image_to_wit(image))
                .await?;
            Ok((
                RawResult::Scan(r),
                instantiated,
                started.elapsed() - instantiated,
            ))
        }
        (Pre::Notifier(pre), Subject::Run(event)) => {
            let instance = pre.instantiate_async(&mut *store).await?;
            let instantiated = started.elapsed();
            let r = instance
                .call_notify(&mut *store, &event_to_wit(event))
                .await?;
            Ok((
                RawResult::Notify(r),
                instantiated,
                started.elapsed() - instantiated,
            ))
        }
        _ => wasmtime::bail!("the call's subject does not match the plugin's world"),
    }
}

/// Turns a failed call into the error a user can act on.
fn classify(
    e: wasmtime::Error,
    plugin: &str,
    limits: &Limits,
    refused_memory: Option<u64>,
    log: &LineLog,
    shared: &CallShared,
) -> CallError {
    let plugin = plugin.to_string();
    if let Some(Abort::Output(what)) = log.take_abort() {
        return CallError::OutputLimit {
            plugin,
            limit: limits.output_bytes,
            what: what.into(),
        };
    }
    if let Some(requested) = refused_memory {
        return CallError::OutOfMemory {
            plugin,
            limit: limits.memory_bytes,
            requested,
        };
    }
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        match trap {
            wasmtime::Trap::Interrupt => {
                return CallError::Timeout {
                    plugin,
                    limit: limits.timeout,
                };
            }
            wasmtime::Trap::StackOverflow => return CallError::StackOverflow { plugin },
            _ => {}
        }
    }
    if let Some(denied) = shared.denials.lock().ok().and_then(|d| d.first().cloned()) {
        return CallError::Denied(denied);
    }
    let mut message = match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::UnreachableCodeReached) => {
            "it reached `unreachable` (a Rust panic or abort, or a trap in the guest)".to_string()
        }
        Some(wasmtime::Trap::MemoryOutOfBounds) => {
            "out-of-bounds memory access (for a Rust plugin, usually a stack overflow from deep recursion)".to_string()
        }
        Some(trap) => trap.to_string(),
        None => log.mask(&format!("{e:#}")),
    };
    let last = log.last_stderr();
    if !last.is_empty() {
        message.push_str("; its stderr ended with: ");
        message.push_str(&last.join(" | "));
    }
    CallError::Trap { plugin, message }
}
