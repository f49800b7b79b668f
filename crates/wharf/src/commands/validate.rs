//! `wharf validate`: every problem at once; `--acr` adds what `az acr run` would do
//! differently.

use std::process::ExitCode;

use crate::cli::ValidateArgs;
use crate::report;

use super::{EXIT_USAGE, load_for_display};

/// `wharf validate`.
pub fn run(args: &ValidateArgs) -> ExitCode {
    let name = args.task.path().display().to_string();
    let (loaded, _) = match load_for_display(&args.task, args.strict) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let mut code = ExitCode::SUCCESS;
    if args.acr {
        // Build steps' Dockerfiles are read from the context, to spot BuildKit syntax.
        let context = args.task.context.clone();
        let read_dockerfile = move |path: &str| {
            let file = context.join(path);
            let small = std::fs::metadata(&file).is_ok_and(|m| m.is_file() && m.len() < 1 << 20);
            small.then(|| std::fs::read_to_string(&file).ok()).flatten()
        };
        let compat = wharf_spec::compat::acr_compatibility_with(&loaded, &read_dockerfile);
        if compat.is_empty() {
            eprintln!("{name}: az acr run should behave the same");
        } else {
            eprint!(
                "{}",
                report::render(&compat, &loaded.sources, report::stderr_color())
            );
            eprintln!(
                "{name}: {} place{} where az acr run would refuse or behave differently",
                compat.iter().count(),
                if compat.iter().count() == 1 { "" } else { "s" }
            );
            if args.strict {
                code = ExitCode::from(EXIT_USAGE);
            }
        }
    }
    eprintln!("{}", report::summary(&name, &loaded.warnings));
    code
}
