//! `cargo xtask plugins` (build every plugin component) and `cargo xtask new-plugin`
//! (make a working one from a template).
//!
//! A plugin is a package of this workspace whose Cargo.toml has
//! `[package.metadata.wharf] plugin = "tagger" | "scanner" | "notifier"`; test
//! fixtures also say `fixture = true` and are built only with `--fixtures`. Each is
//! built on its own (`cargo build -p NAME`), because the SDK's world features must
//! not unify across plugins, for `wasm32-wasip2` with the `plugin` profile into
//! `target/wasm-build`, and copied to `target/plugins/<name>.wasm`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::{cargo, root, run};

/// A plugin package found by cargo metadata.
pub struct PluginPackage {
    /// Package name.
    pub name: String,
    /// `tagger`, `scanner`, `notifier` (empty for a fixture of no world).
    pub kind: String,
    /// A test fixture.
    pub fixture: bool,
}

/// Every plugin package of the workspace.
pub fn find() -> Result<Vec<PluginPackage>> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(root().join("Cargo.toml"))
        .no_deps()
        .exec()
        .context("cargo metadata")?;
    let mut found = Vec::new();
    for package in metadata.workspace_packages() {
        let Some(wharf) = package.metadata.get("wharf") else {
            continue;
        };
        found.push(PluginPackage {
            name: package.name.to_string(),
            kind: wharf
                .get("plugin")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_string(),
            fixture: wharf
                .get("fixture")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
        });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// Builds `name` and copies it to `target/plugins/<name>.wasm`; returns that path.
pub fn build_one(name: &str) -> Result<PathBuf> {
    let target = root().join("target/wasm-build");
    run(cargo()
        .current_dir(root())
        .args([
            "build",
            "--profile",
            "plugin",
            "--target",
            "wasm32-wasip2",
            "-p",
            name,
        ])
        .arg("--target-dir")
        .arg(&target))?;
    let dir = target.join("wasm32-wasip2/plugin");
    let built = [name.replace('-', "_"), name.to_string()]
        .into_iter()
        .map(|stem| dir.join(format!("{stem}.wasm")))
        .find(|p| p.is_file())
        .with_context(|| format!("cargo built {name} but left no .wasm in {}", dir.display()))?;
    let out_dir = root().join("target/plugins");
    std::fs::create_dir_all(&out_dir)?;
    let out = out_dir.join(format!("{name}.wasm"));
    std::fs::copy(&built, &out).with_context(|| format!("copying to {}", out.display()))?;
    Ok(out)
}

/// `cargo xtask plugins [--fixtures] [--lang rust|python|js] [NAME...]`: Rust
/// packages here, Python and JavaScript plugins through `plugins_lang`.
pub fn build(args: &[String]) -> Result<()> {
    let fixtures = args.iter().any(|a| a == "--fixtures");
    let mut lang: Option<String> = None;
    let mut names: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--lang" => lang = it.next().cloned(),
            l if l.starts_with("--lang=") => lang = Some(l["--lang=".len()..].to_string()),
            n if !n.starts_with("--") => names.push(n.to_string()),
            _ => {}
        }
    }
    // None: every language; Some(None): Rust only; Some(Some(l)): l only.
    let lang_filter = lang
        .as_deref()
        .map(crate::plugins_lang::parse_lang)
        .transpose()?;
    let all = find()?;
    let langs = crate::plugins_lang::find()?;
    for n in &names {
        if !all.iter().any(|p| &p.name == n) && !langs.iter().any(|p| &p.name == n) {
            bail!(
                "{n} is not a plugin; plugins: {}",
                all.iter()
                    .map(|p| p.name.as_str())
                    .chain(langs.iter().map(|p| p.name.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let mut report = Vec::new();
    let mut built: Vec<PathBuf> = Vec::new();
    if matches!(lang_filter, None | Some(None)) {
        let selected = all.iter().filter(|p| {
            if names.is_empty() {
                fixtures || !p.fixture
            } else {
                names.contains(&p.name)
            }
        });
        for p in selected {
            let out = build_one(&p.name)?;
            let size = std::fs::metadata(&out)?.len();
            // A fixture without a plugin kind (not-a-plugin) is not one to compile.
            if !p.kind.is_empty() {
                built.push(out.clone());
            }
            report.push(format!(
                "  {:<22} {:<9} {:>8} bytes  {}  (rust)",
                p.name,
                if p.kind.is_empty() { "-" } else { &p.kind },
                size,
                out.strip_prefix(root()).unwrap_or(&out).display()
            ));
        }
    }
    for p in &langs {
        let lang_ok = match lang_filter {
            None => true,
            Some(l) => l == Some(p.lang),
        };
        if lang_ok && (names.is_empty() || names.contains(&p.name)) {
            let out = crate::plugins_lang::build_one(p)?;
            let size = std::fs::metadata(&out)?.len();
            built.push(out.clone());
            report.push(format!(
                "  {:<22} {:<9} {:>8} bytes  {}  ({})",
                p.name,
                p.kind,
                size,
                out.strip_prefix(root()).unwrap_or(&out).display(),
                p.lang.as_str()
            ));
        }
    }
    if report.is_empty() {
        bail!(
            "no plugins found (a Rust plugin's Cargo.toml has [package.metadata.wharf] plugin = \"tagger\"; \
             Python and JS plugins live in plugins/python/ and plugins/js/)"
        );
    }
    eprintln!(
        "xtask: built {} plugin(s):\n{}",
        report.len(),
        report.join("\n")
    );
    precompile(&built)
}

/// Compiles the built components into wharf's plugin code cache (`wharf plugin
/// compile`), so that no step pays for a first compile: seconds for a Python or
/// JavaScript plugin. Skipped, with a note, when wharf itself is not built yet.
fn precompile(built: &[PathBuf]) -> Result<()> {
    let wharf = root().join("target/debug/wharf");
    if !wharf.is_file() {
        eprintln!(
            "xtask: not precompiled ({} is not built): the first step using each plugin compiles it and says so",
            wharf.display()
        );
        return Ok(());
    }
    run(std::process::Command::new(&wharf)
        .args(["plugin", "compile"])
        .args(built))
}

/// `cargo xtask new-plugin NAME --kind tagger|scanner|notifier`.
pub fn new_plugin(args: &[String]) -> Result<()> {
    let usage =
        "usage: cargo xtask new-plugin NAME --kind tagger|scanner|notifier [--lang rust|python|js]";
    let mut name = None;
    let mut kind = None;
    let mut lang = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--kind" => kind = it.next().cloned(),
            "--lang" => lang = it.next().cloned(),
            l if l.starts_with("--lang=") => lang = Some(l["--lang=".len()..].to_string()),
            k if k.starts_with("--kind=") => kind = Some(k["--kind=".len()..].to_string()),
            n if !n.starts_with('-') && name.is_none() => name = Some(n.to_string()),
            other => bail!("unexpected argument {other:?}; {usage}"),
        }
    }
    let name = name.with_context(|| usage.to_string())?;
    let kind = kind.with_context(|| usage.to_string())?;
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !valid {
        bail!("plugin name {name:?}: lower-case letters, digits and '-', starting with a letter");
    }
    if !matches!(kind.as_str(), "tagger" | "scanner" | "notifier") {
        bail!("--kind {kind:?}: one of tagger, scanner, notifier");
    }
    if let Some(lang) = crate::plugins_lang::parse_lang(lang.as_deref().unwrap_or("rust"))? {
        if find()?.iter().any(|p| p.name == name)
            || crate::plugins_lang::find()?.iter().any(|p| p.name == name)
        {
            bail!("a plugin named {name} exists already");
        }
        let dir = crate::plugins_lang::new_plugin(&name, &kind, lang)?;
        eprintln!(
            "xtask: made {} ({kind}, {}). Next:\n  cargo xtask plugins {name}  # target/plugins/{name}.wasm\n  then {}",
            dir.strip_prefix(root()).unwrap_or(&dir).display(),
            lang.as_str(),
            where_to_use(&name, &kind)
        );
        return Ok(());
    }
    let dir = root().join("plugins").join(&name);
    if dir.exists() {
        bail!("{} exists already", dir.display());
    }
    if find()?.iter().any(|p| p.name == name) {
        bail!("a package named {name} exists already");
    }
    let crate_name = name.replace('-', "_");
    let files = templates(&name, &crate_name, &kind);
    for (path, text) in &files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!(
        "xtask: made plugins/{name} ({kind}). Next:\n  cargo test -p {name}        # its tests (builds the component)\n  cargo xtask plugins {name}  # target/plugins/{name}.wasm\n  then {}",
        where_to_use(&name, &kind)
    );
    Ok(())
}

/// Where a new plugin goes in a task file: taggers and scanners are steps,
/// notifiers run from the top-level `notify:` list.
fn where_to_use(name: &str, kind: &str) -> String {
    if kind == "notifier" {
        format!(
            "add it to the task's top-level notify: list: notify: [{{ plugin: {name}, with: {{ url: ... }}, allow: {{ http: [HOST] }} }}]"
        )
    } else {
        format!("use it in a step: plugin: {name}")
    }
}

fn templates(name: &str, crate_name: &str, kind: &str) -> Vec<(&'static str, String)> {
    let fill = |t: &str| {
        t.replace("@NAME@", name)
            .replace("@CRATE@", crate_name)
            .replace("@KIND@", kind)
    };
    let (lib, test, readme) = match kind {
        "tagger" => (TAGGER_LIB, TAGGER_TEST, TAGGER_README),
        "scanner" => (SCANNER_LIB, SCANNER_TEST, SCANNER_README),
        _ => (NOTIFIER_LIB, NOTIFIER_TEST, NOTIFIER_README),
    };
    vec![
        ("Cargo.toml", fill(CARGO_TOML)),
        ("src/lib.rs", fill(lib)),
        ("tests/component.rs", fill(&format!("{TEST_COMMON}{test}"))),
        ("README.md", fill(readme)),
    ]
}

const CARGO_TOML: &str = r#"[package]
name = "@NAME@"
description = "wharf plugin (@KIND@)"
version.workspace = true
edition.workspace = true
rust-version.workspace = true
license.workspace = true
publish = false

[package.metadata.wharf]
plugin = "@KIND@"

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
serde_json.workspace = true
wharf-plugin-sdk = { workspace = true, features = ["@KIND@"] }

[dev-dependencies]
wharf-plugin-host.workspace = true
wharf-e2e.workspace = true
tokio.workspace = true
serde_json.workspace = true

[lints]
workspace = true
"#;

const TAGGER_LIB: &str = r#"//! @NAME@: a tagger. Tags the step's image with `with: version` and `latest`.

use wharf_plugin_sdk::tagger::{Guest, ImageRef, PluginError, TagResult, config, log};

struct Plugin;

impl Guest for Plugin {
    fn tag(image: ImageRef) -> Result<TagResult, PluginError> {
        let version = config::require("version")?;
        log::info(&format!("tagging {} as {version} and latest", image.reference));
        Ok(TagResult {
            tags: vec![version, "latest".into()],
            outputs: vec![],
        })
    }
}

wharf_plugin_sdk::export_tagger!(Plugin);
"#;

const SCANNER_LIB: &str = r#"//! @NAME@: a scanner. Reports every file of the image whose path contains
//! `with: pattern`, one finding each, severity low.

use wharf_plugin_sdk::scanner::{Finding, Guest, ImageRef, PluginError, ScanResult, Severity, config, image, outputs};

struct Plugin;

impl Guest for Plugin {
    fn scan(_image: ImageRef) -> Result<ScanResult, PluginError> {
        let pattern = config::require("pattern")?;
        let findings: Vec<Finding> = image::list_files()?
            .into_iter()
            .filter(|f| f.path.contains(&pattern))
            .map(|f| Finding {
                rule_id: "pattern".into(),
                severity: Severity::Low,
                message: format!("{} matches {pattern:?}", f.path),
                path: Some(f.path),
                line: None,
            })
            .collect();
        Ok(ScanResult {
            outputs: vec![outputs::text("count", findings.len().to_string())],
            findings,
            fail: None,
        })
    }
}

wharf_plugin_sdk::export_scanner!(Plugin);
"#;

const NOTIFIER_LIB: &str = r#"//! @NAME@: a notifier. POSTs the run summary as JSON to `with: url` (grant its
//! host with `allow: { http: ["host:port"] }`).

use wharf_plugin_sdk::notifier::http::Request;
use wharf_plugin_sdk::notifier::{Guest, PluginError, RunEvent, RunStatus, config};

struct Plugin;

impl Guest for Plugin {
    fn notify(event: RunEvent) -> Result<(), PluginError> {
        let url = config::require("url")?;
        let steps: Vec<serde_json::Value> = event
            .steps
            .iter()
            .map(|s| serde_json::json!({ "id": s.id, "status": s.status }))
            .collect();
        let body = serde_json::json!({
            "run": event.run.id,
            "status": if event.status == RunStatus::Success { "success" } else { "failure" },
            "steps": steps,
        });
        let response = Request::post(&url, body.to_string().into_bytes())
            .header("content-type", "application/json")
            .send()
            .map_err(|e| PluginError::Failed(e.to_string()))?;
        if !(200..300).contains(&response.status) {
            return Err(PluginError::Failed(format!("{url} answered {}", response.status)));
        }
        Ok(())
    }
}

wharf_plugin_sdk::export_notifier!(Plugin);
"#;

const TEST_COMMON: &str = r#"//! @NAME@ as a component in the real host.

use std::sync::Arc;

use wharf_plugin_host::*;

struct Quiet;

impl LogSink for Quiet {
    fn line(&self, _: LogSource, _: &str) {}
}

fn load() -> (PluginHost, Plugin) {
    let host = PluginHost::new(HostConfig {
        cache_dir: Some(wharf_e2e::plugins::workspace_root().join("target/plugin-cache-tests")),
        ..HostConfig::default()
    })
    .expect("host");
    let plugin = host
        .load_file(&wharf_e2e::plugins::plugin_wasm("@NAME@"))
        .expect("load");
    (host, plugin)
}

fn input(with: &[(&str, &str)], subject: Subject) -> CallInput {
    CallInput {
        with: with.iter().map(|(k, v)| (k.to_string(), (*v).into())).collect(),
        grants: Grants::default(),
        limits: Limits::default(),
        run: RunInfo { id: "run1".into(), ..RunInfo::default() },
        context_dir: None,
        env: vec![],
        secrets: vec![],
        subject,
    }
}

#[allow(dead_code)] // notifiers work on runs, not images
fn image() -> ImageRef {
    ImageRef {
        reference: "127.0.0.1:5000/app:build".into(),
        registry: "127.0.0.1:5000".into(),
        repository: "app".into(),
        tag: Some("build".into()),
        digest: None,
    }
}
"#;

const TAGGER_TEST: &str = r#"
#[tokio::test]
async fn tags_the_image_with_its_version_and_latest() {
    let (host, plugin) = load();
    assert_eq!(plugin.world(), World::Tagger);
    let outcome = host
        .call(&plugin, input(&[("version", "1.0.0")], Subject::Image(image())), Services::log_only(Arc::new(Quiet)))
        .await
        .expect("tags");
    assert_eq!(
        outcome.output("refs"),
        Some(&OutputValue::List(vec![
            "127.0.0.1:5000/app:1.0.0".into(),
            "127.0.0.1:5000/app:latest".into()
        ]))
    );
}

#[tokio::test]
async fn without_a_version_it_says_so() {
    let (host, plugin) = load();
    let err = host
        .call(&plugin, input(&[], Subject::Image(image())), Services::log_only(Arc::new(Quiet)))
        .await
        .expect_err("no version");
    assert!(err.to_string().contains("`with: version` is required"), "{err}");
}
"#;

const SCANNER_TEST: &str = r#"
/// An image of three files.
struct Files;

impl ImageAccess for Files {
    fn config(&self) -> BoxFuture<'_, Result<String, ImageError>> {
        Box::pin(async { Ok("{}".to_string()) })
    }
    fn list_files(&self) -> BoxFuture<'_, Result<Vec<FileEntry>, ImageError>> {
        Box::pin(async {
            Ok(["etc/passwd", "app/secret.key", "app/main"]
                .iter()
                .map(|p| FileEntry {
                    path: p.to_string(),
                    kind: FileKind::File,
                    mode: 0o644,
                    uid: 0,
                    gid: 0,
                    size: 1,
                    link_target: None,
                })
                .collect())
        })
    }
    fn read_file<'a>(&'a self, path: &'a str, _: u64) -> BoxFuture<'a, Result<Vec<u8>, ImageError>> {
        Box::pin(async move { Err(ImageError::NotFound(path.to_string())) })
    }
}

#[tokio::test]
async fn reports_the_files_that_match() {
    let (host, plugin) = load();
    assert_eq!(plugin.world(), World::Scanner);
    let services = Services {
        log: Arc::new(Quiet),
        image: Some(Arc::new(Files)),
        tags: None,
        reports: None,
    };
    let outcome = host
        .call(&plugin, input(&[("pattern", "secret")], Subject::Image(image())), services)
        .await
        .expect("scans");
    assert_eq!(outcome.findings.len(), 1);
    assert_eq!(outcome.findings[0].path.as_deref(), Some("app/secret.key"));
    assert_eq!(outcome.findings[0].severity, Severity::Low);
}
"#;

const NOTIFIER_TEST: &str = r#"
#[tokio::test]
async fn posts_the_run_summary_to_the_granted_url() {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        let _ = reader.read_exact(&mut body);
        let mut stream = stream;
        let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n");
        let _ = tx.send(body);
    });
    let (host, plugin) = load();
    assert_eq!(plugin.world(), World::Notifier);
    let event = RunEvent {
        run: RunInfo { id: "run1".into(), ..RunInfo::default() },
        status: RunStatus::Success,
        started: String::new(),
        finished: String::new(),
        duration_ms: 1,
        steps: vec![],
        images: vec![],
        findings: vec![],
        error: None,
    };
    let url = format!("http://{addr}/");
    let mut call = input(&[("url", url.as_str())], Subject::Run(Box::new(event)));
    call.grants.http = vec![addr];
    host.call(&plugin, call, Services::log_only(Arc::new(Quiet)))
        .await
        .expect("notified");
    let body: serde_json::Value =
        serde_json::from_slice(&rx.recv_timeout(std::time::Duration::from_secs(5)).expect("body")).expect("json");
    assert_eq!(body["run"], "run1");
    assert_eq!(body["status"], "success");
}
"#;

const TAGGER_README: &str = "# @NAME@\n\nA tagger plugin: tags the step's image with `with: version` and `latest`.\n\n```yaml\n- id: tag\n  plugin: @NAME@\n  with: { image: $Registry/app:$ID, version: 1.0.0 }\n- push: [\"$(steps.tag.outputs.refs)\"]\n```\n\nBuild: `cargo xtask plugins @NAME@`. Test: `cargo test -p @NAME@`.\n";
const SCANNER_README: &str = "# @NAME@\n\nA scanner plugin: one low-severity finding per file of the image whose path contains `with: pattern`.\n\n```yaml\n- id: scan\n  plugin: @NAME@\n  with: { image: $Registry/app:$ID, pattern: .key }\n```\n\nBuild: `cargo xtask plugins @NAME@`. Test: `cargo test -p @NAME@`.\n";
const NOTIFIER_README: &str = "# @NAME@\n\nA notifier plugin: POSTs the run summary as JSON to `with: url`.\n\n```yaml\nnotify:\n  - plugin: @NAME@\n    on: [success, failure]\n    with: { url: \"http://127.0.0.1:8080/hook\" }\n    allow: { http: [\"127.0.0.1:8080\"] }\n```\n\nBuild: `cargo xtask plugins @NAME@`. Test: `cargo test -p @NAME@`.\n";
