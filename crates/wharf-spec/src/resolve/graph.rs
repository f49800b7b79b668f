//! The step graph: `when`, its rules, and each step's dependencies.

use std::collections::HashMap;

use super::Resolver;
use crate::decode::RawStep;
use crate::diagnostic::Diagnostic;
use crate::kinds::StepKind;
use crate::source::Span;
use crate::task::{IMMEDIATE, ROOT_ID};

pub(super) fn closest<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(s, _)| *s >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

impl Resolver<'_> {
    pub(super) fn step_rules(&mut self, step: &RawStep, id: &str, kind: Option<StepKind>) {
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
        if !step.volume_mounts.is_empty() && kind == Some(StepKind::Push) {
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

    pub(super) fn depends_on(
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
