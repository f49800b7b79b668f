//! `wharf graph`: the step graph as text, Mermaid or dot.

use std::process::ExitCode;

use crate::cli::{GraphArgs, GraphFormat};
use crate::render;

use super::{load_for_display, print};

/// `wharf graph`.
pub fn run(args: &GraphArgs) -> ExitCode {
    let (loaded, _) = match load_for_display(&args.task, false) {
        Ok(l) => l,
        Err(code) => return code,
    };
    print(&match args.format {
        GraphFormat::Text => render::graph_text(&loaded.task),
        GraphFormat::Mermaid => render::graph_mermaid(&loaded.task),
        GraphFormat::Dot => render::graph_dot(&loaded.task),
    })
}
