//! `wharf plan`: the resolved plan, as text or as the documented JSON.

use std::process::ExitCode;

use crate::cli::{PlanArgs, PlanFormat};
use crate::render;

use super::{load_for_display, print};

/// `wharf plan`.
pub fn run(args: &PlanArgs) -> ExitCode {
    let (loaded, run) = match load_for_display(&args.task, args.strict) {
        Ok(l) => l,
        Err(code) => return code,
    };
    match args.format {
        PlanFormat::Json => match serde_json::to_string_pretty(&loaded.task) {
            Ok(json) => print(&format!("{json}\n")),
            Err(e) => {
                eprintln!("error: cannot serialize the plan: {e}");
                ExitCode::FAILURE
            }
        },
        PlanFormat::Text => {
            let name = args.task.path().display().to_string();
            print(&render::plan_text(&loaded.task, &name, &run))
        }
    }
}
