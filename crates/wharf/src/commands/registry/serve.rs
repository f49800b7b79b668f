//! `wharf registry serve`: serve wharf's own registry.

use std::process::ExitCode;

use crate::cli::RegistryServeArgs;
use crate::commands::{EXIT_FAILED, runtime};

/// `wharf registry serve`.
pub fn run(args: &RegistryServeArgs) -> ExitCode {
    let Ok(rt) = runtime() else {
        return ExitCode::from(EXIT_FAILED);
    };
    rt.block_on(async {
        let root = args
            .root
            .clone()
            .unwrap_or_else(wharf_registry::default_root);
        let registry = match wharf_registry::LocalRegistry::start(root.clone(), args.addr).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: cannot start the registry on {}: {e}", args.addr);
                return ExitCode::from(EXIT_FAILED);
            }
        };
        eprintln!(
            "wharf: serving {} at http://{} (Ctrl-C stops)",
            root.display(),
            registry.addr
        );
        let _ = tokio::signal::ctrl_c().await;
        registry.shutdown().await;
        ExitCode::SUCCESS
    })
}
