//! Raw task to resolved [`Task`]: ACR's defaults, environment merging, validation
//! rules and step graph, reporting every problem with its place.
//!
//! The rules and messages follow Azure/acr-builder (`graph/task.go`, `graph/step.go`,
//! `graph/dag.go`); deliberate differences are marked "wharf:" and listed in
//! docs/task-language.md.

mod env;
mod graph;
mod kind;
mod notify;
mod outputs;
mod secrets;
mod volumes;

use std::collections::HashMap;

use wharf_template::go;

use crate::alias::Aliases;
use crate::decode::{RawStep, RawTask, Spanned};
use crate::diagnostic::{Diagnostic, Diagnostics, Location};
use crate::source::{FileId, Span};
use crate::task::{
    self, DEFAULT_NETWORK, DEFAULT_RETRY_DELAY, DEFAULT_STEP_TIMEOUT, DEFAULT_VERSION, Network,
    ROOT_ID, Step, Task, VALID_VERSIONS, WORKSPACE,
};

pub use kind::{normalize_push_image, plugin_source};
pub(crate) use secrets::check_secrets;
pub use secrets::is_guid;

/// Settings that come from the command line rather than the file (`acb exec` flags).
#[derive(Clone, Debug, Default)]
pub struct TaskDefaults {
    /// `--working-directory`: used when the file has no `workingDirectory`.
    pub working_directory: Option<String>,
    /// `--network`: an existing network that becomes the default.
    pub network: Option<String>,
    /// `--env`: environment defaults; the task's own entries win.
    pub env: Vec<String>,
}

/// Resolves `raw`. Problems go to `diags`; the task is returned only when there are no errors.
pub fn resolve(
    raw: &RawTask,
    file: FileId,
    defaults: &TaskDefaults,
    command_aliases: Option<&Aliases>,
    diags: &mut Diagnostics,
) -> Option<Task> {
    let mut r = Resolver {
        file,
        diags,
        errors: 0,
    };
    let (secrets, problems) = check_secrets(&raw.secrets, file);
    for d in problems {
        r.report(d);
    }
    let volumes = r.volumes(&raw.volumes);
    for step in &raw.steps {
        r.mount_names(step, &raw.volumes);
    }
    let version = r.version(raw);
    let task_env = r.task_env(raw, defaults);
    let networks = networks(raw, defaults);
    let step_timeout = match raw.step_timeout.as_ref().map(|t| t.value) {
        Some(t) if t > 0 => t.unsigned_abs(),
        _ => DEFAULT_STEP_TIMEOUT,
    };
    let task_workdir = raw
        .working_directory
        .as_ref()
        .map(|w| w.value.clone())
        .filter(|w| !w.is_empty())
        .or_else(|| defaults.working_directory.clone().filter(|w| !w.is_empty()));

    let around = kind::Around {
        default_network: task::default_network(&networks).map(|n| n.name.clone()),
        task_workdir: task_workdir.clone(),
        command_aliases,
        secret_ids: secrets.iter().map(|s| s.id.clone()).collect(),
    };

    let mut steps = Vec::with_capacity(raw.steps.len());
    let mut seen: HashMap<String, Span> = HashMap::new();
    let ids: Vec<String> = raw
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| step_id(s, i))
        .collect();
    let mut previous: Option<&str> = None;
    for (index, (raw_step, id)) in raw.steps.iter().zip(&ids).enumerate() {
        let env = r.step_env(raw_step, &task_env, index == 0);
        let kind = r.step_kind(raw_step);
        let action = kind.and_then(|kind| r.action(raw_step, kind, &around));
        r.step_rules(raw_step, id, kind);
        let id_span = raw_step.id.as_ref().map_or(raw_step.span, |s| s.span);
        if id == ROOT_ID {
            r.error(
                Diagnostic::error(
                    "reserved-id",
                    format!("{ROOT_ID} is a reserved ID, it can't be used"),
                )
                .with_label("reserved"),
                id_span,
            );
        } else if let Some(&first) = seen.get(id) {
            let mut d = Diagnostic::error("duplicate-id", format!("step id `{id}` is used twice"))
                .with_label("second use");
            if raw_step.id.is_none() {
                d = d.with_help(format!(
                    "this step has no id, so it gets the default `{id}`; give one of the two steps another id"
                ));
            }
            r.duplicate(d, id_span, first, "first used here");
        } else {
            seen.insert(id.clone(), id_span);
        }
        let depends_on = r.depends_on(raw_step, id, previous, &seen, &ids[index + 1..]);
        previous = Some(id);

        let Some(action) = action else {
            continue;
        };
        steps.push(Step {
            id: id.clone(),
            action,
            depends_on,
            timeout: match raw_step.timeout.as_ref().map(|t| t.value) {
                Some(t) if t > 0 => t.unsigned_abs(),
                _ => step_timeout,
            },
            start_delay: non_negative(raw_step.start_delay.as_ref()),
            retries: non_negative(raw_step.retries.as_ref()),
            retry_delay: match raw_step.retry_delay.as_ref().map(|t| t.value) {
                Some(t) if t > 0 => t.unsigned_abs(),
                _ => DEFAULT_RETRY_DELAY,
            },
            retry_on_errors: strings(raw_step.retry_on_errors.as_ref()),
            repeat: non_negative(raw_step.repeat.as_ref()),
            ignore_errors: flag(raw_step.ignore_errors.as_ref()),
            env,
            span: raw_step.span,
        });
    }
    let task_env_texts: Vec<String> = task_env.into_iter().map(|e| e.text).collect();
    let notify = r.notify(&raw.notify, &task_env_texts, &ids, &around);
    r.output_references(raw, &steps, &notify);
    if r.errors > 0 {
        return None;
    }
    Some(Task {
        version,
        step_timeout,
        working_directory: working_directory(task_workdir),
        env: task_env_texts,
        secrets,
        networks,
        volumes,
        steps,
        notify,
    })
}

fn step_id(step: &RawStep, index: usize) -> String {
    match &step.id {
        Some(id) if !id.value.is_empty() => id.value.clone(),
        _ => format!("acb_step_{index}"),
    }
}

pub(super) fn text(v: Option<&Spanned<String>>) -> Option<String> {
    v.map(|s| s.value.clone()).filter(|s| !s.is_empty())
}

pub(super) fn flag(v: Option<&Spanned<bool>>) -> bool {
    v.is_some_and(|b| b.value)
}

pub(super) fn non_negative(v: Option<&Spanned<i64>>) -> u64 {
    v.map_or(0, |n| u64::try_from(n.value).unwrap_or(0))
}

pub(super) fn strings(v: Option<&Spanned<Vec<Spanned<String>>>>) -> Vec<String> {
    v.map(|l| l.value.iter().map(|s| s.value.clone()).collect())
        .unwrap_or_default()
}

pub(super) fn ints(v: Option<&Spanned<Vec<Spanned<i64>>>>) -> Vec<i64> {
    v.map(|l| l.value.iter().map(|s| s.value).collect())
        .unwrap_or_default()
}

/// ACR's working directory rule: absolute paths are cleaned, relative ones are
/// joined under /workspace, none means /workspace.
pub fn working_directory(dir: Option<String>) -> String {
    match dir {
        None => WORKSPACE.to_string(),
        Some(d) if d.starts_with('/') => go::clean_path(&d),
        Some(d) => go::clean_path(&format!("{WORKSPACE}/{d}")),
    }
}

/// The task's networks, then the command line's `--network` (an existing network
/// that becomes the default); without any, ACR's default network.
fn networks(raw: &RawTask, defaults: &TaskDefaults) -> Vec<Network> {
    let mut networks: Vec<Network> = raw
        .networks
        .iter()
        .map(|n| Network {
            name: text(n.name.as_ref()).unwrap_or_default(),
            driver: text(n.driver.as_ref()).unwrap_or_else(|| "bridge".into()),
            ipv6: flag(n.ipv6.as_ref()),
            skip_creation: flag(n.skip_creation.as_ref()),
            is_default: flag(n.is_default.as_ref()),
        })
        .collect();
    let external = defaults.network.as_ref().filter(|n| !n.is_empty());
    if let Some(name) = external {
        networks.push(default_bridge(name, true));
    }
    if networks.is_empty() {
        networks.push(default_bridge(DEFAULT_NETWORK, false));
    }
    networks
}

/// A bridge network that steps without a network of their own join.
fn default_bridge(name: &str, skip_creation: bool) -> Network {
    Network {
        name: name.to_string(),
        driver: "bridge".into(),
        ipv6: false,
        skip_creation,
        is_default: true,
    }
}

pub(super) struct Resolver<'d> {
    file: FileId,
    diags: &'d mut Diagnostics,
    errors: usize,
}

impl Resolver<'_> {
    /// Records `d` as it is (placed or not), counting errors.
    pub(super) fn report(&mut self, d: Diagnostic) {
        if d.is_error() {
            self.errors += 1;
        }
        self.diags.push(d);
    }

    /// Records `d` at `span` of the task file.
    pub(super) fn error(&mut self, d: Diagnostic, span: Span) {
        self.report(d.at(self.file, span));
    }

    /// Records `d` at `span` of the task file, or unplaced.
    pub(super) fn error_at(&mut self, d: Diagnostic, span: Option<Span>) {
        match span {
            Some(span) => self.error(d, span),
            None => self.report(d),
        }
    }

    /// Reports `d` at `span`, pointing also at where the same thing came `first`.
    pub(super) fn duplicate(&mut self, d: Diagnostic, span: Span, first: Span, note: &str) {
        let first = Location {
            file: self.file,
            span: first,
        };
        self.error(d.with_related(first, note), span);
    }

    fn version(&mut self, raw: &RawTask) -> String {
        let Some(v) = raw.version.as_ref().filter(|v| !v.value.is_empty()) else {
            return DEFAULT_VERSION.to_string();
        };
        let lower = v.value.to_ascii_lowercase();
        if !VALID_VERSIONS.contains(&lower.as_str()) {
            self.error(
                Diagnostic::error(
                    "invalid-version",
                    format!(
                        "invalid version specified: {:?}, the current version is {:?}",
                        v.value, DEFAULT_VERSION
                    ),
                )
                .with_label("not a task version")
                .with_help(format!("use one of {}", VALID_VERSIONS.join(", "))),
                v.span,
            );
        }
        v.value.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_directories_follow_acr() {
        assert_eq!(working_directory(None), "/workspace");
        assert_eq!(working_directory(Some("src".into())), "/workspace/src");
        assert_eq!(working_directory(Some("/a/./b/../c/".into())), "/a/c");
        assert_eq!(working_directory(Some("../up".into())), "/up");
    }

    #[test]
    fn a_bad_env_value_fails_the_resolution() {
        let mut files = crate::source::SourceFiles::new();
        let file = files.add(crate::source::SourceFile::new("acb.yaml", ""));
        let defaults = TaskDefaults {
            env: vec!["A=1,NOEQ".into()],
            ..TaskDefaults::default()
        };
        let mut diags = Diagnostics::new();
        let task = resolve(&RawTask::default(), file, &defaults, None, &mut diags);
        assert!(task.is_none());
        assert_eq!(diags.error_count(), 1);
    }
}
