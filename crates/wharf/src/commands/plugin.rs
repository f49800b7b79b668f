//! `wharf plugin push|pull|ls|inspect|compile`: WebAssembly plugins as OCI artifacts
//! (config `application/vnd.wasm.config.v0+json`, one `application/wasm` layer),
//! through wharf's registry client; the local plugin path and the pull cache. A
//! plugin pulled (or compiled with `compile`) is compiled to native code at once and
//! kept in the host's code cache, so no step pays for its first compile (seconds for
//! a Python or JavaScript plugin).
//!
//! Exit codes: 0 done, 1 the registry refused or failed, 2 bad input (a file that is
//! not a wharf plugin, a malformed reference, an artifact that is not a plugin).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use super::registry::{block_on, client, fail, image_ref, print_json, usage};
use super::{EXIT_FAILED, EXIT_USAGE, print};
use crate::cli::{OutputFormat, RegistryOptions};
use crate::plugin::oci::{self, ComponentInfo, Store};
use crate::plugin::source;

/// `wharf plugin ...`.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Push a component (`.wasm`) to a registry as a Wasm OCI artifact.
    Push(PluginPushArgs),
    /// Pull a plugin into the cache (as a step's `oci://` source does).
    Pull(PluginPullArgs),
    /// List the plugins a step can name: the plugin path and the pulled ones.
    Ls(PluginLsArgs),
    /// Show a plugin's world, digest, imports and the grants it needs.
    Inspect(PluginInspectArgs),
    /// Compile components to native code into the plugin code cache now, so that
    /// no step pays for a first compile (`cargo xtask plugins` does it after a build).
    Compile(PluginCompileArgs),
}

#[derive(Debug, Args)]
pub struct PluginCompileArgs {
    /// Components (`.wasm` files).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PluginPushArgs {
    /// The component: `target/plugins/semver-tagger.wasm`.
    pub file: PathBuf,
    /// Where: `REGISTRY/REPO:TAG` (`oci://` optional).
    pub reference: String,
    #[command(flatten)]
    pub options: RegistryOptions,
}

#[derive(Debug, Args)]
pub struct PluginPullArgs {
    /// `REGISTRY/REPO:TAG` or `REGISTRY/REPO@sha256:...` (`oci://` optional).
    pub reference: String,
    #[command(flatten)]
    pub options: RegistryOptions,
}

#[derive(Debug, Args)]
pub struct PluginLsArgs {
    /// The build context whose `target/plugins` is searched too.
    #[arg(long, default_value = ".")]
    pub context: PathBuf,
    #[command(flatten)]
    pub options: RegistryOptions,
}

#[derive(Debug, Args)]
pub struct PluginInspectArgs {
    /// A `.wasm` file, a plugin name (searched in the plugin path), or
    /// `oci://REGISTRY/REPO:TAG`.
    pub plugin: String,
    /// The build context (for names and relative paths).
    #[arg(long, default_value = ".")]
    pub context: PathBuf,
    #[command(flatten)]
    pub options: RegistryOptions,
}

/// Runs a `wharf plugin` command.
pub fn run(command: PluginCommand) -> ExitCode {
    match command {
        PluginCommand::Push(args) => push(&args),
        PluginCommand::Pull(args) => pull(&args),
        PluginCommand::Ls(args) => ls(&args),
        PluginCommand::Inspect(args) => inspect(&args),
        PluginCommand::Compile(args) => compile(&args),
    }
}

/// How a load got its code, for people: `compiled in 1.2 s` or `precompiled`.
fn compiled_text(compiled: wharf_plugin_host::Compiled) -> String {
    match compiled {
        wharf_plugin_host::Compiled::Now(took) => {
            format!("compiled in {:.1} s", took.as_secs_f64())
        }
        _ => "precompiled already".to_string(),
    }
}

fn compile(args: &PluginCompileArgs) -> ExitCode {
    let host = match host() {
        Ok(h) => h,
        Err(code) => return code,
    };
    let cache = host
        .cache_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|| "no cache directory: nothing is kept".into());
    for file in &args.files {
        match host.load_file(file) {
            Ok(plugin) => eprintln!(
                "{} ({}, {}): {}",
                file.display(),
                plugin.world(),
                plugin.digest(),
                compiled_text(plugin.compiled())
            ),
            Err(e) => return usage(e),
        }
    }
    eprintln!("code cache: {cache}");
    ExitCode::SUCCESS
}

fn strip(reference: &str) -> &str {
    reference.strip_prefix("oci://").unwrap_or(reference)
}

fn host() -> Result<wharf_plugin_host::PluginHost, ExitCode> {
    wharf_plugin_host::PluginHost::new(wharf_plugin_host::HostConfig {
        max_concurrent: 1,
        ..wharf_plugin_host::HostConfig::default()
    })
    .map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_FAILED)
    })
}

/// Loads (and so checks) a component file.
fn load(path: &Path) -> Result<(wharf_plugin_host::Plugin, Vec<u8>), ExitCode> {
    let bytes = std::fs::read(path).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("plugin")
        .to_string();
    let plugin = host()?.load(&name, &bytes).map_err(usage)?;
    Ok((plugin, bytes))
}

fn push(args: &PluginPushArgs) -> ExitCode {
    let image = match image_ref(strip(&args.reference)) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let (plugin, bytes) = match load(&args.file) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let info = ComponentInfo {
        file_name: args
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plugin.wasm".into()),
        world: plugin.world().to_string(),
        imports: plugin.imports().to_vec(),
        exports: vec![
            match plugin.world() {
                wharf_plugin_host::World::Tagger => "tag",
                wharf_plugin_host::World::Scanner => "scan",
                wharf_plugin_host::World::Notifier => "notify",
            }
            .to_string(),
        ],
    };
    block_on(async {
        let client = match client(&args.options, Vec::new()) {
            Ok(c) => c,
            Err(code) => return code,
        };
        match oci::push(&client, &image, bytes.into(), &info).await {
            Ok((digest, size)) => match args.options.output {
                OutputFormat::Json => print_json(&json!({
                    "reference": image.to_string(),
                    "digest": digest.as_str(),
                    "size": size,
                    "world": info.world,
                    "component": plugin.digest(),
                })),
                OutputFormat::Text => print(&format!(
                    "pushed {} ({}) as oci://{}@{digest}\n",
                    args.file.display(),
                    info.world,
                    image.name()
                )),
            },
            Err(e) => fail(&e),
        }
    })
}

fn pull(args: &PluginPullArgs) -> ExitCode {
    let reference = strip(&args.reference).to_string();
    block_on(async {
        let client = match client(&args.options, Vec::new()) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let store = Store::new(Some(client));
        match store.pull(&reference).await {
            Ok(p) => {
                // Compiled now, into the code cache, so the first step using it
                // does not pay for it.
                let plugin = match load(&p.path) {
                    Ok((plugin, _)) => plugin,
                    Err(code) => return code,
                };
                match args.options.output {
                    OutputFormat::Json => print_json(&json!({
                        "reference": reference,
                        "manifest": p.manifest.as_str(),
                        "component": p.layer.as_str(),
                        "path": p.path,
                        "cached": p.cached,
                        "compiled": matches!(plugin.compiled(), wharf_plugin_host::Compiled::Now(_)),
                    })),
                    OutputFormat::Text => print(&format!(
                        "{} oci://{reference}: {} ({}); {}\n",
                        if p.cached { "cached" } else { "pulled" },
                        p.layer,
                        p.path.display(),
                        compiled_text(plugin.compiled())
                    )),
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(match e.kind {
                    wharf_engine::ErrorKind::Input => EXIT_USAGE,
                    _ => EXIT_FAILED,
                })
            }
        }
    })
}

fn ls(args: &PluginLsArgs) -> ExitCode {
    let mut local = Vec::new();
    for dir in source::search_path(&args.context) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut found: Vec<(String, PathBuf, u64)> = entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "wasm"))
            .map(|e| {
                let path = e.path();
                let name = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                (name, path, size)
            })
            .collect();
        found.sort();
        local.extend(found);
    }
    let pulled = Store::new(None).list();
    match args.options.output {
        OutputFormat::Json => print_json(&json!({
            "path": local.iter().map(|(n, p, s)| json!({"name": n, "path": p, "size": s})).collect::<Vec<_>>(),
            "pulled": pulled.iter().map(|(t, m, l, s)| json!({
                "tag": t, "manifest": m.as_str(), "component": l.as_str(), "size": s,
            })).collect::<Vec<_>>(),
        })),
        OutputFormat::Text => {
            let mut out = String::from("NAME                      SIZE  WHERE\n");
            for (name, path, size) in &local {
                out.push_str(&format!(
                    "{name:<24}  {:>6}  {}\n",
                    kib(*size),
                    path.display()
                ));
            }
            for (tag, manifest, _, size) in &pulled {
                out.push_str(&format!(
                    "{tag:<24}  {:>6}  oci (@{manifest})\n",
                    kib(*size)
                ));
            }
            print(&out)
        }
    }
}

fn kib(bytes: u64) -> String {
    format!("{}K", bytes.div_ceil(1024))
}

fn inspect(args: &PluginInspectArgs) -> ExitCode {
    let written = args.plugin.as_str();
    let (path, manifest) = if let Some(reference) = written.strip_prefix("oci://") {
        let reference = reference.to_string();
        let client = match client(&args.options, Vec::new()) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let pulled = match crate::commands::runtime() {
            Ok(rt) => rt.block_on(Store::new(Some(client)).pull(&reference)),
            Err(code) => return code,
        }
        .map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILED)
        });
        match pulled {
            Ok(p) => (p.path, Some(p.manifest)),
            Err(code) => return code,
        }
    } else {
        let source = if written.ends_with(".wasm") || written.contains('/') {
            wharf_spec::PluginSource::Path(written.to_string())
        } else {
            wharf_spec::PluginSource::Name(written.to_string())
        };
        match source::find(&source, written, &args.context) {
            Ok(found) => (found.path, None),
            Err(m) => return usage(m),
        }
    };
    let (plugin, _) = match load(&path) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let needs: Vec<serde_json::Value> = plugin
        .needs()
        .iter()
        .map(|(import, cap)| {
            json!({"import": import, "needs": cap.describe(), "grant": cap.grant_hint()})
        })
        .collect();
    match args.options.output {
        OutputFormat::Json => print_json(&json!({
            "plugin": written,
            "path": path,
            "world": plugin.world().as_str(),
            "digest": plugin.digest(),
            "size": plugin.size(),
            "manifest": manifest.as_ref().map(|m| m.as_str().to_string()),
            "imports": plugin.imports(),
            "needs": needs,
        })),
        OutputFormat::Text => {
            let mut out = format!(
                "plugin:   {written}\npath:     {}\nworld:    {}\ndigest:   {}\nsize:     {} bytes\n",
                path.display(),
                plugin.world(),
                plugin.digest(),
                plugin.size()
            );
            if let Some(m) = &manifest {
                out.push_str(&format!("manifest: {m}\n"));
            }
            out.push_str("imports:\n");
            for i in plugin.imports() {
                out.push_str(&format!("  {i}\n"));
            }
            if needs.is_empty() {
                out.push_str("grants:   none needed beyond with: and the log\n");
            } else {
                for (import, cap) in plugin.needs() {
                    out.push_str(&format!(
                        "needs:    {} ({import}): {}\n",
                        cap.describe(),
                        cap.grant_hint()
                    ));
                }
            }
            print(&out)
        }
    }
}
