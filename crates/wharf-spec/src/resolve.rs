//! Raw task to resolved [`Task`]: ACR's defaults, environment merging, validation
//! rules and step graph, reporting every problem with its place.
//!
//! The rules and messages follow Azure/acr-builder (`graph/task.go`, `graph/step.go`,
//! `graph/dag.go`); deliberate differences are marked "wharf:" and listed in
//! docs/task-language.md.

use std::collections::{BTreeSet, HashMap};

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use wharf_template::go;

use crate::alias::Aliases;
use crate::build_command::BuildCommand;
use crate::decode::{RawMount, RawSecret, RawStep, RawTask, RawVolume, Spanned};
use crate::diagnostic::{Diagnostic, Diagnostics, Location};
use crate::source::{FileId, Span};
use crate::task::{
    self, Action, Cache, DEFAULT_NETWORK, DEFAULT_RETRY_DELAY, DEFAULT_STEP_TIMEOUT,
    DEFAULT_VERSION, IMMEDIATE, Network, ROOT_ID, Secret, Step, Task, VALID_VERSIONS, Volume,
    VolumeMount, WORKSPACE,
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
    let default_network = task::default_network(&networks).map(|n| n.name.clone());
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
    let ids: Vec<String> = raw
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| step_id(s, i))
        .collect();
    let mut previous: Option<&str> = None;
    for (index, (raw_step, id)) in raw.steps.iter().zip(&ids).enumerate() {
        let env = r.step_env(raw_step, &task_env, index == 0);
        let action = r.action(raw_step, command_aliases);
        r.step_rules(raw_step, id, &action);
        let cache = r.cache(raw_step, &action);
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
            cache,
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
        env: task_env.into_iter().map(|e| e.text).collect(),
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

/// ACR's `cache` values, compared case-insensitively.
fn parse_cache(value: &str) -> Option<Cache> {
    match value.to_ascii_lowercase().as_str() {
        "enabled" => Some(Cache::Enabled),
        "disabled" => Some(Cache::Disabled),
        _ => None,
    }
}

/// Go's `base64.StdEncoding.DecodeString`: padding is required, the unused bits
/// of the last character need not be zero (`YR==` is `a`), and line breaks
/// anywhere are skipped, so the wrapped output of `base64` decodes.
fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    const GO_STD: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
    );
    let compact: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    GO_STD.decode(compact)
}

/// One environment entry and where it is written (`None`: `--env`).
#[derive(Clone, Debug)]
struct EnvEntry {
    text: String,
    at: Option<Span>,
}

impl EnvEntry {
    fn list(entries: Option<&Spanned<Vec<Spanned<String>>>>) -> Vec<EnvEntry> {
        entries
            .map(|l| {
                l.value
                    .iter()
                    .map(|e| EnvEntry {
                        text: e.value.clone(),
                        at: Some(e.span),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// An entry [`merge_envs`] cannot use because it has no `=`.
struct BadEnv {
    /// The entry (for a source entry, the comma-separated part at fault).
    text: String,
    /// Where the entry is written.
    at: Option<Span>,
    /// Whether it is an entry of `dest` (else of `src`).
    in_dest: bool,
}

/// ACR's `mergeEnvs(dest, src)`: with an empty `src`, `dest` unchanged and
/// unchecked. Otherwise the entries of `dest`, then the parts of every `src` entry
/// split on commas whose keys `dest` lacks. Entries (or parts) without `=` are
/// returned apart and left out; ACR stops at the first.
fn merge_envs(dest: &[EnvEntry], src: &[EnvEntry]) -> (Vec<EnvEntry>, Vec<BadEnv>) {
    if src.is_empty() {
        return (dest.to_vec(), Vec::new());
    }
    let mut out = Vec::new();
    let mut bad = Vec::new();
    let mut keys = BTreeSet::new();
    for entry in dest {
        match entry.text.split_once('=') {
            Some((k, _)) => {
                keys.insert(k);
                out.push(entry.clone());
            }
            None => bad.push(BadEnv {
                text: entry.text.clone(),
                at: entry.at,
                in_dest: true,
            }),
        }
    }
    for entry in src {
        for part in entry.text.split(',') {
            match part.split_once('=') {
                Some((k, _)) if keys.contains(k) => {}
                Some(_) => out.push(EnvEntry {
                    text: part.to_string(),
                    at: entry.at,
                }),
                None => bad.push(BadEnv {
                    text: part.to_string(),
                    at: entry.at,
                    in_dest: false,
                }),
            }
        }
    }
    (out, bad)
}

/// ACR's secret checks (`Task.Validate`): an id without whitespace, a `keyvault`,
/// a GUID `clientID` when there is one, unique ids. Returns the well-formed
/// declarations and the problems, placed in `file`. The loader uses it before
/// resolving secrets and again on the final task.
pub(crate) fn check_secrets(raw: &[RawSecret], file: FileId) -> (Vec<Secret>, Vec<Diagnostic>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut ids: HashMap<&str, Span> = HashMap::new();
    for s in raw {
        let Some(id) = s.id.as_ref().filter(|i| !i.value.is_empty()) else {
            problems.push(
                Diagnostic::error("secret-id", "secret is missing an ID")
                    .with_help("give the secret an `id:`")
                    .at(file, s.span),
            );
            continue;
        };
        let mut ok = true;
        if id.value.chars().any(char::is_whitespace) {
            problems.push(
                Diagnostic::error("secret-id", "secret ID cannot contain spaces").at(file, id.span),
            );
            ok = false;
        }
        let Some(keyvault) = s.keyvault.as_ref().filter(|k| !k.value.is_empty()) else {
            problems.push(
                Diagnostic::error(
                    "secret-source",
                    format!("secret `{}` should contain either keyvault property", id.value),
                )
                .with_help("add `keyvault: https://<vault>.vault.azure.net/secrets/<name>`; for local runs pass the value with --secret")
                .at(file, s.span),
            );
            continue;
        };
        if let Some(client) = s.client_id.as_ref().filter(|c| !c.value.is_empty())
            && !is_guid(&client.value)
        {
            problems.push(
                Diagnostic::error(
                    "secret-client-id",
                    format!("msi client ID of secret `{}` is not a valid guid", id.value),
                )
                .at(file, client.span),
            );
            ok = false;
        }
        if let Some(&first) = ids.get(id.value.as_str()) {
            problems.push(
                Diagnostic::error(
                    "duplicate-secret",
                    format!("duplicate secret found with ID: {}", id.value),
                )
                .with_related(Location { file, span: first }, "first declared here")
                .at(file, id.span),
            );
            continue;
        }
        ids.insert(&id.value, id.span);
        if ok {
            out.push(Secret {
                id: id.value.clone(),
                keyvault: keyvault.value.clone(),
                client_id: text(s.client_id.as_ref()),
            });
        }
    }
    (out, problems)
}

struct Resolver<'d> {
    file: FileId,
    diags: &'d mut Diagnostics,
    errors: usize,
}

impl Resolver<'_> {
    /// Records `d` as it is (placed or not), counting errors.
    fn report(&mut self, d: Diagnostic) {
        if d.is_error() {
            self.errors += 1;
        }
        self.diags.push(d);
    }

    /// Records `d` at `span` of the task file.
    fn error(&mut self, d: Diagnostic, span: Span) {
        self.report(d.at(self.file, span));
    }

    /// Records `d` at `span` of the task file, or unplaced.
    fn error_at(&mut self, d: Diagnostic, span: Option<Span>) {
        match span {
            Some(span) => self.error(d, span),
            None => self.report(d),
        }
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
                match decode_base64(&content.value) {
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

    /// Merges the command line's `--env` defaults into the task's env: ACR's
    /// `mergeEnvs(task, --env)`.
    fn task_env(&mut self, raw: &RawTask, defaults: &TaskDefaults) -> Vec<EnvEntry> {
        let own = EnvEntry::list(raw.env.as_ref());
        for entry in &own {
            if entry.text.contains(',') && entry.text.contains('=') {
                let parts: Vec<&str> = entry.text.split(',').collect();
                self.error_at(
                    Diagnostic::warning(
                        "env-comma",
                        format!(
                            "ACR splits task env entries on commas, so this defines {} variables: {}",
                            parts.len(),
                            parts.join(" ")
                        ),
                    )
                    .with_help("to keep a comma in a value, set the variable on each step instead"),
                    entry.at,
                );
            }
        }
        let cli: Vec<EnvEntry> = defaults
            .env
            .iter()
            .map(|e| EnvEntry {
                text: e.clone(),
                at: None,
            })
            .collect();
        let (merged, bad) = merge_envs(&own, &cli);
        for b in bad {
            let d = if b.in_dest {
                Diagnostic::error(
                    "env-format",
                    format!(
                        "cannot parse task environment variable {} correctly",
                        b.text
                    ),
                )
                .with_help("write it as NAME=value")
            } else {
                Diagnostic::error(
                    "env-format",
                    format!("cannot parse --env value {} correctly", b.text),
                )
                .with_help("write it as NAME=value; ACR splits --env values on commas")
            };
            self.error_at(d, b.at);
        }
        merged
    }

    /// ACR's `mergeEnvs(step, task)`: the step's entries, then task entries (split
    /// on commas) whose keys the step lacks. Problems with the task's entries are
    /// reported only when `first` (they are the same for every step).
    fn step_env(&mut self, step: &RawStep, task_env: &[EnvEntry], first: bool) -> Vec<String> {
        let own = EnvEntry::list(step.env.as_ref());
        if task_env.is_empty() {
            for entry in own.iter().filter(|e| !e.text.contains('=')) {
                self.error_at(
                    Diagnostic::warning(
                        "env-format",
                        format!("env entry `{}` has no `=`", entry.text),
                    )
                    .with_help("ACR accepts it only while the task has no env of its own, and passes it to docker as an unset variable; write NAME=value"),
                    entry.at,
                );
            }
            return own.into_iter().map(|e| e.text).collect();
        }
        let (merged, bad) = merge_envs(&own, task_env);
        for b in bad {
            if b.in_dest {
                self.error_at(
                    Diagnostic::error(
                        "env-format",
                        format!(
                            "cannot parse step environment variable {} correctly",
                            b.text
                        ),
                    )
                    .with_help("write it as NAME=value"),
                    b.at,
                );
            } else if first {
                self.error_at(
                    Diagnostic::error(
                        "env-format",
                        format!("cannot parse task environment variable {} correctly", b.text),
                    )
                    .with_help("write it as NAME=value; ACR splits task env entries on commas and fails when it merges them into the steps"),
                    b.at,
                );
            }
        }
        merged.into_iter().map(|e| e.text).collect()
    }

    fn action(&mut self, step: &RawStep, command_aliases: Option<&Aliases>) -> Option<Action> {
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
    }

    /// The step's `cache` setting, checked.
    fn cache(&mut self, step: &RawStep, action: &Option<Action>) -> Option<Cache> {
        let c = step.cache.as_ref()?;
        let cache = parse_cache(&c.value);
        if cache.is_none() {
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
        cache
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
        later_ids: &[String],
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
                let later = later_ids.iter().any(|other| other == name);
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
fn expand_command_alias(cmd: &str, aliases: Option<&Aliases>) -> String {
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
        (Some(image), None) => image.to_string(),
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
        let mut aliases = Aliases::with_globals();
        aliases.define("purge", "acr purge");
        assert_eq!(
            expand_command_alias("  purge --registry r ", Some(&aliases)),
            "acr purge --registry r"
        );
        assert_eq!(expand_command_alias("purger x", Some(&aliases)), "purger x");
        assert_eq!(expand_command_alias("purge", Some(&aliases)), "acr purge");
        assert_eq!(expand_command_alias("purge x", None), "purge x");
    }

    #[test]
    fn base64_follows_go() {
        assert_eq!(decode_base64("YQ==").ok(), Some(b"a".to_vec()));
        // Non-zero trailing bits, line breaks anywhere, an empty value.
        assert_eq!(decode_base64("YR==").ok(), Some(b"a".to_vec()));
        assert_eq!(
            decode_base64("YW\r\nJj\nZA=\n=\n").ok(),
            Some(b"abcd".to_vec())
        );
        assert_eq!(decode_base64("").ok(), Some(Vec::new()));
        // Padding is required; spaces, data after padding and bad padding are not base64.
        for bad in [
            "YQ", "YQ=", " YQ==", "YQ== ", "YQ==YQ==", "Y===", "====", "YQ=\t=",
        ] {
            assert!(decode_base64(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn merging_envs_follows_acr() {
        let entries = |texts: &[&str]| -> Vec<EnvEntry> {
            texts
                .iter()
                .map(|t| EnvEntry {
                    text: t.to_string(),
                    at: None,
                })
                .collect()
        };
        let texts =
            |merged: Vec<EnvEntry>| -> Vec<String> { merged.into_iter().map(|e| e.text).collect() };
        // Nothing to merge: dest as it is, unchecked.
        let (merged, bad) = merge_envs(&entries(&["X"]), &[]);
        assert_eq!(texts(merged), ["X"]);
        assert!(bad.is_empty());
        let (merged, bad) = merge_envs(
            &entries(&["A=dest", "X", "B=dest"]),
            &entries(&["A=src,C=src", "D=1,E"]),
        );
        assert_eq!(texts(merged), ["A=dest", "B=dest", "C=src", "D=1"]);
        let bad: Vec<(String, bool)> = bad.into_iter().map(|b| (b.text, b.in_dest)).collect();
        assert_eq!(bad, [("X".to_string(), true), ("E".to_string(), false)]);
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

    #[test]
    fn guids() {
        assert!(is_guid("a1b2c3d4-0000-1111-2222-333344445555"));
        assert!(!is_guid("not-a-guid"));
    }
}
