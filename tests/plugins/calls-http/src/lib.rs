//! POSTs the run's id to `with: url` and fails unless the answer is 2xx.

use wharf_plugin_sdk::notifier::http::Request;
use wharf_plugin_sdk::notifier::{Guest, PluginError, RunEvent, config};

struct CallsHttp;

impl Guest for CallsHttp {
    fn notify(event: RunEvent) -> Result<(), PluginError> {
        let url = config::require("url")?;
        let response = Request::post(&url, event.run.id.into_bytes())
            .header("content-type", "text/plain")
            .send()
            .map_err(|e| PluginError::Failed(e.to_string()))?;
        if !(200..300).contains(&response.status) {
            return Err(PluginError::Failed(format!(
                "{url} answered {}",
                response.status
            )));
        }
        Ok(())
    }
}

wharf_plugin_sdk::export_notifier!(CallsHttp);
