//! Sending work to Azure Container Registry's own task engine, shared by
//! `wharf run --on acr://` ([`super::run_acr`]) and `wharf build --on acr://`
//! ([`super::build_acr`]): each builds a [`Plan`] (flags and files checked, exit
//! 2 without contacting Azure), and [`execute`] sends it as `az acr run`/`az acr
//! build` do: the ARM token, the registry's resource id (its login server matched
//! among the subscription's registries), the context upload, `scheduleRun`, the
//! log or the status polls, the result, Ctrl-C → cancel; the run is recorded in
//! the history under its ACR run id.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use wharf_acr::logs::{LogEnd, LogOptions};
use wharf_acr::model::{Run, RunRequest};
use wharf_acr::pack::{PackOptions, pack_context};
use wharf_acr::session::Session;
use wharf_acr::{ArmClient, ArmEndpoint, RunStatus};
use wharf_engine::{Event, Masker, StepResult, StepStatus};
use wharf_spec::{OutputValue, Outputs};

use crate::output::{Renderer, Style};

use super::runs::Tee;
use super::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, runtime};

/// The step id the remote run's events carry.
pub(crate) const STEP: &str = "acr";
/// Scales every poll pause of the ACR run (milliseconds instead of seconds);
/// for tests against a local stand-in.
const POLL_ENV: &str = "WHARF_ACR_POLL_MS";
/// How often the history is written while log lines stream in.
const HISTORY_FLUSH: Duration = Duration::from_millis(500);

/// Where a run goes and how it is followed: the flags `wharf run` and `wharf
/// build` share.
#[derive(Debug, Args, Clone, Default)]
pub struct AcrTarget {
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
    /// With --on: do not stream the log; poll the run's status until it ends.
    #[arg(long = "no-logs")]
    pub no_logs: bool,
    /// With --on: return once the run is queued.
    #[arg(long = "no-wait")]
    pub no_wait: bool,
}

impl AcrTarget {
    /// The checks every `--on` makes first: the login server, the subscription,
    /// `--no-wait` with `--no-logs`.
    pub(crate) fn check(&self, target: &str) -> Result<(String, String), ExitCode> {
        let login_server = login_server(target)?;
        if self.no_wait && self.no_logs {
            return Err(usage("--no-wait and --no-logs: give one"));
        }
        let subscription = self
            .subscription
            .clone()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| usage("--on acr:// needs --subscription ID or AZURE_SUBSCRIPTION_ID"))?;
        Ok((login_server, subscription))
    }
}

pub(crate) fn usage(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_USAGE)
}

/// `acr://myreg.azurecr.io` → `myreg.azurecr.io`.
pub(crate) fn login_server(target: &str) -> Result<String, ExitCode> {
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

/// What is sent: built before anything is contacted.
pub(crate) struct Plan {
    pub login_server: String,
    pub subscription: String,
    pub target: AcrTarget,
    pub request: RunRequest,
    /// The context to pack, when there is one (else the request is encoded, or
    /// names a remote source).
    pub context: Option<(PathBuf, PackOptions)>,
    pub masker: Masker,
    /// The run's timeout, seconds (also how long the log may stay quiet).
    pub timeout: u32,
    /// NDJSON events on stdout.
    pub json: bool,
    /// For the history: the task file or what made the task (`(wharf build)`).
    pub task: String,
    /// For the history: the local context's git commit and branch.
    pub commit: String,
    pub branch: String,
    /// `--provenance`: attest the run's output images once it succeeded.
    pub provenance: Option<AcrProvenance>,
}

/// `--provenance` for a run on ACR: the signer and what the run was given (the
/// uploaded context's digest, ACR's run id and times are filled in as they come).
pub(crate) struct AcrProvenance {
    pub signer: crate::provenance::Signer,
    pub facts: crate::provenance::Facts,
    /// Every secret value (scrubbed from the statements).
    pub secrets: Vec<String>,
}

/// Checks `--provenance` for `--on acr://` before anything is sent: the key
/// (a file: a `secret:ID` names a secret of a local run) and a result to wait
/// for. `None` without `--provenance`.
pub(crate) fn provenance_signer(
    args: &crate::cli::ProvenanceArgs,
    target: &AcrTarget,
) -> Result<Option<crate::provenance::Signer>, ExitCode> {
    let Some(pending) = crate::provenance::prepare(args).map_err(usage)? else {
        return Ok(None);
    };
    if target.no_wait {
        return Err(usage(
            "--provenance with --no-wait: the run's output images are known only when it ends, so there would be nothing to attest (drop --no-wait)",
        ));
    }
    if pending.names_a_secret() {
        return Err(usage(
            "--provenance-key/--provenance-cert secret:ID: with --on acr:// give a file (the key stays on this machine and signs after the run)",
        ));
    }
    pending
        .resolve(&std::collections::HashMap::new())
        .map(Some)
        .map_err(usage)
}

/// Sends the plan (or, with `dry_run`, shows it); the process exit code.
pub(crate) fn execute(plan: Plan, dry_run: bool) -> ExitCode {
    if dry_run {
        return show(&plan);
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(send(plan)) {
        Ok(code) | Err(code) => code,
    }
}

/// The request as JSON with secret values masked.
pub(crate) fn shown_request(plan: &Plan) -> String {
    let json = serde_json::to_string_pretty(&plan.request.redacted()).unwrap_or_default();
    plan.masker.mask(&json)
}

fn show(plan: &Plan) -> ExitCode {
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
            Err(e) => return usage(plan.masker.mask(&e.to_string())),
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

async fn open_session(plan: &Plan) -> Result<Session, ExitCode> {
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
        plan.target.resource_group.as_deref(),
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

/// Renders events as a local run does, masking every line, and records them in
/// the history once the run is queued.
struct Output {
    renderer: Mutex<Renderer<std::io::BufWriter<std::io::Stdout>>>,
    history: Mutex<Option<(Tee, Instant)>>,
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
            history: Mutex::new(None),
            masker,
            json,
        }
    }

    fn record(&self, tee: Tee) {
        *self.history.lock().unwrap_or_else(|e| e.into_inner()) = Some((tee, Instant::now()));
    }

    /// The history's recorder, taken to finish the record.
    fn take_history(&self) -> Option<Tee> {
        let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        history.take().map(|(tee, _)| tee)
    }

    fn event(&self, event: &Event) {
        let mut r = self.renderer.lock().unwrap_or_else(|e| e.into_inner());
        r.event(event);
        r.flush();
        drop(r);
        let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((tee, flushed)) = history.as_mut() {
            tee.event(event);
            // Log lines are written in batches; everything else at once.
            if !matches!(event, Event::Log { .. }) || flushed.elapsed() >= HISTORY_FLUSH {
                tee.flush();
                *flushed = Instant::now();
            }
        }
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
async fn queue(plan: &mut Plan, out: &Output) -> Result<(Session, String), ExitCode> {
    let session = open_session(plan).await?;
    if let Some((dir, options)) = &plan.context {
        out.note("Packing source code into tar to upload...");
        let packed =
            pack_context(dir, options).map_err(|e| usage(plan.masker.mask(&e.to_string())))?;
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
        if let Some(p) = &mut plan.provenance {
            p.facts.context = Some(wharf_trust::provenance::ContextDependency {
                digest: wharf_registry::Digest::sha256(&packed.archive),
                source_location: Some(source.clone()),
            });
        }
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

async fn send(mut plan: Plan) -> Result<ExitCode, ExitCode> {
    let started = Instant::now();
    let out = Output::new(plan.json, plan.masker.clone());
    // One listener for the whole command: Ctrl-C before the run is queued
    // stops wharf; after, it cancels the run.
    let (signal_tx, mut signal) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        interrupted().await;
        let _ = signal_tx.send(true);
    });
    let queued = tokio::select! {
        r = queue(&mut plan, &out) => r,
        _ = signal.wait_for(|s| *s) => {
            out.note("\nwharf: interrupted before the run was queued (if scheduleRun was already on its way, `az acr task list-runs` shows the run)");
            return Err(ExitCode::from(EXIT_INTERRUPTED));
        }
    };
    let (session, run_id) = queued?;
    out.note(&format!("Queued a run with ID: {run_id}"));
    let recorder = super::runs::record_remote(&wharf_history::NewRun {
        run_id: run_id.clone(),
        task: plan.task.clone(),
        trigger: None,
        commit: plan.commit.clone(),
        branch: plan.branch.clone(),
        target: Some(format!("acr://{}", plan.login_server)),
        acr_run_id: Some(run_id.clone()),
    });
    if let Some(recorder) = recorder {
        out.record(Tee::new(recorder, &[STEP.to_string()], &[]));
    }
    out.event(&Event::RunStarted {
        time: wharf_engine::event::now(),
        run_id: run_id.clone(),
        steps: vec![STEP.into()],
    });
    if plan.target.no_wait {
        if let Some(tee) = out.take_history() {
            tee.queued();
        }
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
        if plan.target.no_logs {
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
            match session.cancel(&run_id).await {
                Ok(()) => out.note(&format!("wharf: run {run_id} cancelled")),
                Err(e) => out.note(&format!(
                    "wharf: cannot cancel run {run_id}: {}",
                    plan.masker.mask(&e.to_string())
                )),
            }
            finish(
                &out,
                &run_id,
                None,
                started,
                wharf_engine::RunStatus::Interrupted,
            );
            return Ok(ExitCode::from(EXIT_INTERRUPTED));
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
    if status == RunStatus::Succeeded
        && let Some(p) = plan.provenance.take()
        && !attest_outputs(&plan, &run, &run_id, p, &out).await
    {
        return Ok(ExitCode::from(EXIT_FAILED));
    }
    Ok(ExitCode::from(status.exit_code()))
}

/// An ACR time (`2026-12-02T05:00:01.123Z`).
fn timestamp(text: Option<&str>) -> Option<jiff::Timestamp> {
    text?.parse().ok()
}

/// `--provenance` after a successful run: one signed statement per output image
/// ACR reports, pushed as a referrer to its registry. Whether all were attested.
async fn attest_outputs(
    plan: &Plan,
    run: &Run,
    run_id: &str,
    AcrProvenance {
        signer,
        mut facts,
        secrets,
    }: AcrProvenance,
    out: &Output,
) -> bool {
    let p = &run.properties;
    facts.run_id = run_id.to_owned();
    if let Some(t) = timestamp(p.start_time.as_deref()).or(timestamp(p.create_time.as_deref())) {
        facts.started = t;
    }
    let finished = timestamp(p.finish_time.as_deref()).unwrap_or_else(jiff::Timestamp::now);
    let (pushed, warnings) = crate::provenance::output_images(&p.output_images, &plan.login_server);
    for w in warnings {
        out.note(&format!("wharf: warning: provenance: {w}"));
    }
    if pushed.is_empty() {
        out.note("wharf: provenance: the run reports no output images, so nothing is attested");
        return true;
    }
    let client = match crate::provenance::client() {
        Ok(c) => c,
        Err(e) => {
            out.note(&format!("error: provenance: {e}"));
            return false;
        }
    };
    let (lines, errors) = crate::provenance::attest(
        &client,
        crate::provenance::Attest {
            facts,
            images: Vec::new(),
            plugins: Vec::new(),
            pushed,
            secrets: &secrets,
            signer: &signer,
            finished,
        },
    )
    .await;
    for line in &lines {
        if plan.json {
            out.note(&format!("wharf: {line}"));
        } else {
            println!("{line}");
        }
    }
    for e in &errors {
        out.note(&format!("error: provenance: {e}"));
    }
    errors.is_empty()
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

/// `step.finished` and `run.finished` for the remote run, and the end of its
/// record in the history.
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
    let images: Vec<String> = run
        .map(|r| {
            r.properties
                .output_images
                .iter()
                .map(ToString::to_string)
                .collect()
        })
        .unwrap_or_default();
    let mut outputs = Outputs::new();
    if !images.is_empty() {
        outputs.insert("images".into(), OutputValue::List(images.clone()));
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
    if let Some(mut tee) = out.take_history() {
        for image in images {
            tee.pushed(image);
        }
        if let Some(s) = &acr_status {
            tee.acr_status(&s.to_string());
        }
        tee.finish(status, &[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
