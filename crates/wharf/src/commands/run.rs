//! `wharf run`: load the task, resolve its secrets, start wharf's own registry when no
//! `--registry` is given, and run the steps on the Docker engine.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wharf_engine::{Masker, RunOptions, RunStatus};
use wharf_spec::values::host_platform;
use wharf_spec::{RunInfo, Secret, SecretFailure, StepKind, masked_secrets};

use crate::cli::RunArgs;
use crate::output::{Renderer, Style};
use crate::report;
use crate::task_input::InputError;

use super::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, runtime};

/// Where wharf's own registry listens when no `--registry` is given.
pub const LOCAL_REGISTRY: &str = "127.0.0.1:5050";

/// `wharf run`.
pub fn run(args: &RunArgs) -> ExitCode {
    if let Some(target) = &args.acr.target.on {
        return super::run_acr::run(args, target, args.cmd.as_deref());
    }
    if let Some(cmd) = &args.cmd {
        return run_cmd(args, cmd);
    }
    match run_inner(args) {
        Ok(code) | Err(code) => code,
    }
}

impl RunArgs {
    /// The defaults of `wharf run` around a task a command makes itself.
    pub fn quick() -> RunArgs {
        RunArgs {
            task: crate::cli::TaskArgs::empty(),
            cmd: None,
            secret: Vec::new(),
            secret_file: Vec::new(),
            json: false,
            dry_run: false,
            bind: false,
            no_docker_socket: false,
            strict: false,
            retry_budget: 15.0,
            trigger: None,
            provenance: crate::cli::ProvenanceArgs::default(),
            acr: crate::commands::run_acr::AcrArgs::default(),
        }
    }
}

/// The task `az acr run --cmd` encodes: one `cmd` step, aliases on (v1.1.0).
pub fn cmd_task(cmd: &str) -> String {
    format!(
        "version: v1.1.0\nsteps:\n  - cmd: {}\n",
        serde_json::Value::String(cmd.to_string())
    )
}

/// `wharf run --cmd "IMAGE ARGS" [CONTEXT]`: FILE, when given, is the context;
/// `/dev/null` (or nothing) is an empty one.
fn run_cmd(args: &RunArgs, cmd: &str) -> ExitCode {
    if cmd.trim().is_empty() {
        eprintln!("error: --cmd is empty: give \"IMAGE ARGS\"");
        return ExitCode::from(EXIT_USAGE);
    }
    let mut quick = args.clone();
    quick.cmd = None;
    let empty = match &args.task.file {
        Some(dir) if dir != std::path::Path::new("/dev/null") => {
            quick.task.context = dir.clone();
            None
        }
        _ => match tempfile::tempdir() {
            Ok(dir) => {
                quick.task.context = dir.path().to_path_buf();
                Some(dir)
            }
            Err(e) => {
                eprintln!("error: cannot make an empty context: {e}");
                return ExitCode::from(EXIT_FAILED);
            }
        },
    };
    quick.task.file = Some(std::path::PathBuf::from("(--cmd)"));
    quick.task.inline = Some(cmd_task(cmd));
    let code = match run_inner(&quick) {
        Ok(code) | Err(code) => code,
    };
    drop(empty);
    code
}

fn run_inner(args: &RunArgs) -> Result<ExitCode, ExitCode> {
    let rt = runtime()?;
    // Made first (it costs nothing); its HTTPS client only if the task needs one.
    let registry = registry_client(args)?;
    let usage = |message: String| {
        eprintln!("error: {message}");
        ExitCode::from(EXIT_USAGE)
    };

    // Local secret values: --secret and --secret-file.
    let mut local = wharf_secrets::LocalSecrets::default();
    for s in &args.secret {
        local.parse_flag(s).map_err(|e| usage(e.to_string()))?;
    }
    for f in &args.secret_file {
        local.read_file(f).map_err(|e| usage(e.to_string()))?;
    }
    // --provenance: the key is checked before anything runs.
    let pending = crate::provenance::prepare(&args.provenance).map_err(usage)?;
    let local_by_id: std::collections::HashMap<String, String> = local
        .ids()
        .filter_map(|id| local.get(id).map(|v| (id.to_string(), v.to_string())))
        .collect();

    // A missing task file is reported before anything is started.
    let path = args.task.path();
    let default_file = args.task.file.is_none() && args.task.file_flag.is_none();
    let input_error = |name: &str, e: InputError, masker: &Masker| {
        report::input_error(name, e, default_file, masker)
    };
    let unmasked = Masker::default();
    if let (None, Err(error)) = (&args.task.inline, std::fs::metadata(&path)) {
        return Err(input_error(
            &path.display().to_string(),
            InputError::Read { path, error },
            &unmasked,
        ));
    }
    if !args.task.context.is_dir() {
        return Err(usage(format!(
            "the context {} is not a directory",
            args.task.context.display()
        )));
    }

    // The registry: --registry, or wharf's own on loopback.
    let mut task_args = args.task.clone();
    let mut local_registry = None;
    if task_args.registry.as_deref().is_none_or(str::is_empty) {
        if args.dry_run {
            task_args.registry = Some(LOCAL_REGISTRY.to_string());
        } else {
            let (host, handle) = rt.block_on(start_local_registry())?;
            task_args.registry = Some(host);
            local_registry = Some(handle);
        }
    }

    // Run variables come from the engine's platform (the host's for a dry run).
    // One engine connection for the whole run: its platform first, then the executor.
    let engine = if args.dry_run {
        None
    } else {
        Some(rt.block_on(wharf_docker::Engine::connect()).map_err(|e| {
            eprintln!("error: cannot reach the Docker engine: {e}");
            eprintln!("help: start dockerd, or point DOCKER_HOST at a running engine");
            ExitCode::from(EXIT_FAILED)
        })?)
    };
    let (os, arch) = match &engine {
        Some(engine) => engine.platform(),
        None => host_platform(),
    };
    let (os, arch) = (os.to_string(), arch.to_string());
    let engine_versions = engine.as_ref().map_or((None, None), |e| {
        let (version, api) = e.versions();
        (version.map(str::to_string), api.map(str::to_string))
    });
    let mut run_info = task_args.run_info(&os, &arch);
    if let Some(trigger) = &args.trigger {
        // {{.Run.TriggeredBy}}: `manual`, `commit`, `image update`, `timer`.
        run_info.triggered_by = trigger.to_lowercase();
    }
    let name = task_args.path().display().to_string();
    let options = task_args
        .load_options(run_info.clone(), args.strict)
        .map_err(|e| input_error(&name, e, &unmasked))?;

    // Load, resolving secrets after the first render (masked for a dry run).
    // Every value given as a secret is masked, used by the task or not.
    let mut secret_values: Vec<String> = local
        .ids()
        .filter_map(|id| local.get(id).map(str::to_string))
        .collect();
    // The task's secrets by id, for the steps that read one by name (`sign:` keys;
    // plugin steps, which open only the ids they are granted).
    let mut secrets_by_id: std::collections::HashMap<String, String> = Default::default();
    let resolver = wharf_secrets::Resolver::new(local);
    let loaded = if args.dry_run {
        task_args.load(&options, &mut masked_secrets)
    } else {
        let mut resolve = |decls: &[Secret]| {
            let values = rt
                .block_on(resolver.resolve(decls))
                .map_err(|e| SecretFailure {
                    id: e.id().map(str::to_string),
                    message: e.to_string(),
                })?;
            secret_values.extend(values.values().cloned());
            secrets_by_id.extend(values.iter().map(|(k, v)| (k.clone(), v.clone())));
            Ok(values)
        };
        task_args.load(&options, &mut resolve)
    };
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return Err(input_error(&name, e, &Masker::new(&secret_values))),
    };
    // The files of secret volumes are secrets too.
    for volume in &loaded.task.volumes {
        for (_, content) in &volume.files {
            if let Ok(text) = std::str::from_utf8(content) {
                secret_values.push(text.to_string());
            }
        }
    }
    let masker = Masker::new(&secret_values);
    if !loaded.warnings.is_empty() {
        let warnings = report::masked(&loaded.warnings, &masker);
        eprint!(
            "{}",
            report::render(&warnings, &loaded.sources, report::stderr_color())
        );
    }
    // What the engine would refuse only when the step starts: refused now.
    let refused = wharf_spec::compat::docker_refuses(&loaded);
    if !refused.is_empty() {
        let refused = report::masked(&refused, &masker);
        eprint!(
            "{}",
            report::render(&refused, &loaded.sources, report::stderr_color())
        );
        eprintln!("{}", report::summary(&name, &refused));
        return Err(ExitCode::from(super::EXIT_USAGE));
    }
    let task = Arc::new(loaded.task);
    if talks_https(&task, &registry.0) {
        registry.0.prepare_tls();
    }
    let pushes = task
        .steps
        .iter()
        .any(|s| matches!(s.action, wharf_spec::Action::Push { .. }));
    if let (Some(_), Some(host), true, false) =
        (&local_registry, &task_args.registry, pushes, args.json)
    {
        eprintln!(
            "wharf: no --registry given: pushing to wharf's own registry at {host} \
             (stored in {}; `wharf registry serve` serves it after the run)",
            wharf_registry::default_root().display()
        );
    }

    // The signer (a secret key is known now) and what the run was given.
    let provenance = match pending {
        Some(pending) if !args.dry_run => {
            let mut all = local_by_id.clone();
            all.extend(secrets_by_id.iter().map(|(k, v)| (k.clone(), v.clone())));
            let signer = pending.resolve(&all).map_err(usage)?;
            let mut secret_ids: Vec<String> = all.keys().cloned().collect();
            secret_ids.extend(task.secrets.iter().map(|s| s.id.clone()));
            let facts = crate::provenance::Facts::gather(crate::provenance::Given {
                task: &task_args,
                provenance: &args.provenance,
                run: &run_info,
                rendered: &loaded.rendered,
                masker: &masker,
                secret_ids,
                engine: engine_versions,
            })
            .map_err(|e| {
                eprintln!("error: provenance: {e}");
                ExitCode::from(EXIT_FAILED)
            })?;
            Some(Provenance { signer, facts })
        }
        _ => None,
    };

    let Some(engine) = engine else {
        let context = task_args.context.display().to_string();
        print!(
            "{}",
            crate::render::dry_run_text(&task, &run_info, &context, args.bind)
        );
        return Ok(ExitCode::SUCCESS);
    };

    let recorder = super::runs::record(&name, args.trigger.as_deref(), &run_info);
    let loaded = LoadedRun {
        task,
        run: run_info,
        secrets: secret_values,
        secrets_by_id,
    };
    let (status, attested) = rt.block_on(execute(
        args, &task_args, engine, loaded, registry, recorder, provenance,
    ));
    if let Some(Some(handle)) = local_registry {
        rt.block_on(handle.shutdown());
    }
    Ok(ExitCode::from(match status {
        RunStatus::Succeeded if attested => 0,
        RunStatus::Succeeded | RunStatus::Failed => EXIT_FAILED,
        RunStatus::Interrupted => EXIT_INTERRUPTED,
    }))
}

/// `--provenance`: the signer and what the run was given.
struct Provenance {
    signer: crate::provenance::Signer,
    facts: crate::provenance::Facts,
}

/// One keychain for everything the run does with registries (pushes through wharf's
/// client, the engine's pulls and base images), and the client of pushes.
fn registry_client(
    args: &RunArgs,
) -> Result<(wharf_registry::Client, Arc<wharf_registry::Keychain>), ExitCode> {
    let keychain = crate::commands::registry::keychain();
    let client = wharf_registry::Client::new(wharf_registry::ClientOptions {
        keychain: Arc::clone(&keychain),
        retry: wharf_registry::client::RetryPolicy {
            budget: Duration::from_secs_f64(args.retry_budget),
            ..wharf_registry::client::RetryPolicy::default()
        },
        // Prepared once the task shows whether the run talks HTTPS (`talks_https`).
        eager_tls: false,
        ..wharf_registry::ClientOptions::default()
    })
    .map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_FAILED)
    })?;
    Ok((client, keychain))
}

/// Whether the run may talk to a registry over HTTPS: a push, a `sign:` step or a
/// Helm push to a registry not on loopback (or named by a step output, known only
/// when the step starts), or a plugin from an `oci://` reference there. Only then
/// does its HTTPS client (certificates to load: tens of milliseconds of CPU) get
/// built, in the background while the run starts; a run against a local registry
/// never pays for it.
fn talks_https(task: &wharf_spec::Task, client: &wharf_registry::Client) -> bool {
    use wharf_spec::{Action, PluginSource};
    let https = |image: &str| {
        image.contains("$(") || client.speaks_https(&wharf_registry::registry_host(image))
    };
    task.steps
        .iter()
        .chain(task.notify.iter().map(|n| &n.step))
        .any(|step| match &step.action {
            Action::Push { push } => push.iter().any(|i| https(i)),
            Action::Sign(sign) => sign.sign.iter().any(|i| https(i)),
            Action::Helm(helm) => helm
                .push
                .as_deref()
                .is_some_and(|to| https(to.trim_start_matches("oci://"))),
            Action::Plugin(call) => matches!(&call.source, PluginSource::Oci(r) if https(r)),
            Action::Build { .. } | Action::Cmd { .. } => false,
        })
}

/// Starts wharf's registry on its usual address, or finds one already serving there.
async fn start_local_registry() -> Result<(String, Option<wharf_registry::LocalRegistry>), ExitCode>
{
    let addr: SocketAddr = LOCAL_REGISTRY
        .parse()
        .map_err(|_| ExitCode::from(EXIT_FAILED))?;
    match wharf_registry::LocalRegistry::start(wharf_registry::default_root(), addr).await {
        Ok(registry) => Ok((registry.addr.to_string(), Some(registry))),
        Err(start_error) => {
            if answers_as_registry(addr).await {
                return Ok((addr.to_string(), None));
            }
            let any: SocketAddr = "127.0.0.1:0"
                .parse()
                .map_err(|_| ExitCode::from(EXIT_FAILED))?;
            match wharf_registry::LocalRegistry::start(wharf_registry::default_root(), any).await {
                Ok(registry) => {
                    eprintln!(
                        "wharf: {addr} is taken ({start_error}); using {} instead",
                        registry.addr
                    );
                    Ok((registry.addr.to_string(), Some(registry)))
                }
                Err(e) => {
                    eprintln!("error: cannot start wharf's local registry: {e}");
                    eprintln!("help: pass --registry to push elsewhere");
                    Err(ExitCode::from(EXIT_FAILED))
                }
            }
        }
    }
}

/// Whether something at `addr` answers `GET /v2/` like a registry.
async fn answers_as_registry(addr: SocketAddr) -> bool {
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
    else {
        return false;
    };
    client
        .get(format!("http://{addr}/v2/"))
        .send()
        .await
        .is_ok_and(|r| r.headers().contains_key("docker-distribution-api-version"))
}

/// A task loaded for a run: the task, its run variables and every secret value
/// (for masking).
struct LoadedRun {
    task: Arc<wharf_spec::Task>,
    run: RunInfo,
    secrets: Vec<String>,
    /// The task's secrets by id (sign steps' keys, plugin steps' granted secrets).
    secrets_by_id: std::collections::HashMap<String, String>,
}

async fn execute(
    args: &RunArgs,
    task_args: &crate::cli::TaskArgs,
    engine: wharf_docker::Engine,
    LoadedRun {
        task,
        run,
        secrets,
        secrets_by_id,
    }: LoadedRun,
    (registry, keychain): (wharf_registry::Client, Arc<wharf_registry::Keychain>),
    recorder: Option<wharf_history::Recorder>,
    provenance: Option<Provenance>,
) -> (RunStatus, bool) {
    let attest_registry = registry.clone();
    let secret_values = secrets.clone();
    let helm_registry = registry.clone();
    let plugin_registry = Some(registry.clone());
    let plugin_secrets: Vec<(String, String)> = secrets_by_id
        .iter()
        .map(|(id, value)| (id.clone(), value.clone()))
        .collect();
    let signer = Arc::new(crate::commands::sign_step::SignExecutor::new(
        registry.clone(),
        secrets_by_id,
        task_args.context.clone(),
    ));
    let options = wharf_docker::DockerOptions {
        run_id: run.id.clone(),
        context_dir: task_args.context.clone(),
        workspace: if args.bind {
            wharf_docker::WorkspaceMode::Bind
        } else {
            wharf_docker::WorkspaceMode::Copy
        },
        shared_volume: run.shared_volume.clone(),
        credentials: credentials_lookup(keychain),
        registry_client: Some(registry.clone()),
        layer_cache: wharf_registry::layers::default_root(),
        mount_docker_socket: !args.no_docker_socket,
        registry: run.registry.clone(),
        task_name: run.task_name.clone(),
    };
    let engine_client = engine.client();
    let docker = match wharf_docker::DockerExecutor::on_engine(engine, Arc::clone(&task), options) {
        Ok(e) => Arc::new(e),
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(recorder) = recorder {
                let mut recorder = recorder;
                recorder.log(&format!("error: {e}\n"));
                let _ = recorder.finish(wharf_history::Status::Failed, &[], &[]);
            }
            return (RunStatus::Failed, true);
        }
    };
    let mut dispatch = wharf_engine::Dispatch::new()
        .route(
            &[StepKind::Build, StepKind::Cmd, StepKind::Push],
            Arc::clone(&docker) as Arc<dyn wharf_engine::Executor>,
        )
        .route(&[StepKind::Sign], signer);
    if task.steps.iter().any(|s| s.action.kind() == StepKind::Helm) {
        let epoch = std::env::var("SOURCE_DATE_EPOCH").ok();
        let epoch = match wharf_helm::source_date_epoch(epoch.as_deref()) {
            Ok(epoch) => epoch,
            Err(e) => {
                eprintln!("error: {e}");
                return (RunStatus::Failed, true);
            }
        };
        let helm = crate::steps::helm::HelmSteps::new(docker, helm_registry, epoch);
        dispatch = dispatch.route(&[StepKind::Helm], Arc::new(helm));
    }
    let plugins = Arc::new(
        crate::plugin::PluginExecutor::new(
            Arc::clone(&task),
            task_args.context.clone(),
            run.clone(),
            plugin_secrets,
            plugin_registry,
        )
        .with_docker(engine_client),
    );
    dispatch = dispatch.route(&[StepKind::Plugin], Arc::clone(&plugins) as _);
    let executor = Arc::new(dispatch);

    let style = if args.json {
        Style::Json
    } else if std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
    {
        Style::Color
    } else {
        Style::Plain
    };
    let ids: Vec<String> = task
        .steps
        .iter()
        .chain(task.notify.iter().map(|n| &n.step))
        .map(|s| s.id.clone())
        .collect();
    let detached: Vec<String> = task
        .steps
        .iter()
        .filter(|s| s.detach())
        .map(|s| s.id.clone())
        .collect();
    // The renderer writes to stdout, which may block (a pipe, a slow terminal): it
    // runs on a thread of its own, and the bounded channel makes the run wait for it.
    let (tx, mut rx) = wharf_engine::event_channel();
    let runtime = tokio::runtime::Handle::current();
    let printer = tokio::task::spawn_blocking(move || {
        // Buffered, and flushed whenever no event is waiting: a flood of lines is
        // written in large pieces, a quiet step's last line shows at once.
        let out = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout());
        let mut renderer = Renderer::new(style, out, &ids, &detached);
        // The history gets every event and the plain log, written when no event is
        // waiting and the last write is HISTORY_EVERY old (the end of the run at
        // once, after the loop).
        let mut history = recorder.map(|r| super::runs::Tee::new(r, &ids, &detached));
        loop {
            let event = match history.as_ref().and_then(|h| h.due_in()) {
                // Events wait for the history: the next event, or their time.
                Some(due) => match runtime.block_on(tokio::time::timeout(due, rx.recv())) {
                    Ok(event) => event,
                    Err(_) => {
                        if let Some(h) = history.as_mut() {
                            h.flush_when_due();
                        }
                        continue;
                    }
                },
                None => rx.blocking_recv(),
            };
            let Some(event) = event else { break };
            renderer.event(&event);
            if let Some(h) = history.as_mut() {
                h.event(&event);
            }
            if rx.is_empty() {
                renderer.flush();
                if let Some(h) = history.as_mut() {
                    h.flush_when_due();
                }
            }
        }
        renderer.flush();
        history
    });

    let interrupt = CancellationToken::new();
    let signals = tokio::spawn(watch_signals(interrupt.clone(), args.json, run.id.clone()));
    let report = wharf_engine::run(
        &task,
        executor,
        RunOptions {
            run_id: run.id.clone(),
            secrets,
        },
        tx,
        interrupt,
    )
    .await;
    signals.abort();
    if let Ok(Some(history)) = printer.await {
        let images =
            crate::deps::with_engine_digests(crate::deps::of_task(&task, &task_args.context)).await;
        history.finish(report.status, &images);
    }
    let attested = match provenance {
        Some(p) => {
            attest_run(
                &task,
                &task_args.context,
                &report,
                &attest_registry,
                p,
                &plugins.loaded(),
                &secret_values,
                args.json,
            )
            .await
        }
        None => true,
    };
    (report.status, attested)
}

/// After the pushes: one attestation per pushed image. Whether all were pushed.
#[allow(clippy::too_many_arguments)]
async fn attest_run(
    task: &wharf_spec::Task,
    context: &std::path::Path,
    report: &wharf_engine::RunReport,
    client: &wharf_registry::Client,
    Provenance { signer, facts }: Provenance,
    plugins: &[wharf_trust::provenance::PluginDependency],
    secrets: &[String],
    json: bool,
) -> bool {
    let pushed = crate::provenance::pushed(task, report);
    if pushed.is_empty() {
        eprintln!("wharf: provenance: nothing was pushed, so nothing is attested");
        return true;
    }
    let (images, warnings) =
        crate::provenance::dependencies(task, context, client, &facts.external.platform).await;
    for w in warnings {
        eprintln!("wharf: warning: provenance: {w}");
    }
    let (lines, errors) = crate::provenance::attest(
        client,
        crate::provenance::Attest {
            facts,
            images,
            plugins: plugins.to_vec(),
            pushed,
            secrets,
            signer: &signer,
            finished: jiff::Timestamp::now(),
        },
    )
    .await;
    for line in &lines {
        if json {
            eprintln!("wharf: {line}");
        } else {
            println!("{line}");
        }
    }
    for e in &errors {
        eprintln!("error: provenance: {e}");
    }
    errors.is_empty()
}

/// Waits for Ctrl-C, or SIGTERM (what CI systems send to cancel a job).
async fn next_signal(term: &mut Option<tokio::signal::unix::Signal>) {
    match term {
        Some(t) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = t.recv() => {}
            }
        }
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// What `docker login` stored, per registry host, for the engine's pulls and base
/// images: the run's keychain (each host looked up once, off the async workers). A
/// config or helper that fails is reported once, then treated as no credentials.
fn credentials_lookup(keychain: Arc<wharf_registry::Keychain>) -> wharf_docker::CredentialLookup {
    let reported = std::sync::Mutex::new(std::collections::HashSet::<String>::new());
    Arc::new(move |host: &str| {
        let found = tokio::task::block_in_place(|| keychain.get(host));
        found.unwrap_or_else(|e| {
            if reported
                .lock()
                .is_ok_and(|mut r| r.insert(host.to_string()))
            {
                eprintln!("wharf: warning: cannot read the credentials for {host}: {e}");
            }
            None
        })
    })
}

/// First Ctrl-C (or SIGTERM): stop the run and clean up. A second Ctrl-C exits at
/// once. A SIGTERM during cleanup does not: CI systems send SIGINT, then SIGTERM a few
/// seconds later, and cleanup must finish.
async fn watch_signals(interrupt: CancellationToken, quiet: bool, run_id: String) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    next_signal(&mut term).await;
    if !quiet {
        eprintln!(
            "\nwharf: interrupted: stopping steps and removing the run's containers, networks and volumes (Ctrl-C again to force)"
        );
    }
    interrupt.cancel();
    let _ = tokio::signal::ctrl_c().await;
    eprintln!(
        "\nwharf: forced exit: some containers may remain; `wharf clean --run {run_id}` removes them"
    );
    std::process::exit(i32::from(EXIT_INTERRUPTED));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs_https(yaml: &str) -> bool {
        let task = wharf_spec::load_task(yaml).unwrap_or_else(|e| panic!("{e:?}"));
        let client = wharf_registry::Client::new(wharf_registry::ClientOptions {
            eager_tls: false,
            plain_http: vec!["reg.internal:5000".into()],
            ..wharf_registry::ClientOptions::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        talks_https(&task, &client)
    }

    #[test]
    fn only_a_run_that_reaches_an_https_registry_prepares_the_https_client() {
        let local = "steps:\n  - cmd: busybox true\n  - push: [localhost:5000/a:1, 127.0.0.1:5000/b:1, reg.internal:5000/c:1]\n";
        assert!(!needs_https(local));
        assert!(!needs_https(
            "steps:\n  - build: -t myreg.azurecr.io/a:1 .\n"
        ));
        assert!(needs_https(
            "steps:\n  - push: [localhost:5000/a:1, myreg.azurecr.io/a:1]\n"
        ));
        assert!(needs_https("steps:\n  - push: [busybox:1]\n"), "Docker Hub");
        assert!(
            needs_https(
                "steps:\n  - id: t\n    plugin: semver-tagger\n    with: { image: a }\n  - push: [\"$(steps.t.outputs.refs)\"]\n"
            ),
            "a registry known only when the step starts"
        );
        assert!(!needs_https(
            "steps:\n  - plugin: oci://localhost:5000/p:1\n    with: { image: a }\n"
        ));
        assert!(needs_https(
            "steps:\n  - plugin: oci://myreg.azurecr.io/p:1\n    with: { image: a }\n"
        ));
        assert!(needs_https(
            "steps:\n  - cmd: busybox true\nnotify:\n  - plugin: oci://myreg.azurecr.io/n:1\n    on: [failure]\n"
        ));
    }
}
