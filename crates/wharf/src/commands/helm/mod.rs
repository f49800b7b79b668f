//! `wharf helm ...`: one file per subcommand.

pub mod package;
pub mod pull;
pub mod push;

use std::process::ExitCode;

use wharf_helm::registry::RegistryError;

use crate::commands::{EXIT_FAILED, EXIT_USAGE};

/// Prints a push or pull error and gives its exit code: 2 for bad input (a broken
/// chart, a malformed reference), else 1.
pub(crate) fn fail(error: &RegistryError) -> ExitCode {
    match error {
        RegistryError::Chart(e) => package::report(e),
        _ => {
            eprintln!("error: {error}");
            ExitCode::from(if error.is_bad_input() {
                EXIT_USAGE
            } else {
                EXIT_FAILED
            })
        }
    }
}
