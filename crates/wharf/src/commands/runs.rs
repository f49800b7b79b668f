//! The run history: recording a run while it goes (`record`, [`Tee`]) and
//! `wharf runs ls|logs|show`.

use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use wharf_engine::{Event, RunStatus};
use wharf_history::{BuiltImage, History, NewRun, Recorder, Run, Status, Trigger};
use wharf_spec::outputs::OutputValue;

use crate::cli::OutputFormat;
use crate::output::{Renderer, Style};

use super::{EXIT_FAILED, EXIT_USAGE, print};

/// `wharf runs`.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first (as `az acr task list-runs`).
    Ls(RunsLsArgs),
    /// Print a run's logs as they were shown (secrets masked).
    Logs(RunsLogsArgs),
    /// Show a run: its steps and outputs, the images it built with their base
    /// images and digests, what it pushed, the git commit.
    Show(RunsShowArgs),
}

#[derive(Debug, Args)]
pub struct RunsLsArgs {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// At most this many runs (0: all kept).
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// JSON on stdout (as `-o json`).
    #[arg(long, conflicts_with = "output")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunsLogsArgs {
    /// The run id (the newest run with that id).
    pub run_id: String,
}

#[derive(Debug, Args)]
pub struct RunsShowArgs {
    /// The run id (the newest run with that id).
    pub run_id: String,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// The history under wharf's data directory; `WHARF_HISTORY_LIMIT` runs are kept
/// (default 1000).
pub fn open() -> Result<History, wharf_history::Error> {
    let limit = std::env::var("WHARF_HISTORY_LIMIT")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(wharf_history::DEFAULT_LIMIT);
    History::open(&History::default_path(&wharf_registry::data_dir()), limit)
}

/// Starts recording a run; a history that cannot be written is a warning, never a
/// reason not to run.
pub fn record(task: &str, trigger: Option<&str>, run: &wharf_spec::RunInfo) -> Option<Recorder> {
    let started = open().and_then(|h| {
        h.start(&NewRun {
            run_id: run.id.clone(),
            task: task.to_string(),
            trigger: trigger.and_then(Trigger::parse),
            commit: run.commit.clone(),
            branch: run.branch.clone(),
            ..NewRun::default()
        })
    });
    match started {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("wharf: warning: the run is not recorded: {e}");
            None
        }
    }
}

/// Starts recording a run sent to a remote engine (`--on acr://…`), once it is
/// queued there: under the id it was given there, with its target.
pub fn record_remote(new: &NewRun) -> Option<Recorder> {
    match open().and_then(|h| h.start(new)) {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("wharf: warning: the run is not recorded: {e}");
            None
        }
    }
}

/// A writer into a shared buffer (the plain log on its way to the history).
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a run sends to the history: every event (masked, as `--json` prints
/// them), the plain log as a terminal without colour shows it, and the pushes.
pub struct Tee {
    recorder: Recorder,
    plain: Renderer<Shared>,
    buffer: Shared,
    pushed: Vec<String>,
    failed: bool,
    /// Whether events came since the last write, and when that was.
    pending: bool,
    written: Instant,
}

/// How long a run's events may wait before they are written to the history, so a
/// run writes a few times a second at most rather than at every burst of events:
/// each write is a connection of its own whose close checkpoints the log (two
/// fsyncs, on the same disk as the engine's). The end of the run is written at once.
pub const HISTORY_EVERY: Duration = Duration::from_millis(250);

impl Tee {
    /// Records into `recorder` a run of these steps.
    pub fn new(recorder: Recorder, ids: &[String], detached: &[String]) -> Tee {
        let buffer = Shared::default();
        Tee {
            recorder,
            plain: Renderer::new(Style::Plain, buffer.clone(), ids, detached).keeping_notes(),
            buffer,
            pushed: Vec::new(),
            failed: false,
            pending: false,
            written: Instant::now(),
        }
    }

    /// One event of the run.
    pub fn event(&mut self, event: &Event) {
        self.pending = true;
        self.recorder.event(event);
        self.plain.event(event);
        if let Event::StepFinished { result, .. } = event {
            let list = |name: &str| {
                result
                    .outputs
                    .get(name)
                    .map(OutputValue::items)
                    .unwrap_or_default()
            };
            let (refs, digests) = (list("refs"), list("digests"));
            if refs.len() == digests.len() {
                self.pushed
                    .extend(refs.iter().zip(&digests).map(|(r, d)| format!("{r}@{d}")));
            }
        }
    }

    /// An image the run pushed (`repo:tag@digest`), known from elsewhere than a
    /// push step's outputs (a remote run's `outputImages`).
    pub fn pushed(&mut self, reference: String) {
        self.pushed.push(reference);
    }

    /// The remote engine's own final status.
    pub fn acr_status(&mut self, status: &str) {
        self.recorder.acr_status(status);
    }

    /// Records the end of a run left queued on a remote engine (`--no-wait`).
    pub fn queued(mut self) {
        self.take_log();
        if let Err(e) = self.recorder.finish(Status::Queued, &[], &[]) {
            eprintln!("wharf: warning: cannot write the run history: {e}");
        }
    }

    /// Hands the plain log shown since the last call to the recorder.
    fn take_log(&mut self) {
        self.plain.flush();
        let text = self
            .buffer
            .0
            .lock()
            .map(|mut b| String::from_utf8_lossy(&std::mem::take(&mut *b)).into_owned())
            .unwrap_or_default();
        self.recorder.log(&text);
    }

    /// How long until what came since the last write is due ([`HISTORY_EVERY`]
    /// after that write); `None` when nothing waits.
    pub fn due_in(&self) -> Option<Duration> {
        self.pending
            .then(|| HISTORY_EVERY.saturating_sub(self.written.elapsed()))
    }

    /// Writes what came since the last write once it is due.
    pub fn flush_when_due(&mut self) {
        if self.due_in() == Some(Duration::ZERO) {
            self.flush();
        }
    }

    /// Writes what came since the last write, now.
    pub fn flush(&mut self) {
        self.take_log();
        self.pending = false;
        self.written = Instant::now();
        if let Err(e) = self.recorder.flush()
            && !self.failed
        {
            self.failed = true;
            eprintln!("wharf: warning: cannot write the run history: {e}");
        }
    }

    /// Records the end of the run.
    pub fn finish(mut self, status: RunStatus, images: &[BuiltImage]) {
        self.take_log();
        let status = match status {
            RunStatus::Succeeded => Status::Succeeded,
            RunStatus::Failed => Status::Failed,
            RunStatus::Interrupted => Status::Interrupted,
        };
        if let Err(e) = self.recorder.finish(status, &self.pushed, images) {
            eprintln!("wharf: warning: cannot write the run history: {e}");
        }
    }
}

/// `wharf runs ...`.
pub fn run(command: &RunsCommand) -> ExitCode {
    let history = match open() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let result = match command {
        RunsCommand::Ls(args) => ls(&history, args),
        RunsCommand::Logs(args) => find(&history, &args.run_id)
            .and_then(|run| history.logs(run.key).map_err(fail).map(|l| print(&l))),
        RunsCommand::Show(args) => {
            find(&history, &args.run_id).and_then(|run| show(&history, &run, args.output))
        }
    };
    result.unwrap_or_else(|code| code)
}

fn fail(e: wharf_history::Error) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(EXIT_FAILED)
}

fn find(history: &History, run_id: &str) -> Result<Run, ExitCode> {
    match history.get(run_id).map_err(fail)? {
        Some(run) => Ok(run),
        None => {
            eprintln!("error: no run {run_id} in the history (`wharf runs ls` lists them)");
            Err(ExitCode::from(EXIT_USAGE))
        }
    }
}

fn ls(history: &History, args: &RunsLsArgs) -> Result<ExitCode, ExitCode> {
    let runs = history.list(args.top).map_err(fail)?;
    if args.json || args.output == OutputFormat::Json {
        let json = serde_json::to_string_pretty(&runs).unwrap_or_default();
        return Ok(print(&format!("{json}\n")));
    }
    let rows: Vec<[String; 7]> = runs
        .iter()
        .map(|r| {
            [
                r.run_id.clone(),
                r.task.clone(),
                status(r),
                r.trigger.as_str().to_string(),
                started(r.started_ms),
                r.duration_ms.map(duration).unwrap_or_default(),
                r.target.clone().unwrap_or_else(|| "local".into()),
            ]
        })
        .collect();
    let header = [
        "RUN ID", "TASK", "STATUS", "TRIGGER", "STARTED", "DURATION", "TARGET",
    ];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut text = line(&header.map(String::from));
    text.push_str(&line(&widths.map(|w| "-".repeat(w))));
    for row in &rows {
        text.push_str(&line(row));
    }
    Ok(print(&text))
}

fn show(history: &History, run: &Run, output: OutputFormat) -> Result<ExitCode, ExitCode> {
    let events = history.events(run.key).map_err(fail)?;
    let steps: Vec<serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "step.finished")
        .cloned()
        .collect();
    if output == OutputFormat::Json {
        let mut value = serde_json::to_value(run).unwrap_or_default();
        value["steps"] = serde_json::Value::Array(steps);
        let json = serde_json::to_string_pretty(&value).unwrap_or_default();
        return Ok(print(&format!("{json}\n")));
    }
    let mut text = format!(
        "Run {}  {}  trigger {}  task {}\nstarted {}{}\n",
        run.run_id,
        status(run),
        run.trigger.as_str(),
        run.task,
        started(run.started_ms),
        run.duration_ms
            .map(|d| format!(", took {}", duration(d)))
            .unwrap_or_default(),
    );
    if let Some(target) = &run.target {
        text.push_str(&format!(
            "on {target}{}\n",
            run.acr_run_id
                .as_deref()
                .map(|id| format!(" (ACR run {id})"))
                .unwrap_or_default()
        ));
    }
    if !run.note.is_empty() {
        text.push_str(&format!("note: {}\n", run.note));
    }
    if !run.commit.is_empty() {
        text.push_str(&format!("git: {} (branch {})\n", run.commit, run.branch));
    }
    text.push_str("\nSteps:\n");
    for step in &steps {
        let mut line = format!(
            "  {}  {}",
            step["step"].as_str().unwrap_or(""),
            step["status"].as_str().unwrap_or("")
        );
        if let Some(ms) = step["durationMs"].as_i64() {
            line.push_str(&format!("  {}", duration(ms)));
        }
        if let Some(e) = step["error"].as_str() {
            line.push_str(&format!("  ({e})"));
        }
        text.push_str(&line);
        text.push('\n');
        if let Some(outputs) = step["outputs"].as_object() {
            for (k, v) in outputs {
                let v = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                text.push_str(&format!("    {k}: {v}\n"));
            }
        }
    }
    if !run.images.is_empty() {
        text.push_str("\nImages built:\n");
        for image in &run.images {
            text.push_str(&format!("  {} ({})\n", image.tags.join(", "), image.step));
            let base = |b: &wharf_history::BaseImage| {
                format!(
                    "{}{}",
                    b.reference,
                    b.digest
                        .as_deref()
                        .map(|d| format!(" @ {d}"))
                        .unwrap_or_default()
                )
            };
            if let Some(b) = &image.runtime_dependency {
                text.push_str(&format!("    runtime base: {}\n", base(b)));
            }
            for b in &image.buildtime_dependencies {
                text.push_str(&format!("    build-time base: {}\n", base(b)));
            }
        }
    }
    if !run.pushed.is_empty() {
        text.push_str("\nPushed:\n");
        for p in &run.pushed {
            text.push_str(&format!("  {p}\n"));
        }
    }
    Ok(print(&text))
}

/// The status shown: ACR's own for a run sent there (`Timeout`, `Error`, … say
/// more than `Failed`), else wharf's.
fn status(run: &Run) -> String {
    run.acr_status
        .clone()
        .unwrap_or_else(|| run.status.as_str().to_string())
}

/// `2026-12-02T05:00:00Z`, as az prints STARTED.
fn started(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// `00:01:05`, as az prints DURATION.
fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_az_prints_them() {
        assert_eq!(duration(65_400), "00:01:05");
        assert_eq!(started(0), "1970-01-01T00:00:00Z");
    }
}
