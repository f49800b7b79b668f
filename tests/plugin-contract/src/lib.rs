//! wharf's plugin contract suite: one set of cases, one guest per language, the
//! real host.
//!
//! Each case is a JSON file in `cases/` (format in `cases/README.md`): the world,
//! the step's `with:` and `allow:`, the host fixture state (secrets, files in the
//! build context, the image a scanner sees) and the expected result or error. The
//! guests in `guests/<lang>/` implement the same behaviour in Rust, Python and
//! JavaScript; `tests/contract.rs` runs every case against every guest through
//! [`wharf_plugin_host::PluginHost`] and asserts the same result for all three.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use wharf_e2e::plugin_langs::{self, BuildOptions, Lang};
use wharf_plugin_host::*;

/// A guest language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// wit-bindgen through the Rust SDK.
    Rust,
    /// componentize-py through the Python SDK.
    Python,
    /// componentize-qjs through the JS SDK.
    Js,
}

impl Language {
    /// All three.
    pub const ALL: [Language; 3] = [Language::Rust, Language::Python, Language::Js];

    /// `rust`, `python`, `js`.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::Js => "js",
        }
    }
}

/// The suite's directory.
pub fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Builds (or reuses) the contract guest of `world` in `lang`; returns its component.
pub fn guest(lang: Language, world: &str, options: BuildOptions) -> Result<PathBuf, String> {
    match lang {
        Language::Rust => Ok(wharf_e2e::plugins::plugin_wasm(&format!(
            "contract-{world}"
        ))),
        Language::Python => plugin_langs::build(
            Lang::Python,
            &suite_dir().join("guests/python").join(world),
            world,
            options,
        ),
        Language::Js => plugin_langs::build(
            Lang::Js,
            &suite_dir().join("guests/js").join(world),
            world,
            options,
        ),
    }
}

/// One case file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case shows.
    pub about: String,
    /// `tagger` or `scanner`.
    pub world: String,
    /// The step's `with:`, in order.
    #[serde(default)]
    pub with: serde_json::Map<String, serde_json::Value>,
    /// The step's `allow:`.
    #[serde(default)]
    pub allow: Allow,
    /// Host fixture: the run's secrets.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Host fixture: files in the build context.
    #[serde(default)]
    pub context_files: BTreeMap<String, String>,
    /// Host fixture: the scanned image's files (path → contents).
    #[serde(default)]
    pub image_files: BTreeMap<String, String>,
    /// Host fixture: the scanned image's config JSON.
    #[serde(default)]
    pub image_config: Option<String>,
    /// The call's resource-table cap (`Limits::resources`), when not the default.
    #[serde(default)]
    pub max_resources: Option<u32>,
    /// Notifiers: the run the call tells about.
    #[serde(default)]
    pub event: Option<Event>,
    /// Notifiers: the status the local receiver answers (200 when not given).
    #[serde(default)]
    pub receiver_status: Option<u16>,
    /// What must happen.
    pub expect: Expect,
}

/// `allow:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    /// `secrets:`.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// `read:`.
    #[serde(default)]
    pub read: Vec<String>,
    /// `http:`; `$RECEIVER` is the local receiver's `127.0.0.1:PORT`.
    #[serde(default)]
    pub http: Vec<String>,
}

/// A notifier's run: its status and steps (the rest of `run-event` is fixed).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// `success` or `failure`.
    pub status: String,
    /// The steps, `[id, status]` each.
    #[serde(default)]
    pub steps: Vec<(String, String)>,
}

/// A request the receiver must have got.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExpectRequest {
    /// `POST`.
    pub method: String,
    /// `/hook`.
    pub path: String,
    /// The `content-type` header.
    pub content_type: String,
    /// The body, as JSON.
    pub json: serde_json::Value,
}

/// The expected result.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Success: outputs (name → string or list of strings), in order.
    #[serde(default)]
    pub outputs: Option<serde_json::Map<String, serde_json::Value>>,
    /// Success: findings as `[rule, severity, path]`.
    #[serde(default)]
    pub findings: Option<Vec<(String, String, String)>>,
    /// Success, but the scanner fails the step (`scan-result.fail`): the reason.
    #[serde(default)]
    pub failed: Option<String>,
    /// Failure: the error.
    #[serde(default)]
    pub error: Option<ExpectError>,
    /// Lines that must be in the step's log (in this order, others may come between).
    #[serde(default)]
    pub log: Vec<String>,
    /// After this call, a call in `mode: tag` on the same plugin must still succeed.
    #[serde(default)]
    pub next_call_works: bool,
    /// Notifiers: every request the local receiver got, in order (checked when given).
    #[serde(default)]
    pub received: Option<Vec<ExpectRequest>>,
}

/// An expected error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectError {
    /// [`CallErrorKind`] in lower case: `plugin`, `config`, `denied`, `trap`, ...
    pub kind: String,
    /// For errors the plugin returned: the `plugin-error` case.
    #[serde(default)]
    pub variant: Option<String>,
    /// Text the message must contain.
    #[serde(default)]
    pub contains: Vec<String>,
}

/// Every case, by file stem.
pub fn cases() -> Vec<(String, Case)> {
    let dir = suite_dir().join("cases");
    let mut found: Vec<(String, Case)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let case: Case = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}:{}:{}: {e}", p.display(), e.line(), e.column()));
            let stem = p
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            (stem, case)
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// A log sink that keeps every line.
#[derive(Default)]
pub struct Lines(pub Mutex<Vec<(LogSource, String)>>);

impl LogSink for Lines {
    fn line(&self, source: LogSource, text: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((source, text.to_string()));
    }
}

impl Lines {
    /// The texts, in order.
    pub fn texts(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(_, t)| t.clone())
            .collect()
    }
}

/// The scanned image of a case.
struct FixtureImage {
    files: BTreeMap<String, String>,
    config: String,
}

impl ImageAccess for FixtureImage {
    fn config(&self) -> BoxFuture<'_, Result<String, ImageError>> {
        let c = self.config.clone();
        Box::pin(async move { Ok(c) })
    }
    fn list_files(&self) -> BoxFuture<'_, Result<Vec<FileEntry>, ImageError>> {
        let entries = self
            .files
            .iter()
            .map(|(p, c)| FileEntry {
                path: p.clone(),
                kind: FileKind::File,
                mode: 0o644,
                uid: 0,
                gid: 0,
                size: c.len() as u64,
                link_target: None,
            })
            .collect();
        Box::pin(async move { Ok(entries) })
    }
    fn read_file<'a>(
        &'a self,
        path: &'a str,
        max: u64,
    ) -> BoxFuture<'a, Result<Vec<u8>, ImageError>> {
        let found = self.files.get(path).map(|c| {
            let mut b = c.as_bytes().to_vec();
            b.truncate(usize::try_from(max).unwrap_or(usize::MAX));
            b
        });
        Box::pin(async move { found.ok_or_else(|| ImageError::NotFound(path.to_string())) })
    }
}

/// The image every case tags or scans.
pub fn image() -> ImageRef {
    ImageRef {
        reference: "127.0.0.1:5000/team/app:build".into(),
        registry: "127.0.0.1:5000".into(),
        repository: "team/app".into(),
        tag: Some("build".into()),
        digest: None,
    }
}

/// The call a case makes, with its context directory (kept alive by the caller).
pub fn call_input(
    case: &Case,
    with: &serde_json::Map<String, serde_json::Value>,
    receiver: &str,
) -> (CallInput, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    for (name, text) in &case.context_files {
        std::fs::write(dir.path().join(name), text).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let mut limits = Limits::default();
    if let Some(n) = case.max_resources {
        limits.resources = n;
    }
    let input = CallInput {
        with: with
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(t) => {
                        serde_json::Value::String(t.replace("$RECEIVER", receiver))
                    }
                    other => other.clone(),
                };
                (k.clone(), v)
            })
            .collect(),
        grants: Grants {
            secrets: case.allow.secrets.clone(),
            read: case.allow.read.clone(),
            http: case
                .allow
                .http
                .iter()
                .map(|h| h.replace("$RECEIVER", receiver))
                .collect(),
            ..Grants::default()
        },
        limits,
        run: RunInfo {
            id: "run1".into(),
            step_id: "step1".into(),
            ..RunInfo::default()
        },
        context_dir: Some(dir.path().to_path_buf()),
        env: vec![],
        secrets: case
            .secrets
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        subject: match &case.event {
            Some(event) => Subject::Run(Box::new(run_event(event))),
            None => Subject::Image(image()),
        },
    };
    (input, dir)
}

/// The `run-event` of a notifier case.
pub fn run_event(event: &Event) -> RunEvent {
    RunEvent {
        run: RunInfo {
            id: "run1".into(),
            step_id: "notify1".into(),
            ..RunInfo::default()
        },
        status: if event.status == "success" {
            RunStatus::Success
        } else {
            RunStatus::Failure
        },
        started: "2026-12-01T10:00:00Z".into(),
        finished: "2026-12-01T10:00:05Z".into(),
        duration_ms: 5000,
        steps: event
            .steps
            .iter()
            .map(|(id, status)| StepSummary {
                id: id.clone(),
                status: status.clone(),
                duration_ms: 1000,
                error: (status == "failed").then(|| format!("{id} failed")),
            })
            .collect(),
        images: vec![],
        findings: vec![],
        error: (event.status != "success").then(|| "a step failed".to_string()),
    }
}

/// Runs `case` on `plugin` and asserts its expectation; `Err` says what differed.
pub async fn run_case(host: &PluginHost, plugin: &Plugin, case: &Case) -> Result<(), String> {
    let receiver = wharf_e2e::Receiver::answering(&[case.receiver_status.unwrap_or(200)]);
    let lines = Arc::new(Lines::default());
    let services = Services {
        log: lines.clone(),
        image: Some(Arc::new(FixtureImage {
            files: case.image_files.clone(),
            config: case.image_config.clone().unwrap_or_else(|| "{}".into()),
        })),
        tags: None,
        reports: None,
    };
    let (input, _dir) = call_input(case, &case.with, &receiver.addr);
    let result = host.call(plugin, input, services).await;
    let texts = lines.texts();
    match (&case.expect.error, result) {
        (None, Ok(outcome)) => {
            if outcome.failed != case.expect.failed {
                return Err(format!(
                    "failed: got {:?}, want {:?}",
                    outcome.failed, case.expect.failed
                ));
            }
            if let Some(want) = &case.expect.outputs {
                let got: serde_json::Map<String, serde_json::Value> = outcome
                    .outputs
                    .iter()
                    .map(|(n, v)| {
                        let v = match v {
                            OutputValue::Text(t) => serde_json::json!(t),
                            OutputValue::List(l) => serde_json::json!(l),
                        };
                        (n.clone(), v)
                    })
                    .collect();
                if &got != want {
                    return Err(format!("outputs: got {got:?}, want {want:?}"));
                }
            }
            if let Some(want) = &case.expect.findings {
                let got: Vec<(String, String, String)> = outcome
                    .findings
                    .iter()
                    .map(|f| {
                        (
                            f.rule_id.clone(),
                            format!("{:?}", f.severity).to_lowercase(),
                            f.path.clone().unwrap_or_default(),
                        )
                    })
                    .collect();
                if &got != want {
                    return Err(format!("findings: got {got:?}, want {want:?}"));
                }
            }
        }
        (None, Err(e)) => {
            return Err(format!(
                "expected success, got {e} ({:?}); log {texts:?}",
                e.kind()
            ));
        }
        (Some(want), Ok(outcome)) => {
            return Err(format!("expected error {want:?}, got success {outcome:?}"));
        }
        (Some(want), Err(e)) => {
            let kind = format!("{:?}", e.kind()).to_lowercase();
            if kind != want.kind {
                return Err(format!("error kind: got {kind} ({e}), want {}", want.kind));
            }
            if let Some(v) = &want.variant {
                match &e {
                    CallError::Plugin { variant, .. } if variant == v => {}
                    CallError::Failed { .. } if v == "fail" => {}
                    other => return Err(format!("error: got {other:?}, want variant {v}")),
                }
            }
            let text = e.to_string();
            for c in &want.contains {
                let c = c.replace("$RECEIVER", &receiver.addr);
                if !text.contains(c.as_str()) {
                    return Err(format!("error {text:?} does not contain {c:?}"));
                }
            }
        }
    }
    if let Some(want) = &case.expect.received {
        let got: Vec<ExpectRequest> = receiver
            .requests()
            .iter()
            .map(|r| ExpectRequest {
                method: r.method.clone(),
                path: r.path.clone(),
                content_type: r.header("content-type").unwrap_or_default().to_string(),
                json: serde_json::from_slice(&r.body).unwrap_or_else(|_| {
                    serde_json::Value::String(String::from_utf8_lossy(&r.body).into_owned())
                }),
            })
            .collect();
        if &got != want {
            return Err(format!("the receiver got {got:?}, want {want:?}"));
        }
    }
    let mut at = 0;
    for want in &case.expect.log {
        let want = &want.replace("$RECEIVER", &receiver.addr);
        match texts[at..].iter().position(|t| t == want) {
            Some(i) => at += i + 1,
            None => return Err(format!("log {texts:?} lacks {want:?} (in order)")),
        }
    }
    if case.expect.next_call_works {
        let mut with = serde_json::Map::new();
        with.insert("mode".into(), "tag".into());
        with.insert("version".into(), "9.9.9".into());
        let (input, _dir) = call_input(case, &with, &receiver.addr);
        host.call(
            plugin,
            input,
            Services::log_only(Arc::new(Lines::default())),
        )
        .await
        .map_err(|e| format!("the call after it failed: {e}"))?;
    }
    Ok(())
}
