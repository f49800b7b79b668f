//! `wharf completions SHELL`.

use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::Cli;

/// `wharf completions`. Written to a buffer first: clap_complete panics when a
/// write fails, and a closed pipe (`| head`) is not an error.
pub fn run(shell: clap_complete::Shell) -> ExitCode {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "wharf", &mut script);
    super::print(&String::from_utf8_lossy(&script))
}
