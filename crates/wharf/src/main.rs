//! `wharf`: run ACR Tasks pipelines (acb.yaml) locally.
//!
//! Exit codes: 0 success, 1 the pipeline failed, 2 bad input or usage, 130 interrupted.

#[macro_use]
mod stdio;

mod cli;
mod cli_trust;
mod commands;
mod deps;
mod git;
mod output;
mod plugin;
mod provenance;
mod render;
mod report;
mod steps;
mod task_input;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::commands::EXIT_USAGE;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    init_tracing(cli.verbose);
    commands::dispatch(cli.command)
}

/// The crates whose events `-v` shows.
const OWN_CRATES: &[&str] = &[
    "wharf",
    "wharf_acr",
    "wharf_helm",
    "wharf_history",
    "wharf_plugin_host",
    "wharf_trust",
    "wharf_registry",
    "wharf_docker",
    "wharf_engine",
    "wharf_secrets",
    "wharf_spec",
];

/// tracing on stderr: `WHARF_LOG` (an EnvFilter) when set, else `-v` (debug) or
/// `-vv` (trace) for wharf's own crates; nothing without either. No event field
/// holds a credential (the crates make sure of it).
fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("WHARF_LOG") {
        Ok(filter) if !filter.trim().is_empty() => match EnvFilter::try_new(filter.trim()) {
            Ok(f) => f,
            Err(e) => {
                eprintln!(
                    "wharf: warning: WHARF_LOG={filter:?} is not a valid filter ({e}); ignoring it"
                );
                return;
            }
        },
        _ if verbose == 0 => return,
        _ => {
            let level = if verbose == 1 { "debug" } else { "trace" };
            let directives: Vec<String> =
                OWN_CRATES.iter().map(|c| format!("{c}={level}")).collect();
            EnvFilter::new(directives.join(","))
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
