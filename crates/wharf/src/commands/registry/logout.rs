//! `wharf registry logout REGISTRY`: removes the stored login, as `docker logout`
//! does (the credential helper's entry and every `auths` spelling of the host).

use std::process::ExitCode;

use wharf_registry::credentials::{CredentialLookup, docker_config_dir};

use super::usage;
use crate::cli::RegistryLogoutArgs;
use crate::commands::EXIT_FAILED;

/// `wharf registry logout`.
pub fn run(args: &RegistryLogoutArgs) -> ExitCode {
    let Some(dir) = docker_config_dir() else {
        return usage("no Docker config directory: set DOCKER_CONFIG or HOME");
    };
    let registry = args.registry.trim_end_matches('/');
    match CredentialLookup::new(dir).erase(registry) {
        Ok(true) => {
            eprintln!("Removing login credentials for {registry}");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            eprintln!("Not logged in to {registry}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}
