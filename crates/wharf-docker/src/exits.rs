//! Exit codes from the engine's event stream.
//!
//! When a container's process exits, the engine sends a `die` event (with the exit
//! code) and then tears the container's network down; only after that does the wait
//! API answer. Listening to the run's `die` events lets the next step start that much
//! sooner (tens of milliseconds per step). The wait API stays the authority when the
//! event is late or the stream fails: a step takes whichever answers first.

use std::collections::HashMap;
use std::sync::Mutex;

use bollard::query_parameters::EventsOptions;
use futures_util::StreamExt;
use tokio::sync::Notify;

use crate::{DockerExecutor, labels};

/// Exit codes seen in `die` events, by container id.
#[derive(Default)]
pub(crate) struct Exits {
    codes: Mutex<HashMap<String, i64>>,
    seen: Notify,
}

impl DockerExecutor {
    /// Starts following the run's `die` events (until the executor is dropped or the
    /// engine closes the stream).
    pub(crate) fn watch_exits(&self) {
        let docker = self.docker.clone();
        let exits = std::sync::Arc::downgrade(&self.exits);
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            ("event".to_string(), vec!["die".to_string()]),
            (
                "label".to_string(),
                vec![format!("{}={}", labels::LABEL_RUN, self.options.run_id)],
            ),
        ]);
        tokio::spawn(async move {
            let mut events = docker.events(Some(EventsOptions {
                filters: Some(filters),
                ..Default::default()
            }));
            while let Some(Ok(event)) = events.next().await {
                let Some(exits) = exits.upgrade() else {
                    return;
                };
                let Some(actor) = event.actor else { continue };
                let code = actor
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get("exitCode"))
                    .and_then(|c| c.parse::<i64>().ok());
                if let (Some(id), Some(code)) = (actor.id, code) {
                    if let Ok(mut codes) = exits.codes.lock() {
                        codes.insert(id, code);
                    }
                    exits.seen.notify_waiters();
                }
            }
        });
    }

    /// The exit code of container `id`, once its `die` event arrives.
    pub(crate) async fn exit_event(&self, id: &str) -> i64 {
        loop {
            let notified = self.exits.seen.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(code) = self
                .exits
                .codes
                .lock()
                .ok()
                .and_then(|c| c.get(id).copied())
            {
                return code;
            }
            notified.await;
        }
    }
}
