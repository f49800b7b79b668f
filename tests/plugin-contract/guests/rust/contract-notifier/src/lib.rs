//! The contract suite's notifier guest in Rust (twins: `guests/python/notifier/app.py`,
//! `guests/js/notifier/app.js`): POSTs the run summary as JSON (`run`, `status`,
//! `steps` with `id` and `status`) to `with: url`; a refused destination is
//! `access-denied`, a non-2xx answer `failed`.

use wharf_plugin_sdk::notifier::http::{HttpError, Request};
use wharf_plugin_sdk::notifier::{Guest, PluginError, RunEvent, RunStatus, config, log};

struct Contract;

impl Guest for Contract {
    fn notify(event: RunEvent) -> Result<(), PluginError> {
        let url = config::require("url")?;
        let steps: Vec<serde_json::Value> = event
            .steps
            .iter()
            .map(|s| serde_json::json!({ "id": s.id, "status": s.status }))
            .collect();
        let body = serde_json::json!({
            "run": event.run.id,
            "status": if event.status == RunStatus::Success { "success" } else { "failure" },
            "steps": steps,
        });
        let response = Request::post(&url, body.to_string().into_bytes())
            .header("content-type", "application/json")
            .send()
            .map_err(|e| match e {
                HttpError::Denied(_) => PluginError::AccessDenied(e.to_string()),
                HttpError::Invalid(_) => PluginError::InvalidConfig(e.to_string()),
                HttpError::Failed(_) => PluginError::Failed(e.to_string()),
            })?;
        if !(200..300).contains(&response.status) {
            return Err(PluginError::Failed(format!(
                "{url} answered {}",
                response.status
            )));
        }
        log::info(&format!("notified {url}: {}", response.status));
        Ok(())
    }
}

wharf_plugin_sdk::export_notifier!(Contract);
