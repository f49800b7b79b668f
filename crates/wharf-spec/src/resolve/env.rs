//! Environment merging: ACR's `mergeEnvs`, for the task (with `--env`) and for each
//! step (with the task's).

use super::Resolver;
use crate::decode::{RawStep, RawTask, Spanned};
use crate::diagnostic::Diagnostic;
use crate::resolve::TaskDefaults;
use crate::source::Span;
use std::collections::BTreeSet;

/// One environment entry and where it is written (`None`: `--env`).
#[derive(Clone, Debug)]
pub(super) struct EnvEntry {
    pub(super) text: String,
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

impl Resolver<'_> {
    /// Merges the command line's `--env` defaults into the task's env: ACR's
    /// `mergeEnvs(task, --env)`.
    pub(super) fn task_env(&mut self, raw: &RawTask, defaults: &TaskDefaults) -> Vec<EnvEntry> {
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
    pub(super) fn step_env(
        &mut self,
        step: &RawStep,
        task_env: &[EnvEntry],
        first: bool,
    ) -> Vec<String> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
