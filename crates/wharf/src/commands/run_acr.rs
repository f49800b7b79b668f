//! `wharf run --on acr://LOGIN_SERVER`: validate the task as for a local run,
//! refuse wharf-only steps, then send it to Azure Container Registry's own
//! task engine (as `az acr run` does) and bring back its log and result.
//!
//! Order: flags and the file first (exit 2 without contacting Azure), then
//! the ARM token, the registry's resource id (its login server matched among
//! the subscription's registries), the context upload, `scheduleRun`, the log.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use wharf_acr::logs::{LogEnd, LogOptions};
use wharf_acr::model::{Run, RunRequest, SetValue};
use wharf_acr::pack::{PackOptions, pack_context};
use wharf_acr::request::{self, Common};
use wharf_acr::session::Session;
use wharf_acr::{ArmClient, ArmEndpoint, RunStatus};
use wharf_engine::{Event, Masker, StepResult, StepStatus};
use wharf_spec::{Diagnostic, Diagnostics, OutputValue, Outputs, masked_secrets};

use crate::cli::RunArgs;
use crate::output::{Renderer, Style};
use crate::report;
use crate::task_input::InputError;

use super::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, runtime};

/// The step id the remote run's events carry.
const STEP: &str = "acr";
/// Scales every poll pause of the ACR run (milliseconds instead of seconds);
/// for tests against a local stand-in.
const POLL_ENV: &str = "WHARF_ACR_POLL_MS";

/// The flags of `wharf run` that send the run to ACR.
#[derive(Debug, Args, Clone, Default)]
pub struct AcrArgs {
    /// Run on Azure Container Registry's own task engine instead of the local
    /// Docker engine: acr://LOGIN_SERVER (docs/running-on-acr.md).
    #[arg(long = "on", value_name = "acr://REGISTRY")]
    pub on: Option<String>,
    /// With --on: the subscription holding the registry.
    #[arg(
        long,
        env = "AZURE_SUBSCRIPTION_ID",
        value_name = "ID",
        hide_env_values = true
    )]
    pub subscription: Option<String>,
    /// With --on: look for the registry in this resource group only.
    #[arg(long = "resource-group", value_name = "GROUP")]
    pub resource_group: Option<String>,
    /// With --on: a secret value for {{.Values.KEY}}, sent with isSecret (masked
    /// in everything wharf prints; repeatable).
    #[arg(long = "set-secret", value_name = "KEY=VALUE")]
    pub set_secret: Vec<String>,
    /// With --on: the platform to run on, os[/arch[/variant]] (linux/amd64).
    #[arg(long = "platform", value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// With --on: the run's timeout in seconds (300 to 28800; 3600).
    #[arg(long = "timeout", value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// With --on: do not stream the log; poll the run's status until it ends.
    #[arg(long = "no-logs")]
    pub no_logs: bool,
    /// With --on: return once the run is queued.
    #[arg(long = "no-wait")]
    pub no_wait: bool,
}

fn usage(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_USAGE)
}

/// `acr://myreg.azurecr.io` → `myreg.azurecr.io`.
fn login_server(target: &str) -> Result<String, ExitCode> {
    let Some(host) = target.strip_prefix("acr://") else {
        return Err(usage(format!(
            "--on {target}: give acr://LOGIN_SERVER (e.g. acr://myreg.azurecr.io)"
        )));
    };
    let host = host.trim_end_matches('/').to_ascii_lowercase();
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if ok {
        Ok(host)
    } else {
        Err(usage(format!(
            "--on {target}: {host:?} is not a registry login server"
        )))
    }
}

/// The local-run flags that mean nothing on ACR.
fn local_only_flags(args: &RunArgs) -> Vec<&'static str> {
    let mut out = Vec::new();
    let t = &args.task;
    for (given, flag) in [
        (t.id.is_some(), "--id (ACR names the run)"),
        (!t.env.is_empty(), "--env"),
        (t.network.is_some(), "--network"),
        (t.working_directory.is_some(), "--working-directory"),
        (!args.secret.is_empty(), "--secret (use --set-secret)"),
        (
            !args.secret_file.is_empty(),
            "--secret-file (use --set-secret)",
        ),
        (args.bind, "--bind"),
        (args.no_docker_socket, "--no-docker-socket"),
    ] {
        if given {
            out.push(flag);
        }
    }
    out
}

/// The places of wharf-only steps (plugin, helm, sign, notify), as errors.
fn extensions(loaded: &wharf_spec::Loaded) -> Diagnostics {
    let mut out = Diagnostics::new();
    let file = loaded.task_file;
    if let Some(span) = loaded.raw.notify_span {
        out.push(
            Diagnostic::error(
                "acr-wharf-only",
                "`notify:` is a wharf extension: ACR cannot run these notifications",
            )
            .at(file, span)
            .with_help("remove it for --on acr://, or run locally"),
        );
    }
    for step in &loaded.raw.steps {
        for (property, span) in &step.keys {
            if property.extension && matches!(property.key, "plugin" | "helm" | "sign") {
                out.push(
                    Diagnostic::error(
                        "acr-wharf-only",
                        format!(
                            "`{}:` steps are a wharf extension: ACR's task engine cannot run them",
                            property.key
                        ),
                    )
                    .at(file, *span)
                    .with_help("run this task locally, or move the step to a local run"),
                );
            }
        }
    }
    out
}

/// `path` relative to `context`, with `/`, when it is inside.
fn inside(context: &Path, path: &Path) -> Option<String> {
    let context = context.canonicalize().ok()?;
    let path = path.canonicalize().ok()?;
    let rel = path.strip_prefix(&context).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// What is sent: built before anything is contacted.
struct Plan {
    login_server: String,
    subscription: String,
    request: RunRequest,
    /// The context to pack, when there is one (else the request is encoded).
    context: Option<(PathBuf, PackOptions)>,
    masker: Masker,
    timeout: u32,
}

/// What to send: `cmd` is `wharf run --cmd` (issue 11's flag; `None` until
/// the merge wires it), which sends `az acr run --cmd`'s task instead of a file.
fn plan(args: &RunArgs, target: &str, cmd: Option<&str>) -> Result<Plan, ExitCode> {
    let acr = &args.acr;
    let login_server = login_server(target)?;
    let flags = local_only_flags(args);
    if !flags.is_empty() {
        return Err(usage(format!(
            "these flags apply to local runs only, not to --on acr://: {}",
            flags.join(", ")
        )));
    }
    if acr.no_wait && acr.no_logs {
        return Err(usage("--no-wait and --no-logs: give one"));
    }
    let timeout = request::timeout(acr.timeout).map_err(usage)?;
    let platform = request::platform(acr.platform.as_deref()).map_err(usage)?;
    let mut values: Vec<SetValue> =
        request::set_values(&args.task.set, false, "--set").map_err(usage)?;
    let secrets = request::set_values(&acr.set_secret, true, "--set-secret").map_err(usage)?;
    let masker = Masker::new(secrets.iter().map(|s| s.value.clone()));
    values.extend(secrets);
    if args.task.values.len() > 1 {
        return Err(usage(
            "ACR takes one values file: give --values once (or merge them) for --on acr://",
        ));
    }
    let subscription = acr
        .subscription
        .clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| usage("--on acr:// needs --subscription ID or AZURE_SUBSCRIPTION_ID"))?;
    let context = &args.task.context;
    let no_context = context == Path::new("/dev/null");
    if !no_context && !context.is_dir() {
        return Err(usage(format!(
            "the context {} is not a directory (use -C /dev/null to send the task without one)",
            context.display()
        )));
    }

    // The task, loaded and validated as for a local run: ACR's run variables,
    // --set and --set-secret values, Key Vault secrets left to ACR.
    let path = args.task.path();
    let default_file = cmd.is_none() && args.task.file.is_none() && args.task.file_flag.is_none();
    let name = match cmd {
        Some(_) => "--cmd".to_owned(),
        None => path.display().to_string(),
    };
    let mut task_args = args.task.clone();
    task_args.registry = Some(login_server.clone());
    task_args.set.extend(acr.set_secret.iter().cloned());
    let arch = platform
        .architecture
        .clone()
        .unwrap_or_else(|| "amd64".into());
    let run_info = task_args.run_info(&platform.os.to_ascii_lowercase(), &arch);
    let options = task_args
        .load_options(run_info, args.strict)
        .map_err(|e| report::input_error(&name, e, default_file, &masker))?;
    let (text, loaded) = match cmd {
        Some(cmd) => {
            let text = request::cmd_task(cmd, acr.timeout.map(|_| timeout));
            let files = wharf_spec::LocalFiles {
                base: context.clone(),
            };
            let loaded = wharf_spec::load(&name, &text, &options, &files, &mut masked_secrets)
                .map_err(|e| report::input_error(&name, InputError::Invalid(e), false, &masker))?;
            (text, loaded)
        }
        None => {
            let loaded = task_args
                .load(&options, &mut masked_secrets)
                .map_err(|e| report::input_error(&name, e, default_file, &masker))?;
            let text = std::fs::read_to_string(&path).map_err(|e| usage(format!("{name}: {e}")))?;
            (text, loaded)
        }
    };
    if !loaded.warnings.is_empty() {
        let warnings = report::masked(&loaded.warnings, &masker);
        eprint!(
            "{}",
            report::render(&warnings, &loaded.sources, report::stderr_color())
        );
    }
    let refused = extensions(&loaded);
    if !refused.is_empty() {
        eprint!(
            "{}",
            report::render(&refused, &loaded.sources, report::stderr_color())
        );
        let n = refused.iter().count();
        return Err(usage(format!(
            "{name}: {n} wharf-only place{} cannot run on ACR; nothing was sent",
            if n == 1 { "" } else { "s" }
        )));
    }

    let common = Common {
        values,
        timeout,
        platform,
        agent_pool_name: None,
    };
    let values_file = args.task.values.first().map(PathBuf::from);
    let outside = |what: &str, p: &Path| {
        usage(format!(
            "{what} {} is not inside the context {}: ACR reads it from the uploaded context \
             (move it in, or send the task without context: -C /dev/null)",
            p.display(),
            context.display()
        ))
    };
    // The task inline: without a context, or for --cmd (with the context
    // uploaded as its source, as az acr run --cmd CMD DIR does).
    if no_context || cmd.is_some() {
        let values_text = match &values_file {
            Some(v) => Some(
                std::fs::read_to_string(v).map_err(|e| usage(format!("{}: {e}", v.display())))?,
            ),
            None => None,
        };
        let request = RunRequest::EncodedTaskRunRequest(request::encoded_task_run(
            &text,
            values_text.as_deref(),
            common,
        ));
        return Ok(Plan {
            login_server,
            subscription,
            request,
            context: (!no_context).then(|| (context.clone(), PackOptions::default())),
            masker,
            timeout,
        });
    }
    let task_file = inside(context, &path).ok_or_else(|| outside("the task file", &path))?;
    let values_path = match &values_file {
        Some(v) => Some(inside(context, v).ok_or_else(|| outside("the values file", v))?),
        None => None,
    };
    let mut keep = vec![task_file.clone()];
    keep.extend(values_path.clone());
    let request = RunRequest::FileTaskRunRequest(request::file_task_run(
        &task_file,
        values_path.as_deref(),
        "",
        common,
    ));
    Ok(Plan {
        login_server,
        subscription,
        request,
        context: Some((
            context.clone(),
            PackOptions {
                keep,
                ..PackOptions::default()
            },
        )),
        masker,
        timeout,
    })
}

/// `wharf run --on acr://…`; `cmd` is `wharf run --cmd` when given.
pub fn run(args: &RunArgs, target: &str, cmd: Option<&str>) -> ExitCode {
    let plan = match plan(args, target, cmd) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if args.dry_run {
        return dry_run(&plan);
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(send(args, plan)) {
        Ok(code) | Err(code) => code,
    }
}

/// The request as JSON with secret values masked.
fn shown_request(plan: &Plan) -> String {
    let json = serde_json::to_string_pretty(&plan.request.redacted()).unwrap_or_default();
    plan.masker.mask(&json)
}

fn dry_run(plan: &Plan) -> ExitCode {
    let mut text = format!(
        "would send to {} (subscription {}):\n",
        plan.login_server, plan.subscription
    );
    if let Some((dir, options)) = &plan.context {
        match pack_context(dir, options) {
            Ok(packed) => text.push_str(&format!(
                "context {}: {} entries, {} bytes packed (sourceLocation filled in after upload)\n",
                dir.display(),
                packed.entries.len(),
                packed.archive.len()
            )),
            Err(e) => return usage(e),
        }
    }
    text.push_str(&shown_request(plan));
    text.push('\n');
    super::print(&text)
}

fn poll_unit() -> Option<Duration> {
    std::env::var(POLL_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_millis)
}

fn failed(e: impl std::fmt::Display, masker: &Masker) -> ExitCode {
    eprintln!("error: {}", masker.mask(&e.to_string()));
    ExitCode::from(EXIT_FAILED)
}

async fn open_session(plan: &Plan, args: &RunArgs) -> Result<Session, ExitCode> {
    let endpoint = ArmEndpoint::from_environment().map_err(usage)?;
    let credential =
        wharf_secrets::AzureCredential::from_environment().map_err(|e| failed(e, &plan.masker))?;
    let mut arm =
        ArmClient::new(endpoint, Arc::new(credential)).map_err(|e| failed(e, &plan.masker))?;
    let unit = poll_unit();
    if let Some(unit) = unit {
        arm.lro_interval = unit * 2;
    }
    let mut session = Session::open(
        arm,
        &plan.subscription,
        args.acr.resource_group.as_deref(),
        &plan.login_server,
    )
    .await
    .map_err(|e| failed(e, &plan.masker))?;
    let mut logs = unit.map_or_else(LogOptions::default, LogOptions::scaled);
    logs.idle_timeout = Duration::from_secs(u64::from(plan.timeout));
    session.logs = logs;
    if let Some(unit) = unit {
        session.run_poll = unit * 30;
    }
    Ok(session)
}

/// Renders events as a local run does, masking every line.
struct Output {
    renderer: Mutex<Renderer<std::io::BufWriter<std::io::Stdout>>>,
    masker: Masker,
    json: bool,
}

impl Output {
    fn new(json: bool, masker: Masker) -> Output {
        let style = if json {
            Style::Json
        } else if std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        {
            Style::Color
        } else {
            Style::Plain
        };
        let out = std::io::BufWriter::new(std::io::stdout());
        Output {
            renderer: Mutex::new(Renderer::new(style, out, &[STEP.to_string()], &[])),
            masker,
            json,
        }
    }

    fn event(&self, event: &Event) {
        let mut r = self.renderer.lock().unwrap_or_else(|e| e.into_inner());
        r.event(event);
        r.flush();
    }

    fn line(&self, line: &str) {
        self.event(&Event::Log {
            time: wharf_engine::event::now(),
            step: STEP.into(),
            stream: wharf_engine::Stream::Stdout,
            line: self.masker.mask(line),
        });
    }

    /// A human message: stderr (stdout stays the event stream with --json).
    fn note(&self, text: &str) {
        eprintln!("{}", self.masker.mask(text));
    }
}

/// Waits for Ctrl-C or SIGTERM.
async fn interrupted() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    match &mut term {
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

/// Everything up to the queued run: the session, the upload, `scheduleRun`.
async fn queue(
    args: &RunArgs,
    plan: &mut Plan,
    out: &Output,
) -> Result<(Session, String), ExitCode> {
    let session = open_session(plan, args).await?;
    if let Some((dir, options)) = &plan.context {
        out.note("Packing source code into tar to upload...");
        let packed = pack_context(dir, options).map_err(usage)?;
        for kept in &packed.forced {
            out.note(&format!(
                "wharf: warning: {kept} is excluded by .dockerignore but ACR needs it: sending it anyway"
            ));
        }
        out.note(&format!(
            "Sending context ({:.3} MiB) to registry: {}...",
            packed.archive.len() as f64 / 1048576.0,
            session.registry_name
        ));
        let source = session
            .upload(&packed)
            .await
            .map_err(|e| failed(e, &plan.masker))?;
        match &mut plan.request {
            RunRequest::FileTaskRunRequest(r) => r.source_location = Some(source),
            RunRequest::EncodedTaskRunRequest(r) => r.source_location = Some(source),
            RunRequest::DockerBuildRequest(r) => r.source_location = Some(source),
        }
    }
    let run = session
        .schedule(&plan.request)
        .await
        .map_err(|e| failed(e, &plan.masker))?;
    let Some(run_id) = run.run_id().map(str::to_owned) else {
        return Err(failed(
            "scheduleRun answered without a run id",
            &plan.masker,
        ));
    };
    Ok((session, run_id))
}

async fn send(args: &RunArgs, mut plan: Plan) -> Result<ExitCode, ExitCode> {
    let started = Instant::now();
    let out = Output::new(args.json, plan.masker.clone());
    // One listener for the whole command: Ctrl-C before the run is queued
    // stops wharf; after, it cancels the run.
    let (signal_tx, mut signal) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        interrupted().await;
        let _ = signal_tx.send(true);
    });
    let queued = tokio::select! {
        r = queue(args, &mut plan, &out) => r,
        _ = signal.wait_for(|s| *s) => {
            out.note("\nwharf: interrupted before the run was queued (if scheduleRun was already on its way, `az acr task list-runs` shows the run)");
            return Err(ExitCode::from(EXIT_INTERRUPTED));
        }
    };
    let (session, run_id) = queued?;
    out.note(&format!("Queued a run with ID: {run_id}"));
    out.event(&Event::RunStarted {
        time: wharf_engine::event::now(),
        run_id: run_id.clone(),
        steps: vec![STEP.into()],
    });
    if args.acr.no_wait {
        return Ok(ExitCode::SUCCESS);
    }
    out.note("Waiting for an agent...");
    out.event(&Event::StepStarted {
        time: wharf_engine::event::now(),
        step: STEP.into(),
        attempt: 1,
        repeat: 0,
    });

    let follow = async {
        if args.acr.no_logs {
            let mut status = |r: &Run| out.note(&format!("Run {run_id}: {}", r.status()));
            session.wait(&run_id, &mut status).await
        } else {
            let mut line = |l: &str| out.line(l);
            match session.follow(&run_id, &mut line).await? {
                LogEnd::GaveUp => out.note(&format!(
                    "Failed to find any new logs in {} seconds. Client will stop polling for additional logs.",
                    plan.timeout
                )),
                LogEnd::Complete(_) | LogEnd::Ended => {}
            }
            session.wait(&run_id, &mut |_| {}).await
        }
    };
    let finished = tokio::select! {
        r = follow => Some(r),
        _ = signal.wait_for(|s| *s) => None,
    };
    let run = match finished {
        Some(Ok(run)) => run,
        Some(Err(e)) => {
            let code = failed(e, &plan.masker);
            eprintln!(
                "help: the run may still be going on ACR: `az acr task logs -r {} --run-id {run_id}` shows it",
                session.registry_name
            );
            return Err(code);
        }
        None => {
            out.note(&format!(
                "\nwharf: interrupted: cancelling ACR run {run_id}"
            ));
            let code = match session.cancel(&run_id).await {
                Ok(()) => {
                    out.note(&format!("wharf: run {run_id} cancelled"));
                    ExitCode::from(EXIT_INTERRUPTED)
                }
                Err(e) => {
                    out.note(&format!(
                        "wharf: cannot cancel run {run_id}: {}",
                        plan.masker.mask(&e.to_string())
                    ));
                    ExitCode::from(EXIT_INTERRUPTED)
                }
            };
            finish(
                &out,
                &run_id,
                None,
                started,
                wharf_engine::RunStatus::Interrupted,
            );
            return Ok(code);
        }
    };
    let status = run.status();
    let engine_status = if status == RunStatus::Succeeded {
        wharf_engine::RunStatus::Succeeded
    } else {
        wharf_engine::RunStatus::Failed
    };
    finish(&out, &run_id, Some(&run), started, engine_status);
    if !out.json {
        let duration = remote_duration(&run)
            .map(|d| format!(" after {}", crate::output::duration(d)))
            .unwrap_or_default();
        if status == RunStatus::Succeeded {
            out.note(&format!("Run ID: {run_id} was successful{duration}"));
        } else {
            out.note(&format!(
                "Run ID: {run_id} finished with status {status}{duration}{}",
                run.properties
                    .run_error_message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ));
        }
        for image in &run.properties.output_images {
            out.note(&format!("  output image: {image}"));
        }
    }
    Ok(ExitCode::from(status.exit_code()))
}

/// startTime (or createTime) → finishTime, milliseconds.
fn remote_duration(run: &Run) -> Option<u64> {
    let p = &run.properties;
    let start: jiff::Timestamp = p
        .start_time
        .as_deref()
        .or(p.create_time.as_deref())?
        .parse()
        .ok()?;
    let end: jiff::Timestamp = p.finish_time.as_deref()?.parse().ok()?;
    let ms = end.duration_since(start).as_millis();
    u64::try_from(ms).ok()
}

/// `step.finished` and `run.finished` for the remote run.
fn finish(
    out: &Output,
    run_id: &str,
    run: Option<&Run>,
    started: Instant,
    status: wharf_engine::RunStatus,
) {
    let duration_ms = run
        .and_then(remote_duration)
        .unwrap_or_else(|| u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
    let mut outputs = Outputs::new();
    if let Some(run) = run {
        let images: Vec<String> = run
            .properties
            .output_images
            .iter()
            .map(ToString::to_string)
            .collect();
        if !images.is_empty() {
            outputs.insert("images".into(), OutputValue::List(images));
        }
    }
    let acr_status = run.map(Run::status);
    let result = StepResult {
        step: STEP.into(),
        status: match status {
            wharf_engine::RunStatus::Succeeded => StepStatus::Succeeded,
            wharf_engine::RunStatus::Failed => StepStatus::Failed,
            wharf_engine::RunStatus::Interrupted => StepStatus::Cancelled,
        },
        exit_code: None,
        duration_ms,
        attempts: 1,
        error: match (&acr_status, status) {
            (_, wharf_engine::RunStatus::Interrupted) => {
                Some(format!("ACR run {run_id} cancelled (interrupted)"))
            }
            (Some(s), wharf_engine::RunStatus::Failed) => Some(out.masker.mask(&format!(
                "ACR run {run_id} finished with status {s}{}",
                run.and_then(|r| r.properties.run_error_message.as_deref())
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ))),
            _ => None,
        },
        outputs,
    };
    out.event(&Event::StepFinished {
        time: wharf_engine::event::now(),
        result: result.clone(),
    });
    out.event(&Event::RunFinished {
        time: wharf_engine::event::now(),
        run_id: run_id.to_owned(),
        status,
        duration_ms,
        steps: vec![result],
        cleanup_errors: Vec::new(),
        notifications: Vec::new(),
    });
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};

    fn run_args(extra: &[&str]) -> RunArgs {
        let mut argv = vec!["wharf", "run", "--subscription", "sub-1"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).map(|c| c.command) {
            Ok(Command::Run(args)) => args,
            other => panic!("not a run: {other:?}"),
        }
    }

    #[test]
    fn a_cmd_run_sends_az_acr_run_s_task_inline() {
        let args = run_args(&[
            "--on",
            "acr://r.azurecr.io",
            "-C",
            "/dev/null",
            "--timeout",
            "900",
        ]);
        let plan = plan(
            &args,
            "acr://r.azurecr.io",
            Some("busybox echo {{.Run.Registry}}"),
        )
        .unwrap_or_else(|_| panic!("plan"));
        let RunRequest::EncodedTaskRunRequest(request) = &plan.request else {
            panic!("not encoded: {:?}", plan.request);
        };
        use base64::Engine as _;
        let task = base64::engine::general_purpose::STANDARD
            .decode(&request.encoded_task_content)
            .unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&task),
            "version: v1.1.0\nsteps: \n  - cmd: \"busybox echo {{.Run.Registry}}\"\n    \
             disableWorkingDirectoryOverride: true\n    timeout: 900\n"
        );
        assert_eq!(request.timeout, Some(900));
        assert!(request.source_location.is_none());
        assert!(plan.context.is_none());
    }

    #[test]
    fn a_cmd_run_with_a_context_uploads_it_as_the_source() {
        let dir = std::env::temp_dir();
        let dir = dir.to_string_lossy();
        let args = run_args(&["--on", "acr://r.azurecr.io", "-C", &dir]);
        let plan = plan(&args, "acr://r.azurecr.io", Some("busybox ls"))
            .unwrap_or_else(|_| panic!("plan"));
        assert!(matches!(plan.request, RunRequest::EncodedTaskRunRequest(_)));
        assert!(plan.context.is_some());
    }

    #[test]
    fn targets_must_be_acr_login_servers() {
        assert_eq!(
            login_server("acr://MyReg.azurecr.io/").ok().as_deref(),
            Some("myreg.azurecr.io")
        );
        assert!(login_server("myreg.azurecr.io").is_err());
        assert!(login_server("acr://").is_err());
        assert!(login_server("acr://a/b").is_err());
        assert!(login_server("acr://a..b").is_err());
    }
}
