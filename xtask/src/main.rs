//! Developer commands of the wharf workspace: `cargo xtask <command>`.
//!
//! - `ci`: `cargo fmt --check`, `cargo clippy --all-targets -D warnings`, the whole test suite.
//! - `bench [NAME...]`: measure the performance targets and rewrite their sections of
//!   docs/benchmarks.md.
//! - `fuzz [--seconds N]`: run the loader's property-based fuzz tests for longer.
//! - `demo`: the best demo there is so far.
//! - `plugins [--fixtures] [--lang rust|python|js] [NAME...]`: build plugin components
//!   (Rust, Python, JavaScript) into target/plugins/.
//! - `new-plugin NAME --kind tagger|scanner|notifier [--lang rust|python|js]`: make a
//!   working plugin in plugins/ (Python in plugins/python/, JS in plugins/js/).

mod bench;
mod bench_build;
mod bench_logs;
mod bench_plugins;
mod bench_registry;
mod demo;
mod plugins;
mod plugins_lang;
mod template_check;

use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("bench") => bench::run(&args[1..]),
        Some("fuzz") => fuzz(&args[1..]),
        Some("demo") => demo::run(),
        Some("check-templates") => template_check::check(),
        Some("plugins") => plugins::build(&args[1..]),
        Some("new-plugin") => plugins::new_plugin(&args[1..]),
        Some("help" | "--help" | "-h") | None => {
            print_help();
            Ok(())
        }
        Some(other) => {
            print_help();
            Err(anyhow::anyhow!("unknown command {other}"))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_help() {
    eprintln!(
        "cargo xtask <command>\n\n\
         ci              fmt --check, clippy --all-targets -D warnings, and every test\n\
         demo            the whole release pipeline (build, test, tag, scan, push, chart, notify) on wharf's own registry\n\
         bench [NAME..]  measure performance targets, update docs/benchmarks.md (names: plan, run, build, logs, registry, plugins)\n\
         fuzz [--seconds N]  run the loader fuzz tests for N seconds (default 300)\n\
         plugins [--fixtures] [--lang rust|python|js] [NAME..]  build plugin components into target/plugins/\n\
         new-plugin NAME --kind tagger|scanner|notifier [--lang rust|python|js]  make a working plugin\n\
         check-templates  make a Rust plugin of each kind with new-plugin, test it, run it in a pipeline, remove it (the last stage of ci)"
    );
}

/// The cargo that runs us.
pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Runs a command, failing if it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// The workspace root.
pub fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default()
}

fn ci() -> Result<()> {
    let root = root();
    run(cargo().current_dir(&root).args(["fmt", "--all", "--check"]))?;
    run(cargo().current_dir(&root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(cargo()
        .current_dir(&root)
        .args(["test", "--workspace", "--no-fail-fast"]))?;
    template_check::check()?;
    Ok(())
}

fn fuzz(args: &[String]) -> Result<()> {
    let seconds: u64 = match args {
        [] => 300,
        [flag, n] if flag == "--seconds" => n.parse().context("--seconds takes a number")?,
        _ => bail!("usage: cargo xtask fuzz [--seconds N]"),
    };
    let start = std::time::Instant::now();
    let mut rounds = 0u64;
    while start.elapsed().as_secs() < seconds {
        rounds += 1;
        run(cargo()
            .current_dir(root())
            .args(["test", "--release", "-p", "wharf-spec", "--test", "fuzz"])
            .env("PROPTEST_CASES", "20000"))?;
    }
    eprintln!(
        "xtask: fuzzed the loader for {} s in {rounds} rounds of 20000 cases per property, no failure",
        start.elapsed().as_secs()
    );
    Ok(())
}
