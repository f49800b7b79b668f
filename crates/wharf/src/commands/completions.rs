//! `wharf completions SHELL`.

use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::Cli;

/// `wharf completions`.
pub fn run(shell: clap_complete::Shell) -> ExitCode {
    clap_complete::generate(shell, &mut Cli::command(), "wharf", &mut std::io::stdout());
    ExitCode::SUCCESS
}
