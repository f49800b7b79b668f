//! Plugin components for tests: builds a plugin crate of this workspace for
//! `wasm32-wasip2` (profile `plugin`, into `target/wasm-build`, the directory
//! `cargo xtask plugins` uses too) once per test process, and returns the `.wasm`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Where plugin builds go (a target directory of its own, so a test can build
/// while `cargo test` holds the workspace's).
pub fn wasm_target_dir() -> PathBuf {
    workspace_root().join("target/wasm-build")
}

/// Builds the plugin package `package` (e.g. `semver-tagger`, `hostile-plugin`)
/// and returns the component's path. Panics with cargo's output when it fails.
pub fn plugin_wasm(package: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(HashMap::new()));
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(package) {
        return path.clone();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace_root())
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .args([
            "build",
            "--quiet",
            "--profile",
            "plugin",
            "--target",
            "wasm32-wasip2",
            "-p",
            package,
        ])
        .arg("--target-dir")
        .arg(wasm_target_dir())
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo to build plugin {package}: {e}"));
    if !out.status.success() {
        panic!(
            "building plugin {package} for wasm32-wasip2 failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let dir = wasm_target_dir().join("wasm32-wasip2/plugin");
    // A library component is named like its crate (`_`), a command like its package.
    let path = [package.replace('-', "_"), package.to_string()]
        .into_iter()
        .map(|stem| dir.join(format!("{stem}.wasm")))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "cargo built {package} but no {package}.wasm is in {}",
                dir.display()
            )
        });
    built.insert(package.to_string(), path.clone());
    path
}

/// Builds each plugin package and copies its component into `dir` as
/// `<package>.wasm`, the layout of a plugin path directory (`WHARF_PLUGIN_PATH`).
pub fn install(dir: &Path, packages: &[&str]) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
    for package in packages {
        let wasm = plugin_wasm(package);
        std::fs::copy(&wasm, dir.join(format!("{package}.wasm")))
            .unwrap_or_else(|e| panic!("copying {}: {e}", wasm.display()));
    }
}
