//! Measurements for `cargo xtask bench plugins` (run in release): prints one JSON
//! object. Not a user-facing tool.
//!
//! - `plugin_bench inprocess <tagger.wasm> <runs> [compiles] [key=value]...`: first
//!   compile (fresh cache each time, `compiles` times, 5 when not given), load from
//!   the disk cache (a new host each time), and instantiate + call latencies in one
//!   process. The `key=value`s are the call's `with:` (default `mode=noop
//!   version=1.2.3`, the hostile-plugin fixture's no-op).
//! - `plugin_bench step <tagger.wasm> <cache-dir>`: what a new process pays for one
//!   plugin step with a warm cache: host, load, one call, and dropping them (each
//!   timed).
//! - `plugin_bench none`: a process that does nothing (the baseline for `step`).
//! - `plugin_bench tags <image> <rounds> <tag>...` (feature `docker`): what
//!   applying a tagger's tags costs in the engine — per round a new connection and
//!   [`docker::DockerTags`] applying every tag, as a plugin step does; p50 and min.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wharf_plugin_host::*;

struct Quiet;

impl LogSink for Quiet {
    fn line(&self, _: LogSource, _: &str) {}
}

fn input() -> CallInput {
    input_with(vec![
        ("mode".into(), "noop".into()),
        ("version".into(), "1.2.3".into()),
    ])
}

fn input_with(with: Vec<(String, serde_json::Value)>) -> CallInput {
    CallInput {
        with,
        grants: Grants::default(),
        limits: Limits::default(),
        run: RunInfo::default(),
        context_dir: None,
        env: vec![],
        secrets: vec![],
        subject: Subject::Image(ImageRef {
            reference: "127.0.0.1:5000/app:1".into(),
            registry: "127.0.0.1:5000".into(),
            repository: "app".into(),
            tag: Some("1".into()),
            digest: None,
        }),
    }
}

fn host(cache: Option<std::path::PathBuf>) -> PluginHost {
    PluginHost::new(HostConfig {
        cache_dir: cache,
        ..HostConfig::default()
    })
    .expect("host")
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match args.first().map(String::as_str) {
        Some("none") => println!("{{}}"),
        #[cfg(feature = "docker")]
        Some("tags") => {
            let image = ImageRef {
                reference: args[1].clone(),
                ..ImageRef::default()
            };
            let rounds: usize = args[2].parse().expect("rounds");
            let tags = args[3..].to_vec();
            let mut took = Vec::with_capacity(rounds);
            rt.block_on(async {
                for _ in 0..rounds {
                    let start = Instant::now();
                    let applier = docker::DockerTags {
                        docker: docker::connect().expect("engine"),
                    };
                    applier.apply(&image, &tags).await.expect("tag");
                    took.push(us(start.elapsed()));
                }
            });
            println!(
                "{}",
                serde_json::json!({
                    "tags": tags.len(),
                    "rounds": rounds,
                    "p50_us": pct(took.clone(), 0.5),
                    "min_us": pct(took, 0.0),
                })
            );
        }
        Some("step") => {
            let wasm = std::path::PathBuf::from(&args[1]);
            let start = Instant::now();
            let h = host(Some(args[2].clone().into()));
            let new = start.elapsed();
            let start = Instant::now();
            let plugin = h.load_file(&wasm).expect("load");
            let load = start.elapsed();
            let compiled = format!("{:?}", plugin.compiled());
            let start = Instant::now();
            rt.block_on(h.call(&plugin, input(), Services::log_only(Arc::new(Quiet))))
                .expect("call");
            let call = start.elapsed();
            let start = Instant::now();
            drop(plugin);
            drop(h);
            let dropped = start.elapsed();
            println!(
                "{}",
                serde_json::json!({
                    "compiled": compiled,
                    "host_us": us(new),
                    "load_us": us(load),
                    "call_us": us(call),
                    "drop_us": us(dropped),
                })
            );
        }
        Some("inprocess") => {
            let wasm = std::path::PathBuf::from(&args[1]);
            let runs: usize = args[2].parse().expect("runs");
            let compiles: usize = args.get(3).map_or(5, |n| n.parse().expect("compiles"));
            let with: Vec<(String, serde_json::Value)> = args
                .iter()
                .skip(4)
                .map(|kv| {
                    let (k, v) = kv.split_once('=').expect("key=value");
                    (k.to_string(), serde_json::Value::String(v.to_string()))
                })
                .collect();
            let call_input = || {
                if with.is_empty() {
                    input()
                } else {
                    input_with(with.clone())
                }
            };
            let bytes = std::fs::read(&wasm).expect("read");
            let mut compile = Vec::new();
            let mut cached = Vec::new();
            let dir = tempfile::tempdir().expect("tempdir");
            for i in 0..compiles.max(1) {
                let cache = dir.path().join(format!("c{i}"));
                let h = host(Some(cache.clone()));
                let start = Instant::now();
                let p = h.load("bench", &bytes).expect("load");
                compile.push(us(start.elapsed()));
                assert!(matches!(p.compiled(), Compiled::Now(_)));
                drop(h);
                let h = host(Some(cache));
                let start = Instant::now();
                let p = h.load("bench", &bytes).expect("load");
                cached.push(us(start.elapsed()));
                assert!(matches!(p.compiled(), Compiled::FromCache(_)));
            }
            let h = host(None);
            let plugin = h.load("bench", &bytes).expect("load");
            let services = Services::log_only(Arc::new(Quiet));
            let mut total = Vec::with_capacity(runs);
            let mut instantiate = Vec::with_capacity(runs);
            rt.block_on(async {
                for _ in 0..runs.min(200) {
                    h.call(&plugin, call_input(), services.clone())
                        .await
                        .expect("warm-up");
                }
                for _ in 0..runs {
                    let start = Instant::now();
                    let o = h
                        .call(&plugin, call_input(), services.clone())
                        .await
                        .expect("call");
                    total.push(us(start.elapsed()));
                    instantiate.push(us(o.stats.instantiate));
                }
            });
            println!(
                "{}",
                serde_json::json!({
                    "size": bytes.len(),
                    "pooling": h.pooling(),
                    "allocation": h.allocation().describe(),
                    "compile_p50_us": pct(compile.clone(), 0.5),
                    "compile_min_us": pct(compile, 0.0),
                    "cached_load_p50_us": pct(cached, 0.5),
                    "call_p50_us": pct(total.clone(), 0.5),
                    "call_p99_us": pct(total, 0.99),
                    "instantiate_p50_us": pct(instantiate, 0.5),
                    "runs": runs,
                })
            );
        }
        _ => {
            eprintln!(
                "usage: plugin_bench inprocess WASM RUNS [COMPILES] [KEY=VALUE]... | step WASM CACHE | none | tags IMAGE ROUNDS TAG..."
            );
            std::process::exit(2);
        }
    }
}
