//! Step outputs and the references later steps make to them,
//! `$(steps.<id>.outputs.<name>)` (a wharf extension).
//!
//! A step's executor returns its outputs (name → a string or a list of strings);
//! when a later step starts, [`bind`] replaces every reference in its `cmd`, `build`,
//! `push`, `env` and `with:` values. In a string a list is joined with spaces; a
//! `push:` entry or a `with:` value that is exactly one reference to a list becomes
//! that list (several images, a JSON array). The loader checks what it can know
//! before the run: that the step exists and is waited for, and that built-in kinds
//! have the output named.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use serde::Serialize;

use crate::build_command::BuildCommand;
use crate::resolve::normalize_push_image;
use crate::task::{Action, HelmCall, Step};

/// One output's value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum OutputValue {
    /// One string.
    String(String),
    /// A list of strings.
    List(Vec<String>),
}

impl OutputValue {
    /// The value in a string: a list joined with spaces.
    pub fn joined(&self) -> String {
        match self {
            OutputValue::String(s) => s.clone(),
            OutputValue::List(items) => items.join(" "),
        }
    }

    /// Every string of the value.
    pub fn items(&self) -> Vec<String> {
        match self {
            OutputValue::String(s) => vec![s.clone()],
            OutputValue::List(items) => items.clone(),
        }
    }
}

/// A step's outputs, by name.
pub type Outputs = BTreeMap<String, OutputValue>;

/// One `$(steps.<id>.outputs.<name>)` in a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputRef<'a> {
    /// The step id.
    pub step: &'a str,
    /// The output name.
    pub name: &'a str,
}

const OPEN: &str = "$(steps.";
const MIDDLE: &str = ".outputs.";

/// Every reference in `text`, with its byte range.
pub fn references(text: &str) -> Vec<(OutputRef<'_>, Range<usize>)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find(OPEN) {
        let start = from + found;
        let body_start = start + OPEN.len();
        let Some(close) = text[body_start..].find(')') else {
            break;
        };
        let body = &text[body_start..body_start + close];
        let end = body_start + close + 1;
        if let Some((step, name)) = body.rsplit_once(MIDDLE)
            && !step.is_empty()
            && !name.is_empty()
            && !step.contains(char::is_whitespace)
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            out.push((OutputRef { step, name }, start..end));
            from = end;
        } else {
            from = body_start;
        }
    }
    out
}

/// The reference `text` is, when it is exactly one reference (spaces around allowed).
fn whole_reference(text: &str) -> Option<OutputRef<'_>> {
    let trimmed = text.trim();
    match references(trimmed).as_slice() {
        [(r, range)] if range.start == 0 && range.end == trimmed.len() => Some(*r),
        _ => None,
    }
}

/// Why a reference could not be bound.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// The step has not finished (it was skipped, or failed with ignoreErrors).
    #[error(
        "`$(steps.{step}.outputs.{name})`: step `{step}` gave no outputs (it was skipped, or did not succeed)"
    )]
    NoOutputs {
        /// The step referred to.
        step: String,
        /// The output named.
        name: String,
    },
    /// The step ran but has no such output.
    #[error("`$(steps.{step}.outputs.{name})`: step `{step}` has no output `{name}`{}", known_list(.known))]
    NoSuchOutput {
        /// The step referred to.
        step: String,
        /// The output named.
        name: String,
        /// The outputs it has.
        known: Vec<String>,
    },
    /// A bound `build:` or `helm:` no longer parses.
    #[error("after binding step outputs, the step's arguments do not parse: {0}")]
    Build(String),
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        "; it gave none".into()
    } else {
        format!("; it gave: {}", known.join(", "))
    }
}

/// Looks up the outputs of a step that finished.
pub trait OutputLookup {
    /// The outputs of `step`, if it has finished and succeeded.
    fn outputs(&self, step: &str) -> Option<&Outputs>;
}

impl OutputLookup for BTreeMap<String, Outputs> {
    fn outputs(&self, step: &str) -> Option<&Outputs> {
        self.get(step)
    }
}

impl OutputLookup for std::collections::HashMap<String, Outputs> {
    fn outputs(&self, step: &str) -> Option<&Outputs> {
        self.get(step)
    }
}

fn value<'o>(lookup: &'o dyn OutputLookup, r: OutputRef<'_>) -> Result<&'o OutputValue, BindError> {
    let outputs = lookup.outputs(r.step).ok_or_else(|| BindError::NoOutputs {
        step: r.step.to_string(),
        name: r.name.to_string(),
    })?;
    outputs.get(r.name).ok_or_else(|| BindError::NoSuchOutput {
        step: r.step.to_string(),
        name: r.name.to_string(),
        known: outputs.keys().cloned().collect(),
    })
}

/// `text` with every reference replaced (lists joined with spaces).
pub fn bind_text(text: &str, lookup: &dyn OutputLookup) -> Result<String, BindError> {
    let refs = references(text);
    if refs.is_empty() {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (r, range) in refs {
        out.push_str(&text[at..range.start]);
        out.push_str(&value(lookup, r)?.joined());
        at = range.end;
    }
    out.push_str(&text[at..]);
    Ok(out)
}

fn bind_json(
    v: &serde_json::Value,
    lookup: &dyn OutputLookup,
) -> Result<serde_json::Value, BindError> {
    use serde_json::Value;
    Ok(match v {
        Value::String(s) => match whole_reference(s) {
            Some(r) => match value(lookup, r)? {
                OutputValue::String(s) => Value::String(s.clone()),
                OutputValue::List(items) => {
                    Value::Array(items.iter().cloned().map(Value::String).collect())
                }
            },
            None => Value::String(bind_text(s, lookup)?),
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| bind_json(i, lookup))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                out.insert(k.clone(), bind_json(v, lookup)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// Whether `step` refers to any output.
pub fn has_references(step: &Step) -> bool {
    let mut any = false;
    visit_texts(step, &mut |t| any |= !references(t).is_empty());
    any
}

/// Calls `f` with every text of `step` that may hold references.
pub fn visit_texts(step: &Step, f: &mut dyn FnMut(&str)) {
    for e in &step.env {
        f(e);
    }
    match &step.action {
        Action::Build { build, .. } => f(build),
        Action::Cmd { cmd, .. } => f(cmd),
        Action::Push { push } => push.iter().for_each(|p| f(p)),
        Action::Helm(call) => f(&call.helm),
        Action::Sign(call) => call.sign.iter().for_each(|p| f(p)),
        Action::Plugin(call) => {
            fn walk(v: &serde_json::Value, f: &mut dyn FnMut(&str)) {
                match v {
                    serde_json::Value::String(s) => f(s),
                    serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, f)),
                    serde_json::Value::Object(map) => map.values().for_each(|i| walk(i, f)),
                    _ => {}
                }
            }
            call.with.values().for_each(|v| walk(v, f));
        }
    }
}

/// `step` with every output reference bound from `lookup`.
pub fn bind(step: &Step, lookup: &dyn OutputLookup) -> Result<Step, BindError> {
    if !has_references(step) {
        return Ok(step.clone());
    }
    let mut bound = step.clone();
    bound.env = step
        .env
        .iter()
        .map(|e| bind_text(e, lookup))
        .collect::<Result<_, _>>()?;
    match &mut bound.action {
        Action::Build {
            build,
            tags,
            build_args,
            ..
        } => {
            *build = bind_text(build, lookup)?;
            let parsed = BuildCommand::parse(build).map_err(|e| BindError::Build(e.to_string()))?;
            *tags = parsed.tags;
            *build_args = parsed.build_args;
        }
        Action::Cmd { cmd, .. } => *cmd = bind_text(cmd, lookup)?,
        Action::Push { push } => {
            let mut images: Vec<String> = Vec::new();
            for entry in push.iter() {
                let expanded = match whole_reference(entry) {
                    Some(r) => value(lookup, r)?.items(),
                    None => vec![bind_text(entry, lookup)?],
                };
                for image in expanded {
                    let image = normalize_push_image(image.trim());
                    if !image.is_empty() && !images.contains(&image) {
                        images.push(image);
                    }
                }
            }
            *push = images;
        }
        Action::Helm(call) => {
            let text = bind_text(&call.helm, lookup)?;
            *call = HelmCall::parse(&text).map_err(BindError::Build)?;
        }
        Action::Sign(call) => {
            let mut images = Vec::new();
            for image in &call.sign {
                images.push(normalize_push_image(&bind_text(image, lookup)?));
            }
            call.sign = images;
        }
        Action::Plugin(call) => {
            for v in call.with.values_mut() {
                *v = bind_json(v, lookup)?;
            }
        }
    }
    Ok(bound)
}

impl fmt::Display for OutputRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "$(steps.{}.outputs.{})", self.step, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs() -> BTreeMap<String, Outputs> {
        let mut tags = Outputs::new();
        tags.insert(
            "refs".into(),
            OutputValue::List(vec!["r/app:1.2.3".into(), "r/app:1.2".into()]),
        );
        tags.insert("version".into(), OutputValue::String("1.2.3".into()));
        BTreeMap::from([("tags".to_string(), tags)])
    }

    #[test]
    fn finds_references_and_skips_look_alikes() {
        let text = "a $(steps.t.outputs.refs) b $(steps.x) $(steps.a.b.outputs.c-d)";
        let found: Vec<(&str, &str)> = references(text)
            .into_iter()
            .map(|(r, _)| (r.step, r.name))
            .collect();
        assert_eq!(found, [("t", "refs"), ("a.b", "c-d")]);
        assert!(references("$(steps.t.outputs.)").is_empty());
        assert!(references("$(steps.t.outputs.a").is_empty());
    }

    #[test]
    fn strings_join_lists_with_spaces() {
        let bound = bind_text(
            "echo $(steps.tags.outputs.refs) v$(steps.tags.outputs.version)",
            &outputs(),
        );
        assert_eq!(
            bound.ok().as_deref(),
            Some("echo r/app:1.2.3 r/app:1.2 v1.2.3")
        );
    }

    #[test]
    fn missing_steps_and_outputs_say_what_exists() {
        let e = bind_text("$(steps.tags.outputs.nope)", &outputs());
        assert_eq!(
            e.err().map(|e| e.to_string()).as_deref(),
            Some(
                "`$(steps.tags.outputs.nope)`: step `tags` has no output `nope`; it gave: refs, version"
            )
        );
        let e = bind_text("$(steps.other.outputs.x)", &outputs());
        assert!(matches!(e, Err(BindError::NoOutputs { .. })));
    }

    #[test]
    fn a_push_entry_that_is_a_list_becomes_several_images() {
        let task = crate::load_task(
            "steps:\n  - id: tags\n    plugin: semver-tagger\n  - push: [\"r/app:1.2.3\", \"$(steps.tags.outputs.refs)\", \"r/app:$(steps.tags.outputs.version)-x\"]\n",
        )
        .unwrap_or_else(|f| panic!("{:?}", f.diagnostics));
        let step = bind(&task.steps[1], &outputs()).unwrap_or_else(|e| panic!("{e}"));
        let Action::Push { push } = &step.action else {
            panic!("not a push");
        };
        assert_eq!(push, &["r/app:1.2.3", "r/app:1.2", "r/app:1.2.3-x"]);
    }
}
