//! Python and JavaScript plugins: the pinned toolchains and how a component is built
//! from an app. The one home of this logic: `cargo xtask plugins` and the contract
//! suite (`tests/plugin-contract`) both call it.
//!
//! - Python: componentize-py, pinned with hashes in `plugins/sdk-python/requirements.txt`,
//!   installed with `pip --require-hashes` into a venv at
//!   `target/plugin-toolchains/python`. The app is built with the SDK
//!   (`plugins/sdk-python`, which carries the WIT and a `componentize-py.toml`) on its
//!   Python path and `--stub-wasi`: the component imports only `wharf:plugin/*`
//!   (a notifier also `wasi:http`: built against a `wasx:` spelling of the WIT,
//!   which the stubber leaves alone, and spelt back after).
//! - JavaScript: componentize-qjs (QuickJS), pinned by the committed
//!   `plugins/sdk-js/toolchain/package-lock.json`, installed with `npm ci` into
//!   `target/plugin-toolchains/js`. The app is staged beside a copy of the SDK
//!   (`node_modules/@wharf/plugin-sdk`) and built with `--stub-wasi --sync` (a
//!   notifier from a `wasx:` spelling too, with the world's types moved into
//!   `wharf:plugin/types`: see the comment in [`build`]).
//!
//! Nothing here runs at `wharf run`: toolchains are installed once, on the first
//! build, and a build whose inputs (app, SDK, WIT, pins, options) are unchanged is
//! reused from `target/plugin-build`.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::plugins::workspace_root;

/// A plugin language other than Rust.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    /// componentize-py.
    Python,
    /// componentize-qjs.
    Js,
}

impl Lang {
    /// `python` or `js`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }

    /// The app's entry file in its directory.
    pub fn entry(self) -> &'static str {
        match self {
            Lang::Python => "app.py",
            Lang::Js => "app.js",
        }
    }

    /// The tool and version that builds it, for messages.
    pub fn tool(self) -> &'static str {
        match self {
            Lang::Python => "componentize-py 0.25.1",
            Lang::Js => "componentize-qjs 0.4.5",
        }
    }
}

/// How to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BuildOptions {
    /// Build with the tool's WASI opt-out (the default, and what wharf accepts).
    /// `false` builds what the tool makes by default, for the tests that check
    /// such a component is refused.
    pub stub_wasi: bool,
}

impl Default for BuildOptions {
    fn default() -> BuildOptions {
        BuildOptions { stub_wasi: true }
    }
}

/// Where toolchains are installed.
pub fn toolchain_dir() -> PathBuf {
    workspace_root().join("target/plugin-toolchains")
}

static INSTALL: Mutex<()> = Mutex::new(());

/// One lock per build key: two threads (two tests of one binary) asking for the
/// same component build it once, and never share a staging directory.
static BUILDING: Mutex<Option<HashMap<String, Arc<Mutex<()>>>>> = Mutex::new(None);

/// Unique names for staging files, across the threads of this process; the process
/// id tells processes apart.
static SCRATCH: AtomicU64 = AtomicU64::new(0);

fn key_lock(key: &str) -> Arc<Mutex<()>> {
    let mut map = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    map.get_or_insert_with(HashMap::new)
        .entry(key.to_string())
        .or_default()
        .clone()
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What a toolchain's stamp records: where it was installed and its pins. A venv
/// is not relocatable (its scripts name its interpreter by absolute path), so a
/// toolchain whose directory moved (a target/ moved to another checkout) is
/// installed again rather than failing with "No such file".
fn stamp_text(dir: &Path, pins: &str) -> String {
    format!("{}\n{pins}", dir.display())
}

fn stamp_ok(stamp: &Path, dir: &Path, pins: &str) -> bool {
    std::fs::read_to_string(stamp).is_ok_and(|s| s == stamp_text(dir, pins))
}

/// Installs the Python toolchain when it is missing or its pins changed; returns
/// the `componentize-py` executable.
pub fn python_toolchain() -> Result<PathBuf, String> {
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let requirements = workspace_root().join("plugins/sdk-python/requirements.txt");
    let pins = std::fs::read_to_string(&requirements)
        .map_err(|e| format!("{}: {e}", requirements.display()))?;
    let venv = toolchain_dir().join("python");
    let tool = venv.join("bin/componentize-py");
    let stamp = venv.join(".wharf-pins");
    if tool.is_file() && stamp_ok(&stamp, &venv, &pins) {
        return Ok(tool);
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    eprintln!(
        "installing the Python plugin toolchain into {}",
        venv.display()
    );
    run(Command::new(&python)
        .args(["-m", "venv", "--clear"])
        .arg(&venv))?;
    run(Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--quiet",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--require-hashes",
            "-r",
        ])
        .arg(&requirements))?;
    std::fs::write(&stamp, stamp_text(&venv, &pins)).map_err(|e| e.to_string())?;
    Ok(tool)
}

/// Installs the JavaScript toolchain when it is missing or its lockfile changed;
/// returns the `componentize-qjs` executable.
pub fn js_toolchain() -> Result<PathBuf, String> {
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let src = workspace_root().join("plugins/sdk-js/toolchain");
    let lock = std::fs::read_to_string(src.join("package-lock.json"))
        .map_err(|e| format!("{}/package-lock.json: {e}", src.display()))?;
    let dir = toolchain_dir().join("js");
    let tool = dir.join("node_modules/.bin/componentize-qjs");
    let stamp = dir.join(".wharf-pins");
    if tool.is_file() && stamp_ok(&stamp, &dir, &lock) {
        return Ok(tool);
    }
    eprintln!(
        "installing the JavaScript plugin toolchain into {}",
        dir.display()
    );
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    for f in ["package.json", "package-lock.json"] {
        std::fs::copy(src.join(f), dir.join(f)).map_err(|e| format!("{f}: {e}"))?;
    }
    // npm's download cache goes next to the toolchain and is removed afterwards.
    let cache = dir.join(".npm-cache");
    let result = run(Command::new("npm")
        .current_dir(&dir)
        .args(["ci", "--no-audit", "--no-fund", "--silent", "--cache"])
        .arg(&cache));
    let _ = std::fs::remove_dir_all(&cache);
    result?;
    std::fs::write(&stamp, stamp_text(&dir, &lock)).map_err(|e| e.to_string())?;
    Ok(tool)
}

fn hash_tree(h: &mut DefaultHasher, dir: &Path) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with('.')
            || name == "__pycache__"
            || name == "node_modules"
            || name == "toolchain"
        {
            continue;
        }
        if p.is_dir() {
            hash_tree(h, &p);
        } else if let Ok(bytes) = std::fs::read(&p) {
            name.hash(h);
            bytes.hash(h);
        }
    }
}

/// Builds the app in `app_dir` (its `app.py` or `app.js`) against `world` of the
/// contract and returns the component's path (under `target/plugin-build`).
pub fn build(
    lang: Lang,
    app_dir: &Path,
    world: &str,
    options: BuildOptions,
) -> Result<PathBuf, String> {
    if !app_dir.join(lang.entry()).is_file() {
        return Err(format!(
            "{} has no {} (a {} plugin's entry)",
            app_dir.display(),
            lang.entry(),
            lang.as_str()
        ));
    }
    let root = workspace_root();
    let sdk = match lang {
        Lang::Python => root.join("plugins/sdk-python"),
        Lang::Js => root.join("plugins/sdk-js"),
    };
    let mut h = DefaultHasher::new();
    (lang, world, options).hash(&mut h);
    hash_tree(&mut h, app_dir);
    hash_tree(&mut h, &sdk);
    let pins = match lang {
        Lang::Python => sdk.join("requirements.txt"),
        Lang::Js => sdk.join("toolchain/package-lock.json"),
    };
    std::fs::read(&pins).unwrap_or_default().hash(&mut h);
    // One file per app, world and options: a rebuild replaces the stale one.
    let prefix = format!(
        "{}-{}-{world}{}-",
        lang.as_str(),
        app_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("app"),
        if options.stub_wasi { "" } else { "-wasi" }
    );
    let key = format!("{prefix}{:016x}", h.finish());
    let out_dir = root.join("target/plugin-build");
    let out = out_dir.join(format!("{key}.wasm"));
    if out.is_file() {
        return Ok(out);
    }
    let lock = key_lock(&key);
    let _building = lock.lock().unwrap_or_else(|e| e.into_inner());
    // Another thread may have built it while this one waited.
    if out.is_file() {
        return Ok(out);
    }
    if let Ok(entries) = std::fs::read_dir(&out_dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(rest) = name.strip_prefix(&prefix)
                && rest.len() == "0123456789abcdef.wasm".len()
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    let scratch = format!(
        "{}-{}",
        std::process::id(),
        SCRATCH.fetch_add(1, Ordering::Relaxed)
    );
    let tmp = out_dir.join(format!(".{key}.{scratch}.tmp.wasm"));
    match lang {
        Lang::Python => {
            let tool = python_toolchain()?;
            // componentize-py's --stub-wasi stubs every `wasi:` import, the wasi:http
            // a notifier's world asks for included. So a stubbed notifier is built
            // against a copy of the SDK whose WIT spells the namespace `wasx:` (left
            // alone by the stubber), and the component is renamed back after.
            let rename = options.stub_wasi && world == "notifier";
            let stage = out_dir.join(format!(".stage-{key}-{scratch}"));
            let sdk_path = if rename {
                let _ = std::fs::remove_dir_all(&stage);
                copy_tree(&sdk, &stage)?;
                respell_wit(&stage.join("wharf_plugin/wit"), WASI_NS, STAND_IN_NS)?;
                stage.clone()
            } else {
                sdk.clone()
            };
            // The SDK's componentize-py.toml names the WIT, so no `-d`.
            let mut cmd = Command::new(tool);
            cmd.current_dir(app_dir)
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .args(["-w", world]);
            if rename {
                // Keep the module name the SDK imports.
                cmd.arg("--import-interface-name")
                    .arg("wasx:http/types@0.2.12=wasi_http_types");
            }
            cmd.args(["componentize", "-p"])
                .arg(&sdk_path)
                .arg("-p")
                .arg(app_dir);
            if options.stub_wasi {
                cmd.arg("--stub-wasi");
            }
            cmd.arg("app").arg("-o").arg(&tmp);
            let result = run(&mut cmd);
            let _ = std::fs::remove_dir_all(&stage);
            result?;
            if rename {
                let bytes = std::fs::read(&tmp).map_err(|e| e.to_string())?;
                std::fs::write(&tmp, respell(&bytes, STAND_IN_NS, WASI_NS))
                    .map_err(|e| e.to_string())?;
            }
        }
        Lang::Js => {
            let tool = js_toolchain()?;
            // componentize-qjs 0.4.5 cannot build a notifier from the contract as it
            // is, for two reasons, so a stubbed notifier is built from a staged copy
            // of the WIT and the component is spelt back after:
            // - its pre-initialisation linker provides wasi:io from wasmtime-wasi and
            //   every other import as traps, whose resources do not match ("instance
            //   export `input-stream` has the wrong type: mismatched resource
            //   types"): so the WIT and the JS spell the namespace `wasx:`, which
            //   neither that linker nor --stub-wasi knows. The tool's own WASI
            //   imports (QuickJS's), stubbed inside the component, are respelt
            //   `wasz:` so that they never meet the real ones.
            // - its composition re-encodes a world's own types without their names,
            //   so `run-event` (which uses the world's `step-summary`, ...) makes an
            //   invalid component ("type not valid to be used as import"): so the
            //   world's types move into `wharf:plugin/types` (a types-only interface;
            //   the host links it by name, and the component's imports stay the same).
            let rename = options.stub_wasi && world == "notifier";
            // Stage the app with the SDK where its bare import resolves.
            let stage = out_dir.join(format!(".stage-{key}-{scratch}"));
            let _ = std::fs::remove_dir_all(&stage);
            copy_tree(app_dir, &stage)?;
            let sdk_dest = stage.join("node_modules/@wharf/plugin-sdk");
            copy_tree(&sdk, &sdk_dest)?;
            let wit = if rename {
                let staged = respell_tree(&stage, WASI_NS, STAND_IN_NS, &["js", "mjs", "wit"])
                    .and_then(|()| hoist_world_types(&sdk_dest.join("wit/plugin.wit"), world));
                if let Err(e) = staged {
                    let _ = std::fs::remove_dir_all(&stage);
                    return Err(e);
                }
                sdk_dest.join("wit")
            } else {
                sdk.join("wit")
            };
            let mut cmd = Command::new(tool);
            cmd.current_dir(&stage)
                .arg("-w")
                .arg(&wit)
                .args(["-n", world, "-j", "app.js", "--module-root"])
                .arg(&stage)
                .arg("--sync");
            if options.stub_wasi {
                cmd.arg("--stub-wasi");
            }
            cmd.arg("-o").arg(&tmp);
            let result = run(&mut cmd);
            let _ = std::fs::remove_dir_all(&stage);
            result?;
            if rename {
                let bytes = std::fs::read(&tmp).map_err(|e| e.to_string())?;
                if bytes.windows(STUBBED_NS.len()).any(|w| w == STUBBED_NS) {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(format!(
                        "{}: the component already holds `{}`, so it cannot be spelt back",
                        app_dir.display(),
                        String::from_utf8_lossy(STUBBED_NS)
                    ));
                }
                let bytes = respell(&respell(&bytes, WASI_NS, STUBBED_NS), STAND_IN_NS, WASI_NS);
                std::fs::write(&tmp, bytes).map_err(|e| e.to_string())?;
            }
        }
    }
    std::fs::rename(&tmp, &out).map_err(|e| e.to_string())?;
    Ok(out)
}

const WASI_NS: &[u8] = b"wasi:";
/// As long as `wasi:`, so the component's names keep their lengths.
const STAND_IN_NS: &[u8] = b"wasx:";
/// What a JS notifier's stubbed-out (internal) WASI imports are spelt after the
/// build, so that the stand-ins can take the `wasi:` names.
const STUBBED_NS: &[u8] = b"wasz:";

/// Every `from` in `bytes` replaced by `to` (of the same length).
fn respell(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    debug_assert_eq!(from.len(), to.len());
    let mut out = bytes.to_vec();
    let mut at = 0;
    while let Some(i) = out[at..].windows(from.len()).position(|w| w == from) {
        out[at + i..at + i + to.len()].copy_from_slice(to);
        at += i + to.len();
    }
    out
}

/// Respells the namespace in every `.wit` file under `dir`.
fn respell_wit(dir: &Path, from: &[u8], to: &[u8]) -> Result<(), String> {
    respell_tree(dir, from, to, &["wit"])
}

/// Respells the namespace in every file under `dir` whose extension is one of `exts`.
fn respell_tree(dir: &Path, from: &[u8], to: &[u8], exts: &[&str]) -> Result<(), String> {
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            respell_tree(&path, from, to, exts)?;
        } else if path
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| exts.contains(&x))
        {
            let text = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            std::fs::write(&path, respell(&text, from, to))
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// Moves the types `world` defines itself (between its `use types.{...};` and the
/// doc comment of its export) into `interface types` of the WIT file at `path`, and
/// names them in the world's `use`. The component's types are the same (they are
/// structural); the world then has no type that uses another of its own.
fn hoist_world_types(path: &Path, world: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let hoisted = hoist_world_types_in(&text, world)
        .map_err(|e| format!("{}: world {world}: {e}", path.display()))?;
    std::fs::write(path, hoisted).map_err(|e| format!("{}: {e}", path.display()))
}

fn hoist_world_types_in(text: &str, world: &str) -> Result<String, String> {
    let lines: Vec<&str> = text.lines().collect();
    let world_at = lines
        .iter()
        .position(|l| l.trim() == format!("world {world} {{"))
        .ok_or("no such world")?;
    let use_at = (world_at..lines.len())
        .find(|&i| lines[i].trim().starts_with("use types.{"))
        .ok_or("no `use types.{...};` in the world")?;
    let use_line = lines[use_at].trim();
    let used = use_line
        .strip_prefix("use types.{")
        .and_then(|r| r.strip_suffix("};"))
        .ok_or("the world's `use types.{...};` is not on one line")?;
    let export_at = (use_at..lines.len())
        .find(|&i| lines[i].trim().starts_with("export "))
        .ok_or("no export in the world")?;
    let mut block_end = export_at;
    while block_end > use_at && lines[block_end - 1].trim().starts_with("///") {
        block_end -= 1;
    }
    let block = &lines[use_at + 1..block_end];
    let names: Vec<&str> = block
        .iter()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            match words.next() {
                Some("enum" | "record" | "variant" | "flags" | "type") => words
                    .next()
                    .map(|n| n.trim_end_matches(['{', '='].as_slice())),
                _ => None,
            }
        })
        .collect();
    if names.is_empty() {
        return Ok(text.to_string());
    }
    let types_at = lines
        .iter()
        .position(|l| l.trim() == "interface types {")
        .ok_or("no `interface types`")?;
    let types_end = (types_at..lines.len())
        .find(|&i| lines[i] == "}")
        .ok_or("`interface types` does not end")?;
    if types_end > world_at {
        return Err("`interface types` must come before the world".into());
    }
    let mut out: Vec<String> = Vec::with_capacity(lines.len() + 1);
    out.extend(lines[..types_end].iter().map(|l| l.to_string()));
    out.push(String::new());
    out.extend(block.iter().map(|l| l.to_string()));
    out.extend(lines[types_end..use_at].iter().map(|l| l.to_string()));
    out.push(format!("    use types.{{{used}, {}}};", names.join(", ")));
    out.push(String::new());
    out.extend(lines[block_end..].iter().map(|l| l.to_string()));
    Ok(out.join("\n") + "\n")
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    let entries = std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| e.to_string())?;
        let name = entry.file_name();
        if name == "node_modules" || name == "toolchain" || name == "__pycache__" {
            continue;
        }
        let src = entry.path();
        let dst = to.join(&name);
        if src.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(|e| format!("{}: {e}", src.display()))?;
        }
    }
    Ok(())
}
