//! `wharf registry purge --registry R --filter 'REPO:REGEX' --ago DURATION [--keep N]
//! [--untagged] [--dry-run] [--concurrency N]`, with `acr purge`'s semantics and output
//! lines (see `wharf_registry::purge`).

use std::process::ExitCode;

use wharf_registry::purge::{
    MAX_CONCURRENCY, Options, Pattern, PurgeError, parse_ago, purge, split_filter,
};

use crate::cli::OutputFormat;
use crate::cli_trust::RegistryPurgeArgs;
use crate::commands::registry::{block_on, client};
use crate::commands::{EXIT_FAILED, EXIT_USAGE};

fn failed(error: &PurgeError) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(if error.is_bad_input() {
        EXIT_USAGE
    } else {
        EXIT_FAILED
    })
}

/// `wharf registry purge`.
pub fn run(args: &RegistryPurgeArgs) -> ExitCode {
    // Flags are checked before anything is asked of the registry, as acr does.
    for filter in &args.filters {
        let checked = split_filter(filter).and_then(|(repo, tag)| {
            Pattern::new(&format!("^{repo}$"), filter)?;
            Pattern::new(&tag, filter)
        });
        if let Err(e) = checked {
            return failed(&e);
        }
    }
    let ago = match parse_ago(&args.ago) {
        Ok(a) => a,
        Err(e) => return failed(&e),
    };
    let concurrency = if args.concurrency <= 0 {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        println!("Specified concurrency value invalid. Set to default value: {cpus}");
        cpus
    } else if args.concurrency as usize > MAX_CONCURRENCY {
        println!("Specified concurrency value too large. Set to maximum value: {MAX_CONCURRENCY}");
        MAX_CONCURRENCY
    } else {
        args.concurrency as usize
    };
    let options = Options {
        filters: args.filters.clone(),
        ago,
        keep: args.keep,
        untagged: args.untagged,
        dry_run: args.dry_run,
        concurrency,
    };
    let registry_options = args.connection.options(OutputFormat::Text);
    block_on(async {
        let client = match client(&registry_options, Vec::new()) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let printer = |line: String| println!("{line}");
        match purge(&client, &args.registry, &options, &printer).await {
            Ok(summary) => {
                if args.dry_run {
                    println!("\nNumber of tags to be deleted: {}", summary.tags);
                    println!("Number of manifests to be deleted: {}", summary.manifests);
                } else {
                    println!("\nNumber of deleted tags: {}", summary.tags);
                    println!("Number of deleted manifests: {}", summary.manifests);
                }
                ExitCode::SUCCESS
            }
            Err(e) => failed(&e),
        }
    })
}
