//! Following a run's log as `az acr run` does: the append blob behind
//! `listLogSasUrl` is read with HEAD (length and the `Complete` metadata) and
//! ranged GETs; everything up to the last CRLF is printed, the rest kept for
//! the next read; polls back off from 1 s to 15 s (doubling after three polls
//! without new data) with 1–2 s of jitter; it stops when `Complete` is set and
//! every byte is read. The SAS URL carries its own authority: no token.

use std::time::Duration;

use rand::Rng as _;
use reqwest::StatusCode;
use url::Url;

use crate::error::{Error, Result};

/// Transient failures in a row (throttling, 5xx, connection errors) the
/// follower rides out before giving up.
pub const MAX_FAILURES: u32 = 5;

/// How the log is polled.
#[derive(Clone, Debug)]
pub struct LogOptions {
    /// Bytes per ranged GET.
    pub chunk: u64,
    /// The first pause between polls (1 s).
    pub base: Duration,
    /// The longest pause (15 s).
    pub max: Duration,
    /// Each pause adds a random `jitter`..`2 × jitter` (1–2 s).
    pub jitter: Duration,
    /// Give up after this much waiting without new data (the run's timeout).
    pub idle_timeout: Duration,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            chunk: 1 << 20,
            base: Duration::from_secs(1),
            max: Duration::from_secs(15),
            jitter: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(3600),
        }
    }
}

impl LogOptions {
    /// The defaults with every pause scaled to `unit` instead of a second
    /// (`WHARF_ACR_POLL_MS`, for tests against a local stand-in).
    pub fn scaled(unit: Duration) -> LogOptions {
        LogOptions {
            base: unit,
            max: unit * 15,
            jitter: unit,
            ..LogOptions::default()
        }
    }
}

/// How following the log ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogEnd {
    /// The blob's `Complete` metadata, with the status it names.
    Complete(String),
    /// No new data for the idle timeout.
    GaveUp,
    /// The artifact log was read to its end.
    Ended,
}

/// Splits a byte stream into lines at CRLFs, keeping what follows the last one.
#[derive(Debug, Default)]
pub struct LineBuffer {
    pending: Vec<u8>,
}

impl LineBuffer {
    /// Adds bytes; returns the lines completed up to the last CRLF (without
    /// line endings; a bare LF before it also ends a line).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let Some(end) = self.pending.windows(2).rposition(|w| w == b"\r\n") else {
            return Vec::new();
        };
        let rest = self.pending.split_off(end + 2);
        let done = std::mem::replace(&mut self.pending, rest);
        let text = String::from_utf8_lossy(&done[..done.len() - 2]);
        text.split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l).to_owned())
            .collect()
    }

    /// What is left: a last line without CRLF.
    pub fn finish(&mut self) -> Vec<String> {
        let rest = std::mem::take(&mut self.pending);
        if rest.is_empty() {
            return Vec::new();
        }
        let text = String::from_utf8_lossy(&rest);
        let text = text.strip_suffix('\n').unwrap_or(&text);
        text.split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l).to_owned())
            .collect()
    }
}

/// `HEAD`: the bytes available and the `Complete` metadata (`None` while absent).
async fn properties(http: &reqwest::Client, url: &Url) -> Result<(u64, Option<String>)> {
    let operation = "reading the log's properties";
    let response = http
        .head(url.clone())
        .header("x-ms-version", "2021-08-06")
        .send()
        .await
        .map_err(|e| Error::Http {
            operation: operation.into(),
            message: crate::redact_sas(&e.to_string()),
        })?;
    if response.status() == StatusCode::NOT_FOUND {
        // Not created yet.
        return Ok((0, None));
    }
    if !response.status().is_success() {
        return Err(crate::client::api_error(operation, response).await);
    }
    let length = response
        .headers()
        .get(reqwest::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let complete = response.headers().iter().find_map(|(name, value)| {
        name.as_str()
            .strip_prefix("x-ms-meta-")
            .filter(|k| k.eq_ignore_ascii_case("complete"))
            .and_then(|_| value.to_str().ok())
            .map(str::to_owned)
    });
    Ok((length, complete))
}

/// A ranged GET from `start`; the bytes read (empty for a 404).
async fn read_range(http: &reqwest::Client, url: &Url, start: u64, chunk: u64) -> Result<Vec<u8>> {
    let operation = "reading the log";
    let range = format!("bytes={}-{}", start, start + chunk.max(1) - 1);
    let response = http
        .get(url.clone())
        .header("x-ms-version", "2021-08-06")
        .header("x-ms-range", &range)
        .header(reqwest::header::RANGE, &range)
        .send()
        .await
        .map_err(|e| Error::Http {
            operation: operation.into(),
            message: crate::redact_sas(&e.to_string()),
        })?;
    let status = response.status();
    if status == StatusCode::NOT_FOUND || status == StatusCode::RANGE_NOT_SATISFIABLE {
        return Ok(Vec::new());
    }
    if !status.is_success() {
        return Err(crate::client::api_error(operation, response).await);
    }
    let bytes = response.bytes().await.map_err(|e| Error::Http {
        operation: operation.into(),
        message: crate::redact_sas(&e.to_string()),
    })?;
    if status == StatusCode::OK {
        // The whole blob: take the part asked for.
        let from = usize::try_from(start)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let to = from
            .saturating_add(usize::try_from(chunk).unwrap_or(usize::MAX))
            .min(bytes.len());
        return Ok(bytes[from..to].to_vec());
    }
    Ok(bytes.to_vec())
}

/// The pause before the next poll, without jitter: `base`, doubled after
/// every three polls in a row without new data, up to `max`; back to `base`
/// when data comes.
#[derive(Debug)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    pause: Duration,
    quiet: u32,
}

impl Backoff {
    /// Starting at `options.base`.
    pub fn new(options: &LogOptions) -> Backoff {
        Backoff {
            base: options.base,
            max: options.max,
            pause: options.base,
            quiet: 0,
        }
    }

    /// The pause after a poll that did (or did not) bring new data.
    pub fn next(&mut self, new_data: bool) -> Duration {
        if new_data {
            self.quiet = 0;
            self.pause = self.base;
        } else {
            self.quiet += 1;
            if self.quiet >= 3 {
                self.quiet = 0;
                self.pause = (self.pause * 2).min(self.max);
            }
        }
        self.pause
    }
}

/// Follows the append blob at `url`, calling `line` for each line, until
/// its `Complete` metadata is set and all of it is read.
pub async fn follow_blob(
    http: &reqwest::Client,
    url: &Url,
    options: &LogOptions,
    line: &mut (dyn FnMut(&str) + Send),
) -> Result<LogEnd> {
    let mut buffer = LineBuffer::default();
    let mut start = 0u64;
    let mut backoff = Backoff::new(options);
    let mut idle = Duration::ZERO;
    let mut failures = 0u32;
    loop {
        let (available, complete) = match properties(http, url).await {
            Ok(p) => p,
            Err(e) if e.is_transient() && failures < MAX_FAILURES => {
                failures += 1;
                tracing::debug!(error = %e, failures, "reading the log failed; trying again");
                (start, None)
            }
            Err(e) => return Err(e),
        };
        let mut new_data = false;
        while start < available {
            let bytes = match read_range(http, url, start, options.chunk).await {
                Ok(b) => b,
                Err(e) if e.is_transient() && failures < MAX_FAILURES => {
                    failures += 1;
                    tracing::debug!(error = %e, failures, "reading the log failed; trying again");
                    break;
                }
                Err(e) => return Err(e),
            };
            if bytes.is_empty() {
                break;
            }
            failures = 0;
            start += bytes.len() as u64;
            new_data = true;
            for l in buffer.push(&bytes) {
                line(&l);
            }
        }
        if let Some(status) = complete
            && start >= available
        {
            for l in buffer.finish() {
                line(&l);
            }
            return Ok(LogEnd::Complete(status));
        }
        if new_data {
            idle = Duration::ZERO;
        }
        let pause = backoff.next(new_data);
        let jitter = options.jitter.mul_f64(rand::rng().random_range(1.0..=2.0));
        let sleep = pause + jitter;
        idle += sleep;
        if idle > options.idle_timeout {
            for l in buffer.finish() {
                line(&l);
            }
            return Ok(LogEnd::GaveUp);
        }
        tokio::time::sleep(sleep).await;
    }
}

/// Reads a log kept as a registry artifact (`logArtifactLink`) with one
/// streaming GET.
pub async fn follow_artifact(
    http: &reqwest::Client,
    url: &Url,
    line: &mut (dyn FnMut(&str) + Send),
) -> Result<LogEnd> {
    let operation = "reading the run's log artifact";
    let mut response = http
        .get(url.clone())
        .send()
        .await
        .map_err(|e| Error::Http {
            operation: operation.into(),
            message: crate::redact_sas(&e.to_string()),
        })?;
    if !response.status().is_success() {
        return Err(crate::client::api_error(operation, response).await);
    }
    let mut buffer = LineBuffer::default();
    while let Some(chunk) = response.chunk().await.map_err(|e| Error::Http {
        operation: operation.into(),
        message: crate::redact_sas(&e.to_string()),
    })? {
        // Artifact logs may end lines with LF only.
        for l in buffer.push(&chunk) {
            line(&l);
        }
    }
    for l in buffer.finish() {
        line(&l);
    }
    Ok(LogEnd::Ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(chunks: &[&[u8]]) -> Vec<String> {
        let mut b = LineBuffer::default();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(b.push(c));
        }
        out.extend(b.finish());
        out
    }

    #[test]
    fn polls_back_off_from_1_to_15_seconds_as_the_cli_does() {
        let mut b = Backoff::new(&LogOptions::default());
        let secs: Vec<u64> = (0..16).map(|_| b.next(false).as_secs()).collect();
        assert_eq!(secs, [1, 1, 2, 2, 2, 4, 4, 4, 8, 8, 8, 15, 15, 15, 15, 15]);
        assert_eq!(b.next(true).as_secs(), 1);
        assert_eq!(b.next(false).as_secs(), 1);
    }

    #[test]
    fn lines_split_across_reads_and_crlfs() {
        // A line split in the middle, and a CRLF split between two reads.
        assert_eq!(
            feed(&[b"Step 1/2 : FR", b"OM scratch\r", b"\nok\r\nlast"]),
            ["Step 1/2 : FROM scratch", "ok", "last"]
        );
        // Nothing is printed until a CRLF arrives.
        let mut b = LineBuffer::default();
        assert!(b.push(b"no end yet").is_empty());
        assert!(b.push(b" still\n").is_empty());
        assert_eq!(b.push(b"x\r\n"), ["no end yet still", "x"]);
        // Empty lines are kept; a final CRLF leaves nothing behind.
        assert_eq!(feed(&[b"a\r\n\r\nb\r\n"]), ["a", "", "b"]);
        // Invalid UTF-8 does not stop the stream.
        assert_eq!(feed(&[b"\xff\xfe ok\r\n"]), ["\u{fffd}\u{fffd} ok"]);
    }
}
