//! `cargo xtask bench plugins`: the plugin host's figures — first compile,
//! instantiate + call in process, and what one plugin step costs a new process
//! with a warm compile cache — measured by the host's `plugin_bench` example
//! (release build) and written to the `plugins` section of docs/benchmarks.md.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::bench::{Section, machine, ms};
use crate::{cargo, plugins, root, run as run_cmd};

fn bench_json(bin: &Path, args: &[&str]) -> Result<serde_json::Value> {
    let out = Command::new(bin)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "{} {args:?} failed: {}",
            bin.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("plugin_bench printed no JSON")
}

fn num(v: &serde_json::Value, key: &str) -> Result<f64> {
    v[key]
        .as_f64()
        .with_context(|| format!("plugin_bench gave no {key}"))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Measures and returns the section.
pub fn run() -> Result<Section> {
    run_cmd(cargo().current_dir(root()).args([
        "build",
        "--release",
        "-p",
        "wharf-plugin-host",
        "--example",
        "plugin_bench",
    ]))?;
    let bin = root().join("target/release/examples/plugin_bench");
    let noop = plugins::build_one("hostile-plugin")?;
    let tagger = plugins::build_one("semver-tagger")?;
    let noop_s = noop.to_string_lossy().into_owned();
    let tagger_s = tagger.to_string_lossy().into_owned();

    let minimal = bench_json(&bin, &["inprocess", &noop_s, "5000"])?;
    let real = bench_json(&bin, &["inprocess", &tagger_s, "2000"])?;

    // A new process per plugin step, warm cache, against a process doing nothing.
    let cache = root().join("target/bench/plugin-cache");
    let _ = std::fs::remove_dir_all(&cache);
    let cache_s = cache.to_string_lossy().into_owned();
    bench_json(&bin, &["step", &tagger_s, &cache_s])?; // fills the cache
    let rounds = 21;
    let (mut none, mut step) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let start = Instant::now();
        bench_json(&bin, &["none"])?;
        none.push(start.elapsed());
        let start = Instant::now();
        let v = bench_json(&bin, &["step", &tagger_s, &cache_s])?;
        step.push(start.elapsed());
        if !v["compiled"]
            .as_str()
            .unwrap_or("")
            .starts_with("FromCache")
        {
            bail!("the warm step did not load from the cache: {v}");
        }
    }
    let (none_m, step_m) = (median(none), median(step));
    let extra = step_m.saturating_sub(none_m);

    let mut body = String::new();
    let _ = writeln!(body, "## Plugin host (wasmtime 48, pooling allocator)\n");
    let _ = writeln!(
        body,
        "In process, one `PluginHost`: each call is a fresh `Store` (limits, WASI context \
         with stdout/stderr to the log, epoch deadline) instantiated from the plugin's \
         pre-instantiated component, the export called, the result turned into step \
         outputs, the store dropped. The minimal plugin is the `hostile-plugin` fixture's \
         `noop` mode (returns one tag); semver-tagger parses its rules and logs a line.\n"
    );
    let _ = writeln!(
        body,
        "| plugin | size | first compile (p50 of 5) | load from disk cache (p50) | instantiate (p50) | instantiate + call (p50 / p99) | target |"
    );
    let _ = writeln!(body, "|---|---|---|---|---|---|---|");
    for (name, v) in [("minimal (noop)", &minimal), ("semver-tagger", &real)] {
        let call = num(v, "call_p50_us")?;
        let _ = writeln!(
            body,
            "| {name} | {} KiB | {} | {:.0} µs | {:.1} µs | {:.1} µs / {:.1} µs | ≤ 20 µs: {} |",
            (num(v, "size")? / 1024.0).round(),
            ms(Duration::from_secs_f64(num(v, "compile_p50_us")? / 1e6)),
            num(v, "cached_load_p50_us")?,
            num(v, "instantiate_p50_us")?,
            call,
            num(v, "call_p99_us")?,
            if call <= 20.0 { "meets" } else { "misses" },
        );
    }
    let _ = writeln!(
        body,
        "\nA plugin step in a new process, warm compile cache ({rounds} interleaved rounds, \
         medians): a process that creates the host, maps semver-tagger's `.cwasm`, and runs \
         one call takes **{}**; the same binary doing nothing takes {}: the plugin step \
         adds **{}** (goal ≤ 5 ms over the same pipeline without the plugin: {}). The \
         `wharf run` form of this figure (a pipeline with and without the plugin step) \
         is measured once plugin steps run in `wharf run`.\n",
        ms(step_m),
        ms(none_m),
        ms(extra),
        if extra <= Duration::from_millis(5) {
            "meets"
        } else {
            "misses"
        },
    );
    let _ = writeln!(
        body,
        "Pooling allocator: {}. Reproduce: `cargo xtask bench plugins` (release build of \
         `crates/wharf-plugin-host/examples/plugin_bench.rs`; {}).",
        if minimal["pooling"].as_bool().unwrap_or(false) {
            "on"
        } else {
            "unavailable, on-demand allocation"
        },
        machine()
    );
    Ok(Section {
        name: "plugins",
        body,
    })
}
