//! `wharf helm package CHART [--version V] [--app-version A] [-d DIR]`.

use std::process::ExitCode;

use wharf_helm::{ChartError, PackageOptions, Place, source_date_epoch};

use crate::cli::HelmPackageArgs;
use crate::commands::{EXIT_FAILED, EXIT_USAGE};

/// Packages the chart; prints where the archive went (helm's line) on stdout.
pub fn run(args: &HelmPackageArgs) -> ExitCode {
    let epoch = std::env::var("SOURCE_DATE_EPOCH").ok();
    let source_date_epoch = match source_date_epoch(epoch.as_deref()) {
        Ok(epoch) => epoch,
        Err(e) => return report(&e),
    };
    let options = PackageOptions {
        version: args.version.clone(),
        app_version: args.app_version.clone(),
        destination: args.destination.clone(),
        source_date_epoch,
    };
    match wharf_helm::package(&args.chart, &options) {
        Ok(packaged) => crate::commands::print(&format!(
            "Successfully packaged chart and saved it to: {}\n",
            packaged.path.display()
        )),
        Err(e) => report(&e),
    }
}

/// Prints the error with a snippet of the line it is on; exit 2 for a broken
/// chart or argument, 1 when the system failed us (a write error).
pub(crate) fn report(e: &ChartError) -> ExitCode {
    eprintln!("error: {e}");
    if let Some(place) = e.place() {
        eprint!("{}", snippet(place));
    }
    let usage = match e {
        ChartError::Io { source, .. } => matches!(
            source.kind(),
            std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
        ),
        _ => e.is_input(),
    };
    ExitCode::from(if usage { EXIT_USAGE } else { EXIT_FAILED })
}

/// The line with a caret under the problem, as rustc and cargo show it.
fn snippet(place: &Place) -> String {
    let number = place.line.to_string();
    let pad = " ".repeat(number.len());
    let indent: String = place
        .line_text
        .chars()
        .take(place.column.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    format!(
        "{pad} |\n{number} | {}\n{pad} | {indent}{}\n",
        place.line_text,
        "^".repeat(place.width.max(1))
    )
}
