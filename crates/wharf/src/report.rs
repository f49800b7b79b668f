//! Prints diagnostics the way cargo-nextest and just do: every problem with
//! `file:line:col`, a source snippet and a caret, then a one-line summary.

use std::fmt;
use std::io::IsTerminal;
use std::process::ExitCode;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use wharf_engine::Masker;
use wharf_spec::{Diagnostic, Diagnostics, Severity, SourceFiles};

/// Whether to use colour on stderr: a terminal, and `NO_COLOR` unset.
pub fn stderr_color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Renders every diagnostic (snippet, caret, help) followed by nothing else.
pub fn render(diagnostics: &Diagnostics, sources: &SourceFiles, color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_context_lines(1)
        .with_wrap_lines(false);
    let mut out = String::new();
    for d in diagnostics {
        if d.location.is_none() {
            // Nothing to show but the message: one line, like the summary.
            out.push_str(&format!("{}[{}]: {}\n", d.severity, d.code, d.message));
            if let Some(help) = &d.help {
                out.push_str(&format!("  help: {help}\n"));
            }
            continue;
        }
        let report = Report::new(d, sources);
        if handler.render_report(&mut out, &report).is_err() {
            out.push_str(&d.short(sources));
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// Prints why a task could not be loaded and returns the exit code: 2 for bad input,
/// 1 when only secrets could not be fetched (no login, Key Vault down: the run failed,
/// the input is fine). `default_file` adds a hint when ./acb.yaml was assumed.
pub fn input_error(
    name: &str,
    e: crate::task_input::InputError,
    default_file: bool,
    masker: &Masker,
) -> ExitCode {
    match e {
        crate::task_input::InputError::Read { path, error } => {
            eprintln!("error: cannot read {}: {error}", path.display());
            if default_file && error.kind() == std::io::ErrorKind::NotFound {
                eprintln!(
                    "help: wharf looks for ./acb.yaml; pass another file as `wharf <command> FILE` or `-f FILE`"
                );
            }
            ExitCode::from(crate::commands::EXIT_USAGE)
        }
        crate::task_input::InputError::Invalid(failure) => {
            let diagnostics = masked(&failure.diagnostics, masker);
            eprint!("{}", render(&diagnostics, &failure.sources, stderr_color()));
            eprintln!("{}", summary(name, &failure.diagnostics));
            let only_secrets = failure
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .all(|d| d.code == "secret-resolve");
            ExitCode::from(if only_secrets {
                crate::commands::EXIT_FAILED
            } else {
                crate::commands::EXIT_USAGE
            })
        }
    }
}

/// The diagnostics with every secret value masked: once secrets are resolved, a
/// problem found after rendering may quote one (an env entry, a step id).
pub fn masked(diagnostics: &Diagnostics, masker: &Masker) -> Diagnostics {
    if masker.is_empty() {
        return diagnostics.clone();
    }
    let mut out = Diagnostics::new();
    for d in diagnostics {
        let mut d = d.clone();
        d.message = masker.mask(&d.message);
        d.label = d.label.map(|l| masker.mask(&l));
        d.help = d.help.map(|h| masker.mask(&h));
        for (_, note) in &mut d.related {
            *note = masker.mask(note);
        }
        out.push(d);
    }
    out
}

/// `error: acb.yaml has 2 errors and 1 warning`.
pub fn summary(file: &str, diagnostics: &Diagnostics) -> String {
    let errors = diagnostics.error_count();
    let warnings = diagnostics.warning_count();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match (errors, warnings) {
        (0, 0) => format!("{file}: no problems"),
        (0, w) => format!("warning: {file}: {}", plural(w, "warning")),
        (e, 0) => format!("error: {file}: {}", plural(e, "error")),
        (e, w) => format!(
            "error: {file}: {} and {}",
            plural(e, "error"),
            plural(w, "warning")
        ),
    }
}

/// One wharf diagnostic in miette's shape.
struct Report {
    message: String,
    code: &'static str,
    severity: Severity,
    help: Option<String>,
    source: Option<NamedSource<String>>,
    labels: Vec<LabeledSpan>,
    notes: Vec<String>,
}

impl Report {
    fn new(d: &Diagnostic, sources: &SourceFiles) -> Report {
        let mut labels = Vec::new();
        let mut notes = Vec::new();
        let source = d.location.map(|loc| {
            let file = sources.get(loc.file);
            labels.push(LabeledSpan::new_primary_with_span(
                d.label.clone(),
                span(loc.span, file.text().len()),
            ));
            for (related, note) in &d.related {
                if related.file == loc.file {
                    labels.push(LabeledSpan::new_with_span(
                        Some(note.clone()),
                        span(related.span, file.text().len()),
                    ));
                } else {
                    let other = sources.get(related.file);
                    notes.push(format!(
                        "{note}: {}:{}",
                        other.name(),
                        other.line_col(related.span.start)
                    ));
                }
            }
            NamedSource::new(file.name(), file.text().to_string()).with_language("yaml")
        });
        Report {
            message: d.message.clone(),
            code: d.code,
            severity: d.severity,
            help: d.help.clone(),
            source,
            labels,
            notes,
        }
    }
}

fn span(s: wharf_spec::Span, len: usize) -> SourceSpan {
    let start = s.start.min(len);
    SourceSpan::new(start.into(), s.len().min(len - start))
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.message, self.code)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let mut parts: Vec<&str> = self.help.iter().map(String::as_str).collect();
        parts.extend(self.notes.iter().map(String::as_str));
        if parts.is_empty() {
            None
        } else {
            Some(Box::new(parts.join("\n")))
        }
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }
}
