//! Load-time checks of `$(steps.<id>.outputs.<name>)` references: the step must
//! exist and be one the referring step waits for (directly or through others), and
//! a step of a built-in kind must have the output named. Plugins declare their
//! outputs only when they run, so those are checked then.

use std::collections::{HashMap, HashSet};

use super::Resolver;
use crate::decode::{RawStep, RawTask, Spanned};
use crate::diagnostic::Diagnostic;
use crate::outputs::references;
use crate::source::Span;
use crate::task::{Notify, Step};

/// The texts of a raw step or notify entry that may hold references, with places.
fn texts(
    env: Option<&Spanned<Vec<Spanned<String>>>>,
    with: Option<&crate::decode::SpannedAnyMap>,
) -> Vec<(String, Span)> {
    let mut out = Vec::new();
    for e in env.map(|l| l.value.as_slice()).unwrap_or_default() {
        out.push((e.value.clone(), e.span));
    }
    fn walk(v: &serde_json::Value, span: Span, out: &mut Vec<(String, Span)>) {
        match v {
            serde_json::Value::String(s) => out.push((s.clone(), span)),
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, span, out)),
            serde_json::Value::Object(map) => map.values().for_each(|i| walk(i, span, out)),
            _ => {}
        }
    }
    for (_, v) in with.map(|w| w.value.as_slice()).unwrap_or_default() {
        walk(&v.value, v.span, &mut out);
    }
    out
}

fn step_texts(raw: &RawStep) -> Vec<(String, Span)> {
    let mut out = texts(raw.env.as_ref(), raw.with.as_ref());
    for s in [raw.cmd.as_ref(), raw.build.as_ref(), raw.helm.as_ref()]
        .into_iter()
        .flatten()
    {
        out.push((s.value.clone(), s.span));
    }
    for p in raw.sign.iter().flat_map(|s| s.value.iter()) {
        out.push((p.value.clone(), p.span));
    }
    for p in raw
        .push
        .as_ref()
        .map(|l| l.value.as_slice())
        .unwrap_or_default()
    {
        out.push((p.value.clone(), p.span));
    }
    out
}

/// The ids `step` waits for, directly or through the steps it waits for.
fn ancestors<'a>(step: &'a Step, by_id: &HashMap<&str, &'a Step>) -> HashSet<&'a str> {
    let mut seen = HashSet::new();
    let mut todo: Vec<&str> = step.depends_on.iter().map(String::as_str).collect();
    while let Some(id) = todo.pop() {
        if seen.insert(id)
            && let Some(s) = by_id.get(id)
        {
            todo.extend(s.depends_on.iter().map(String::as_str));
        }
    }
    seen
}

impl Resolver<'_> {
    /// Checks every output reference of the steps and notify entries.
    pub(super) fn output_references(&mut self, raw: &RawTask, steps: &[Step], notify: &[Notify]) {
        let by_id: HashMap<&str, &Step> = steps.iter().map(|s| (s.id.as_str(), s)).collect();
        for step in steps {
            let Some(raw_step) = raw.steps.iter().find(|r| r.span == step.span) else {
                continue;
            };
            let waits_for = ancestors(step, &by_id);
            for (text, span) in step_texts(raw_step) {
                for (r, _) in references(&text) {
                    self.check_reference(&step.id, r.step, r.name, span, &by_id, Some(&waits_for));
                }
            }
        }
        for entry in notify {
            let Some(raw_entry) = raw.notify.iter().find(|r| r.span == entry.step.span) else {
                continue;
            };
            for (text, span) in texts(None, raw_entry.with.as_ref()) {
                for (r, _) in references(&text) {
                    self.check_reference(&entry.step.id, r.step, r.name, span, &by_id, None);
                }
            }
        }
    }

    /// One reference from step `from` (`waits_for`: its ancestors; `None` for a
    /// notification, which runs after every step).
    fn check_reference(
        &mut self,
        from: &str,
        step: &str,
        name: &str,
        span: Span,
        by_id: &HashMap<&str, &Step>,
        waits_for: Option<&HashSet<&str>>,
    ) {
        let reference = format!("$(steps.{step}.outputs.{name})");
        let Some(target) = by_id.get(step) else {
            let mut d = Diagnostic::error(
                "output-ref",
                format!("`{reference}` names step `{step}`, which does not exist"),
            );
            if let Some(similar) = super::graph::closest(step, by_id.keys().copied()) {
                d = d.with_help(format!("did you mean `{similar}`?"));
            }
            self.error(d, span);
            return;
        };
        if let Some(waits_for) = waits_for
            && !waits_for.contains(step)
        {
            self.error(
                Diagnostic::error(
                    "output-ref",
                    format!(
                        "step `{from}` uses `{reference}`, but does not wait for step `{step}`"
                    ),
                )
                .with_help(format!(
                    "add `{step}` to the `when:` of `{from}` (or of a step it waits for)"
                )),
                span,
            );
            return;
        }
        let def = target.action.kind().def();
        if let Some(known) = def.outputs
            && !known.iter().any(|o| o.name == name)
        {
            let names: Vec<&str> = known.iter().map(|o| o.name).collect();
            let help = if names.is_empty() {
                format!("{} steps give no outputs", def.key)
            } else {
                format!("{} steps give: {}", def.key, names.join(", "))
            };
            self.error(
                Diagnostic::error(
                    "output-ref",
                    format!("`{reference}`: step `{step}` has no output `{name}`"),
                )
                .with_help(help),
                span,
            );
        }
    }
}
