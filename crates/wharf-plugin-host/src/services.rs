//! What the host needs from its caller, as traits the binary wires: where log lines
//! go, the image a scanner reads, how tags are applied, where reports are written.
//! All are object-safe; async methods return boxed futures.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use crate::model::{FileEntry, ImageRef};

/// A boxed future, as the service traits return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a plugin line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogLevel {
    /// `log(trace, ..)`.
    Trace,
    /// `log(debug, ..)`.
    Debug,
    /// `log(info, ..)`.
    Info,
    /// `log(warn, ..)`.
    Warn,
    /// `log(error, ..)`.
    Error,
}

/// Which channel a line came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogSource {
    /// The `wharf:plugin/log` import, at a level.
    Log(LogLevel),
    /// The guest's stdout.
    Stdout,
    /// The guest's stderr.
    Stderr,
}

/// Receives a plugin's log lines, already split at newlines and with the run's
/// secrets masked. The host also sends every line to `tracing`.
pub trait LogSink: Send + Sync {
    /// One line (without its newline).
    fn line(&self, source: LogSource, text: &str);
}

/// Why an image could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// No such file (or image).
    #[error("not found: {0}")]
    NotFound(String),
    /// Anything else (the engine failed, the archive is malformed, ...).
    #[error("{0}")]
    Other(String),
}

/// Read access to the image a scanner scans. [`crate::ImageArchive`] implements it
/// from an image archive (`docker save`); the binary wires one for its engine.
pub trait ImageAccess: Send + Sync {
    /// The image config as JSON.
    fn config(&self) -> BoxFuture<'_, Result<String, ImageError>>;
    /// The merged file system, whiteouts applied, sorted by path.
    fn list_files(&self) -> BoxFuture<'_, Result<Vec<FileEntry>, ImageError>>;
    /// At most `max_bytes` of the regular file at `path` (no leading `/`), following
    /// hardlinks.
    fn read_file<'a>(
        &'a self,
        path: &'a str,
        max_bytes: u64,
    ) -> BoxFuture<'a, Result<Vec<u8>, ImageError>>;
}

/// Gives an image more tags (for taggers). The host validates the tags first.
pub trait TagApplier: Send + Sync {
    /// Tags `image` (which exists locally) with each of `tags`; returns the
    /// references created (`name:tag`), in order.
    fn apply<'a>(
        &'a self,
        image: &'a ImageRef,
        tags: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<String>, String>>;
}

/// Writes scanners' report files into the run's workspace.
pub trait ReportWriter: Send + Sync {
    /// Writes `contents` as `name` (a plain file name, checked by the host); returns
    /// where it was written, relative to the workspace.
    fn write<'a>(
        &'a self,
        name: &'a str,
        contents: &'a [u8],
    ) -> BoxFuture<'a, Result<String, String>>;
}

/// A [`ReportWriter`] writing into a directory on this machine (`<dir>/<name>`),
/// reporting paths as `<prefix>/<name>`.
#[derive(Clone, Debug)]
pub struct DirectoryReports {
    /// Where files go.
    pub dir: PathBuf,
    /// How paths are reported (relative to the workspace), e.g. `reports`.
    pub prefix: String,
}

impl ReportWriter for DirectoryReports {
    fn write<'a>(
        &'a self,
        name: &'a str,
        contents: &'a [u8],
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            tokio::fs::create_dir_all(&self.dir)
                .await
                .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
            let path = self.dir.join(name);
            tokio::fs::write(&path, contents)
                .await
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(if self.prefix.is_empty() {
                name.to_string()
            } else {
                format!("{}/{name}", self.prefix)
            })
        })
    }
}
