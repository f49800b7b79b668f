//! Indicative figures per guest language (run in whatever profile it is built in):
//! load from the warm code cache in a new host, and instantiate + one `tag` call,
//! p50 of 200. `cargo run -p wharf-plugin-contract --example lang_bench`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wharf_e2e::plugin_langs::BuildOptions;
use wharf_plugin_contract::{Language, Lines, guest, image};
use wharf_plugin_host::*;

fn input() -> CallInput {
    CallInput {
        with: vec![
            ("mode".into(), "tag".into()),
            ("version".into(), "1.2.3".into()),
        ],
        grants: Grants::default(),
        limits: Limits::default(),
        run: RunInfo::default(),
        context_dir: None,
        env: vec![],
        secrets: vec![],
        subject: Subject::Image(image()),
    }
}

#[tokio::main]
async fn main() {
    for lang in Language::ALL {
        let path = guest(lang, "tagger", BuildOptions::default()).expect("guest");
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let host = PluginHost::new(HostConfig {
            cache_dir: Some(wharf_e2e::plugins::workspace_root().join("target/plugin-cache-tests")),
            ..HostConfig::default()
        })
        .expect("host");
        let start = Instant::now();
        let plugin = host
            .load("contract-tagger", &std::fs::read(&path).expect("read"))
            .expect("load");
        let load = start.elapsed();
        let mut times: Vec<Duration> = Vec::new();
        for _ in 0..200 {
            let t = Instant::now();
            host.call(
                &plugin,
                input(),
                Services::log_only(Arc::new(Lines::default())),
            )
            .await
            .expect("call");
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "{:<7} {:>9} bytes  load {:?} ({:?})  instantiate+call p50 {:?}",
            lang.as_str(),
            size,
            load,
            plugin.compiled(),
            times[times.len() / 2]
        );
    }
}
