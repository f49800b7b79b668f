//! `push` steps: each image pushed through the Engine API with its registry's
//! credentials, 3 attempts (ACR's `builder/push.go`).

use std::time::Duration;

use bollard::query_parameters::PushImageOptions;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use wharf_engine::{Exit, Output, Stream};
use wharf_registry::reference::ImageRef;
use wharf_spec::Step;

use crate::DockerExecutor;
use crate::error::{Error, describe};
use crate::images::{Failure, Progress, credentials_for, engine_name, with_retries};

/// Attempts per image.
const ATTEMPTS: u64 = 3;
/// Pauses after failed attempts (ACR: 250 ms, 500 ms, 1 s; nothing follows the last
/// attempt, so its pause is not taken).
const BACKOFF: [Duration; 3] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
];

/// The pause after failed attempt `n` (from 1).
fn backoff(n: u64) -> Duration {
    let i = usize::try_from(n.saturating_sub(1)).unwrap_or(usize::MAX);
    BACKOFF
        .get(i)
        .or(BACKOFF.last())
        .copied()
        .unwrap_or_default()
}

impl DockerExecutor {
    /// Pushes every image of a `push` step, in order.
    pub(crate) async fn run_push(
        &self,
        step: &Step,
        images: &[String],
        output: &Output,
        cancel: &CancellationToken,
    ) -> Result<Exit, Error> {
        for image in images {
            // An invalid reference, or one with a digest, fails every attempt: refused
            // before the first.
            let reference = ImageRef::parse(image)
                .map_err(|e| Error::msg(format!("step {}: cannot push: {e}", step.id)))?;
            if reference.digest.is_some() {
                return Err(Error::msg(format!(
                    "step {}: cannot push {image}: an image reference with a digest cannot be pushed; push a tag",
                    step.id
                )));
            }
            let result = with_retries(
                ATTEMPTS,
                backoff,
                cancel,
                || self.push_once(image, &reference, output, cancel),
                |n, message, _| {
                    output.line(
                        Stream::Stderr,
                        &format!("pushing {image} failed (attempt {n} of {ATTEMPTS}): {message}"),
                    );
                },
            )
            .await;
            match result {
                Ok(()) => {}
                Err(Failure::Stopped) => {
                    return Err(Error::msg(format!(
                        "step {}: pushing {image} was stopped",
                        step.id
                    )));
                }
                Err(Failure::Failed(last)) => {
                    return Err(Error::msg(format!(
                        "failed to push images successfully: {image}: {last}"
                    )));
                }
            }
        }
        Ok(Exit::Done)
    }

    async fn push_once(
        &self,
        image: &str,
        reference: &ImageRef,
        output: &Output,
        cancel: &CancellationToken,
    ) -> Result<(), Failure> {
        let options = PushImageOptions {
            tag: Some(reference.tag.clone().unwrap_or_else(|| "latest".into())),
            ..Default::default()
        };
        let credentials = credentials_for(&self.options.credentials, image);
        let mut stream =
            self.docker
                .push_image(engine_name(image, reference), Some(options), credentials);
        let mut progress = Progress::default();
        loop {
            let item = tokio::select! {
                item = stream.next() => item,
                () = cancel.cancelled() => return Err(Failure::Stopped),
            };
            match item {
                None => return Ok(()),
                Some(Ok(info)) => {
                    // Progress-bar updates carry byte counts; their status lines repeat.
                    if info
                        .progress_detail
                        .as_ref()
                        .is_some_and(|p| p.current.is_some())
                    {
                        continue;
                    }
                    if let Some(line) = progress.line(None, info.status.as_deref()) {
                        output.line(Stream::Stdout, &line);
                    }
                }
                Some(Err(e)) => return Err(Failure::Failed(describe(&e))),
            }
        }
    }
}
