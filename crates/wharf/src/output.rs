//! Renders run events: live per-step logs (aligned prefixes, coloured on a
//! terminal, plain in CI or with NO_COLOR), a closing summary, or NDJSON events.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use wharf_engine::{Event, RunStatus, StepResult, StepStatus, Stream};

/// How to show a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Prefixed lines with ANSI colours.
    Color,
    /// Prefixed lines, no escape codes.
    Plain,
    /// One JSON event per line (docs/events.md).
    Json,
}

const PALETTE: &[&str] = &["36", "35", "33", "32", "34", "96", "95", "93", "92", "94"];
const RESET: &str = "\x1b[0m";

/// Turns events into output. Logs go to `out`, everything meant for a person watching
/// (status lines, the summary) too, except in JSON mode, where `out` gets only JSON.
pub struct Renderer<W: Write> {
    style: Style,
    out: W,
    width: usize,
    colors: HashMap<String, &'static str>,
    detached: std::collections::HashSet<String>,
    transfers: Transfers,
    /// wharf's own lines (the run could not be prepared, a cleanup failed) go to
    /// `out` rather than to stderr: a renderer that keeps a log (the run history).
    notes_in_out: bool,
}

/// Transfer progress (a push's layers): bars on a terminal, a line per quarter in
/// plain output.
#[derive(Default)]
struct Transfers {
    /// The bars, while any is shown (terminal only).
    multi: Option<MultiProgress>,
    /// Per step: its items' (current, total) and the bars.
    steps: HashMap<String, StepTransfers>,
}

#[derive(Default)]
struct StepTransfers {
    items: HashMap<String, (u64, u64)>,
    bars: HashMap<String, ProgressBar>,
    total_bar: Option<ProgressBar>,
    /// Plain output: the last quarter printed per item.
    quarters: HashMap<String, u64>,
}

impl<W: Write> Renderer<W> {
    /// A renderer writing to `out`, for a run with these step ids (`detached`: the
    /// ids of detached steps, which are done once started).
    pub fn new(style: Style, out: W, step_ids: &[String], detached: &[String]) -> Renderer<W> {
        let width = step_ids
            .iter()
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(4)
            .clamp(4, 24);
        let colors = step_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), PALETTE[i % PALETTE.len()]))
            .collect();
        Renderer {
            style,
            out,
            width,
            colors,
            detached: detached.iter().cloned().collect(),
            transfers: Transfers::default(),
            notes_in_out: false,
        }
    }

    /// This renderer keeps a log: wharf's own lines go into it, not to stderr
    /// (where the terminal's renderer says them already).
    pub fn keeping_notes(mut self) -> Renderer<W> {
        self.notes_in_out = true;
        self
    }

    /// wharf's own line: to stderr, or into the log this renderer keeps.
    fn note(&mut self, line: &str) -> std::io::Result<()> {
        if self.notes_in_out {
            writeln!(self.out, "wharf: {line}")
        } else {
            eprintln!("wharf: {line}");
            Ok(())
        }
    }

    /// Renders one event (call [`Renderer::flush`] to be sure it is written).
    pub fn event(&mut self, event: &Event) {
        let result = match self.style {
            Style::Json => serde_json::to_string(event)
                .map_err(std::io::Error::other)
                .and_then(|line| writeln!(self.out, "{line}")),
            Style::Color | Style::Plain => match event {
                Event::Progress {
                    step,
                    item,
                    action,
                    current,
                    total,
                    ..
                } => self.progress(step, item, action, *current, *total),
                _ => match self.transfers.multi.clone() {
                    // Lines go above the bars.
                    Some(multi) => multi.suspend(|| self.human(event)),
                    None => self.human(event),
                },
            },
        };
        // A closed pipe must not stop the run; the run still cleans up.
        let _ = result;
        if matches!(event, Event::RunFinished { .. }) {
            self.flush();
        }
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }

    /// One transfer's progress: its bar (and its step's total bar) on a terminal; in
    /// plain output, a line each time it passes a quarter.
    fn progress(
        &mut self,
        step: &str,
        item: &str,
        action: &str,
        current: u64,
        total: Option<u64>,
    ) -> std::io::Result<()> {
        let total = total.unwrap_or(current).max(current);
        if self.style == Style::Plain {
            let quarter = (current * 4).checked_div(total).unwrap_or(4);
            let t = self.transfers.steps.entry(step.to_string()).or_default();
            let last = t.quarters.entry(item.to_string()).or_insert(0);
            if quarter <= *last || quarter >= 4 {
                return Ok(());
            }
            *last = quarter;
            let prefix = self.prefix(step);
            return writeln!(
                self.out,
                "{prefix} {item}: {action} {} of {} ({}%)",
                size(current),
                size(total),
                quarter * 25
            );
        }
        let multi = self
            .transfers
            .multi
            .get_or_insert_with(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout()))
            .clone();
        let prefix = self.prefix(step);
        let t = self.transfers.steps.entry(step.to_string()).or_default();
        t.items.insert(item.to_string(), (current, total));
        let bar_style = ProgressStyle::with_template(
            "{prefix} {msg:>14} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let bar = t.bars.entry(item.to_string()).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new(total));
            bar.set_style(bar_style.clone());
            bar.set_prefix(prefix.clone());
            bar.set_message(format!("{action} {item}"));
            bar
        });
        bar.set_length(total);
        bar.set_position(current);
        let (done, all): (u64, u64) = t
            .items
            .values()
            .fold((0, 0), |(d, a), (c, tot)| (d + c, a + tot));
        let total_bar = t.total_bar.get_or_insert_with(|| {
            let bar = multi.add(ProgressBar::new(all));
            bar.set_style(bar_style);
            bar.set_prefix(prefix);
            bar.set_message("total");
            bar
        });
        total_bar.set_length(all);
        total_bar.set_position(done);
        // When every item of every step is done, the bars go away.
        let finished = self
            .transfers
            .steps
            .values()
            .all(|t| t.items.values().all(|(c, tot)| c >= tot));
        if finished {
            for t in self.transfers.steps.values_mut() {
                for bar in t.bars.values() {
                    bar.finish_and_clear();
                }
                if let Some(bar) = t.total_bar.take() {
                    bar.finish_and_clear();
                }
                t.bars.clear();
                t.items.clear();
            }
            if let Some(multi) = self.transfers.multi.take() {
                let _ = multi.clear();
            }
        }
        Ok(())
    }

    fn prefix(&self, step: &str) -> String {
        let name = shorten(step, self.width);
        let padded = format!("{name:<width$}", width = self.width);
        match (self.style, self.colors.get(step)) {
            (Style::Color, Some(c)) => format!("\x1b[{c}m{padded} |{RESET}"),
            _ => format!("{padded} |"),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.style == Style::Color {
            format!("\x1b[{code}m{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    fn human(&mut self, event: &Event) -> std::io::Result<()> {
        match event {
            Event::RunStarted { run_id, steps, .. } => {
                let line = format!(
                    "wharf: run {run_id}, {} step{}",
                    steps.len(),
                    plural(steps.len())
                );
                writeln!(self.out, "{}", self.paint("1", &line))
            }
            Event::StepStarted {
                step,
                attempt,
                repeat,
                ..
            } => {
                let mut note = String::new();
                if *attempt > 1 {
                    note.push_str(&format!(" (attempt {attempt})"));
                }
                if *repeat > 0 {
                    note.push_str(&format!(" (repeat {repeat})"));
                }
                let line = format!(
                    "{} {}",
                    self.prefix(step),
                    self.paint("2", &format!("▶ start{note}"))
                );
                writeln!(self.out, "{line}")
            }
            Event::Log {
                step, stream, line, ..
            } => {
                if step.is_empty() {
                    // wharf's own problem (the run could not be prepared).
                    return self.note(line);
                }
                let text = match stream {
                    Stream::Stderr if self.style == Style::Color => self.paint("31", line),
                    _ => line.clone(),
                };
                let prefix = self.prefix(step);
                writeln!(self.out, "{prefix} {text}")
            }
            Event::StepRetrying {
                step,
                attempt,
                error,
                delay_secs,
                ..
            } => {
                let line =
                    format!("↻ attempt {attempt} failed ({error}); retrying in {delay_secs}s");
                let prefix = self.prefix(step);
                writeln!(self.out, "{prefix} {}", self.paint("33", &line))
            }
            // Handled by `progress`.
            Event::Progress { .. } => Ok(()),
            Event::StepFinished { result, .. } => {
                if result.status == StepStatus::Skipped {
                    return Ok(());
                }
                let prefix = self.prefix(&result.step);
                let line = step_line(result, self.detached.contains(&result.step));
                let code = status_color(result.status);
                writeln!(self.out, "{prefix} {}", self.paint(code, &line))
            }
            Event::RunFinished {
                status,
                duration_ms,
                steps,
                cleanup_errors,
                run_id,
                notifications,
                ..
            } => {
                for e in cleanup_errors {
                    self.note(&format!("cleanup: {e}"))?;
                }
                writeln!(self.out)?;
                // Notifications are listed with the steps: they ran, but cannot change
                // the verdict below.
                let all: Vec<StepResult> = steps.iter().chain(notifications).cloned().collect();
                self.summary(&all)?;
                let verdict = match status {
                    RunStatus::Succeeded => self.paint("1;32", "succeeded"),
                    RunStatus::Failed => self.paint("1;31", "failed"),
                    RunStatus::Interrupted => self.paint("1;33", "interrupted"),
                };
                writeln!(
                    self.out,
                    "run {run_id} {verdict} in {}",
                    duration(*duration_ms)
                )
            }
        }
    }

    fn summary(&mut self, steps: &[StepResult]) -> std::io::Result<()> {
        let width = steps
            .iter()
            .map(|s| s.step.chars().count())
            .max()
            .unwrap_or(4)
            .max(4);
        writeln!(
            self.out,
            "{:<width$}  {:<10}  {:>9}  {:>4}",
            "STEP", "STATUS", "DURATION", "EXIT"
        )?;
        for s in steps {
            let status = status_name(s.status);
            let exit = s.exit_code.map_or("-".to_string(), |c| c.to_string());
            let dur = if s.status == StepStatus::Skipped {
                "-".to_string()
            } else {
                duration(s.duration_ms)
            };
            let status_cell = format!("{status:<10}");
            writeln!(
                self.out,
                "{:<width$}  {}  {dur:>9}  {exit:>4}",
                s.step,
                self.paint(status_color(s.status), &status_cell)
            )?;
        }
        Ok(())
    }
}

/// `step` in at most `width` characters: long ids lose their middle, so that ids
/// sharing a long prefix (`integration-test-backend-1`, `-2`) stay apart.
fn shorten(step: &str, width: usize) -> String {
    let chars: Vec<char> = step.chars().collect();
    if chars.len() <= width {
        return step.to_string();
    }
    let tail = (width - 1) / 2;
    let head = width - 1 - tail;
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[chars.len() - tail..]);
    out
}

fn step_line(r: &StepResult, detached: bool) -> String {
    let took = duration(r.duration_ms);
    match r.status {
        StepStatus::Succeeded if detached => format!("✓ started (detached) in {took}"),
        StepStatus::Succeeded => format!("✓ succeeded in {took}"),
        StepStatus::Failed => format!(
            "✗ failed after {took}: {}",
            r.error.as_deref().unwrap_or("failed")
        ),
        StepStatus::Ignored => format!(
            "✓ failed, ignored (ignoreErrors) after {took}: {}",
            r.error.as_deref().unwrap_or("failed")
        ),
        StepStatus::Cancelled => format!("■ stopped after {took}"),
        StepStatus::Skipped => "skipped".to_string(),
    }
}

fn status_name(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Succeeded => "succeeded",
        StepStatus::Failed => "failed",
        StepStatus::Ignored => "ignored",
        StepStatus::Skipped => "skipped",
        StepStatus::Cancelled => "cancelled",
    }
}

fn status_color(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Succeeded => "32",
        StepStatus::Failed => "31",
        StepStatus::Ignored => "33",
        StepStatus::Skipped => "2",
        StepStatus::Cancelled => "33",
    }
}

/// `16.0 MiB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `850ms`, `4.2s`, `2m05s`.
pub fn duration(ms: u64) -> String {
    let d = Duration::from_millis(ms);
    if ms < 1000 {
        format!("{ms}ms")
    } else if d.as_secs() < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(style: Style, events: &[Event]) -> String {
        let ids: Vec<String> = vec!["build".into(), "a-very-long-step-name-that-is-long".into()];
        let mut buf = Vec::new();
        {
            let mut r = Renderer::new(style, &mut buf, &ids, &[]);
            for e in events {
                r.event(e);
            }
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    fn finished(step: &str, status: StepStatus, exit: Option<i64>) -> StepResult {
        StepResult {
            step: step.into(),
            status,
            exit_code: exit,
            duration_ms: 1234,
            attempts: 1,
            error: (status == StepStatus::Failed).then(|| "exit code 2".into()),
            outputs: Default::default(),
        }
    }

    fn sample() -> Vec<Event> {
        vec![
            Event::Log {
                time: "t".into(),
                step: "build".into(),
                stream: Stream::Stdout,
                line: "hello".into(),
            },
            Event::StepFinished {
                time: "t".into(),
                result: finished("build", StepStatus::Failed, Some(2)),
            },
            Event::RunFinished {
                time: "t".into(),
                run_id: "r1".into(),
                status: RunStatus::Failed,
                duration_ms: 61_000,
                steps: vec![finished("build", StepStatus::Failed, Some(2))],
                cleanup_errors: vec![],
                notifications: vec![],
            },
        ]
    }

    #[test]
    fn plain_output_has_aligned_prefixes_and_a_summary() {
        let out = render(Style::Plain, &sample());
        let width = 24;
        assert!(
            out.contains(&format!("{:<width$} | hello", "build")),
            "{out}"
        );
        assert!(out.contains("✗ failed after 1.2s: exit code 2"), "{out}");
        assert!(out.contains("STEP"), "{out}");
        assert!(out.contains("run r1 failed in 1m01s"), "{out}");
        assert!(
            !out.contains('\x1b'),
            "plain output has no escape codes: {out:?}"
        );
    }

    #[test]
    fn color_output_uses_ansi_codes() {
        let out = render(Style::Color, &sample());
        assert!(out.contains("\x1b["), "{out:?}");
    }

    #[test]
    fn json_output_is_one_event_per_line() {
        let out = render(Style::Json, &sample());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        for line in lines {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            assert!(v["event"].is_string(), "{line}");
        }
    }

    fn progress(current: u64) -> Event {
        Event::Progress {
            time: "t".into(),
            step: "build".into(),
            item: "2f9c1d0e7a3b".into(),
            action: "push".into(),
            current,
            total: Some(64 << 20),
        }
    }

    #[test]
    fn plain_progress_is_a_line_per_quarter() {
        let events: Vec<Event> = [0, 1 << 20, 17 << 20, 20 << 20, 33 << 20, 64 << 20]
            .into_iter()
            .map(progress)
            .collect();
        let out = render(Style::Plain, &events);
        let lines: Vec<&str> = out.lines().collect();
        let prefix = format!("{:<24} |", "build");
        assert_eq!(
            lines,
            [
                format!("{prefix} 2f9c1d0e7a3b: push 17.0 MiB of 64.0 MiB (25%)"),
                format!("{prefix} 2f9c1d0e7a3b: push 33.0 MiB of 64.0 MiB (50%)"),
            ],
            "{out}"
        );
        // JSON carries every event it is given.
        let json = render(Style::Json, &events);
        assert_eq!(json.lines().count(), events.len());
        let last: serde_json::Value =
            serde_json::from_str(json.lines().last().unwrap_or_default()).unwrap_or_default();
        assert_eq!(last["event"], "progress");
        assert_eq!(last["current"], 64 << 20);
        assert_eq!(last["total"], 64 << 20);
    }

    #[test]
    fn only_detached_steps_say_started() {
        let push = finished("push", StepStatus::Succeeded, None);
        assert!(step_line(&push, false).starts_with("✓ succeeded"));
        assert!(step_line(&push, true).starts_with("✓ started (detached)"));
    }

    #[test]
    fn long_ids_keep_their_ends() {
        assert_eq!(shorten("build", 24), "build");
        let a = shorten("integration-test-backend-service-1", 24);
        let b = shorten("integration-test-backend-service-2", 24);
        assert_eq!(a.chars().count(), 24);
        assert_ne!(a, b);
        assert!(
            a.starts_with("integration") && a.ends_with("service-1"),
            "{a}"
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(4200), "4.2s");
        assert_eq!(duration(125_000), "2m05s");
    }
}
