//! Data-driven cases: `tests/cases/*.txt`, one case per file.
//!
//! Sections start with a line `--- NAME`: `template`, `data` (JSON, default
//! `{}`), `options` (lines `missingkey=zero|error|default`, `now=RFC3339`,
//! `env=K=V`, `remove=<no value>`), and one of `output` (exact text) or `error`
//! (a substring of the message). A section's text excludes the newline that
//! precedes the next header. `UPDATE_EXPECT=1` rewrites `output`/`error`.

use std::collections::BTreeMap;
use std::path::Path;

use wharf_template::{MissingKey, Options, Template, Value};

fn sections(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.strip_prefix("--- ") {
            out.push((name.trim().to_string(), String::new()));
        } else if let Some(last) = out.last_mut() {
            last.1.push_str(line);
        }
    }
    for s in &mut out {
        if s.1.ends_with('\n') {
            s.1.pop();
        }
    }
    out
}

fn run_case(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let secs = sections(&text);
    let get = |n: &str| secs.iter().find(|s| s.0 == n).map(|s| s.1.clone());
    let template = get("template").ok_or("no template section")?;
    let data: Value = match get("data") {
        Some(d) if !d.trim().is_empty() => serde_json::from_str::<serde_json::Value>(&d)
            .map_err(|e| format!("bad data: {e}"))?
            .into(),
        _ => Value::Map(BTreeMap::new()),
    };
    let mut opts = Options {
        now: "2024-05-06T07:08:09Z[UTC]"
            .parse()
            .map_err(|e| format!("{e}"))?,
        ..Options::default()
    };
    let mut remove = None;
    for line in get("options").unwrap_or_default().lines() {
        let (k, v) = line.split_once('=').ok_or(format!("bad option {line}"))?;
        match k {
            "missingkey" => {
                opts.missing_key = match v {
                    "zero" => MissingKey::Zero,
                    "error" => MissingKey::Error,
                    _ => MissingKey::Default,
                }
            }
            "now" => opts.now = v.parse().map_err(|e| format!("{e}"))?,
            "env" => {
                let (ek, ev) = v.split_once('=').unwrap_or((v, ""));
                opts.env.insert(ek.into(), ev.into());
            }
            "remove" => remove = Some(v.to_string()),
            _ => return Err(format!("unknown option {k}")),
        }
    }
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("case");
    let result = Template::parse(name, &template).and_then(|t| t.execute(&data, &opts));
    let (actual_kind, actual) = match result {
        Ok(mut out) => {
            if let Some(r) = &remove {
                out.remove_all(r);
            }
            check_origins(&out, &template)?;
            ("output", out.text)
        }
        Err(e) => {
            if e.span.end > template.len() {
                return Err(format!("error span {:?} outside template", e.span));
            }
            ("error", e.message)
        }
    };
    if std::env::var("UPDATE_EXPECT").is_ok_and(|v| v == "1") {
        let mut new = String::new();
        for (n, body) in &secs {
            if n == "output" || n == "error" {
                continue;
            }
            new.push_str(&format!("--- {n}\n{body}\n"));
        }
        new.push_str(&format!("--- {actual_kind}\n{actual}\n"));
        std::fs::write(path, new).map_err(|e| e.to_string())?;
        return Ok(());
    }
    match (get("output"), get("error")) {
        (Some(want), _) => {
            if actual_kind != "output" || actual != want {
                return Err(format!(
                    "want output:\n{want}\n--- got {actual_kind}:\n{actual}"
                ));
            }
        }
        (None, Some(want)) => {
            if actual_kind != "error" || !actual.contains(&want) {
                return Err(format!(
                    "want error containing:\n{want}\n--- got {actual_kind}:\n{actual}"
                ));
            }
        }
        _ => return Err("no output or error section".into()),
    }
    Ok(())
}

/// The source map must cover the output exactly; text pieces must match the template bytes.
fn check_origins(out: &wharf_template::Output, template: &str) -> Result<(), String> {
    let mut at = 0;
    for o in &out.origins {
        if o.out_start != at || o.out_len == 0 {
            return Err(format!("origin gap/overlap at {at}: {o:?}"));
        }
        if o.kind == wharf_template::OriginKind::Text {
            let src = template.get(o.src_start..o.src_start + o.src_len);
            let dst = out.text.get(o.out_start..o.out_start + o.out_len);
            if src != dst || o.src_len != o.out_len {
                return Err(format!("text origin does not match source: {o:?}"));
            }
        }
        at += o.out_len;
    }
    if at != out.text.len() {
        return Err(format!("origins cover {at} of {} bytes", out.text.len()));
    }
    Ok(())
}

#[test]
fn cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("cases dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    let mut failures = Vec::new();
    for p in &paths {
        if let Err(e) = run_case(p) {
            failures.push(format!("{}:\n{e}\n", p.display()));
        }
    }
    println!("{} cases, {} failed", paths.len(), failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
