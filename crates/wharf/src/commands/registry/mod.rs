//! `wharf registry ...`: one file per subcommand. What they share: the client (the
//! user's Docker credentials, a retry budget, one stderr line per retry), reference
//! parsing, errors and exit codes, JSON output.
//!
//! Exit codes: 0 done, 1 the registry refused or failed (authentication, not found,
//! wrong content, unreachable after the retry budget), 2 bad input (a malformed
//! reference, an invalid OCI layout, a bad flag).

pub mod copy;
pub mod delete;
pub mod inspect;
pub mod login;
pub mod logout;
pub mod ls;
pub mod purge;
pub mod referrers;
pub mod serve;
pub mod tags;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use wharf_registry::client::{AzureOptions, ClientOptions, Error, RetryNotice, RetryPolicy};
use wharf_registry::{Client, ImageRef, Keychain};

use crate::cli::RegistryOptions;
use crate::commands::{EXIT_FAILED, EXIT_USAGE, print};

/// The user's Docker credentials (`$DOCKER_CONFIG` or `~/.docker`).
pub(crate) fn keychain() -> Arc<Keychain> {
    Arc::new(Keychain::docker())
}

/// A retry policy with `budget_secs` in total, each retry a line on stderr.
pub(crate) fn retry_policy(budget_secs: f64) -> RetryPolicy {
    RetryPolicy {
        budget: Duration::from_secs_f64(budget_secs),
        on_retry: Some(Arc::new(|notice: &RetryNotice| {
            eprintln!("wharf: {notice}");
        })),
        ..RetryPolicy::default()
    }
}

/// A client for a registry command.
pub(crate) fn client(
    options: &RegistryOptions,
    azure_hosts: Vec<String>,
) -> Result<Client, ExitCode> {
    Client::new(ClientOptions {
        keychain: keychain(),
        retry: retry_policy(options.retry_budget),
        plain_http: options.plain_http.clone(),
        azure: AzureOptions {
            extra_hosts: azure_hosts,
            ..AzureOptions::default()
        },
        ..ClientOptions::default()
    })
    .map_err(|e| fail(&e))
}

/// Prints `error` and gives its exit code: 2 for bad input, else 1.
pub(crate) fn fail(error: &Error) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(if error.is_bad_input() {
        EXIT_USAGE
    } else {
        EXIT_FAILED
    })
}

/// A usage error: printed, exit code 2.
pub(crate) fn usage(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_USAGE)
}

/// An image reference from the command line (exit code 2 when malformed).
pub(crate) fn image_ref(text: &str) -> Result<ImageRef, ExitCode> {
    let text = text.strip_prefix("docker://").unwrap_or(text);
    ImageRef::parse(text).map_err(usage)
}

/// A repository (no tag, no digest) from the command line.
pub(crate) fn repository(text: &str) -> Result<wharf_registry::Repository, ExitCode> {
    let text = text.strip_prefix("docker://").unwrap_or(text);
    let last = text.rsplit('/').next().unwrap_or(text);
    if last.contains(':') || text.contains('@') {
        return Err(usage(format!(
            "{text:?} names a tag or digest: give the repository alone (REGISTRY/REPO)"
        )));
    }
    let image = ImageRef::parse(text).map_err(usage)?;
    Ok(wharf_registry::Repository::of(&image))
}

/// Prints `value` as pretty JSON on stdout.
pub(crate) fn print_json(value: &impl Serialize) -> ExitCode {
    match serde_json::to_string_pretty(value) {
        Ok(text) => print(&format!("{text}\n")),
        Err(e) => {
            eprintln!("error: cannot write JSON: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// Runs an async command body on a fresh runtime.
pub(crate) fn block_on<F: std::future::Future<Output = ExitCode>>(body: F) -> ExitCode {
    match crate::commands::runtime() {
        Ok(rt) => rt.block_on(body),
        Err(code) => code,
    }
}

/// `1.5 MiB`, `512 B`.
pub(crate) fn human_size(bytes: u64) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_docker_s() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(64 << 20), "64.0 MiB");
    }

    #[test]
    fn repositories_have_no_tag() {
        assert!(repository("localhost:5000/a/b").is_ok());
        assert!(repository("localhost:5000/a/b:1").is_err());
        assert!(repository("localhost:5000/a@sha256:x").is_err());
        assert!(repository("Bad/Name").is_err());
    }
}
