//! Plain data that crosses the host's API: what a call is given and what it returns.
//! These mirror the records of `wit/plugin.wit` without exposing wasmtime's types.

use serde::Serialize;

/// An image reference, already normalised by the caller (Docker's rules).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImageRef {
    /// The whole reference: `registry/repository:tag` or `...@sha256:...`.
    pub reference: String,
    /// Registry host, with port: `docker.io`, `localhost:5000`.
    pub registry: String,
    /// Repository path: `library/busybox`.
    pub repository: String,
    /// The tag, if any.
    pub tag: Option<String>,
    /// The digest, if any.
    pub digest: Option<String>,
}

impl ImageRef {
    /// The reference without tag or digest: `registry/repository` (Docker Hub's
    /// `docker.io/library/x` stays as written in `reference`'s style).
    pub fn name(&self) -> String {
        let r = &self.reference;
        let without_digest = r.split('@').next().unwrap_or(r);
        match without_digest.rfind(':') {
            Some(i) if !without_digest[i..].contains('/') => without_digest[..i].to_string(),
            _ => without_digest.to_string(),
        }
    }

    /// `name:tag` for `tag`.
    pub fn with_tag(&self, tag: &str) -> String {
        format!("{}:{tag}", self.name())
    }
}

/// What the run knows about itself (ACR's `Run.*` values) and the step being run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RunInfo {
    /// `Run.ID`.
    pub id: String,
    /// `Run.Registry`, empty when none.
    pub registry: String,
    /// `Run.Commit`, empty when unknown.
    pub commit: String,
    /// `Run.Branch`, empty when unknown.
    pub branch: String,
    /// The git tag pointing at the commit, if any.
    pub git_tag: Option<String>,
    /// `Run.Date`, RFC 3339 UTC.
    pub date: String,
    /// `Run.OS`.
    pub os: String,
    /// `Run.Architecture`.
    pub architecture: String,
    /// `Run.TaskName`.
    pub task_name: String,
    /// The step (or `notify:` entry) id.
    pub step_id: String,
}

/// Severity of a finding, lowest first (so `>=` means "at or above").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational.
    Info,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// The severity's name: `info`, `low`, `medium`, `high`, `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Every severity, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];
}

/// One thing a scanner found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable rule id.
    pub rule_id: String,
    /// How serious.
    pub severity: Severity,
    /// For a person.
    pub message: String,
    /// The file in the image, if any.
    pub path: Option<String>,
    /// 1-based line, if known.
    pub line: Option<u32>,
}

/// A step output's value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum OutputValue {
    /// One string.
    Text(String),
    /// A list (expands into several entries where a list is expected).
    List(Vec<String>),
}

/// What a file-system entry of an image is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A hard link to another entry.
    Hardlink,
    /// Devices, fifos, ...
    Other,
}

/// One entry of an image's merged file system.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileEntry {
    /// Path without a leading `/`.
    pub path: String,
    /// Kind.
    pub kind: FileKind,
    /// Mode bits including setuid/setgid/sticky.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size of a regular file.
    pub size: u64,
    /// Target of a link.
    pub link_target: Option<String>,
}

/// How a run ended, for notifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Every step succeeded (or failed with `ignoreErrors`).
    Success,
    /// The run failed.
    Failure,
}

/// One step of a finished run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepSummary {
    /// Step id.
    pub id: String,
    /// `succeeded`, `failed`, `skipped`, `cancelled`, `ignored`.
    pub status: String,
    /// Wall time of all attempts.
    pub duration_ms: u64,
    /// Why it failed.
    pub error: Option<String>,
}

/// An image a run pushed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PushedImage {
    /// What was pushed.
    pub image: ImageRef,
    /// Manifest digest, if known.
    pub digest: Option<String>,
    /// Manifest media type, if known.
    pub media_type: Option<String>,
    /// Manifest size, if known.
    pub size: Option<u64>,
}

/// A finished run, as notifiers see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunEvent {
    /// The run; `step_id` is the notify entry's id.
    pub run: RunInfo,
    /// How it ended.
    pub status: RunStatus,
    /// Start, RFC 3339 UTC.
    pub started: String,
    /// End, RFC 3339 UTC.
    pub finished: String,
    /// Wall time.
    pub duration_ms: u64,
    /// Every step in the task's order.
    pub steps: Vec<StepSummary>,
    /// Images pushed.
    pub images: Vec<PushedImage>,
    /// Findings by severity (zero counts omitted).
    pub findings: Vec<(Severity, u32)>,
    /// Why the run failed.
    pub error: Option<String>,
}
