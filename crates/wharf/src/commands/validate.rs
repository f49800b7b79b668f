//! `wharf validate`: every problem at once; `--acr` adds what `az acr run` would do
//! differently.

use std::process::ExitCode;

use crate::cli::ValidateArgs;
use crate::report;

use wharf_spec::Diagnostics;

use super::{EXIT_USAGE, load_quietly};

/// `wharf validate`.
pub fn run(args: &ValidateArgs) -> ExitCode {
    let name = args.task.path().display().to_string();
    // With --acr, a warning that the compatibility list repeats in ACR's terms (an
    // unknown key, a Sprig v3 function, a duplicated `when`) is printed once, there.
    let (loaded, _) = match load_quietly(&args.task, args.strict) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let shown: Diagnostics = loaded
        .warnings
        .iter()
        .filter(|d| !(args.acr && wharf_spec::compat::restated(d.code)))
        .cloned()
        .collect();
    if !shown.is_empty() {
        eprint!(
            "{}",
            report::render(&shown, &loaded.sources, report::stderr_color())
        );
    }
    // What the engine would refuse when the step starts (in ACR too): errors.
    let refused = wharf_spec::compat::docker_refuses(&loaded);
    if !refused.is_empty() {
        eprint!(
            "{}",
            report::render(&refused, &loaded.sources, report::stderr_color())
        );
    }
    let mut code = if refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_USAGE)
    };
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
    let mut all = loaded.warnings.clone();
    all.extend(refused);
    eprintln!("{}", report::summary(&name, &all));
    code
}
