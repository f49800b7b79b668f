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
    let in_run = wharf_run_figures(&tagger)?;

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
         adds **{}**.\n",
        ms(step_m),
        ms(none_m),
        ms(extra),
    );
    body.push_str(&in_run);
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

/// The `wharf run` form: a pipeline of one `cmd` step against the same pipeline with
/// a semver-tagger step after it, each in a new `wharf run` process (release build,
/// warm compile cache), interleaved; and the plugin step's own duration as the run
/// reports it (`step.finished` of `--json`).
fn wharf_run_figures(tagger: &Path) -> Result<String> {
    if !wharf_e2e::docker_available() {
        bail!("the `wharf run` figures need a Docker engine");
    }
    run_cmd(
        cargo()
            .current_dir(root())
            .args(["build", "--release", "-p", "wharf"]),
    )?;
    let wharf = root().join("target/release/wharf");
    let image = wharf_e2e::busybox_image();
    let dir = root().join("target/bench/plugin-run");
    let _ = std::fs::remove_dir_all(&dir);
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins)?;
    std::fs::copy(tagger, plugins.join("semver-tagger.wasm"))?;
    let cache = root().join("target/bench/plugin-run-cache");
    let _ = std::fs::remove_dir_all(&cache);
    let without = format!("steps:\n  - id: work\n    cmd: {image} true\n");
    let with = format!(
        "{without}  - id: tag\n    plugin: semver-tagger\n    with: {{ image: {image}, version: 1.2.3, latest: \"false\" }}\n"
    );
    std::fs::write(dir.join("without.yaml"), &without)?;
    std::fs::write(dir.join("with.yaml"), &with)?;
    let run = |file: &str, id: &str| -> Result<(Duration, Option<u64>)> {
        let start = Instant::now();
        let out = Command::new(&wharf)
            .current_dir(&dir)
            .env("WHARF_PLUGIN_PATH", &plugins)
            .env("WHARF_PLUGIN_CACHE", &cache)
            .args([
                "run",
                "-f",
                file,
                "--id",
                id,
                "--registry",
                "localhost:5000",
                "--json",
            ])
            .output()
            .context("cannot run wharf")?;
        let took = start.elapsed();
        if !out.status.success() {
            bail!(
                "wharf run -f {file} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let step_ms = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| e["event"] == "step.finished" && e["step"] == "tag")
            .and_then(|e| e["durationMs"].as_u64());
        Ok((took, step_ms))
    };
    // The first run compiles semver-tagger into the cache.
    let first = run("with.yaml", "pbfirst")?;
    let rounds = 15;
    let (mut none, mut some, mut steps) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..rounds {
        none.push(run("without.yaml", &format!("pbn{i}"))?.0);
        let (t, s) = run("with.yaml", &format!("pbw{i}"))?;
        some.push(t);
        if let Some(s) = s {
            steps.push(Duration::from_millis(s));
        }
    }
    let _ = Command::new("docker")
        .args([
            "rmi",
            "wharf-test/busybox:1.2.3",
            "wharf-test/busybox:1.2",
            "wharf-test/busybox:1",
        ])
        .output();
    let (none_m, some_m) = (median(none), median(some));
    let extra = some_m.saturating_sub(none_m);
    let step_m = if steps.is_empty() {
        Duration::ZERO
    } else {
        median(steps)
    };
    let mut body = String::new();
    let _ = writeln!(
        body,
        "\n`wharf run` with a plugin step ({rounds} interleaved rounds, medians, release build, \
         warm compile cache): a pipeline of one `cmd: busybox true` step takes **{}** in a new \
         `wharf run` process; the same pipeline with a semver-tagger step after it (three tags \
         applied through the Docker engine) takes **{}**: the plugin step adds **{}** (goal ≤ 5 ms \
         over the same pipeline without the plugin: {}). The run reports the plugin step itself \
         (starting the plugin host, mapping the cached code, the call, the tag requests) at **{}** \
         (`step.finished` duration). The first run, which compiles semver-tagger, took {} (its \
         plugin step {}).\n",
        ms(none_m),
        ms(some_m),
        ms(extra),
        if extra <= Duration::from_millis(5) {
            "meets"
        } else {
            "misses"
        },
        ms(step_m),
        ms(first.0),
        first
            .1
            .map(|m| ms(Duration::from_millis(m)))
            .unwrap_or_else(|| "-".into()),
    );
    Ok(body)
}
