//! One registry's run lifecycle: upload a context, schedule, follow the log,
//! wait for the final status, cancel.

use std::time::Duration;

use crate::client::ArmClient;
use crate::endpoint::checked_url;
use crate::error::{Error, Result};
use crate::logs::{LogEnd, LogOptions, follow_artifact, follow_blob};
use crate::model::{Run, RunRequest};
use crate::pack::Packed;
use crate::upload::{UploadOptions, upload_blob};

/// A registry found by its login server, and how its runs are followed.
#[derive(Debug)]
pub struct Session {
    /// The ARM client.
    pub arm: ArmClient,
    /// The registry's resource id.
    pub registry_id: String,
    /// Its login server.
    pub login_server: String,
    /// Its name.
    pub registry_name: String,
    blob: reqwest::Client,
    /// How the log is polled.
    pub logs: LogOptions,
    /// Upload sizes.
    pub upload: UploadOptions,
    /// Pause between `GET runs/{id}` polls (30 s, as the CLI's `--no-logs`).
    pub run_poll: Duration,
}

impl Session {
    /// Finds the registry of `login_server` in `subscription` (in
    /// `resource_group` only, when given).
    pub async fn open(
        arm: ArmClient,
        subscription: &str,
        resource_group: Option<&str>,
        login_server: &str,
    ) -> Result<Session> {
        let registry = arm
            .find_registry(subscription, resource_group, login_server)
            .await?;
        let blob = reqwest::Client::builder()
            .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| Error::Http {
                operation: "creating the HTTP client".into(),
                message: e.to_string(),
            })?;
        Ok(Session {
            arm,
            registry_id: registry.id,
            login_server: registry.properties.login_server,
            registry_name: registry.name,
            blob,
            logs: LogOptions::default(),
            upload: UploadOptions::default(),
            run_poll: Duration::from_secs(30),
        })
    }

    /// Uploads a packed context; returns the `sourceLocation` for the request.
    pub async fn upload(&self, packed: &Packed) -> Result<String> {
        let target = self.arm.source_upload_url(&self.registry_id).await?;
        let url = checked_url("the upload URL", &target.upload_url)?;
        upload_blob(&self.blob, &url, &packed.archive, &self.upload).await?;
        Ok(target.relative_path)
    }

    /// Schedules a run.
    pub async fn schedule(&self, request: &RunRequest) -> Result<Run> {
        self.arm.schedule_run(&self.registry_id, request).await
    }

    /// Follows the run's log, calling `line` per line.
    pub async fn follow(
        &self,
        run_id: &str,
        line: &mut (dyn FnMut(&str) + Send),
    ) -> Result<LogEnd> {
        let links = self.arm.log_link(&self.registry_id, run_id).await?;
        if let Some(artifact) = links.log_artifact_link.as_deref().filter(|l| !l.is_empty()) {
            let url = checked_url("the log artifact URL", artifact)?;
            return follow_artifact(&self.blob, &url, line).await;
        }
        let Some(link) = links.log_link.as_deref().filter(|l| !l.is_empty()) else {
            return Err(Error::Protocol {
                operation: "asking for the run's log".into(),
                message: "neither logLink nor logArtifactLink".into(),
            });
        };
        let url = checked_url("the log URL", link)?;
        follow_blob(&self.blob, &url, &self.logs, line).await
    }

    /// Polls `GET runs/{id}` until the status is final; `status` is told of
    /// each change. Unknown statuses are waited through.
    pub async fn wait(&self, run_id: &str, status: &mut (dyn FnMut(&Run) + Send)) -> Result<Run> {
        let mut last = None;
        let mut failures = 0;
        loop {
            let run = match self.arm.get_run(&self.registry_id, run_id).await {
                Ok(run) => run,
                Err(e) if e.is_transient() && failures < crate::logs::MAX_FAILURES => {
                    failures += 1;
                    tracing::debug!(error = %e, failures, "reading the run failed; trying again");
                    tokio::time::sleep(self.run_poll).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            failures = 0;
            let now = run.status();
            if last.as_ref() != Some(&now) {
                status(&run);
                last = Some(now.clone());
            }
            if now.is_terminal() {
                return Ok(run);
            }
            tokio::time::sleep(self.run_poll).await;
        }
    }

    /// Cancels the run.
    pub async fn cancel(&self, run_id: &str) -> Result<()> {
        self.arm.cancel_run(&self.registry_id, run_id).await
    }
}
