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
    let mut code = ExitCode::SUCCESS;
    if args.acr {
        let compat = wharf_spec::compat::acr_compatibility(&loaded);
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
