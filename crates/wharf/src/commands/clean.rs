//! `wharf clean`: remove what runs left behind, found by label.

use std::process::ExitCode;

use crate::cli::CleanArgs;

use super::{EXIT_FAILED, runtime};

/// `wharf clean`.
pub fn run(args: &CleanArgs) -> ExitCode {
    let Ok(rt) = runtime() else {
        return ExitCode::from(EXIT_FAILED);
    };
    match rt.block_on(wharf_docker::clean(args.run.as_deref(), args.force)) {
        Ok(report) => {
            if report.removed.is_empty() && report.skipped.is_empty() {
                println!("nothing to clean");
            }
            for item in &report.removed {
                println!("removed {item}");
            }
            for item in &report.skipped {
                println!("skipped {item} (in use by a running container; --force removes it)");
            }
            for e in &report.errors {
                eprintln!("error: {e}");
            }
            if report.errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILED)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}
