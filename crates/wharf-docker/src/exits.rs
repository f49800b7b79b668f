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
use tokio_util::sync::CancellationToken;

use crate::{DockerExecutor, labels};

/// Exit codes seen in `die` events, by container id.
#[derive(Default)]
pub(crate) struct Exits {
    codes: Mutex<HashMap<String, i64>>,
    seen: Notify,
    /// Fired at the end of cleanup: the event stream is closed.
    stop: CancellationToken,
    /// Fired when the watcher has ended (its stream is closed).
    ended: CancellationToken,
}

impl Drop for Exits {
    /// The last handle on the executor is gone: nobody waits for exits any more.
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl DockerExecutor {
    /// Starts following the `die` events of this executor's containers (until cleanup
    /// has finished, the executor is dropped, or the engine closes the stream).
    pub(crate) fn watch_exits(&self) {
        let docker = self.docker.clone();
        let exits = std::sync::Arc::downgrade(&self.exits);
        let stop = self.exits.stop.clone();
        let ended = self.exits.ended.clone();
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            ("event".to_string(), vec!["die".to_string()]),
            (
                "label".to_string(),
                vec![
                    format!("{}={}", labels::LABEL_RUN, self.options.run_id),
                    format!("{}={}", labels::LABEL_SESSION, self.session),
                ],
            ),
        ]);
        tokio::spawn(async move {
            let _ended = ended.drop_guard();
            let mut events = docker.events(Some(EventsOptions {
                filters: Some(filters),
                ..Default::default()
            }));
            loop {
                let event = tokio::select! {
                    () = stop.cancelled() => return,
                    event = events.next() => event,
                };
                let Some(Ok(event)) = event else {
                    return;
                };
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

    /// Closes the event stream (cleanup has finished: no step container is left).
    pub(crate) fn stop_watching_exits(&self) {
        self.exits.stop.cancel();
    }

    /// Fires when the event watcher has ended.
    #[cfg(test)]
    pub(crate) fn exits_watcher_ended(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.exits.ended.cancelled()
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
