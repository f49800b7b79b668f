//! Shared by the host's integration tests: one host per test process, a log sink
//! that records, and inputs.
#![allow(dead_code)]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use wharf_plugin_host::*;

/// One host per test process, caching precompiled code under target/.
pub fn host() -> &'static PluginHost {
    static HOST: OnceLock<PluginHost> = OnceLock::new();
    HOST.get_or_init(|| {
        PluginHost::new(HostConfig {
            cache_dir: Some(wharf_e2e::plugins::workspace_root().join("target/plugin-cache-tests")),
            ..HostConfig::default()
        })
        .expect("host")
    })
}

/// Loads a plugin package of the workspace (built for wasm32-wasip2 on demand).
pub fn load(package: &str) -> Plugin {
    host()
        .load_file(&wharf_e2e::plugins::plugin_wasm(package))
        .unwrap_or_else(|e| panic!("loading {package}: {e}"))
}

/// A log sink keeping every line.
#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<(LogSource, String)>>);

impl LogSink for Recorder {
    fn line(&self, source: LogSource, text: &str) {
        self.0
            .lock()
            .expect("lock")
            .push((source, text.to_string()));
    }
}

impl Recorder {
    pub fn lines(&self) -> Vec<(LogSource, String)> {
        self.0.lock().expect("lock").clone()
    }

    pub fn text(&self) -> String {
        self.lines()
            .into_iter()
            .map(|(_, l)| l)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub fn image(reference: &str) -> ImageRef {
    let (name, tag) = reference.rsplit_once(':').expect("name:tag");
    let (registry, repository) = name.split_once('/').expect("registry/repo");
    ImageRef {
        reference: reference.into(),
        registry: registry.into(),
        repository: repository.into(),
        tag: Some(tag.into()),
        digest: None,
    }
}

/// A call on `image` with these `with:` string values and default limits.
pub fn input(with: &[(&str, &str)], subject: Subject) -> CallInput {
    CallInput {
        with: with
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect(),
        grants: Grants::default(),
        limits: Limits {
            timeout: Duration::from_secs(5),
            ..Limits::default()
        },
        run: RunInfo {
            id: "run1".into(),
            step_id: "step".into(),
            ..RunInfo::default()
        },
        context_dir: None,
        env: vec![],
        secrets: vec![],
        subject,
    }
}

pub fn tag_input(with: &[(&str, &str)]) -> CallInput {
    input(with, Subject::Image(image("localhost:5000/app:build")))
}

pub fn services(rec: &Arc<Recorder>) -> Services {
    Services::log_only(rec.clone())
}
