//! `wharf schema`: the JSON Schema of acb.yaml, for editors.

use std::process::ExitCode;

use super::print;

/// `wharf schema`.
pub fn run() -> ExitCode {
    print(&format!(
        "{}\n",
        serde_json::to_string_pretty(&wharf_spec::schema::json_schema()).unwrap_or_default()
    ))
}
