//! `push` steps: each image pushed through the Engine API with its registry's
//! credentials, 3 attempts (ACR's `builder/push.go`).

use std::time::Duration;

use bollard::query_parameters::PushImageOptions;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use wharf_engine::{Output, Stream};
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
    /// Pushes every image of a `push` step, in order. Returns the manifest digest of
    /// each, in the same order (empty where the engine did not report one).
    pub(crate) async fn run_push(
        &self,
        step: &Step,
        images: &[String],
        output: &Output,
        cancel: &CancellationToken,
    ) -> Result<Vec<String>, Error> {
        let mut digests = Vec::with_capacity(images.len());
        for image in images {
            // An invalid reference, or one with a digest, fails every attempt: refused
            // before the first.
            let reference = ImageRef::parse(image)
                .map_err(|e| Error::input(format!("step {}: cannot push: {e}", step.id)))?;
            if reference.digest.is_some() {
                return Err(Error::input(format!(
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
                Ok(digest) => digests.push(digest.unwrap_or_default()),
                Err(Failure::Stopped) => {
                    return Err(Error::msg(format!(
                        "step {}: pushing {image} was stopped",
                        step.id
                    )));
                }
                Err(Failure::Failed(last)) => {
                    return Err(Error::registry(format!(
                        "failed to push images successfully: {image}: {last}"
                    )));
                }
            }
        }
        Ok(digests)
    }

    async fn push_once(
        &self,
        image: &str,
        reference: &ImageRef,
        output: &Output,
        cancel: &CancellationToken,
    ) -> Result<Option<String>, Failure> {
        let options = PushImageOptions {
            tag: Some(reference.tag.clone().unwrap_or_else(|| "latest".into())),
            ..Default::default()
        };
        let credentials = credentials_for(&self.options.credentials, image);
        let mut stream =
            self.docker
                .push_image(engine_name(image, reference), Some(options), credentials);
        let mut progress = Progress::default();
        let mut digest = None;
        loop {
            let item = tokio::select! {
                item = stream.next() => item,
                () = cancel.cancelled() => return Err(Failure::Stopped),
            };
            match item {
                None => return Ok(digest),
                Some(Ok(info)) => {
                    // The last status: "<tag>: digest: sha256:<hex> size: <n>".
                    if let Some(found) = info.status.as_deref().and_then(reported_digest) {
                        digest = Some(found);
                    }
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

/// The digest in the engine's closing push status, `<tag>: digest: sha256:<hex> size: <n>`.
fn reported_digest(status: &str) -> Option<String> {
    let (_, rest) = status.split_once("digest: ")?;
    let digest = rest.split_whitespace().next()?;
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then(|| digest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_comes_from_the_closing_status() {
        let hex = "a".repeat(64);
        assert_eq!(
            reported_digest(&format!("1: digest: sha256:{hex} size: 527")),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(reported_digest("Pushed"), None);
        assert_eq!(reported_digest("1: digest: sha256:abc size: 1"), None);
    }
}
