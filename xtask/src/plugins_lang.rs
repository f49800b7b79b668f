//! Python and JavaScript plugins for `cargo xtask plugins` and `cargo xtask
//! new-plugin --lang python|js`.
//!
//! A Python plugin is a directory `plugins/python/<name>/` with `app.py` and a
//! `pyproject.toml` whose `[tool.wharf]` says `plugin = "tagger"` (or `scanner`,
//! `notifier`); a JavaScript plugin is `plugins/js/<name>/` with `app.js` and a
//! `package.json` whose `"wharf": { "plugin": "tagger" }` says the same. Both are
//! built by `wharf_e2e::plugin_langs` (pinned toolchains installed into
//! `target/plugin-toolchains` on first use, the tools' WASI opt-outs) and copied
//! to `target/plugins/<name>.wasm`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use wharf_e2e::plugin_langs::{self, BuildOptions, Lang};

use crate::root;

/// A Python or JavaScript plugin found under plugins/.
#[derive(Debug)]
pub struct LangPlugin {
    /// Directory name.
    pub name: String,
    /// Its language.
    pub lang: Lang,
    /// `tagger`, `scanner`, `notifier`.
    pub kind: String,
    /// Its directory.
    pub dir: PathBuf,
}

/// Parses `lang` as given to `--lang`.
pub fn parse_lang(lang: &str) -> Result<Option<Lang>> {
    match lang {
        "rust" => Ok(None),
        "python" | "py" => Ok(Some(Lang::Python)),
        "js" | "javascript" => Ok(Some(Lang::Js)),
        other => bail!("--lang {other:?}: one of rust, python, js"),
    }
}

fn python_kind(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("pyproject.toml")).ok()?;
    let mut in_section = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_section = line == "[tool.wharf]";
        } else if in_section && let Some(v) = line.strip_prefix("plugin") {
            let v = v.trim_start().strip_prefix('=')?.trim().trim_matches('"');
            return Some(v.to_string());
        }
    }
    None
}

fn js_kind(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("package.json")).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["wharf"]["plugin"].as_str().map(str::to_string)
}

/// Every Python and JavaScript plugin under plugins/.
pub fn find() -> Result<Vec<LangPlugin>> {
    let mut found = Vec::new();
    for (lang, sub) in [(Lang::Python, "plugins/python"), (Lang::Js, "plugins/js")] {
        let base = root().join(sub);
        let Ok(entries) = std::fs::read_dir(&base) else {
            continue;
        };
        for entry in entries.flatten() {
            let dir = entry.path();
            if !dir.join(lang.entry()).is_file() {
                continue;
            }
            let kind = match lang {
                Lang::Python => python_kind(&dir),
                Lang::Js => js_kind(&dir),
            }
            .with_context(|| {
                format!(
                    "{}: no plugin kind ({})",
                    dir.display(),
                    match lang {
                        Lang::Python => "pyproject.toml [tool.wharf] plugin = \"tagger\"",
                        Lang::Js => "package.json \"wharf\": { \"plugin\": \"tagger\" }",
                    }
                )
            })?;
            found.push(LangPlugin {
                name: entry.file_name().to_string_lossy().into_owned(),
                lang,
                kind,
                dir,
            });
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// Builds `p` and copies it to `target/plugins/<name>.wasm`; returns that path.
pub fn build_one(p: &LangPlugin) -> Result<PathBuf> {
    eprintln!(
        "xtask: building {} ({} {}, {})",
        p.name,
        p.lang.as_str(),
        p.kind,
        p.lang.tool()
    );
    let built = plugin_langs::build(p.lang, &p.dir, &p.kind, BuildOptions::default())
        .map_err(anyhow::Error::msg)?;
    let out_dir = root().join("target/plugins");
    std::fs::create_dir_all(&out_dir)?;
    let out = out_dir.join(format!("{}.wasm", p.name));
    std::fs::copy(&built, &out).with_context(|| format!("copying to {}", out.display()))?;
    Ok(out)
}

/// Writes a new plugin from the template of `lang` and `kind`; returns its directory.
pub fn new_plugin(name: &str, kind: &str, lang: Lang) -> Result<PathBuf> {
    let dir = root()
        .join(match lang {
            Lang::Python => "plugins/python",
            Lang::Js => "plugins/js",
        })
        .join(name);
    if dir.exists() {
        bail!("{} exists already", dir.display());
    }
    let fill = |t: &str| t.replace("@NAME@", name).replace("@KIND@", kind);
    let files: Vec<(&str, String)> = match lang {
        Lang::Python => vec![
            ("pyproject.toml", fill(PY_PROJECT)),
            (
                "app.py",
                fill(match kind {
                    "tagger" => PY_TAGGER,
                    "scanner" => PY_SCANNER,
                    _ => PY_NOTIFIER,
                }),
            ),
            (
                "README.md",
                fill(README)
                    + if kind == "notifier" {
                        NOTIFIER_README
                    } else {
                        ""
                    },
            ),
        ],
        Lang::Js => vec![
            ("package.json", fill(JS_PACKAGE)),
            (
                "app.js",
                fill(match kind {
                    "tagger" => JS_TAGGER,
                    "scanner" => JS_SCANNER,
                    _ => JS_NOTIFIER,
                }),
            ),
            (
                "README.md",
                fill(README)
                    + if kind == "notifier" {
                        NOTIFIER_README
                    } else {
                        ""
                    },
            ),
        ],
    };
    std::fs::create_dir_all(&dir)?;
    for (file, text) in files {
        std::fs::write(dir.join(file), text).with_context(|| format!("writing {file}"))?;
    }
    Ok(dir)
}

const PY_PROJECT: &str = r#"[project]
name = "@NAME@"
version = "0.1.0"
description = "wharf plugin (@KIND@) in Python"
requires-python = ">=3.10"

# Built by `cargo xtask plugins` with componentize-py (--stub-wasi) and the SDK in
# plugins/sdk-python; the component goes to target/plugins/@NAME@.wasm.
[tool.wharf]
plugin = "@KIND@"
"#;

const PY_TAGGER: &str = include_str!("../../plugins/sdk-python/templates/tagger.py");
const PY_NOTIFIER: &str = include_str!("../../plugins/sdk-python/templates/notifier.py");

const PY_SCANNER: &str = include_str!("../../plugins/sdk-python/templates/scanner.py");

const JS_PACKAGE: &str = r#"{
  "name": "@NAME@",
  "version": "0.1.0",
  "private": true,
  "description": "wharf plugin (@KIND@) in JavaScript, built by `cargo xtask plugins` with componentize-qjs and @wharf/plugin-sdk (plugins/sdk-js)",
  "type": "module",
  "main": "app.js",
  "wharf": { "plugin": "@KIND@" }
}
"#;

const JS_TAGGER: &str = include_str!("../../plugins/sdk-js/templates/tagger.js");

const JS_SCANNER: &str = include_str!("../../plugins/sdk-js/templates/scanner.js");

const JS_NOTIFIER: &str = include_str!("../../plugins/sdk-js/templates/notifier.js");

const README: &str = "# @NAME@\n\nA wharf @KIND@ plugin. Build: `cargo xtask plugins @NAME@` (writes \
target/plugins/@NAME@.wasm). Use it in a step: `plugin: @NAME@`.\n";

const NOTIFIER_README: &str = "\nIt POSTs the run summary as JSON to `with: url`; the step (or `notify:` \
entry) must grant the receiver: `allow: { http: [\"host:port\"] }`.\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugins_kind_comes_from_its_project_file() {
        let dir = std::env::temp_dir().join(format!("wharf-xtask-kind-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(
            dir.join("pyproject.toml"),
            fill_for_test(PY_PROJECT, "scanner"),
        )
        .expect("write");
        std::fs::write(
            dir.join("package.json"),
            fill_for_test(JS_PACKAGE, "tagger"),
        )
        .expect("write");
        assert_eq!(python_kind(&dir).as_deref(), Some("scanner"));
        assert_eq!(js_kind(&dir).as_deref(), Some("tagger"));
        std::fs::write(dir.join("pyproject.toml"), "[project]\nplugin = \"x\"\n").expect("write");
        assert_eq!(python_kind(&dir), None, "only [tool.wharf] counts");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn fill_for_test(t: &str, kind: &str) -> String {
        t.replace("@NAME@", "demo").replace("@KIND@", kind)
    }

    #[test]
    fn lang_names() {
        assert_eq!(parse_lang("rust").expect("rust"), None);
        assert_eq!(parse_lang("python").expect("py"), Some(Lang::Python));
        assert_eq!(parse_lang("js").expect("js"), Some(Lang::Js));
        assert!(parse_lang("go").is_err());
    }
}
