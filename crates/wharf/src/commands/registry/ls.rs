//! `wharf registry ls REGISTRY`: the registry's repositories (its catalog), every page.

use std::process::ExitCode;

use serde_json::json;

use super::{block_on, client, fail, print_json};
use crate::cli::{OutputFormat, RegistryLsArgs};
use crate::commands::print;

/// `wharf registry ls`.
pub fn run(args: &RegistryLsArgs) -> ExitCode {
    block_on(async {
        let client = match client(&args.options, Vec::new()) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let registry = args.registry.trim_end_matches('/');
        let repositories = match client.catalog(registry).await {
            Ok(r) => r,
            Err(e) => return fail(&e),
        };
        match args.options.output {
            OutputFormat::Json => print_json(&json!({
                "registry": registry,
                "repositories": repositories,
            })),
            OutputFormat::Text => {
                let mut text = String::new();
                for r in &repositories {
                    text.push_str(r);
                    text.push('\n');
                }
                print(&text)
            }
        }
    })
}
