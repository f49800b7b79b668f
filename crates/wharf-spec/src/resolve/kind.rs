//! What a step does: one function decides its kind from the kinds table
//! ([`crate::kinds::KINDS`]), then each kind's settings are resolved.

use std::collections::HashMap;

use super::{Resolver, flag, ints, non_negative, strings, text, working_directory};
use crate::alias::Aliases;
use crate::build_command::BuildCommand;
use crate::decode::{RawAllow, RawStep, Spanned, SpannedAnyMap, SpannedList};
use crate::diagnostic::Diagnostic;
use crate::kinds::{self, KINDS, StepKind};
use crate::source::Span;
use crate::task::{
    Action, Cache, Container, Grants, HelmCall, KeySource, PluginCall, PluginSource, SignCall,
    VolumeMount,
};

/// What resolving a step's action needs from the task around it.
pub(super) struct Around<'a> {
    /// The network steps join when they name none.
    pub default_network: Option<String>,
    /// The task's working directory (or `--working-directory`), if any.
    pub task_workdir: Option<String>,
    /// Aliases for `cmd` images (version v1.1.0 and later).
    pub command_aliases: Option<&'a Aliases>,
    /// Ids of the task's secrets.
    pub secret_ids: Vec<String>,
}

/// ACR's `cache` values, compared case-insensitively.
fn parse_cache(value: &str) -> Option<Cache> {
    match value.to_ascii_lowercase().as_str() {
        "enabled" => Some(Cache::Enabled),
        "disabled" => Some(Cache::Disabled),
        _ => None,
    }
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

/// Where the key of `kind` is in `step`, when it is given and not empty.
fn kind_key(step: &RawStep, kind: StepKind) -> Option<Span> {
    match kind {
        StepKind::Build => step
            .build
            .as_ref()
            .filter(|b| !b.value.is_empty())
            .map(|b| b.span),
        StepKind::Cmd => step
            .cmd
            .as_ref()
            .filter(|c| !c.value.is_empty())
            .map(|c| c.span),
        StepKind::Push => step
            .push
            .as_ref()
            .filter(|p| !p.value.is_empty())
            .map(|p| p.span),
        StepKind::Plugin => step
            .plugin
            .as_ref()
            .filter(|p| !p.value.is_empty())
            .map(|p| p.span),
        StepKind::Helm => step
            .helm
            .as_ref()
            .filter(|h| !h.value.is_empty())
            .map(|h| h.span),
        StepKind::Sign => step
            .sign
            .as_ref()
            .filter(|s| !s.value.is_empty())
            .map(|s| s.span),
    }
}

/// Every kind's key, for messages: `build, cmd, push, or plugin`.
fn all_kind_list() -> String {
    let keys: Vec<&str> = KINDS.iter().map(|k| k.key).collect();
    match keys.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{}, or {last}", rest.join(", ")),
        _ => keys.join(""),
    }
}

/// Parses where a plugin comes from: `oci://REGISTRY/REPO:TAG` or `@sha256:...`, a
/// path to a `.wasm` file, or a plugin name.
pub fn plugin_source(text: &str) -> Result<PluginSource, String> {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix("oci://") {
        let (name, has_version) = match rest.split_once('@') {
            Some((name, digest)) => {
                let (algo, hex) = digest.split_once(':').unwrap_or(("", ""));
                if algo != "sha256"
                    || hex.len() != 64
                    || !hex.chars().all(|c| c.is_ascii_hexdigit())
                {
                    return Err(format!("`{digest}` is not a sha256 digest"));
                }
                (name, true)
            }
            None => {
                let last = rest.rsplit('/').next().unwrap_or_default();
                (rest, last.contains(':'))
            }
        };
        if !name.contains('/') || name.starts_with('/') || name.ends_with('/') {
            return Err(
                "an oci:// plugin reference names a registry and a repository: oci://REGISTRY/REPO:TAG"
                    .into(),
            );
        }
        if !has_version {
            return Err(
                "an oci:// plugin reference needs a tag or a digest: oci://REGISTRY/REPO:TAG or oci://REGISTRY/REPO@sha256:..."
                    .into(),
            );
        }
        return Ok(PluginSource::Oci(rest.to_string()));
    }
    if text.contains("://") {
        return Err("a plugin comes from a name, a path to a .wasm file, or oci://".into());
    }
    if text.ends_with(".wasm")
        || text.starts_with("./")
        || text.starts_with("../")
        || text.starts_with('/')
    {
        return Ok(PluginSource::Path(text.to_string()));
    }
    let well_formed = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if well_formed {
        Ok(PluginSource::Name(text.to_string()))
    } else {
        Err(format!(
            "`{text}` is not a plugin name (lower-case letters, digits and '-'), a path to a .wasm file, or an oci:// reference"
        ))
    }
}

/// Whether `name` is an environment variable name.
fn is_env_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `entry` is `host:port` (an IPv6 host in brackets).
fn is_host_port(entry: &str) -> bool {
    let Some((host, port)) = entry.rsplit_once(':') else {
        return false;
    };
    let host = match host.strip_prefix('[') {
        Some(inner) => match inner.strip_suffix(']') {
            Some(v6) if v6.contains(':') => v6,
            _ => return false,
        },
        None if host.contains(':') => return false,
        None => host,
    };
    !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok_and(|p| p > 0)
}

impl Resolver<'_> {
    /// The one place that decides a step's kind: exactly one key of [`KINDS`].
    pub(super) fn step_kind(&mut self, step: &RawStep) -> Option<StepKind> {
        let mut given: Vec<(StepKind, Span)> = KINDS
            .iter()
            .filter_map(|k| kind_key(step, k.kind).map(|span| (k.kind, span)))
            .collect();
        // In file order: the message names them as written and points at the second.
        given.sort_by_key(|(_, span)| span.start);
        match given.as_slice() {
            [(kind, _)] => Some(*kind),
            // The kind's value had the wrong type: that error says enough.
            [] if !step.mistyped.is_empty() => None,
            [] => {
                self.error(
                    Diagnostic::error(
                        "step-type",
                        format!("step is missing a {} property", kinds::acr_kind_list()),
                    )
                    .with_label("this step does nothing")
                    .with_help(format!(
                        "wharf also has {} (a wharf extension that az acr run refuses)",
                        kinds::extension_kind_list()
                    )),
                    step.span,
                );
                None
            }
            [_, (_, second), ..] => {
                let names: Vec<&str> = given.iter().map(|(k, _)| k.key()).collect();
                let list = if given.iter().all(|(k, _)| k.def().acr) {
                    kinds::acr_kind_list()
                } else {
                    all_kind_list()
                };
                self.error(
                    Diagnostic::error(
                        "step-type",
                        format!(
                            "step must only contain a single {list} property; it has {}",
                            names.join(" and ")
                        ),
                    )
                    .with_help("split it into one step per action"),
                    *second,
                );
                None
            }
        }
    }

    /// The step's action, for a step of `kind`.
    pub(super) fn action(
        &mut self,
        step: &RawStep,
        kind: StepKind,
        around: &Around<'_>,
    ) -> Option<Action> {
        self.keys_of_other_kinds(step, kind);
        match kind {
            StepKind::Cmd => {
                let c = step.cmd.as_ref()?;
                self.cache(step, false);
                Some(Action::Cmd {
                    cmd: expand_command_alias(&c.value, around.command_aliases),
                    container: self.container(step, around),
                })
            }
            StepKind::Build => {
                let b = step.build.as_ref()?;
                let cache = self.cache(step, true);
                match BuildCommand::parse(&b.value) {
                    Ok(parsed) => {
                        self.build_flags(&parsed, b.span);
                        Some(Action::Build {
                            build: b.value.clone(),
                            // acr-builder reads a `tags` list (an untagged Go field) and
                            // parses -t only when it is empty.
                            tags: match strings(step.tags.as_ref()) {
                                given if !given.is_empty() => given,
                                _ => parsed.tags,
                            },
                            build_args: parsed.build_args,
                            cache,
                            container: self.container(step, around),
                        })
                    }
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
                }
            }
            StepKind::Push => {
                let p = step.push.as_ref()?;
                self.cache(step, false);
                let mut images: Vec<String> = Vec::new();
                for image in &p.value {
                    // An entry with an output reference is normalized once bound.
                    let normalized = if crate::outputs::references(&image.value).is_empty() {
                        normalize_push_image(&image.value)
                    } else {
                        image.value.clone()
                    };
                    if !images.contains(&normalized) {
                        images.push(normalized);
                    }
                }
                Some(Action::Push { push: images })
            }
            StepKind::Helm => {
                let h = step.helm.as_ref()?;
                match HelmCall::parse(&h.value) {
                    Ok(call) => Some(Action::Helm(call)),
                    Err(e) => {
                        self.error(Diagnostic::error("helm-args", e), h.span);
                        None
                    }
                }
            }
            StepKind::Sign => self.sign_call(step, &around.secret_ids).map(Action::Sign),
            StepKind::Plugin => {
                let p = step.plugin.as_ref()?;
                self.plugin_call(
                    p,
                    step.with.as_ref(),
                    step.allow.as_ref(),
                    &around.secret_ids,
                )
                .map(Action::Plugin)
            }
        }
    }

    /// Warns about build flags wharf cannot honour: ones it does not know (acr-builder
    /// passes them to docker build unchecked) and ones it knows but ignores.
    fn build_flags(&mut self, parsed: &BuildCommand, span: Span) {
        if !parsed.unknown.is_empty() {
            self.error(
                Diagnostic::warning(
                    "build-flag-unknown",
                    format!(
                        "wharf does not know the build flag{} {}: ACR passes {} to docker build, wharf builds without {}",
                        if parsed.unknown.len() == 1 { "" } else { "s" },
                        parsed.unknown.join(" "),
                        if parsed.unknown.len() == 1 { "it" } else { "them" },
                        if parsed.unknown.len() == 1 { "it" } else { "them" },
                    ),
                ),
                span,
            );
        }
        let ignored: Vec<&str> = parsed
            .ignored
            .iter()
            .map(String::as_str)
            .filter(|f| !f.starts_with("--progress"))
            .collect();
        if !ignored.is_empty() {
            self.error(
                Diagnostic::warning(
                    "build-flag-ignored",
                    format!("wharf ignores these build flags: {}", ignored.join(" ")),
                ),
                span,
            );
        }
    }

    /// A `sign:` step: images (normalized as push normalizes them), the key and
    /// certificate (a secret id of the task, else a file in the context), the format.
    fn sign_call(&mut self, step: &RawStep, secret_ids: &[String]) -> Option<SignCall> {
        let s = step.sign.as_ref()?;
        let mut images: Vec<String> = Vec::new();
        for image in &s.value {
            let normalized = if crate::outputs::references(&image.value).is_empty() {
                normalize_push_image(&image.value)
            } else {
                image.value.clone()
            };
            if !images.contains(&normalized) {
                images.push(normalized);
            }
        }
        let source = |this: &mut Self, value: &Spanned<String>| -> Option<KeySource> {
            let v = value.value.trim();
            if secret_ids.iter().any(|id| id == v) {
                return Some(KeySource::Secret(v.to_string()));
            }
            let path = std::path::Path::new(v);
            if v.is_empty()
                || path.is_absolute()
                || path
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                this.error(
                    Diagnostic::error(
                        "sign-key-source",
                        format!("{v:?} is neither a secret of this task nor a file in the context"),
                    )
                    .with_help(
                        "name a secret id from `secrets:`, or a path relative to the context",
                    ),
                    value.span,
                );
                return None;
            }
            Some(KeySource::File(v.to_string()))
        };
        let format = match step.format.as_ref() {
            None => "notation".to_string(),
            Some(f) if matches!(f.value.as_str(), "notation" | "cosign") => f.value.clone(),
            Some(f) => {
                self.error(
                    Diagnostic::error(
                        "sign-format",
                        format!("format {:?} is not notation or cosign", f.value),
                    ),
                    f.span,
                );
                return None;
            }
        };
        let Some(key) = step.key.as_ref() else {
            self.error(
                Diagnostic::error(
                    "sign-key",
                    "a sign step needs `key:` (a secret id or a file in the context)",
                ),
                s.span,
            );
            return None;
        };
        let key = source(self, key)?;
        let cert = match (step.cert.as_ref(), format.as_str()) {
            (Some(c), _) => Some(source(self, c)?),
            (None, "notation") => {
                self.error(
                    Diagnostic::error(
                        "sign-cert",
                        "a notation signature needs `cert:` (the key's certificate chain)",
                    )
                    .with_help("add cert:, or use format: cosign"),
                    s.span,
                );
                return None;
            }
            (None, _) => None,
        };
        Some(SignCall {
            sign: images,
            key,
            cert,
            format,
        })
    }

    /// Keys that only apply to other kinds of step. On wharf's own kinds a container
    /// key is an error (nothing would act on it); ACR's kinds keep ACR's silence.
    /// `with:` and `allow:` outside a plugin step are an error too.
    fn keys_of_other_kinds(&mut self, step: &RawStep, kind: StepKind) {
        let def = kind.def();
        for (property, span) in &step.keys {
            let misplaced = (property.container && !def.container && !def.acr)
                || (matches!(property.key, "with" | "allow") && kind != StepKind::Plugin)
                || (matches!(property.key, "key" | "cert" | "format") && kind != StepKind::Sign);
            if misplaced {
                self.error(
                    Diagnostic::error(
                        "key-for-kind",
                        format!("`{}` does not apply to {} steps", property.key, def.key),
                    )
                    .with_label("nothing would use it")
                    .with_help("remove it"),
                    *span,
                );
            }
        }
    }

    /// The container settings of a cmd or build step.
    fn container(&mut self, step: &RawStep, around: &Around<'_>) -> Container {
        Container {
            detach: flag(step.detach.as_ref()),
            keep: flag(step.keep.as_ref()),
            network: text(step.network.as_ref()).or_else(|| around.default_network.clone()),
            working_directory: working_directory(
                text(step.working_directory.as_ref()).or_else(|| around.task_workdir.clone()),
            ),
            disable_working_directory_override: flag(
                step.disable_working_directory_override.as_ref(),
            ),
            entry_point: text(step.entry_point.as_ref()),
            user: text(step.user.as_ref()),
            privileged: flag(step.privileged.as_ref()),
            isolation: text(step.isolation.as_ref()),
            ports: strings(step.ports.as_ref()),
            expose: strings(step.expose.as_ref()),
            cpus: text(step.cpus.as_ref()),
            pull: flag(step.pull.as_ref()),
            cmd_download_retries: non_negative(step.cmd_download_retries.as_ref()),
            cmd_download_retry_delay: non_negative(step.cmd_download_retry_delay.as_ref()),
            volume_mounts: step
                .volume_mounts
                .iter()
                .map(|m| VolumeMount {
                    name: text(m.name.as_ref()).unwrap_or_default(),
                    mount_path: text(m.mount_path.as_ref()).unwrap_or_default(),
                })
                .collect(),
            exited_with: ints(step.exited_with.as_ref()),
            exited_without: ints(step.exited_without.as_ref()),
        }
    }

    /// A plugin step's or notify entry's call: source, `with:` and `allow:`, checked.
    pub(super) fn plugin_call(
        &mut self,
        plugin: &Spanned<String>,
        with: Option<&SpannedAnyMap>,
        allow: Option<&RawAllow>,
        secret_ids: &[String],
    ) -> Option<PluginCall> {
        let source = match plugin_source(&plugin.value) {
            Ok(source) => Some(source),
            Err(message) => {
                self.error(
                    Diagnostic::error("plugin-source", message)
                        .with_label("not a plugin reference"),
                    plugin.span,
                );
                None
            }
        };
        let mut values = serde_json::Map::new();
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for (key, value) in with.map(|w| w.value.as_slice()).unwrap_or_default() {
            if let Some(&first) = seen.get(key.value.as_str()) {
                self.duplicate(
                    Diagnostic::warning(
                        "duplicate-key",
                        format!(
                            "`{}` is given twice in `with`; the last one is used",
                            key.value
                        ),
                    ),
                    key.span,
                    first,
                    "first given here",
                );
            }
            seen.insert(&key.value, key.span);
            values.insert(key.value.clone(), value.value.clone());
        }
        let grants = self.grants(allow, secret_ids);
        Some(PluginCall {
            plugin: plugin.value.trim().to_string(),
            source: source?,
            with: values,
            allow: grants,
        })
    }

    /// The `allow:` block, checked entry by entry.
    fn grants(&mut self, allow: Option<&RawAllow>, secret_ids: &[String]) -> Grants {
        let Some(allow) = allow else {
            return Grants::default();
        };
        let http = self.grant_list(allow.http.as_ref(), |e| {
            if is_host_port(e) {
                Ok(())
            } else {
                Err("an http grant is host:port, e.g. 127.0.0.1:9000 or hooks.slack.com:443".into())
            }
        });
        let env = self.grant_list(allow.env.as_ref(), |e| {
            if is_env_name(e) {
                Ok(())
            } else {
                Err("an env grant is a variable name: letters, digits and '_'".into())
            }
        });
        let read = self.grant_list(allow.read.as_ref(), |e| {
            let escapes = e.split(['/', '\\']).any(|part| part == "..");
            if e.is_empty() || e.starts_with('/') || escapes {
                Err(
                    "a read grant is a path inside the context, relative to it, without '..'"
                        .into(),
                )
            } else {
                Ok(())
            }
        });
        let secrets = self.grant_list(allow.secrets.as_ref(), |e| {
            if secret_ids.iter().any(|s| s == e) {
                Ok(())
            } else if secret_ids.is_empty() {
                Err("the task declares no secrets: declare it under the top-level `secrets:` (locally, pass its value with --secret)".into())
            } else {
                Err(format!(
                    "no task secret has this id; declared secrets: {}",
                    secret_ids.join(", ")
                ))
            }
        });
        Grants {
            http,
            env,
            read,
            secrets,
        }
    }

    /// The entries of one grant list that `check` accepts, each once; the others are
    /// reported with `check`'s help.
    fn grant_list(
        &mut self,
        list: Option<&SpannedList<String>>,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for entry in list.map(|l| l.value.as_slice()).unwrap_or_default() {
            match check(&entry.value) {
                Ok(()) if out.contains(&entry.value) => {}
                Ok(()) => out.push(entry.value.clone()),
                Err(help) => self.error(
                    Diagnostic::error(
                        "allow",
                        format!("`{}` is not a grant wharf understands", entry.value),
                    )
                    .with_help(help),
                    entry.span,
                ),
            }
        }
        out
    }

    /// The step's `cache` setting, checked; it applies to build steps only.
    fn cache(&mut self, step: &RawStep, is_build: bool) -> Option<Cache> {
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
        } else if !is_build {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn plugin_sources() {
        assert_eq!(
            plugin_source("semver-tagger"),
            Ok(PluginSource::Name("semver-tagger".into()))
        );
        assert_eq!(
            plugin_source("./p.wasm"),
            Ok(PluginSource::Path("./p.wasm".into()))
        );
        assert_eq!(
            plugin_source("plugins/p.wasm"),
            Ok(PluginSource::Path("plugins/p.wasm".into()))
        );
        assert_eq!(
            plugin_source("oci://reg.io/plugins/tagger:1"),
            Ok(PluginSource::Oci("reg.io/plugins/tagger:1".into()))
        );
        let digest = format!("oci://localhost:5000/p@sha256:{}", "a".repeat(64));
        assert!(matches!(plugin_source(&digest), Ok(PluginSource::Oci(_))));
        for bad in [
            "oci://reg.io/plugins/tagger",
            "oci://localhost:5000/p",
            "oci://tagger:1",
            "oci://reg.io/p@sha256:abc",
            "https://x/p.wasm",
            "Semver Tagger",
        ] {
            assert!(plugin_source(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn http_grants_are_host_and_port() {
        for good in [
            "127.0.0.1:9000",
            "hooks.slack.com:443",
            "[::1]:8080",
            "localhost:1",
        ] {
            assert!(is_host_port(good), "{good}");
        }
        for bad in [
            "127.0.0.1",
            "http://x:80",
            "x:0",
            "x:99999",
            ":80",
            "::1:80",
        ] {
            assert!(!is_host_port(bad), "{bad}");
        }
    }
}
