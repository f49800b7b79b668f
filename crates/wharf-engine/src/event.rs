//! What happens during a run, as events: the live log, the closing summary and the
//! NDJSON stream (`wharf run --json`, documented in docs/events.md) are all
//! renderings of these.

use serde::Serialize;
use wharf_spec::Outputs;

/// Which output stream a log line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// How a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// It succeeded (a detached step: its container started).
    Succeeded,
    /// It failed.
    Failed,
    /// It failed, but `ignoreErrors` made it count as a success.
    Ignored,
    /// It never started: a step it waits for failed, or the run stopped first.
    Skipped,
    /// It was running when the run was interrupted or another step failed.
    Cancelled,
}

impl StepStatus {
    /// Whether dependent steps may start after this.
    pub fn lets_dependents_run(self) -> bool {
        matches!(self, StepStatus::Succeeded | StepStatus::Ignored)
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Every step succeeded (or its failure was ignored).
    Succeeded,
    /// A step failed.
    Failed,
    /// The run was interrupted (Ctrl-C).
    Interrupted,
}

/// One step's result, for the summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepResult {
    /// Step id.
    pub step: String,
    /// How it ended.
    pub status: StepStatus,
    /// The exit code of the last attempt, when a container exited.
    pub exit_code: Option<i64>,
    /// Wall time from start to end, in milliseconds (0 when skipped).
    pub duration_ms: u64,
    /// Attempts made, counting retries and repeats.
    pub attempts: u64,
    /// Why it failed.
    pub error: Option<String>,
    /// What it gave later steps (`$(steps.<id>.outputs.<name>)`); absent when none.
    #[serde(skip_serializing_if = "Outputs::is_empty")]
    pub outputs: Outputs,
}

/// Something that happened.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum Event {
    /// The run begins.
    #[serde(rename = "run.started", rename_all = "camelCase")]
    RunStarted {
        /// When, RFC 3339.
        time: String,
        /// The run id.
        run_id: String,
        /// Step ids in file order.
        steps: Vec<String>,
    },
    /// A step attempt begins.
    #[serde(rename = "step.started", rename_all = "camelCase")]
    StepStarted {
        /// When, RFC 3339.
        time: String,
        /// Step id.
        step: String,
        /// 1 for the first attempt of a run, counting retries.
        attempt: u64,
        /// 0 for the first run of the step, counting `repeat`.
        repeat: u64,
    },
    /// A line of output (secrets masked).
    #[serde(rename = "log", rename_all = "camelCase")]
    Log {
        /// When, RFC 3339.
        time: String,
        /// Step id.
        step: String,
        /// Which stream.
        stream: Stream,
        /// The line, without its newline.
        line: String,
    },
    /// How far a transfer of a step has come (a layer being pushed); a few per second
    /// per item, and always the last one.
    #[serde(rename = "progress", rename_all = "camelCase")]
    Progress {
        /// When, RFC 3339.
        time: String,
        /// Step id.
        step: String,
        /// What is transferred (a layer's short digest).
        item: String,
        /// What is done with it (`push`).
        action: String,
        /// Bytes done.
        current: u64,
        /// Bytes in all, when known.
        total: Option<u64>,
    },
    /// A step attempt failed and will be tried again.
    #[serde(rename = "step.retrying", rename_all = "camelCase")]
    StepRetrying {
        /// When, RFC 3339.
        time: String,
        /// Step id.
        step: String,
        /// The attempt that failed.
        attempt: u64,
        /// Why.
        error: String,
        /// Seconds until the next attempt.
        delay_secs: u64,
    },
    /// A step ended (or was skipped).
    #[serde(rename = "step.finished", rename_all = "camelCase")]
    StepFinished {
        /// When, RFC 3339.
        time: String,
        /// The result.
        #[serde(flatten)]
        result: StepResult,
    },
    /// The run ended; resources were cleaned up.
    #[serde(rename = "run.finished", rename_all = "camelCase")]
    RunFinished {
        /// When, RFC 3339.
        time: String,
        /// The run id.
        run_id: String,
        /// How it ended.
        status: RunStatus,
        /// Wall time, milliseconds.
        duration_ms: u64,
        /// Every step, in file order.
        steps: Vec<StepResult>,
        /// Problems cleaning up, if any.
        cleanup_errors: Vec<String>,
        /// The `notify:` entries that ran, in file order; absent when none did.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        notifications: Vec<StepResult>,
    },
}

/// The current time, RFC 3339 in UTC with milliseconds.
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_with_a_type_tag_and_camel_case() {
        let e = Event::StepFinished {
            time: "t".into(),
            result: StepResult {
                step: "build".into(),
                status: StepStatus::Failed,
                exit_code: Some(2),
                duration_ms: 5,
                attempts: 1,
                error: Some("exit code 2".into()),
                outputs: Outputs::new(),
            },
        };
        let json = serde_json::to_value(&e).unwrap_or_default();
        assert_eq!(json["event"], "step.finished");
        assert_eq!(json["step"], "build");
        assert_eq!(json["exitCode"], 2);
        assert_eq!(json["durationMs"], 5);
        assert_eq!(json["status"], "failed");
    }
}
