//! `wharf`: run ACR Tasks pipelines (acb.yaml) locally.
//!
//! Exit codes: 0 success, 1 the pipeline failed, 2 bad input or usage, 130 interrupted.

mod cli;
mod commands;
mod git;
mod output;
mod render;
mod report;
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
    commands::dispatch(cli.command)
}
