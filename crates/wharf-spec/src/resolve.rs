//! Raw task to resolved [`Task`]: ACR's defaults, environment merging, validation
//! rules and step graph, reporting every problem with its place.
//!
//! The rules and messages follow Azure/acr-builder (`graph/task.go`, `graph/step.go`,
//! `graph/dag.go`); deliberate differences are marked "wharf:" and listed in
//! docs/task-language.md.

use std::collections::{BTreeSet, HashMap};

use base64::Engine as _;

use crate::build_command::BuildCommand;
use crate::decode::{RawMount, RawSecret, RawStep, RawTask, RawVolume, Spanned};
use crate::diagnostic::{Diagnostic, Diagnostics, Location};
use crate::source::{FileId, Span};
use crate::task::{
    Action, Cache, DEFAULT_NETWORK, DEFAULT_RETRY_DELAY, DEFAULT_STEP_TIMEOUT, DEFAULT_VERSION,
    IMMEDIATE, Network, ROOT_ID, Secret, Step, Task, VALID_VERSIONS, Volume, VolumeMount,
    WORKSPACE,
};

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
    command_aliases: Option<&HashMap<String, String>>,
    diags: &mut Diagnostics,
) -> Option<Task> {
    let mut r = Resolver {
        file,
        diags,
        errors: 0,
    };
    let secrets = r.secrets(&raw.secrets);
    let volumes = r.volumes(&raw.volumes);
    for step in &raw.steps {
        r.mount_names(step, &raw.volumes);
    }
    let version = r.version(raw);
    let task_env = r.task_env(raw, defaults);
    let networks = networks(raw, defaults);
    let default_network = networks
        .iter()
        .rev()
        .find(|n| n.is_default)
        .map(|n| n.name.clone());
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

    let mut steps = Vec::with_capacity(raw.steps.len());
    let mut seen: HashMap<String, Span> = HashMap::new();
    let all_ids: Vec<(usize, String)> = raw
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (i, step_id(s, i)))
        .collect();
    let mut previous: Option<String> = None;
    for (index, raw_step) in raw.steps.iter().enumerate() {
        let id = step_id(raw_step, index);
        let env = r.step_env(raw_step, task_env.as_ref());
        let action = r.action(raw_step, command_aliases);
        r.step_rules(raw_step, &id, &action);
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
        } else if let Some(&first) = seen.get(&id) {
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
        let depends_on = r.depends_on(raw_step, &id, previous.as_deref(), &seen, &all_ids, index);
        previous = Some(id.clone());

        let Some(action) = action else {
            continue;
        };
        steps.push(Step {
            id,
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
            detach: flag(raw_step.detach.as_ref()),
            keep: flag(raw_step.keep.as_ref()),
            env,
            network: text(raw_step.network.as_ref()).or_else(|| default_network.clone()),
            working_directory: working_directory(
                text(raw_step.working_directory.as_ref()).or_else(|| task_workdir.clone()),
            ),
            disable_working_directory_override: flag(
                raw_step.disable_working_directory_override.as_ref(),
            ),
            entry_point: text(raw_step.entry_point.as_ref()),
            user: text(raw_step.user.as_ref()),
            privileged: flag(raw_step.privileged.as_ref()),
            isolation: text(raw_step.isolation.as_ref()),
            ports: strings(raw_step.ports.as_ref()),
            expose: strings(raw_step.expose.as_ref()),
            cpus: text(raw_step.cpus.as_ref()),
            pull: flag(raw_step.pull.as_ref()),
            cmd_download_retries: non_negative(raw_step.cmd_download_retries.as_ref()),
            cmd_download_retry_delay: non_negative(raw_step.cmd_download_retry_delay.as_ref()),
            cache: raw_step.cache.as_ref().and_then(|c| {
                match c.value.to_ascii_lowercase().as_str() {
                    "enabled" => Some(Cache::Enabled),
                    "disabled" => Some(Cache::Disabled),
                    _ => None,
                }
            }),
            volume_mounts: raw_step
                .volume_mounts
                .iter()
                .map(|m| VolumeMount {
                    name: text(m.name.as_ref()).unwrap_or_default(),
                    mount_path: text(m.mount_path.as_ref()).unwrap_or_default(),
                })
                .collect(),
            exited_with: ints(raw_step.exited_with.as_ref()),
            exited_without: ints(raw_step.exited_without.as_ref()),
            span: raw_step.span,
        });
    }
    if r.errors > 0 {
        return None;
    }
    Some(Task {
        version,
        step_timeout,
        working_directory: working_directory(task_workdir),
        env: task_env.unwrap_or_default(),
        secrets,
        networks,
        volumes,
        steps,
    })
}

fn step_id(step: &RawStep, index: usize) -> String {
    match &step.id {
        Some(id) if !id.value.is_empty() => id.value.clone(),
        _ => format!("acb_step_{index}"),
    }
}

fn text(v: Option<&Spanned<String>>) -> Option<String> {
    v.map(|s| s.value.clone()).filter(|s| !s.is_empty())
}

fn flag(v: Option<&Spanned<bool>>) -> bool {
    v.is_some_and(|b| b.value)
}

fn non_negative(v: Option<&Spanned<i64>>) -> u64 {
    v.map_or(0, |n| u64::try_from(n.value).unwrap_or(0))
}

fn strings(v: Option<&Spanned<Vec<Spanned<String>>>>) -> Vec<String> {
    v.map(|l| l.value.iter().map(|s| s.value.clone()).collect())
        .unwrap_or_default()
}

fn ints(v: Option<&Spanned<Vec<Spanned<i64>>>>) -> Vec<i64> {
    v.map(|l| l.value.iter().map(|s| s.value).collect())
        .unwrap_or_default()
}

/// ACR's working directory rule: absolute paths are cleaned, relative ones are
/// joined under /workspace, none means /workspace.
pub fn working_directory(dir: Option<String>) -> String {
    match dir {
        None => WORKSPACE.to_string(),
        Some(d) if d.starts_with('/') => clean_path(&d),
        Some(d) => clean_path(&format!("{WORKSPACE}/{d}")),
    }
}

/// Lexically cleans an absolute path as Go's `path.Clean` does.
fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

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
    if let Some(external) = defaults.network.as_ref().filter(|n| !n.is_empty()) {
        networks.push(Network {
            name: external.clone(),
            driver: "bridge".into(),
            ipv6: false,
            skip_creation: true,
            is_default: true,
        });
    }
    if networks.is_empty() {
        networks.push(Network {
            name: DEFAULT_NETWORK.into(),
            driver: "bridge".into(),
            ipv6: false,
            skip_creation: false,
            is_default: true,
        });
    }
    networks
}

struct Resolver<'d> {
    file: FileId,
    diags: &'d mut Diagnostics,
    errors: usize,
}

impl Resolver<'_> {
    fn error(&mut self, d: Diagnostic, span: Span) {
        if d.is_error() {
            self.errors += 1;
        }
        self.diags.push(d.at(self.file, span));
    }

    /// Reports `d` at `span`, pointing also at where the same thing came `first`.
    fn duplicate(&mut self, d: Diagnostic, span: Span, first: Span, note: &str) {
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

    fn secrets(&mut self, raw: &[RawSecret]) -> Vec<Secret> {
        let mut out = Vec::new();
        let mut ids: HashMap<&str, Span> = HashMap::new();
        for s in raw {
            let Some(id) = s.id.as_ref().filter(|i| !i.value.is_empty()) else {
                self.error(
                    Diagnostic::error("secret-id", "secret is missing an ID")
                        .with_help("give the secret an `id:`"),
                    s.span,
                );
                continue;
            };
            if id.value.chars().any(char::is_whitespace) {
                self.error(
                    Diagnostic::error("secret-id", "secret ID cannot contain spaces"),
                    id.span,
                );
            }
            let Some(keyvault) = s.keyvault.as_ref().filter(|k| !k.value.is_empty()) else {
                self.error(
                    Diagnostic::error(
                        "secret-source",
                        format!("secret `{}` should contain either keyvault property", id.value),
                    )
                    .with_help("add `keyvault: https://<vault>.vault.azure.net/secrets/<name>`; for local runs pass the value with --secret"),
                    s.span,
                );
                continue;
            };
            if let Some(client) = s.client_id.as_ref().filter(|c| !c.value.is_empty())
                && !is_guid(&client.value)
            {
                self.error(
                    Diagnostic::error(
                        "secret-client-id",
                        format!("msi client ID of secret `{}` is not a valid guid", id.value),
                    ),
                    client.span,
                );
            }
            if let Some(&first) = ids.get(id.value.as_str()) {
                self.duplicate(
                    Diagnostic::error(
                        "duplicate-secret",
                        format!("duplicate secret found with ID: {}", id.value),
                    ),
                    id.span,
                    first,
                    "first declared here",
                );
                continue;
            }
            ids.insert(&id.value, id.span);
            out.push(Secret {
                id: id.value.clone(),
                keyvault: keyvault.value.clone(),
                client_id: text(s.client_id.as_ref()),
            });
        }
        out
    }

    fn volumes(&mut self, raw: &[RawVolume]) -> Vec<Volume> {
        let mut out = Vec::new();
        let mut names: HashMap<&str, Span> = HashMap::new();
        for v in raw {
            let name = v
                .name
                .as_ref()
                .map(|n| n.value.as_str())
                .unwrap_or_default();
            let name_span = v.name.as_ref().map_or(v.span, |n| n.span);
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                self.error(
                    Diagnostic::error(
                        "volume-name",
                        format!("volume name {name:?} is not well formed"),
                    )
                    .with_help("use letters, digits, '-' and '_' only"),
                    name_span,
                );
            }
            let Some(secret) = v.secret.as_ref() else {
                self.error(
                    Diagnostic::error(
                        "volume-source",
                        format!("volume `{name}`: currently only support for source type secret"),
                    )
                    .with_help("add `secret:` with file names and their base64 contents"),
                    v.span,
                );
                continue;
            };
            if secret.value.is_empty() {
                self.error(
                    Diagnostic::error("volume-source", format!("volume `{name}`: secret is empty")),
                    secret.span,
                );
            }
            let mut files = Vec::new();
            for (file, content) in &secret.value {
                if file.value.is_empty()
                    || !file
                        .value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                {
                    self.error(
                        Diagnostic::error(
                            "volume-file-name",
                            format!("file name, {}, is not well formed", file.value),
                        )
                        .with_help("use letters, digits, '-', '_' and '.' only"),
                        file.span,
                    );
                }
                // wharf: ACR finds bad base64 only when the run starts; we report it here.
                match base64::engine::general_purpose::STANDARD.decode(content.value.trim()) {
                    Ok(bytes) => files.push((file.value.clone(), bytes)),
                    Err(_) => self.error(
                        Diagnostic::error(
                            "volume-base64",
                            format!("failed to decode Base64 value of file `{}`", file.value),
                        )
                        .with_label("not base64"),
                        content.span,
                    ),
                }
            }
            if let Some(&first) = names.get(name) {
                self.duplicate(
                    Diagnostic::error("duplicate-volume", "volume with duplicate name found"),
                    name_span,
                    first,
                    "first declared here",
                );
                continue;
            }
            names.insert(name, name_span);
            out.push(Volume {
                name: name.to_string(),
                files,
            });
        }
        out
    }

    fn mount_names(&mut self, step: &RawStep, volumes: &[RawVolume]) {
        for m in &step.volume_mounts {
            let Some(name) = m.name.as_ref().filter(|n| !n.value.is_empty()) else {
                continue;
            };
            let declared = volumes
                .iter()
                .any(|v| v.name.as_ref().is_some_and(|n| n.value == name.value));
            if !declared {
                let mut d = Diagnostic::error(
                    "unknown-volume",
                    format!(
                        "mount name, {}, does not correspond to a volume",
                        name.value
                    ),
                );
                d = d.with_help(if volumes.is_empty() {
                    "declare it under the top-level `volumes:`".to_string()
                } else {
                    let known: Vec<&str> = volumes
                        .iter()
                        .filter_map(|v| v.name.as_ref().map(|n| n.value.as_str()))
                        .collect();
                    format!("declared volumes: {}", known.join(", "))
                });
                self.error(d, name.span);
            }
        }
    }

    /// Merges the command line's `--env` defaults into the task's env.
    fn task_env(&mut self, raw: &RawTask, defaults: &TaskDefaults) -> Option<Vec<String>> {
        let own: Vec<Spanned<String>> = raw
            .env
            .as_ref()
            .map(|l| l.value.clone())
            .unwrap_or_default();
        for entry in &own {
            if entry.value.contains(',') && entry.value.contains('=') {
                let parts: Vec<&str> = entry.value.split(',').collect();
                self.error(
                    Diagnostic::warning(
                        "env-comma",
                        format!(
                            "ACR splits task env entries on commas, so this defines {} variables: {}",
                            parts.len(),
                            parts.join(" ")
                        ),
                    )
                    .with_help("to keep a comma in a value, set the variable on each step instead"),
                    entry.span,
                );
            }
        }
        let cli: Vec<String> = defaults
            .env
            .iter()
            .flat_map(|e| e.split(','))
            .map(String::from)
            .collect();
        if cli.is_empty() {
            return Some(own.into_iter().map(|s| s.value).collect());
        }
        let mut keys = BTreeSet::new();
        let mut out = Vec::new();
        for entry in &own {
            match entry.value.split_once('=') {
                Some((k, _)) => {
                    keys.insert(k.to_string());
                    out.push(entry.value.clone());
                }
                None => self.error(
                    Diagnostic::error(
                        "env-format",
                        format!(
                            "cannot parse task environment variable {} correctly",
                            entry.value
                        ),
                    )
                    .with_help("write it as NAME=value"),
                    entry.span,
                ),
            }
        }
        for entry in cli {
            match entry.split_once('=') {
                Some((k, _)) if !keys.contains(k) => out.push(entry.clone()),
                Some(_) => {}
                None => self.diags.push(Diagnostic::error(
                    "env-format",
                    format!("cannot parse --env value {entry} correctly; write it as NAME=value"),
                )),
            }
        }
        Some(out)
    }

    /// ACR's `mergeEnvs(step, task)`: the step's entries, then task entries (split on
    /// commas) whose keys the step lacks.
    fn step_env(&mut self, step: &RawStep, task_env: Option<&Vec<String>>) -> Vec<String> {
        let own: Vec<&Spanned<String>> = step
            .env
            .as_ref()
            .map(|l| l.value.iter().collect())
            .unwrap_or_default();
        let task_env = task_env.map(Vec::as_slice).unwrap_or_default();
        if task_env.is_empty() {
            for entry in &own {
                if !entry.value.contains('=') {
                    self.error(
                        Diagnostic::warning(
                            "env-format",
                            format!("env entry `{}` has no `=`", entry.value),
                        )
                        .with_help("ACR accepts it only while the task has no env of its own, and passes it to docker as an unset variable; write NAME=value"),
                        entry.span,
                    );
                }
            }
            return own.into_iter().map(|s| s.value.clone()).collect();
        }
        let mut keys = BTreeSet::new();
        let mut out = Vec::new();
        for entry in own {
            match entry.value.split_once('=') {
                Some((k, _)) => {
                    keys.insert(k.to_string());
                    out.push(entry.value.clone());
                }
                None => self.error(
                    Diagnostic::error(
                        "env-format",
                        format!(
                            "cannot parse step environment variable {} correctly",
                            entry.value
                        ),
                    )
                    .with_help("write it as NAME=value"),
                    entry.span,
                ),
            }
        }
        let env_span = step.env.as_ref().map_or(step.span, |e| e.span);
        for entry in task_env.iter().flat_map(|e| e.split(',')) {
            match entry.split_once('=') {
                Some((k, _)) if !keys.contains(k) => out.push(entry.to_string()),
                Some(_) => {}
                None => self.error(
                    Diagnostic::error(
                        "env-format",
                        format!("cannot parse task environment variable {entry} correctly"),
                    )
                    .with_help("write it as NAME=value; ACR splits task env entries on commas"),
                    env_span,
                ),
            }
        }
        out
    }

    fn action(
        &mut self,
        step: &RawStep,
        command_aliases: Option<&HashMap<String, String>>,
    ) -> Option<Action> {
        let cmd = step.cmd.as_ref().filter(|c| !c.value.is_empty());
        let build = step.build.as_ref().filter(|b| !b.value.is_empty());
        let push = step.push.as_ref().filter(|p| !p.value.is_empty());
        let given: Vec<(&str, Span)> = [
            cmd.map(|c| ("cmd", c.span)),
            build.map(|b| ("build", b.span)),
            push.map(|p| ("push", p.span)),
        ]
        .into_iter()
        .flatten()
        .collect();
        if given.len() > 1 {
            let names: Vec<&str> = given.iter().map(|(n, _)| *n).collect();
            self.error(
                Diagnostic::error(
                    "step-type",
                    format!(
                        "step must only contain a single build, cmd, or push property; it has {}",
                        names.join(" and ")
                    ),
                )
                .with_help("split it into one step per action"),
                given[1].1,
            );
            return None;
        }
        if let Some(c) = cmd {
            return Some(Action::Cmd {
                cmd: expand_command_alias(&c.value, command_aliases),
            });
        }
        if let Some(b) = build {
            return match BuildCommand::parse(&b.value) {
                Ok(parsed) => Some(Action::Build {
                    build: b.value.clone(),
                    tags: parsed.tags,
                    build_args: parsed.build_args,
                }),
                Err(e) => {
                    self.error(
                        Diagnostic::error(
                            "build-args",
                            format!("cannot parse the build arguments: {e}"),
                        ),
                        b.span,
                    );
                    None
                }
            };
        }
        if let Some(p) = push {
            let mut images: Vec<String> = Vec::new();
            for image in &p.value {
                let normalized = normalize_push_image(&image.value);
                if !images.contains(&normalized) {
                    images.push(normalized);
                }
            }
            return Some(Action::Push { push: images });
        }
        None
    }

    fn step_rules(&mut self, step: &RawStep, id: &str, action: &Option<Action>) {
        if let Some(r) = step.retries.as_ref().filter(|r| r.value < 0) {
            self.error(
                Diagnostic::error("retries", "step must specify retries >= 0"),
                r.span,
            );
        }
        if let Some(r) = step.repeat.as_ref().filter(|r| r.value < 0) {
            self.error(
                Diagnostic::error("repeat", "step must specify repeat >= 0"),
                r.span,
            );
        }
        if let Some(s) = step
            .id
            .as_ref()
            .filter(|s| s.value.chars().any(char::is_whitespace))
        {
            self.error(
                Diagnostic::error("step-id", "step ID cannot contain spaces")
                    .with_label("has whitespace"),
                s.span,
            );
        }
        let has_type = step.cmd.as_ref().is_some_and(|c| !c.value.is_empty())
            || step.build.as_ref().is_some_and(|b| !b.value.is_empty())
            || step.push.as_ref().is_some_and(|p| !p.value.is_empty());
        if !has_type {
            self.error(
                Diagnostic::error(
                    "step-type",
                    "step is missing a cmd, build, or push property",
                )
                .with_label("this step does nothing"),
                step.span,
            );
        }
        if !step.volume_mounts.is_empty() && matches!(action, Some(Action::Push { .. })) {
            self.error(
                Diagnostic::error(
                    "mounts-on-push",
                    "invalid use of Mounts: volumeMounts only apply to cmd and build steps",
                ),
                step.volume_mounts[0].span,
            );
        }
        self.mounts(&step.volume_mounts);
        if let Some(when) = &step.when {
            let immediate = when.value.iter().any(|w| w.value == IMMEDIATE);
            if immediate && when.value.len() > 1 {
                self.error(
                    Diagnostic::error(
                        "when-immediate",
                        "step cannot contain other IDs in when if the immediate execution token is specified",
                    )
                    .with_help("use either [\"-\"] or a list of step ids"),
                    when.span,
                );
            }
            for w in &when.value {
                if w.value == id {
                    self.error(
                        Diagnostic::error(
                            "self-reference",
                            format!("Step ID: {id} is self-referenced"),
                        )
                        .with_label("waits for itself"),
                        w.span,
                    );
                }
            }
        }
        if let Some(c) = &step.cache {
            let lower = c.value.to_ascii_lowercase();
            if lower != "enabled" && lower != "disabled" {
                self.error(
                    Diagnostic::error(
                        "cache",
                        "invalid value for cache property. Valid values are 'enabled', 'disabled'",
                    ),
                    c.span,
                );
            } else if !matches!(action, Some(Action::Build { .. })) {
                self.error(
                    Diagnostic::warning(
                        "cache",
                        "`cache` only applies to build steps; ACR ignores it here",
                    ),
                    c.span,
                );
            }
        }
    }

    fn mounts(&mut self, mounts: &[RawMount]) {
        let mut paths: HashMap<&str, Span> = HashMap::new();
        for m in mounts {
            let name = m
                .name
                .as_ref()
                .map(|n| n.value.as_str())
                .unwrap_or_default();
            let path = m
                .mount_path
                .as_ref()
                .map(|p| p.value.as_str())
                .unwrap_or_default();
            if name.is_empty() || path.is_empty() {
                self.error(
                    Diagnostic::error("mount", "mount name or mount path is empty")
                        .with_help("each volume mount needs `name:` and `mountPath:`"),
                    m.span,
                );
                continue;
            }
            let path_span = m.mount_path.as_ref().map_or(m.span, |p| p.span);
            if let Some(&first) = paths.get(path) {
                self.duplicate(
                    Diagnostic::error("mount", "mount with duplicate container file path found"),
                    path_span,
                    first,
                    "first mounted here",
                );
                continue;
            }
            paths.insert(path, path_span);
        }
    }

    fn depends_on(
        &mut self,
        step: &RawStep,
        id: &str,
        previous: Option<&str>,
        defined: &HashMap<String, Span>,
        all_ids: &[(usize, String)],
        index: usize,
    ) -> Vec<String> {
        let when = step
            .when
            .as_ref()
            .map(|w| w.value.as_slice())
            .unwrap_or_default();
        if when.is_empty() {
            return previous.map(|p| vec![p.to_string()]).unwrap_or_default();
        }
        if when.len() == 1 && when[0].value == IMMEDIATE {
            return Vec::new();
        }
        let mut deps: Vec<String> = Vec::new();
        for dep in when {
            let name = dep.value.as_str();
            if name == IMMEDIATE || name == id {
                continue; // reported by step_rules
            }
            if name.is_empty() {
                self.error(
                    Diagnostic::error("when", "an entry of `when` is empty")
                        .with_help("name a step id, or use [\"-\"]"),
                    dep.span,
                );
                continue;
            }
            if name == ROOT_ID {
                continue; // an edge from the root: the step starts at once, as in ACR
            }
            if deps.iter().any(|d| d == name) {
                // wharf: ACR counts a repeated id twice and never starts the step (the run hangs).
                self.error(
                    Diagnostic::warning(
                        "when-duplicate",
                        format!("`{name}` is listed twice in `when`; wharf waits for it once (ACR would hang)"),
                    )
                    .with_label("repeated"),
                    dep.span,
                );
                continue;
            }
            if !defined.contains_key(name) {
                let later = all_ids.iter().any(|(i, other)| *i > index && other == name);
                let mut d = Diagnostic::error(
                    "unknown-step",
                    format!(
                        "step `{id}` waits for `{name}`, which does not exist as a step before it"
                    ),
                )
                .with_label(if later {
                    "defined later in the file"
                } else {
                    "no step has this id"
                });
                d = if later {
                    d.with_help(format!("a step can only wait for steps defined before it; move `{name}` above `{id}`"))
                } else if let Some(similar) = closest(name, defined.keys().map(String::as_str)) {
                    d.with_help(format!("did you mean `{similar}`?"))
                } else {
                    d
                };
                self.error(d, dep.span);
                continue;
            }
            deps.push(name.to_string());
        }
        deps
    }
}

fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(s, _)| *s >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// ACR's `ExpandCommandAliases`: if the first space-separated word of the trimmed
/// command is an alias name, it is replaced by the alias's text (once).
fn expand_command_alias(cmd: &str, aliases: Option<&HashMap<String, String>>) -> String {
    let Some(aliases) = aliases else {
        return cmd.to_string();
    };
    let trimmed = cmd.trim();
    let (first, rest) = match trimmed.split_once(' ') {
        Some((f, r)) => (f, Some(r)),
        None => (trimmed, None),
    };
    match (aliases.get(first), rest) {
        (Some(image), Some(rest)) => format!("{image} {rest}"),
        (Some(image), None) => image.clone(),
        (None, _) => cmd.to_string(),
    }
}

/// ACR's push normalization: `:latest` is added when the reference has neither
/// `:` nor `@` anywhere (so `host:5000/app` stays as written).
pub fn normalize_push_image(image: &str) -> String {
    if image.contains(':') || image.contains('@') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// Whether `s` is a GUID (8-4-4-4-12 hex digits).
pub fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    groups.len() == 5
        && groups
            .iter()
            .zip(lens)
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
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
    fn push_images_get_latest_only_without_colon_or_at() {
        assert_eq!(normalize_push_image("app"), "app:latest");
        assert_eq!(normalize_push_image("r.io/app:1"), "r.io/app:1");
        assert_eq!(normalize_push_image("host:5000/app"), "host:5000/app");
        assert_eq!(normalize_push_image("app@sha256:ab"), "app@sha256:ab");
    }

    #[test]
    fn command_aliases_replace_the_whole_first_word_once() {
        let aliases: HashMap<String, String> = [("purge".to_string(), "acr purge".to_string())]
            .into_iter()
            .collect();
        assert_eq!(
            expand_command_alias("  purge --registry r ", Some(&aliases)),
            "acr purge --registry r"
        );
        assert_eq!(expand_command_alias("purger x", Some(&aliases)), "purger x");
        assert_eq!(expand_command_alias("purge", Some(&aliases)), "acr purge");
        assert_eq!(expand_command_alias("purge x", None), "purge x");
    }

    #[test]
    fn guids() {
        assert!(is_guid("a1b2c3d4-0000-1111-2222-333344445555"));
        assert!(!is_guid("not-a-guid"));
    }
}
