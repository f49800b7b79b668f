//! Plugin steps in `wharf run`: the [`PluginExecutor`] the run's
//! [`wharf_engine::Dispatch`] sends `plugin:` steps and `notify:` entries to. It finds
//! the component ([`source`], [`oci`]), calls it in the plugin host with the step's
//! `with:` values, `allow:` grants, timeout and secrets, wires image access and tag
//! application to the Docker engine, and hands the plugin's outputs back to the
//! engine. Findings and log lines go to the step's output, so the live log, the
//! summary and the NDJSON events all show them.
//!
//! The engine knows nothing of the plugin host: this module is the only place the
//! two meet.

pub mod oci;
pub mod source;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use wharf_engine::{
    BoxFuture, ErrorKind, ExecError, Executor, Exit, Outcome, Output, RunSummary, StepContext,
    Stream,
};
use wharf_plugin_host::{
    CallError, CallErrorKind, CallInput, DirectoryReports, Finding, Grants, HostConfig,
    ImageAccess, ImageRef, Limits, LoadError, LogLevel, LogSink, LogSource, Plugin, PluginHost,
    PushedImage, RunEvent, Services, Severity, StepSummary, Subject, World,
};
use wharf_spec::{Action, OutputValue, Outputs, PluginCall, PluginSource, Step, StepKind, Task};

/// Where a scanner's reports go: `<context>/.wharf/reports/<step id>/`.
pub const REPORTS_DIR: &str = ".wharf/reports";

/// Runs `plugin:` steps and `notify:` entries.
pub struct PluginExecutor {
    task: Arc<Task>,
    context: PathBuf,
    run: wharf_spec::RunInfo,
    secrets: Vec<(String, String)>,
    loader: Arc<Loader>,
    /// Set by `prepare` while a thread warms the run's plugins; steps wait for it.
    warm: Mutex<Option<tokio::sync::watch::Receiver<bool>>>,
    /// The engine, for taggers' tags and scanners' images: one client, so plugin
    /// steps share its connections.
    docker: OnceLock<Result<bollard::Docker, String>>,
    oci: oci::Store,
    findings: Mutex<BTreeMap<Severity, u32>>,
    /// Every component loaded, for the run's provenance.
    loaded: Mutex<Vec<wharf_trust::provenance::PluginDependency>>,
}

impl std::fmt::Debug for PluginExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginExecutor")
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

impl PluginExecutor {
    /// An executor for `task`'s plugin steps. `secrets` are the run's secrets by id;
    /// a plugin can open only those its step grants, and all are masked in its log.
    pub fn new(
        task: Arc<Task>,
        context: PathBuf,
        run: wharf_spec::RunInfo,
        secrets: Vec<(String, String)>,
        registry: Option<wharf_registry::Client>,
    ) -> PluginExecutor {
        PluginExecutor {
            task,
            context,
            run,
            secrets,
            loader: Arc::default(),
            warm: Mutex::new(None),
            docker: OnceLock::new(),
            oci: oci::Store::new(registry),
            findings: Mutex::new(BTreeMap::new()),
            loaded: Mutex::new(Vec::new()),
        }
    }

    /// Talks to the engine through `docker` (the run's own client, see
    /// [`wharf_docker::Engine::client`]) instead of connecting on its own.
    #[must_use]
    pub fn with_docker(self, docker: bollard::Docker) -> PluginExecutor {
        let _ = self.docker.set(Ok(docker));
        self
    }

    /// The components loaded so far (steps and notifications), each once: where it
    /// came from (`oci://...`, or the file) and its digest.
    pub fn loaded(&self) -> Vec<wharf_trust::provenance::PluginDependency> {
        self.loaded.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Starts warming the run's plugins on a thread of their own: the plugin host,
    /// and each plugin a step or `notify:` entry names by file or name (not `oci://`,
    /// which needs the network), loaded from the code cache or compiled. The first
    /// steps of the run hide that time; a plugin step waits for the thread, then
    /// finds its plugin loaded if the file is unchanged. Nothing is reported here:
    /// a plugin that cannot be found or loaded fails its own step, if it runs.
    fn start_warming(&self) {
        let files: Vec<(PluginSource, String)> = self
            .task
            .steps
            .iter()
            .chain(self.task.notify.iter().map(|n| &n.step))
            .filter_map(|step| match &step.action {
                Action::Plugin(call) if !matches!(call.source, PluginSource::Oci(_)) => {
                    Some((call.source.clone(), call.plugin.clone()))
                }
                _ => None,
            })
            .collect();
        if files.is_empty() {
            return;
        }
        let (done, rx) = tokio::sync::watch::channel(false);
        let loader = Arc::clone(&self.loader);
        let context = self.context.clone();
        // A detached thread, not `spawn_blocking`: a run that ends early does not
        // wait for a compile nobody needs.
        let spawned = std::thread::Builder::new()
            .name("wharf-plugin-warm".into())
            .spawn(move || {
                lower_priority();
                let start = Instant::now();
                if let Ok(host) = loader.host() {
                    for (source, written) in &files {
                        if let Ok(found) = source::find(source, written, &context) {
                            let _ = loader.load_file(&host, &found, false);
                        }
                    }
                }
                tracing::debug!(
                    plugins = files.len(),
                    took_us = start.elapsed().as_micros() as u64,
                    "plugins warmed"
                );
                let _ = done.send(true);
            });
        if spawned.is_ok()
            && let Ok(mut warm) = self.warm.lock()
        {
            *warm = Some(rx);
        }
    }

    /// Waits for the warming thread, if one is running.
    async fn warmed(&self) {
        let rx = self.warm.lock().ok().and_then(|w| w.clone());
        if let Some(mut rx) = rx {
            // An error means the thread ended without saying so: go on without it.
            let _ = rx.wait_for(|done| *done).await;
        }
    }

    /// The engine's client, made at the first step that needs it.
    fn docker(&self) -> Result<bollard::Docker, ExecError> {
        self.docker
            .get_or_init(|| wharf_plugin_host::docker::connect().map_err(|e| e.to_string()))
            .clone()
            .map_err(|m| ExecError::of(ErrorKind::Engine, m))
    }

    async fn load(&self, host: &PluginHost, call: &PluginCall) -> Result<Plugin, ExecError> {
        let found = match &call.source {
            PluginSource::Oci(reference) => self.oci.fetch(reference).await?,
            other => source::find(other, &call.plugin, &self.context)
                .map_err(|m| ExecError::of(ErrorKind::Input, m))?,
        };
        let uri = match &call.source {
            PluginSource::Oci(reference) => format!("oci://{reference}"),
            _ => {
                let path = found.path.canonicalize().unwrap_or(found.path.clone());
                format!("file://{}", path.display())
            }
        };
        let plugin = self.loader.load_file(host, &found, true)?;
        // The host hashed the component already (its cache key): hashing a Python
        // plugin's 17 MiB again cost a step ~15 ms.
        if let Ok(digest) = wharf_registry::Digest::parse(plugin.digest())
            && let Ok(mut loaded) = self.loaded.lock()
            && !loaded.iter().any(|p| p.uri == uri && p.digest == digest)
        {
            loaded.push(wharf_trust::provenance::PluginDependency { uri, digest });
        }
        Ok(plugin)
    }

    fn run_info(&self, step_id: &str) -> wharf_plugin_host::RunInfo {
        let r = &self.run;
        wharf_plugin_host::RunInfo {
            id: r.id.clone(),
            registry: r.registry.clone(),
            commit: r.commit.clone(),
            branch: r.branch.clone(),
            git_tag: (!r.git_tag.is_empty()).then(|| r.git_tag.clone()),
            date: r.date.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            os: r.os.clone(),
            architecture: r.architecture.clone(),
            task_name: r.task_name.clone(),
            step_id: step_id.to_string(),
        }
    }

    /// The environment a plugin may be granted: the step's `env:`, then wharf's own.
    fn offered_env(step: &Step, grants: &Grants) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = Vec::new();
        for entry in &step.env {
            if let Some((k, v)) = entry.split_once('=')
                && grants.env.iter().any(|g| g == k)
                && !env.iter().any(|(e, _)| e == k)
            {
                env.push((k.to_string(), v.to_string()));
            }
        }
        for name in &grants.env {
            if !env.iter().any(|(e, _)| e == name)
                && let Ok(v) = std::env::var(name)
            {
                env.push((name.clone(), v));
            }
        }
        env
    }

    fn run_event(&self, summary: &RunSummary, step_id: &str) -> RunEvent {
        let finished = jiff::Timestamp::now();
        let started = self.run.date;
        let steps: Vec<StepSummary> = summary
            .steps
            .iter()
            .map(|s| StepSummary {
                id: s.step.clone(),
                status: serde_json::to_value(s.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                duration_ms: s.duration_ms,
                error: s.error.clone(),
            })
            .collect();
        let mut images = Vec::new();
        for result in &summary.steps {
            let is_push = self
                .task
                .steps
                .iter()
                .any(|s| s.id == result.step && s.action.kind() == StepKind::Push);
            if !is_push {
                continue;
            }
            let list = |name: &str| {
                result
                    .outputs
                    .get(name)
                    .map(OutputValue::items)
                    .unwrap_or_default()
            };
            let digests = list("digests");
            for (i, reference) in list("refs").into_iter().enumerate() {
                images.push(PushedImage {
                    image: image_ref(&reference),
                    digest: digests.get(i).cloned().filter(|d| !d.is_empty()),
                    media_type: None,
                    size: None,
                });
            }
        }
        let findings = self
            .findings
            .lock()
            .map(|f| f.iter().rev().map(|(s, n)| (*s, *n)).collect())
            .unwrap_or_default();
        RunEvent {
            run: self.run_info(step_id),
            status: match summary.status {
                wharf_engine::RunStatus::Succeeded => wharf_plugin_host::RunStatus::Success,
                _ => wharf_plugin_host::RunStatus::Failure,
            },
            started: started.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            finished: finished.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            duration_ms: summary.duration_ms,
            error: summary
                .steps
                .iter()
                .find(|s| s.status == wharf_engine::StepStatus::Failed)
                .and_then(|s| s.error.as_ref().map(|e| format!("step {}: {e}", s.step))),
            steps,
            images,
            findings,
        }
    }

    async fn call(&self, step: &Step, cx: &StepContext) -> Result<Outcome, ExecError> {
        let Action::Plugin(call) = &step.action else {
            return Err(ExecError::of(
                ErrorKind::Input,
                format!("step {} is not a plugin step", step.id),
            ));
        };
        tokio::select! {
            () = self.warmed() => {}
            () = cx.cancel.cancelled() => {
                return Err(ExecError::of(ErrorKind::Timeout, "stopped"));
            }
        }
        let host = self.loader.host()?;
        let plugin = self.load(&host, call).await?;
        if let wharf_plugin_host::Compiled::Now(took) = plugin.compiled() {
            // Seconds for an interpreter (Python, JavaScript): say why this step is slow.
            let kept = match host.cache_dir() {
                Some(dir) => format!("kept in {} for later runs", dir.display()),
                None => "no code cache, so every run compiles it".to_string(),
            };
            cx.output.line(
                Stream::Stdout,
                &format!(
                    "compiled plugin {} ({}) to native code in {:.1} s, its first use with this wharf; {kept} (`wharf plugin compile` does it ahead of time)",
                    plugin.name(),
                    plugin.digest(),
                    took.as_secs_f64()
                ),
            );
        }
        let grants = Grants {
            http: call.allow.http.clone(),
            env: call.allow.env.clone(),
            read: call.allow.read.clone(),
            secrets: call.allow.secrets.clone(),
        };
        let limits = Limits {
            timeout: Duration::from_secs(step.timeout.max(1)),
            ..Limits::default()
        };
        let log: Arc<dyn LogSink> = Arc::new(StepLog(cx.output.clone()));
        let mut services = Services::log_only(Arc::clone(&log));
        let mut _scratch = None;
        let subject = match (&cx.run, plugin.world()) {
            (Some(summary), _) => Subject::Run(Box::new(self.run_event(summary, &step.id))),
            (None, World::Notifier) => {
                return Err(ExecError::of(
                    ErrorKind::Input,
                    format!(
                        "plugin {} is a notifier: notifiers run from the task's top-level notify: list, \
                         not as steps (a step needs a tagger or a scanner)",
                        plugin.name()
                    ),
                ));
            }
            (None, world) => {
                let Some(image) = with_image(call) else {
                    return Err(ExecError::of(
                        ErrorKind::Input,
                        format!(
                            "plugin {} is a {world}: the step needs `with: image` naming the image to {}",
                            plugin.name(),
                            if world == World::Scanner {
                                "scan"
                            } else {
                                "tag"
                            }
                        ),
                    ));
                };
                let image = image_ref(&image);
                {
                    let docker = self.docker()?;
                    if world == World::Scanner {
                        let dir = tempfile::Builder::new()
                            .prefix("wharf-scan-")
                            .tempdir()
                            .map_err(|e| {
                                ExecError::of(
                                    ErrorKind::Other,
                                    format!("cannot make a scratch directory: {e}"),
                                )
                            })?;
                        let archive = wharf_plugin_host::docker::export_image(
                            &docker,
                            &image.reference,
                            dir.path(),
                        )
                        .await
                        .map_err(|e| ExecError::of(ErrorKind::Engine, e.to_string()))?;
                        services.image = Some(Arc::new(archive) as Arc<dyn ImageAccess>);
                        services.reports = Some(Arc::new(DirectoryReports {
                            dir: self.context.join(REPORTS_DIR).join(&step.id),
                            prefix: format!("{REPORTS_DIR}/{}", step.id),
                        }));
                        _scratch = Some(dir);
                    } else {
                        services.tags =
                            Some(Arc::new(wharf_plugin_host::docker::DockerTags { docker }));
                    }
                }
                Subject::Image(image)
            }
        };
        let input = CallInput {
            with: call
                .with
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            env: Self::offered_env(step, &grants),
            grants,
            limits,
            run: self.run_info(&step.id),
            context_dir: Some(self.context.clone()),
            secrets: self.secrets.clone(),
            subject,
        };
        let result = tokio::select! {
            r = host.call(&plugin, input, services) => r,
            () = cx.cancel.cancelled() => {
                return Err(ExecError::of(ErrorKind::Timeout, "stopped"));
            }
        };
        let outcome = result.map_err(call_error)?;
        report_findings(&cx.output, &outcome.findings);
        if let Ok(mut counts) = self.findings.lock() {
            for f in &outcome.findings {
                *counts.entry(f.severity).or_insert(0) += 1;
            }
        }
        let mut outputs = Outputs::new();
        for (name, value) in outcome.outputs {
            outputs.insert(
                name,
                match value {
                    wharf_plugin_host::OutputValue::Text(s) => OutputValue::String(s),
                    wharf_plugin_host::OutputValue::List(l) => OutputValue::List(l),
                },
            );
        }
        if let Some(reason) = outcome.failed {
            return Err(ExecError::of(
                ErrorKind::Other,
                format!("plugin {} failed the step: {reason}", plugin.name()),
            ));
        }
        Ok(Outcome::new(Exit::Done).with_outputs(outputs))
    }
}

impl Executor for PluginExecutor {
    fn prepare(&self) -> BoxFuture<'_, Result<(), ExecError>> {
        self.start_warming();
        Box::pin(async { Ok(()) })
    }

    fn run_step<'a>(
        &'a self,
        step: &'a Step,
        cx: StepContext,
    ) -> BoxFuture<'a, Result<Outcome, ExecError>> {
        Box::pin(async move { self.call(step, &cx).await })
    }

    fn cleanup(&self) -> BoxFuture<'_, Vec<String>> {
        Box::pin(async { Vec::new() })
    }
}

/// How much the warming thread lowers its priority (its nice value, up to 19).
const WARM_NICENESS: i32 = 10;

/// Lowers the calling thread's priority by [`WARM_NICENESS`]: the warming thread
/// takes the CPU time the run's own work and the engine leave, instead of
/// contending with them for a machine's few cores while the run starts (measured on
/// two cores: it slowed the first step of the run). When the first plugin step
/// waits for it, nothing else is running in wharf, so it still gets a core unless
/// the machine is busy with other work. Linux only: there a thread id names one
/// thread, and a lowered thread's later threads (the compiler's) inherit it.
#[cfg(target_os = "linux")]
fn lower_priority() {
    use rustix::process::{getpriority_process, setpriority_process};
    let me = Some(rustix::thread::gettid());
    if let Ok(now) = getpriority_process(me) {
        let _ = setpriority_process(me, (now + WARM_NICENESS).min(19));
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

/// The plugin host and the plugins loaded from files, shared with the thread
/// that warms them while the run's first steps run.
#[derive(Default)]
struct Loader {
    host: OnceLock<Result<Arc<PluginHost>, String>>,
    /// By file: what the file was when loaded, the plugin, and whether a step has
    /// had it yet (the first gets its compile reported).
    files: Mutex<HashMap<PathBuf, (Fingerprint, Plugin, bool)>>,
}

impl Loader {
    /// The host, started once per run, by the warming thread or the first plugin
    /// step (a run without plugins never pays for it).
    fn host(&self) -> Result<Arc<PluginHost>, ExecError> {
        self.host
            .get_or_init(|| {
                let start = Instant::now();
                let host = PluginHost::new(HostConfig::default())
                    .map(Arc::new)
                    .map_err(|e| e.to_string());
                tracing::debug!(
                    took_us = start.elapsed().as_micros() as u64,
                    ok = host.is_ok(),
                    "plugin host started"
                );
                host
            })
            .clone()
            .map_err(|m| ExecError::of(ErrorKind::Other, m))
    }

    /// The plugin in `found`'s file: the one loaded before when the file has not
    /// changed since (no second read and hash), else read and loaded by the host
    /// (from its code cache, or compiled). `for_step`: a step is taking it.
    fn load_file(
        &self,
        host: &PluginHost,
        found: &source::Found,
        for_step: bool,
    ) -> Result<Plugin, ExecError> {
        let start = Instant::now();
        let seen = Fingerprint::of(&found.path);
        if let Some(seen) = seen
            && let Ok(mut files) = self.files.lock()
            && let Some((was, plugin, taken)) = files.get_mut(&found.path)
            && *was == seen
        {
            let plugin = if *taken {
                plugin.reused()
            } else {
                plugin.clone()
            };
            *taken |= for_step;
            return Ok(plugin);
        }
        let bytes = std::fs::read(&found.path).map_err(|e| {
            ExecError::of(
                ErrorKind::Input,
                format!("cannot read plugin {}: {e}", found.path.display()),
            )
        })?;
        let plugin = host.load(&found.name, &bytes).map_err(load_error)?;
        tracing::debug!(
            plugin = %found.name,
            path = %found.path.display(),
            compiled = ?plugin.compiled(),
            took_us = start.elapsed().as_micros() as u64,
            "plugin loaded"
        );
        if let Some(seen) = seen
            && let Ok(mut files) = self.files.lock()
        {
            files.insert(found.path.clone(), (seen, plugin.clone(), for_step));
        }
        Ok(plugin)
    }
}

/// What a file was when it was read: a plugin file that a step rebuilds or
/// replaces is loaded again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fingerprint {
    len: u64,
    modified: Option<SystemTime>,
    /// Device, inode and change time, where there are such things.
    node: (u64, u64, i64, i64),
}

impl Fingerprint {
    fn of(path: &Path) -> Option<Fingerprint> {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let node = {
            use std::os::unix::fs::MetadataExt as _;
            (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec())
        };
        #[cfg(not(unix))]
        let node = (0, 0, 0, 0);
        Some(Fingerprint {
            len: meta.len(),
            modified: meta.modified().ok(),
            node,
        })
    }
}

/// The step's `with: image`, as text.
fn with_image(call: &PluginCall) -> Option<String> {
    match call.with.get("image") {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

/// An image reference as the host wants it: as written, with registry and
/// repository from Docker's rules.
fn image_ref(reference: &str) -> ImageRef {
    match wharf_registry::ImageRef::parse(reference) {
        Ok(parsed) => ImageRef {
            reference: reference.to_string(),
            registry: parsed.registry.clone(),
            repository: parsed.repository.clone(),
            tag: parsed.tag.clone(),
            digest: parsed.digest.as_ref().map(ToString::to_string),
        },
        Err(_) => ImageRef {
            reference: reference.to_string(),
            ..ImageRef::default()
        },
    }
}

/// Findings in the step's log, one line each, then a summary line.
fn report_findings(output: &Output, findings: &[Finding]) {
    if findings.is_empty() {
        return;
    }
    for f in findings {
        let at = match (&f.path, f.line) {
            (Some(p), Some(l)) => format!(" ({p}:{l})"),
            (Some(p), None) => format!(" ({p})"),
            _ => String::new(),
        };
        output.line(
            Stream::Stdout,
            &format!(
                "finding {} {}: {}{at}",
                f.severity.as_str(),
                f.rule_id,
                f.message
            ),
        );
    }
    let counts: Vec<String> = Severity::ALL
        .iter()
        .rev()
        .filter_map(|s| {
            let n = findings.iter().filter(|f| f.severity == *s).count();
            (n > 0).then(|| format!("{n} {}", s.as_str()))
        })
        .collect();
    output.line(
        Stream::Stdout,
        &format!("findings: {} ({})", findings.len(), counts.join(", ")),
    );
}

/// A plugin's log lines into the step's output: info and stdout as they are,
/// warnings prefixed, errors and stderr on stderr; debug and trace only in wharf's
/// own log (`-v`).
struct StepLog(Output);

impl LogSink for StepLog {
    fn line(&self, source: LogSource, text: &str) {
        match source {
            LogSource::Log(LogLevel::Info) | LogSource::Stdout => {
                self.0.line(Stream::Stdout, text);
            }
            LogSource::Log(LogLevel::Warn) => {
                self.0.line(Stream::Stdout, &format!("warning: {text}"))
            }
            LogSource::Log(LogLevel::Error) => {
                self.0.line(Stream::Stderr, &format!("error: {text}"))
            }
            LogSource::Stderr => self.0.line(Stream::Stderr, text),
            LogSource::Log(LogLevel::Debug | LogLevel::Trace) => {}
        }
    }
}

fn load_error(e: LoadError) -> ExecError {
    ExecError::of(ErrorKind::Input, e.to_string())
}

/// The host's error kinds as the engine's (which decide retries).
fn call_error(e: CallError) -> ExecError {
    let kind = match e.kind() {
        CallErrorKind::Timeout => ErrorKind::Timeout,
        CallErrorKind::Denied => ErrorKind::Denied,
        CallErrorKind::Limit => ErrorKind::Limit,
        CallErrorKind::Trap => ErrorKind::Trap,
        CallErrorKind::Config => ErrorKind::Input,
        CallErrorKind::Host => ErrorKind::Engine,
        _ => ErrorKind::Other,
    };
    ExecError::of(kind, e.to_string())
}
