//! Conformance cases for the task language, written as data.
//!
//! Every `tests/cases/**/*.case` file is one case: the task file, any other files it
//! reads, the command-line arguments, and what must come out — the plan (matched as a
//! subset: every key given must be equal; lists must have the same length) and/or the
//! exact diagnostics. See tests/cases/README.md for the format.
//!
//! `UPDATE_EXPECT=1 cargo test -p wharf-spec --test conformance` rewrites the
//! `errors` and `warnings` sections, and `plan` sections that do not match, from what
//! the loader produces now. Review the diff before committing it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use wharf_spec::{
    Files, LoadOptions, RunInfo, Secret, SecretFailure, SourceFile, TaskDefaults, load,
};

/// One parsed case file.
#[derive(Debug, Default)]
struct Case {
    /// Text before the first section: what the case shows.
    description: String,
    /// `--- args`: command-line style arguments.
    args: Vec<String>,
    /// `--- acb.yaml`: the task file.
    task: String,
    /// `--- file NAME`: other files (paths or URLs) the task may read.
    files: BTreeMap<String, String>,
    /// `--- plan`: expected plan JSON (subset match).
    plan: Option<String>,
    /// `--- errors`: expected diagnostics when loading fails, one per line.
    errors: Option<String>,
    /// `--- warnings`: expected warnings when loading succeeds, one per line.
    warnings: Option<String>,
    /// `--- rendered`: the expected text after aliases and templates.
    rendered: Option<String>,
}

fn parse_case(text: &str) -> Result<Case, String> {
    let mut case = Case::default();
    let mut current: Option<String> = None;
    let mut body = String::new();
    let finish = |case: &mut Case, name: Option<String>, body: &str| -> Result<(), String> {
        let Some(name) = name else {
            case.description = body.trim().to_string();
            return Ok(());
        };
        let body = body.to_string();
        match name.as_str() {
            "args" => case.args = split_args(&body),
            "acb.yaml" => case.task = body,
            "plan" => case.plan = Some(body),
            "errors" => case.errors = Some(body),
            "warnings" => case.warnings = Some(body),
            "rendered" => case.rendered = Some(body),
            other => match other.strip_prefix("file ") {
                Some(path) => {
                    case.files.insert(path.trim().to_string(), body);
                }
                None => return Err(format!("unknown section `--- {other}`")),
            },
        }
        Ok(())
    };
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.strip_prefix("--- ") {
            finish(&mut case, current.take(), &body)?;
            current = Some(name.trim().to_string());
            body.clear();
        } else {
            body.push_str(line);
        }
    }
    finish(&mut case, current, &body)?;
    Ok(case)
}

fn split_args(text: &str) -> Vec<String> {
    wharf_spec::shell_words::split(text, None).unwrap_or_default()
}

/// Files from the case's `--- file` sections.
struct CaseFiles<'a>(&'a BTreeMap<String, String>);

impl Files for CaseFiles<'_> {
    fn read(&self, path: &str) -> Result<String, String> {
        let key = path.trim_start_matches("./");
        self.0
            .get(key)
            .or_else(|| self.0.get(path))
            .cloned()
            .ok_or_else(|| "no such file".to_string())
    }
}

struct Outcome {
    plan: Option<Json>,
    diagnostics: String,
    failed: bool,
    rendered: Option<String>,
}

fn run_case(case: &Case) -> Result<Outcome, String> {
    let mut options = LoadOptions {
        run: RunInfo {
            id: "cb1".into(),
            date: "2010-05-20T13:14:22Z".parse().map_err(|e| format!("{e}"))?,
            shared_volume: "acb_vol_test".into(),
            os: "linux".into(),
            architecture: "amd64".into(),
            triggered_by: "manual".into(),
            ..RunInfo::default()
        },
        values: Vec::new(),
        set: Vec::new(),
        defaults: TaskDefaults::default(),
        strict: false,
        host_lookup: None,
    };
    let mut secret_values: BTreeMap<String, String> = BTreeMap::new();
    let mut args = case.args.iter();
    while let Some(flag) = args.next() {
        if flag == "--strict" {
            options.strict = true;
            continue;
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .clone();
        match flag.as_str() {
            "--set" => options.set.push(value),
            "--values" => {
                let text = case
                    .files
                    .get(&value)
                    .ok_or_else(|| format!("no file section for --values {value}"))?;
                options.values.push(SourceFile::new(value, text.clone()));
            }
            "--registry" => options.run.registry = value,
            "--id" => options.run.id = value,
            "--commit" => options.run.commit = value,
            "--branch" => options.run.branch = value,
            "--env" => options.defaults.env.push(value),
            "--network" => options.defaults.network = Some(value),
            "--working-directory" => options.defaults.working_directory = Some(value),
            "--secret" => {
                let (k, v) = value.split_once('=').ok_or("--secret id=value")?;
                secret_values.insert(k.into(), v.into());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let files = CaseFiles(&case.files);
    let mut resolver = |decls: &[Secret]| -> Result<BTreeMap<String, String>, SecretFailure> {
        decls
            .iter()
            .map(|d| {
                secret_values
                    .get(&d.id)
                    .map(|v| (d.id.clone(), v.clone()))
                    .ok_or_else(|| SecretFailure {
                        id: Some(d.id.clone()),
                        message: format!("no value for secret {}", d.id),
                    })
            })
            .collect()
    };
    Ok(
        match load("acb.yaml", &case.task, &options, &files, &mut resolver) {
            Ok(loaded) => Outcome {
                plan: Some(serde_json::to_value(&loaded.task).map_err(|e| e.to_string())?),
                diagnostics: lines(loaded.warnings.iter().map(|d| d.short(&loaded.sources))),
                failed: false,
                rendered: Some(loaded.rendered),
            },
            Err(failure) => Outcome {
                plan: None,
                diagnostics: lines(
                    failure
                        .diagnostics
                        .iter()
                        .map(|d| d.short(&failure.sources)),
                ),
                failed: true,
                rendered: None,
            },
        },
    )
}

fn lines(items: impl Iterator<Item = String>) -> String {
    items.map(|l| format!("{l}\n")).collect()
}

/// Whether `expected` is a subset of `actual`.
fn subset(expected: &Json, actual: &Json) -> bool {
    match (expected, actual) {
        (Json::Object(e), Json::Object(a)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| subset(v, av))),
        (Json::Array(e), Json::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(x, y)| subset(x, y))
        }
        (e, a) => e == a,
    }
}

fn check(path: &Path, update: bool) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let case = parse_case(&text)?;
    if case.description.is_empty() {
        return Err("the case has no description before its first section".into());
    }
    if case.plan.is_none()
        && case.errors.is_none()
        && case.warnings.is_none()
        && case.rendered.is_none()
    {
        return Err(
            "the case expects nothing: add a plan, errors, warnings or rendered section".into(),
        );
    }
    let outcome = run_case(&case)?;
    let mut problems = String::new();
    let mut new_text = text.clone();

    match (&case.errors, outcome.failed) {
        (Some(expected), true) if expected.trim() == outcome.diagnostics.trim() => {}
        (Some(expected), true) => {
            let _ = write!(
                problems,
                "errors differ:\n--- expected\n{expected}--- actual\n{}",
                outcome.diagnostics
            );
            new_text = replace_section(&new_text, "errors", &outcome.diagnostics);
        }
        (Some(_), false) => {
            let _ = write!(
                problems,
                "expected the load to fail, but it succeeded with:\n{}",
                outcome.diagnostics
            );
        }
        (None, true) => {
            let _ = write!(problems, "the load failed:\n{}", outcome.diagnostics);
        }
        (None, false) => {}
    }
    if !outcome.failed {
        let expected = case.warnings.as_deref().unwrap_or("");
        if expected.trim() != outcome.diagnostics.trim() {
            let _ = write!(
                problems,
                "warnings differ:\n--- expected\n{expected}--- actual\n{}",
                outcome.diagnostics
            );
            new_text = replace_section(&new_text, "warnings", &outcome.diagnostics);
        }
    }
    if let (Some(expected), Some(actual)) = (&case.plan, &outcome.plan) {
        let expected_json: Json = serde_json::from_str(expected)
            .map_err(|e| format!("the plan section is not JSON: {e}"))?;
        if !subset(&expected_json, actual) {
            let pretty = serde_json::to_string_pretty(actual).unwrap_or_default();
            let _ = write!(
                problems,
                "plan does not match:\n--- expected (subset)\n{expected}--- actual\n{pretty}\n"
            );
            new_text = replace_section(&new_text, "plan", &format!("{pretty}\n"));
        }
    }
    if let (Some(expected), Some(actual)) = (&case.rendered, &outcome.rendered)
        && expected != actual
    {
        let _ = write!(
            problems,
            "rendered text differs:\n--- expected\n{expected}--- actual\n{actual}"
        );
        new_text = replace_section(&new_text, "rendered", actual);
    }
    if problems.is_empty() {
        return Ok(());
    }
    if update && new_text != text {
        std::fs::write(path, new_text).map_err(|e| e.to_string())?;
    }
    Err(problems)
}

/// Replaces (or appends) a section's body.
fn replace_section(text: &str, name: &str, body: &str) -> String {
    let header = format!("--- {name}\n");
    let Some(start) = text.find(&header) else {
        let mut out = text.to_string();
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&header);
        out.push_str(body);
        return out;
    };
    let body_start = start + header.len();
    let end = text[body_start..]
        .find("\n--- ")
        .map_or(text.len(), |i| body_start + i + 1);
    format!("{}{}{}", &text[..body_start], body, &text[end..])
}

fn case_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            case_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "case") {
            out.push(path);
        }
    }
}

#[test]
fn conformance_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut files = Vec::new();
    case_files(&root, &mut files);
    files.sort();
    assert!(
        files.len() >= 50,
        "expected the conformance cases under {}",
        root.display()
    );
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    for path in &files {
        if let Err(problem) = check(path, update) {
            let name = path
                .strip_prefix(&root)
                .unwrap_or(path)
                .display()
                .to_string();
            failures.push(format!("=== {name}\n{problem}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
