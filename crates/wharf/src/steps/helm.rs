//! `helm:` steps: package a chart directory of the workspace as `helm package`
//! does, write the archive back into the workspace, and with `--push` push it as
//! `helm push` does. Outputs `chart` (the archive's path in the workspace), and with
//! `--push` `ref` and `digest`.

use std::sync::Arc;

use wharf_docker::DockerExecutor;
use wharf_engine::{BoxFuture, ErrorKind, ExecError, Executor, Exit, Outcome, StepContext, Stream};
use wharf_helm::PackageOptions;
use wharf_registry::Client;
use wharf_spec::{Action, HelmCall, OutputValue, Outputs, Step};

/// Runs `helm:` steps. The chart is read from, and the archive written to, the
/// run's workspace through the Docker executor, so the step sees what earlier steps
/// wrote and later steps see the archive.
pub struct HelmSteps {
    docker: Arc<DockerExecutor>,
    registry: Client,
    /// `SOURCE_DATE_EPOCH`: file times in the archive and the pushed `created`.
    source_date_epoch: Option<u64>,
}

impl HelmSteps {
    /// Helm steps on `docker`'s workspace, pushing with `registry`.
    /// `source_date_epoch` is the parsed `SOURCE_DATE_EPOCH`, when set.
    pub fn new(
        docker: Arc<DockerExecutor>,
        registry: Client,
        source_date_epoch: Option<u64>,
    ) -> HelmSteps {
        HelmSteps {
            docker,
            registry,
            source_date_epoch,
        }
    }

    async fn step(&self, step: &Step, cx: StepContext) -> Result<Outcome, ExecError> {
        let Action::Helm(call) = &step.action else {
            return Err(ExecError::of(
                ErrorKind::Other,
                format!(
                    "step {}: a {} step was sent to the helm executor",
                    step.id,
                    step.action.type_name()
                ),
            ));
        };
        tokio::select! {
            result = self.package_and_push(step, call, &cx) => result,
            // The engine knows why it stopped the step (timeout, interruption).
            () = cx.cancel.cancelled() => Err(ExecError::of(
                ErrorKind::Other,
                format!("step {}: stopped", step.id),
            )),
        }
    }

    async fn package_and_push(
        &self,
        step: &Step,
        call: &HelmCall,
        cx: &StepContext,
    ) -> Result<Outcome, ExecError> {
        let in_step = |kind: ErrorKind, message: String| {
            ExecError::of(kind, format!("step {}: {message}", step.id))
        };
        let scratch = tempfile::tempdir().map_err(|e| {
            in_step(
                ErrorKind::Other,
                format!("cannot make a temporary directory: {e}"),
            )
        })?;
        let dir = self
            .docker
            .workspace_dir(&call.chart, "chart directory", scratch.path())
            .await
            .map_err(|e| in_step(e.kind, e.message))?;
        let options = PackageOptions {
            version: call.version.clone(),
            app_version: call.app_version.clone(),
            destination: scratch.path().join(".packaged"),
            source_date_epoch: self.source_date_epoch,
        };
        let local = dir.clone();
        let packaged = tokio::task::spawn_blocking(move || wharf_helm::package(&local, &options))
            .await
            .map_err(|e| in_step(ErrorKind::Other, format!("packaging stopped: {e}")))?
            .map_err(|e| {
                // Name the chart's files by their place in the workspace, not the copy's.
                let shown = workspace_path(&call.chart);
                let message = e.to_string().replace(&dir.display().to_string(), &shown);
                let kind = if e.is_input() {
                    ErrorKind::Input
                } else {
                    ErrorKind::Other
                };
                in_step(kind, message)
            })?;
        let file_name = packaged
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let destination = call.destination.as_deref().unwrap_or(".");
        let chart = self
            .docker
            .write_workspace_file(
                &format!("{destination}/{file_name}"),
                "chart archive",
                &packaged.bytes,
            )
            .await
            .map_err(|e| in_step(e.kind, e.message))?;
        cx.output.line(
            Stream::Stdout,
            &format!("Successfully packaged chart and saved it to: {chart}"),
        );
        let mut outputs =
            Outputs::from([("chart".to_string(), OutputValue::String(chart.clone()))]);

        if let Some(remote) = &call.push {
            let created = self
                .source_date_epoch
                .and_then(|s| i64::try_from(s).ok())
                .or_else(|| {
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .ok()
                        .and_then(|d| i64::try_from(d.as_secs()).ok())
                })
                .and_then(wharf_helm::oci::rfc3339)
                .unwrap_or_default();
            let pushed = wharf_helm::registry::push(
                &self.registry,
                &chart,
                packaged.bytes,
                None,
                remote,
                &created,
            )
            .await
            .map_err(|e| {
                let kind = if e.is_bad_input() {
                    ErrorKind::Input
                } else {
                    ErrorKind::Registry
                };
                in_step(kind, e.to_string())
            })?;
            for line in pushed.lines() {
                cx.output.line(Stream::Stdout, &line);
            }
            outputs.insert("ref".into(), OutputValue::String(pushed.reference));
            outputs.insert(
                "digest".into(),
                OutputValue::String(pushed.digest.to_string()),
            );
        }
        Ok(Outcome::new(Exit::Done).with_outputs(outputs))
    }
}

/// `path` as a full path in the workspace, for messages.
fn workspace_path(path: &str) -> String {
    let path = path.trim_start_matches("./");
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/workspace/{path}")
    }
}

impl Executor for HelmSteps {
    fn prepare(&self) -> BoxFuture<'_, Result<(), ExecError>> {
        // The workspace is the Docker executor's, prepared by it.
        Box::pin(async { Ok(()) })
    }

    fn run_step<'a>(
        &'a self,
        step: &'a Step,
        cx: StepContext,
    ) -> BoxFuture<'a, Result<Outcome, ExecError>> {
        Box::pin(self.step(step, cx))
    }

    fn cleanup(&self) -> BoxFuture<'_, Vec<String>> {
        Box::pin(async { Vec::new() })
    }
}
