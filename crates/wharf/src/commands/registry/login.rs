//! `wharf registry login REGISTRY [-u USER --password-stdin] [--azure]`: checks the
//! credentials against the registry the way `docker login` does and stores what
//! `docker login` would store (a credential helper when the config names one, else
//! `auths` in config.json), so docker and every tool reading Docker's config use the
//! login too. Without a user name, an Azure Container Registry is signed in to with
//! Azure AD, as `az acr login` does, and its refresh token is stored for the user
//! `00000000-0000-0000-0000-000000000000`.

use std::io::Read as _;
use std::process::ExitCode;

use serde_json::json;
use wharf_registry::Credential;
use wharf_registry::credentials::{CredentialLookup, StoredIn, docker_config_dir};

use super::{block_on, client, fail, print_json, usage};
use crate::cli::{OutputFormat, RegistryLoginArgs};
use crate::commands::{EXIT_FAILED, print};

/// `wharf registry login`.
pub fn run(args: &RegistryLoginArgs) -> ExitCode {
    let registry = args
        .registry
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let Some(dir) = docker_config_dir() else {
        return usage("no Docker config directory: set DOCKER_CONFIG or HOME");
    };
    let password = match (&args.username, args.password_stdin) {
        (Some(_), true) => {
            let mut text = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut text) {
                return usage(format!("cannot read the password from stdin: {e}"));
            }
            // As docker does: one trailing line ending is not part of the password.
            let text = text
                .strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(&text)
                .to_string();
            if text.is_empty() {
                return usage("the password on stdin is empty");
            }
            Some(text)
        }
        (Some(_), false) => {
            return usage(
                "give the password on stdin with --password-stdin (wharf never takes a password as an argument)",
            );
        }
        (None, true) => return usage("--password-stdin needs a user name: -u USER"),
        (None, false) => None,
    };
    block_on(async {
        let azure_hosts = if args.azure {
            vec![registry.clone()]
        } else {
            Vec::new()
        };
        let client = match client(&args.options, azure_hosts) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let checked = match (&args.username, password) {
            (Some(user), Some(password)) => {
                client
                    .check_login(
                        &registry,
                        &Credential::Basic {
                            username: user.clone(),
                            password,
                        },
                    )
                    .await
            }
            _ => {
                if !client.is_acr(&registry) {
                    return usage(format!(
                        "no user name for {registry}: give -u USER --password-stdin (the Azure AD sign-in is for Azure Container Registries: *.azurecr.io, or --azure)"
                    ));
                }
                client.azure_login(&registry).await
            }
        };
        let credential = match checked {
            Ok(c) => c,
            Err(e) => return fail(&e),
        };
        let stored = match CredentialLookup::new(dir).store(&registry, &credential) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_FAILED);
            }
        };
        let (kind, place) = match &stored {
            StoredIn::ConfigFile(path) => ("config", path.display().to_string()),
            StoredIn::Helper(helper) => ("helper", helper.clone()),
            _ => ("other", String::new()),
        };
        match args.options.output {
            OutputFormat::Json => print_json(&json!({
                "registry": registry,
                "storedIn": { "kind": kind, "place": place },
            })),
            OutputFormat::Text => {
                if kind == "config" {
                    eprintln!(
                        "WARNING! The login is stored unencrypted in {place} (as docker does without a credential helper)."
                    );
                } else {
                    eprintln!("The login is stored with {place}.");
                }
                print("Login Succeeded\n")
            }
        }
    })
}
