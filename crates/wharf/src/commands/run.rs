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
    match run_inner(args) {
        Ok(code) | Err(code) => code,
    }
}

fn run_inner(args: &RunArgs) -> Result<ExitCode, ExitCode> {
    let rt = runtime()?;
    // Made first: its HTTP client is built in the background while the task loads.
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

    // A missing task file is reported before anything is started.
    let path = args.task.path();
    let default_file = args.task.file.is_none() && args.task.file_flag.is_none();
    let input_error = |name: &str, e: InputError, masker: &Masker| {
        report::input_error(name, e, default_file, masker)
    };
    let unmasked = Masker::default();
    if let Err(error) = std::fs::metadata(&path) {
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
    let (os, arch) = if args.dry_run {
        let (os, arch) = host_platform();
        (os.to_string(), arch.to_string())
    } else {
        rt.block_on(wharf_docker::engine_platform()).map_err(|e| {
            eprintln!("error: cannot reach the Docker engine: {e}");
            eprintln!("help: start dockerd, or point DOCKER_HOST at a running engine");
            ExitCode::from(EXIT_FAILED)
        })?
    };
    let run_info = task_args.run_info(&os, &arch);
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
    // The task's secrets by id too, for plugin steps (which open only the ids they
    // are granted).
    let mut secrets_by_id: Vec<(String, String)> = Vec::new();
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
    let task = Arc::new(loaded.task);
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

    if args.dry_run {
        let context = task_args.context.display().to_string();
        print!(
            "{}",
            crate::render::dry_run_text(&task, &run_info, &context, args.bind)
        );
        return Ok(ExitCode::SUCCESS);
    }

    let status = rt.block_on(execute(
        args,
        &task_args,
        task,
        run_info,
        (secret_values, secrets_by_id),
        registry,
    ));
    if let Some(Some(handle)) = local_registry {
        rt.block_on(handle.shutdown());
    }
    Ok(ExitCode::from(match status {
        RunStatus::Succeeded => 0,
        RunStatus::Failed => EXIT_FAILED,
        RunStatus::Interrupted => EXIT_INTERRUPTED,
    }))
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
        ..wharf_registry::ClientOptions::default()
    })
    .map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_FAILED)
    })?;
    Ok((client, keychain))
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

async fn execute(
    args: &RunArgs,
    task_args: &crate::cli::TaskArgs,
    task: Arc<wharf_spec::Task>,
    run: RunInfo,
    (secrets, secrets_by_id): (Vec<String>, Vec<(String, String)>),
    (registry, keychain): (wharf_registry::Client, Arc<wharf_registry::Keychain>),
) -> RunStatus {
    let plugin_registry = Some(registry.clone());
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
        registry_client: Some(registry),
        layer_cache: wharf_registry::layers::default_root(),
        mount_docker_socket: !args.no_docker_socket,
        registry: run.registry.clone(),
        task_name: run.task_name.clone(),
    };
    let docker = match wharf_docker::DockerExecutor::connect(Arc::clone(&task), options).await {
        Ok(e) => Arc::new(e),
        Err(e) => {
            eprintln!("error: cannot reach the Docker engine: {e}");
            return RunStatus::Failed;
        }
    };
    let plugins = Arc::new(crate::plugin::PluginExecutor::new(
        Arc::clone(&task),
        task_args.context.clone(),
        run.clone(),
        secrets_by_id,
        plugin_registry,
    ));
    let executor = Arc::new(
        wharf_engine::Dispatch::new()
            .route(&[StepKind::Build, StepKind::Cmd, StepKind::Push], docker)
            .route(&[StepKind::Plugin], plugins),
    );

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
    let printer = tokio::task::spawn_blocking(move || {
        // Buffered, and flushed whenever no event is waiting: a flood of lines is
        // written in large pieces, a quiet step's last line shows at once.
        let out = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout());
        let mut renderer = Renderer::new(style, out, &ids, &detached);
        while let Some(event) = rx.blocking_recv() {
            renderer.event(&event);
            if rx.is_empty() {
                renderer.flush();
            }
        }
        renderer.flush();
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
    let _ = printer.await;
    report.status
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
