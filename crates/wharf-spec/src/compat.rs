//! What `az acr run` would do differently with a file wharf accepts
//! (`wharf validate --acr`).
//!
//! wharf mirrors ACR, but fixes a few of its bugs and accepts a few things ACR
//! cannot do in the cloud; each such place is listed here so a file can be kept
//! portable.

use crate::decode::RawTask;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::load::Loaded;
use crate::task::Action;

/// ACR caps a whole run at this many seconds unless the task sets `--timeout`.
const ACR_RUN_TIMEOUT: u64 = 3600;

/// Lists the places where `az acr run` would refuse, hang, or behave differently.
pub fn acr_compatibility(loaded: &Loaded) -> Diagnostics {
    let mut out = Diagnostics::new();
    let file = loaded.task_file;
    let raw: &RawTask = &loaded.raw;
    for d in &loaded.warnings {
        if d.code == "sprig-v3" {
            out.push(Diagnostic::warning("acr-sprig-v3", d.message.clone()).at_opt(d.location));
        }
        if d.code == "unknown-key" {
            out.push(
                Diagnostic::warning("acr-ignored-key", d.message.clone())
                    .at_opt(d.location)
                    .with_help("az acr run silently ignores it"),
            );
        }
    }
    for (raw_step, step) in raw.steps.iter().zip(&loaded.task.steps) {
        if let Some(when) = &raw_step.when {
            let mut seen: Vec<&str> = Vec::new();
            for w in &when.value {
                if seen.contains(&w.value.as_str()) {
                    out.push(
                        Diagnostic::warning(
                            "acr-when-duplicate",
                            format!("`{}` is listed twice in `when`: az acr run never starts this step and the run hangs", w.value),
                        )
                        .at(file, w.span),
                    );
                }
                seen.push(&w.value);
            }
        }
        if let Some(env) = &raw_step.env {
            for e in &env.value {
                let value = e.value.split_once('=').map_or("", |(_, v)| v);
                if value
                    .chars()
                    .any(|c| c.is_whitespace() || "'\"$`\\;&|<>()*?#~".contains(c))
                {
                    out.push(
                        Diagnostic::warning(
                            "acr-env-quoting",
                            "az acr run passes env values to a shell unquoted, so this value is split or expanded there",
                        )
                        .at(file, e.span)
                        .with_help("wharf passes it exactly; for ACR avoid spaces and shell characters in env values"),
                    );
                }
            }
        }
        if !is_container_name(&step.id) {
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
        if let (Action::Build { build, .. }, Some(b)) = (&step.action, &raw_step.build)
            && let Ok(parsed) = crate::build_command::BuildCommand::parse(build)
        {
            if parsed.context.starts_with('/') || parsed.context.starts_with("..") {
                out.push(
                    Diagnostic::warning(
                        "acr-context-outside",
                        format!("the build context `{}` is outside the uploaded source, which is all ACR has", parsed.context),
                    )
                    .at(file, b.span),
                );
            }
            if context_hidden_by_flag(build) {
                out.push(
                    Diagnostic::warning(
                        "acr-context-after-flag",
                        "ACR's build parser takes a context right after a boolean flag as the flag's value and scans `.` instead",
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

/// ACR's parser: the context is the last word that is neither a flag nor right after a flag.
fn context_hidden_by_flag(build: &str) -> bool {
    let words: Vec<&str> = build.split_whitespace().collect();
    let Some(last) = words.last() else {
        return false;
    };
    words.len() >= 2
        && !last.starts_with('-')
        && words[words.len() - 2].starts_with('-')
        && matches!(
            words[words.len() - 2],
            "--no-cache"
                | "--pull"
                | "-q"
                | "--quiet"
                | "--rm"
                | "--force-rm"
                | "--squash"
                | "--compress"
        )
}

/// Docker's container name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn is_container_name(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names() {
        assert!(is_container_name("build-1.x_y"));
        assert!(!is_container_name("C"));
        assert!(!is_container_name("-x"));
        assert!(!is_container_name("a/b"));
    }

    #[test]
    fn context_after_boolean_flag() {
        assert!(context_hidden_by_flag("-t a --no-cache ."));
        assert!(!context_hidden_by_flag("--no-cache -t a ."));
    }
}
