//! What `az acr run` would do differently with a file wharf accepts
//! (`wharf validate --acr`).
//!
//! wharf mirrors ACR, but fixes a few of its bugs and accepts a few things ACR
//! cannot do in the cloud; each such place is listed here so a file can be kept
//! portable.

use crate::build_command::{BOOL_FLAGS, BuildCommand, split_flag};
use crate::decode::{RawStep, RawTask};
use crate::diagnostic::{Diagnostic, Diagnostics, Location};
use crate::load::Loaded;
use crate::source::Span;
use crate::task::{Action, Cache, WORKSPACE};

/// ACR caps a whole run at this many seconds unless the task sets `--timeout`.
const ACR_RUN_TIMEOUT: u64 = 3600;

/// Whether the compatibility list restates warnings of this code in ACR's terms
/// (so `validate --acr` need not print the warning itself as well).
pub fn restated(code: &str) -> bool {
    matches!(code, "sprig-v3" | "unknown-key" | "when-duplicate")
}

/// Lists the places where `az acr run` would refuse, hang, or behave differently.
pub fn acr_compatibility(loaded: &Loaded) -> Diagnostics {
    acr_compatibility_with(loaded, &|_| None)
}

/// [`acr_compatibility`], also looking into the Dockerfiles of local build steps:
/// `read_dockerfile` gets a path relative to the build context (`app/Dockerfile`)
/// and returns its text when there is such a file.
pub fn acr_compatibility_with(
    loaded: &Loaded,
    read_dockerfile: &dyn Fn(&str) -> Option<String>,
) -> Diagnostics {
    let mut out = Diagnostics::new();
    let file = loaded.task_file;
    let raw: &RawTask = &loaded.raw;
    for d in &loaded.warnings {
        match d.code {
            "sprig-v3" => out.push(
                Diagnostic::warning("acr-sprig-v3", d.message.clone()).at_opt(d.location),
            ),
            "unknown-key" => out.push(
                Diagnostic::warning("acr-ignored-key", d.message.clone())
                    .at_opt(d.location)
                    .with_help(match &d.help {
                        Some(help) => format!("{help} (az acr run silently ignores it)"),
                        None => "az acr run silently ignores it".to_string(),
                    }),
            ),
            "when-duplicate" => out.push(
                Diagnostic::warning(
                    "acr-when-duplicate",
                    "this id is listed twice in `when`: az acr run counts it twice, never starts the step, and the run hangs",
                )
                .at_opt(d.location)
                .with_help("list each id once"),
            ),
            _ => {}
        }
    }
    for d in &loaded.acr_differences {
        out.push(d.clone());
    }
    if let Some(span) = long_line(loaded.sources.get(file).text()) {
        let message = if loaded.aliases_enabled {
            "this line is 64 KiB or longer: ACR's line scanner stops here, so az acr run drops it and the rest of the file".to_string()
        } else {
            "this line is 64 KiB or longer: ACR's version scanner stops here, so a `version:` after it is not found and aliases stay off".to_string()
        };
        out.push(
            Diagnostic::warning("acr-long-line", message)
                .at(file, span)
                .with_help("split the value over several lines (a YAML block scalar), or keep it in a values file"),
        );
    }
    if let Some(span) = raw.notify_span {
        out.push(
            Diagnostic::warning(
                "acr-extension",
                "`notify:` is a wharf extension: az acr run ignores it, so these notifications do not run there",
            )
            .at(file, span)
            .with_help("on ACR, notify from a cmd step or with ACR webhooks"),
        );
    }
    for raw_step in &raw.steps {
        for (property, span) in raw_step.keys.iter().filter(|(p, _)| p.extension) {
            let is_kind = crate::kinds::KINDS
                .iter()
                .any(|k| !k.acr && k.key == property.key);
            let message = if is_kind {
                format!(
                    "`{}:` is a wharf extension: az acr run refuses this step (step is missing a {} property)",
                    property.key,
                    crate::kinds::acr_kind_list()
                )
            } else {
                format!(
                    "`{}:` is a wharf extension that az acr run ignores",
                    property.key
                )
            };
            out.push(Diagnostic::warning("acr-extension", message).at(file, *span));
        }
    }
    // Each env value that reaches ACR's shell, once per place it is written.
    let mut quoting_flagged: Vec<(Option<Span>, &str)> = Vec::new();
    for (raw_step, step) in raw.steps.iter().zip(&loaded.task.steps) {
        for entry in &step.env {
            let (key, value) = entry.split_once('=').unwrap_or((entry, ""));
            if !value
                .chars()
                .any(|c| c.is_whitespace() || "'\"$`\\;&|<>()*?#~".contains(c))
            {
                continue;
            }
            let at = env_origin(raw, raw_step, entry);
            if quoting_flagged.contains(&(at, entry)) {
                continue;
            }
            quoting_flagged.push((at, entry));
            let message = match at {
                Some(_) => "az acr run passes env values to a shell unquoted, so this value is split or expanded there".to_string(),
                None => format!("az acr run passes env values to a shell unquoted, so the value of --env {key} is split or expanded there"),
            };
            out.push(
                Diagnostic::warning("acr-env-quoting", message)
                    .at_opt(at.map(|span| Location { file, span }))
                    .with_help("wharf passes it exactly; for ACR avoid spaces and shell characters in env values"),
            );
        }
        // A cmd step's is an error already (`docker_refuses`).
        if !is_container_name(&step.id) && !matches!(step.action, Action::Cmd { .. }) {
            out.push(
                Diagnostic::warning(
                    "acr-container-name",
                    format!("step id `{}` is not a valid container name: ACR names the container after it and docker refuses", step.id),
                )
                .at(file, raw_step.id.as_ref().map_or(raw_step.span, |i| i.span))
                .with_help("use at least two characters from letters, digits, '_', '.' and '-', starting with a letter or digit"),
            );
        }
        if step.timeout > ACR_RUN_TIMEOUT {
            out.push(
                Diagnostic::warning(
                    "acr-run-timeout",
                    format!("ACR stops the whole run after {ACR_RUN_TIMEOUT} s unless the task is created with a longer --timeout; this step may take {} s", step.timeout),
                )
                .at(file, raw_step.timeout.as_ref().map_or(raw_step.span, |t| t.span)),
            );
        }
        if let (
            Action::Build {
                build,
                cache,
                container,
                ..
            },
            Some(b),
        ) = (&step.action, &raw_step.build)
            && let Ok(parsed) = BuildCommand::parse(build)
        {
            let at = Location { file, span: b.span };
            let cache_enabled = *cache == Some(Cache::Enabled);
            // acr-builder `graph/step.go`: BuildKit only with exactly DOCKER_BUILDKIT=1
            // in the env, or with `cache: enabled` (buildx); else it adds DOCKER_BUILDKIT=0.
            let acr_buildkit = cache_enabled || step.env.iter().any(|e| e == "DOCKER_BUILDKIT=1");
            if !acr_buildkit {
                let flags: Vec<&str> = [
                    ("--secret", !parsed.secrets.is_empty()),
                    ("--ssh", !parsed.ssh.is_empty()),
                    ("--cache-to", !parsed.cache_to.is_empty()),
                ]
                .into_iter()
                .filter_map(|(flag, used)| used.then_some(flag))
                .collect();
                if !flags.is_empty() {
                    out.push(
                        Diagnostic::warning(
                            "acr-classic-builder",
                            format!(
                                "az acr run builds this step with the classic builder (it adds DOCKER_BUILDKIT=0 unless the step's env has DOCKER_BUILDKIT=1), where {} {} unknown and the step fails; wharf builds it with BuildKit",
                                flags.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", "),
                                if flags.len() == 1 { "is" } else { "are" }
                            ),
                        )
                        .at_opt(Some(at))
                        .with_help("add DOCKER_BUILDKIT=1 to the step's env to build with BuildKit on both"),
                    );
                } else if !is_remote_context(&parsed.context) {
                    let path = dockerfile_path(&container.working_directory, &parsed);
                    if let Some((feature, line)) = path
                        .as_deref()
                        .and_then(read_dockerfile)
                        .and_then(|text| buildkit_feature(&text))
                    {
                        out.push(
                            Diagnostic::warning(
                                "acr-classic-builder",
                                format!(
                                    "the Dockerfile {} uses `{feature}` (line {line}), which needs BuildKit: az acr run builds this step with the classic builder (it adds DOCKER_BUILDKIT=0 unless the step's env has DOCKER_BUILDKIT=1), which refuses it; wharf builds it with BuildKit",
                                    path.unwrap_or_default()
                                ),
                            )
                            .at_opt(Some(at))
                            .with_help("add DOCKER_BUILDKIT=1 to the step's env to build with BuildKit on both"),
                        );
                    }
                }
            }
            if cache_enabled && !parsed.tags.is_empty() {
                out.push(
                    Diagnostic::warning(
                        "acr-build-cache",
                        "cache: enabled: az acr run builds with buildx in a BuildKit container of its own (which does not see images built by earlier steps) and exports a registry cache (mode=max) to <repository>:cache_<task>_<step id>; wharf builds with the Docker engine's BuildKit, which can only write an inline cache, and pushes the image to that tag (the final stage's layers: mode=min)",
                    )
                    .at_opt(Some(at)),
                );
            }
            if !parsed.ssh.is_empty() {
                out.push(
                    Diagnostic::warning(
                        "acr-ssh",
                        "`--ssh` forwards the ssh-agent of the machine wharf runs on; ACR's builder container has none, so the step fails there",
                    )
                    .at_opt(Some(at))
                    .with_help("on ACR, give the build a key with --secret instead"),
                );
            }
            if parsed.context.starts_with('/') || parsed.context.starts_with("..") {
                out.push(
                    Diagnostic::warning(
                        "acr-context-outside",
                        format!("the build context `{}` is outside the uploaded source, which is all ACR has", parsed.context),
                    )
                    .at(file, b.span),
                );
            }
            if parsed.context != "."
                && let Some(flag) = context_hidden_by_flag(build)
            {
                out.push(
                    Diagnostic::warning(
                        "acr-context-after-flag",
                        format!("ACR's build parser takes the word after `{flag}` as that flag's value, so it misses the context `{}` and scans `.` instead", parsed.context),
                    )
                    .at(file, b.span)
                    .with_help("put the context after a flag that takes a value, or last after -t/-f"),
                );
            }
        }
        for (key, list) in [
            ("exitedWith", &raw_step.exited_with),
            ("exitedWithout", &raw_step.exited_without),
        ] {
            if let Some(list) = list {
                out.push(
                    Diagnostic::warning(
                        "acr-inert-key",
                        format!("`{key}` is parsed by ACR but has no effect"),
                    )
                    .at(file, list.span),
                );
            }
        }
    }
    out.sort();
    out
}

/// The longest a line may be for Go's `bufio.Scanner` (its default maximum token
/// size, `bufio.MaxScanTokenSize`, counts the line break too).
const SCANNER_MAX_LINE: usize = 64 * 1024;

/// The first line too long for ACR's line scanners, if any.
fn long_line(text: &str) -> Option<Span> {
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        if body.len() + 1 >= SCANNER_MAX_LINE {
            return Some(Span::new(start, start + body.len().min(1)));
        }
        start += line.len();
    }
    None
}

/// Where an env entry of a step comes from: the step's own `env`, the task's
/// (whose entries ACR splits on commas), or `--env` (`None`).
fn env_origin(raw: &RawTask, step: &RawStep, entry: &str) -> Option<Span> {
    let own = step.env.iter().flat_map(|l| &l.value);
    if let Some(e) = own.into_iter().find(|e| e.value == entry) {
        return Some(e.span);
    }
    raw.env
        .iter()
        .flat_map(|l| &l.value)
        .find(|e| e.value.split(',').any(|part| part == entry))
        .map(|e| e.span)
}

/// Whether a build context is fetched by the engine (a Git or http(s) URL).
fn is_remote_context(context: &str) -> bool {
    ["http://", "https://", "git://", "git@", "github.com/"]
        .iter()
        .any(|p| context.starts_with(p))
}

/// The Dockerfile of a local build, relative to the build context directory (what
/// `/workspace` holds); `None` when it is outside.
fn dockerfile_path(workdir: &str, build: &BuildCommand) -> Option<String> {
    let in_container = |path: &str| {
        if path.starts_with('/') {
            path.to_string()
        } else {
            format!("{workdir}/{path}")
        }
    };
    let path = match &build.dockerfile {
        Some(file) => in_container(file),
        None => format!("{}/Dockerfile", in_container(&build.context)),
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in path.strip_prefix(WORKSPACE)?.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// The first Dockerfile instruction flag that only BuildKit takes, and its line:
/// `RUN --mount`, `RUN --network`, `RUN --security`, `COPY`/`ADD --chmod` and
/// `--link`.
fn buildkit_feature(dockerfile: &str) -> Option<(String, usize)> {
    // Instructions with their continuation lines joined, and their first line.
    let mut instructions: Vec<(String, usize)> = Vec::new();
    let mut open = false;
    for (n, line) in dockerfile.lines().enumerate() {
        let text = line.trim();
        // Comments (also between continuation lines) and empty lines are not part of
        // an instruction.
        if text.starts_with('#') || text.is_empty() {
            continue;
        }
        let part = text.strip_suffix('\\').unwrap_or(text);
        match instructions.last_mut() {
            Some((joined, _)) if open => {
                joined.push(' ');
                joined.push_str(part);
            }
            _ => instructions.push((part.to_string(), n + 1)),
        }
        open = text.ends_with('\\');
    }
    for (text, line) in instructions {
        let mut words = text.split_whitespace();
        let Some(instruction) = words.next().map(str::to_ascii_uppercase) else {
            continue;
        };
        let only_buildkit: &[&str] = match instruction.as_str() {
            "RUN" => &["--mount", "--network", "--security"],
            "COPY" | "ADD" => &["--chmod", "--link"],
            _ => continue,
        };
        for word in words.take_while(|w| w.starts_with("--")) {
            let flag = word.split('=').next().unwrap_or(word);
            if only_buildkit.contains(&flag) {
                return Some((format!("{instruction} {flag}"), line));
            }
        }
    }
    None
}

/// ACR's parser takes as the context the last word that is neither a flag nor
/// right after a flag. A context that docker finds right after a flag that takes no
/// separate value (a boolean flag, or `--flag=value`) is missed; returns that flag.
fn context_hidden_by_flag(build: &str) -> Option<&str> {
    let words: Vec<&str> = build.split_whitespace().collect();
    let [.., before, last] = words.as_slice() else {
        return None;
    };
    if last.starts_with('-') || !before.starts_with('-') {
        return None;
    }
    let (flag, inline) = split_flag(before);
    (inline.is_some() || BOOL_FLAGS.contains(&flag.as_str())).then_some(*before)
}

/// What a Docker engine refuses in a file the task language accepts (acr-builder
/// loads it and fails when the step starts, in ACR as here): a cmd step whose id
/// cannot name its container, which is also its network alias. Errors, for
/// `wharf validate` and for `wharf run` before any step starts.
pub fn docker_refuses(loaded: &Loaded) -> Diagnostics {
    let mut out = Diagnostics::new();
    for (raw_step, step) in loaded.raw.steps.iter().zip(&loaded.task.steps) {
        if matches!(step.action, Action::Cmd { .. }) && !is_container_name(&step.id) {
            out.push(
                Diagnostic::error(
                    "step-id",
                    format!(
                        "docker refuses `{}` as a container name, and a cmd step's container is named after its id, which is also its network alias (as in ACR)",
                        step.id
                    ),
                )
                .with_label("not a container name")
                .at(loaded.task_file, raw_step.id.as_ref().map_or(raw_step.span, |i| i.span))
                .with_help(format!(
                    "use at least two characters from letters, digits, '_', '.' and '-', starting with a letter or digit, e.g. `id: {}`",
                    container_name_like(&step.id)
                )),
            );
        }
    }
    out
}

/// Docker's container name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn is_container_name(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `text` made safe for a Docker object name (`[a-zA-Z0-9_.-]`, others become
/// `_`; empty becomes `x`).
pub fn docker_name_part(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() {
        out.push('x');
    }
    out
}

/// A valid container name close to `id`, to suggest as a step id: other
/// characters become `_`, and `step-` goes in front when that is not enough.
pub fn container_name_like(id: &str) -> String {
    let part = docker_name_part(id);
    if is_container_name(&part) {
        part
    } else {
        format!("step-{part}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_too_long_for_acrs_scanner() {
        let ok = format!("a: {}\n", "x".repeat(SCANNER_MAX_LINE - 5));
        assert_eq!(long_line(&ok), None);
        let long = format!("b: 1\na: {}\n", "x".repeat(SCANNER_MAX_LINE));
        assert_eq!(long_line(&long), Some(Span::new(5, 6)));
    }

    #[test]
    fn container_names() {
        assert!(is_container_name("build-1.x_y"));
        assert!(!is_container_name("C"));
        assert!(!is_container_name("-x"));
        assert!(!is_container_name("a/b"));
        assert!(!is_container_name(""));
        assert!(!is_container_name("caf\u{e9}"));
        assert_eq!(container_name_like("x"), "step-x");
        assert_eq!(container_name_like("web/api"), "web_api");
        assert_eq!(container_name_like("_x"), "step-_x");
    }

    #[test]
    fn context_after_a_flag_without_separate_value() {
        assert_eq!(
            context_hidden_by_flag("-t a --no-cache ."),
            Some("--no-cache")
        );
        // Every boolean flag docker build knows, and inline values.
        assert_eq!(
            context_hidden_by_flag("--disable-content-trust ctx"),
            Some("--disable-content-trust")
        );
        assert_eq!(context_hidden_by_flag("--load ctx"), Some("--load"));
        assert_eq!(context_hidden_by_flag("--tag=app ctx"), Some("--tag=app"));
        assert_eq!(context_hidden_by_flag("--no-cache -t a ."), None);
        assert_eq!(context_hidden_by_flag("ctx"), None);
    }

    fn findings(text: &str) -> Vec<String> {
        let mut options = crate::LoadOptions::default();
        options.defaults.env = vec!["CLI=a b".into()];
        let files = crate::LocalFiles { base: ".".into() };
        let loaded = crate::load(
            "acb.yaml",
            text,
            &options,
            &files,
            &mut crate::masked_secrets,
        );
        let Ok(loaded) = loaded else {
            panic!("{:?}", loaded.err().map(|f| f.diagnostics))
        };
        acr_compatibility(&loaded)
            .iter()
            .map(|d| d.short(&loaded.sources))
            .collect()
    }

    #[test]
    fn env_quoting_is_checked_on_what_reaches_each_step() {
        let text = "env: [\"T=task value\", OK=1]\nsteps:\n  - id: one\n    cmd: busybox env\n    env: [\"S=step value\"]\n  - id: two\n    cmd: busybox env\n  - id: three\n    cmd: busybox env\n    env: [\"T=own\"]\n";
        assert_eq!(
            findings(text),
            [
                "warning[acr-env-quoting]: az acr run passes env values to a shell unquoted, so the value of --env CLI is split or expanded there",
                "acb.yaml:1:7: warning[acr-env-quoting]: az acr run passes env values to a shell unquoted, so this value is split or expanded there",
                "acb.yaml:5:11: warning[acr-env-quoting]: az acr run passes env values to a shell unquoted, so this value is split or expanded there",
            ]
        );
    }

    #[test]
    fn a_missed_context_is_flagged_unless_it_is_the_default() {
        let found = findings("steps:\n  - build: -t a --load ctx\n  - build: -t b --no-cache .\n");
        let missed: Vec<&String> = found
            .iter()
            .filter(|f| f.contains("acr-context-after-flag"))
            .collect();
        assert_eq!(missed.len(), 1, "{found:?}");
        assert!(missed[0].starts_with("acb.yaml:2:12:"), "{found:?}");
        assert!(missed[0].contains("after `--load`"), "{found:?}");
    }

    #[test]
    fn buildkit_only_dockerfile_syntax() {
        let df = "# syntax is fine\nFROM a AS b\nRUN echo \\\n  --mount=type=cache x\nrun --network=none true\nCOPY --chmod=644 a b\n";
        assert_eq!(buildkit_feature(df), Some(("RUN --network".into(), 5)));
        assert_eq!(
            buildkit_feature("FROM a\nRUN --mount=type=secret,id=x cat /run/secrets/x\n"),
            Some(("RUN --mount".into(), 2))
        );
        assert_eq!(
            buildkit_feature("FROM a\nCOPY --from=b --link /a /a\n"),
            Some(("COPY --link".into(), 2))
        );
        assert_eq!(
            buildkit_feature("FROM a\nCOPY --from=b /a /a\nRUN make\n"),
            None
        );
        assert_eq!(
            buildkit_feature("FROM a\nRUN \\\n  # a comment\n  --mount=type=ssh git pull\n"),
            Some(("RUN --mount".into(), 2))
        );
    }

    #[test]
    fn dockerfiles_are_found_as_docker_build_finds_them() {
        let path = |workdir: &str, args: &str| {
            dockerfile_path(workdir, &BuildCommand::parse(args).unwrap_or_default())
        };
        assert_eq!(path("/workspace", "."), Some("Dockerfile".into()));
        assert_eq!(
            path("/workspace/app", "-f ../ci/Df ."),
            Some("ci/Df".into())
        );
        assert_eq!(path("/workspace", "src"), Some("src/Dockerfile".into()));
        assert_eq!(path("/workspace", "-f /etc/Df ."), None);
    }

    fn findings_with(text: &str, dockerfile: &str) -> Vec<String> {
        let options = crate::LoadOptions::default();
        let files = crate::LocalFiles { base: ".".into() };
        let loaded = crate::load(
            "acb.yaml",
            text,
            &options,
            &files,
            &mut crate::masked_secrets,
        );
        let Ok(loaded) = loaded else {
            panic!("{:?}", loaded.err().map(|f| f.diagnostics))
        };
        let dockerfile = dockerfile.to_string();
        acr_compatibility_with(&loaded, &move |path: &str| {
            (path == "app/Dockerfile").then(|| dockerfile.clone())
        })
        .iter()
        .map(|d| d.short(&loaded.sources))
        .collect()
    }

    #[test]
    fn builds_that_need_buildkit_on_acr_are_flagged_unless_it_is_asked_for() {
        let mount = "FROM a\nRUN --mount=type=cache,target=/c make\n";
        let found = findings_with("steps:\n  - build: -t a app\n", mount);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("acb.yaml:2:12: warning[acr-classic-builder]: the Dockerfile app/Dockerfile uses `RUN --mount` (line 2)"),
            "{found:?}"
        );
        // Asked for on ACR: the same builder on both.
        let asked = "steps:\n  - build: -t a app\n    env: [DOCKER_BUILDKIT=1]\n";
        assert!(findings_with(asked, mount).is_empty());
        assert!(findings_with("steps:\n  - build: -t a app\n", "FROM a\nRUN make\n").is_empty());

        let secret = findings_with(
            "steps:\n  - build: --secret id=t,env=T --ssh default app\n",
            "",
        );
        assert!(
            secret
                .iter()
                .any(|f| f.contains("where `--secret`, `--ssh` are unknown and the step fails")),
            "{secret:?}"
        );
        assert!(
            secret.iter().any(|f| f.contains("warning[acr-ssh]")),
            "{secret:?}"
        );

        let cached = findings_with(
            "steps:\n  - build: -t r.io/a --secret id=t,env=T app\n    cache: enabled\n",
            "",
        );
        assert_eq!(
            cached.len(),
            1,
            "buildx builds it with BuildKit on ACR: {cached:?}"
        );
        assert!(
            cached[0].contains("warning[acr-build-cache]") && cached[0].contains("inline cache")
        );
    }

    #[test]
    fn duplicate_when_comes_from_the_loader() {
        let text = "steps:\n  - id: ab\n    cmd: busybox true\n  - id: cd\n    cmd: busybox true\n    when: [ab, ab]\n";
        let found = findings(text);
        assert!(
            found
                .iter()
                .any(|f| f.starts_with("acb.yaml:6:16: warning[acr-when-duplicate]")),
            "{found:?}"
        );
    }
}
