//! semver-tagger as a component in the real host.

use std::sync::{Arc, Mutex, OnceLock};

use wharf_plugin_host::*;

fn host() -> &'static PluginHost {
    static HOST: OnceLock<PluginHost> = OnceLock::new();
    HOST.get_or_init(|| {
        PluginHost::new(HostConfig {
            cache_dir: Some(wharf_e2e::plugins::workspace_root().join("target/plugin-cache-tests")),
            ..HostConfig::default()
        })
        .expect("host")
    })
}

#[derive(Default)]
struct Lines(Mutex<Vec<String>>);

impl LogSink for Lines {
    fn line(&self, _: LogSource, text: &str) {
        self.0.lock().expect("lock").push(text.into());
    }
}

async fn tag(
    with: &[(&str, serde_json::Value)],
    run: RunInfo,
    context: Option<&std::path::Path>,
) -> Result<CallOutcome, CallError> {
    let plugin = host()
        .load_file(&wharf_e2e::plugins::plugin_wasm("semver-tagger"))
        .expect("load");
    assert_eq!(plugin.world(), World::Tagger);
    let input = CallInput {
        with: with
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        grants: Grants::default(),
        limits: Limits::default(),
        run,
        context_dir: context.map(std::path::Path::to_path_buf),
        env: vec![],
        secrets: vec![],
        subject: Subject::Image(ImageRef {
            reference: "127.0.0.1:5000/team/app:build".into(),
            registry: "127.0.0.1:5000".into(),
            repository: "team/app".into(),
            tag: Some("build".into()),
            digest: None,
        }),
    };
    host()
        .call(
            &plugin,
            input,
            Services::log_only(Arc::new(Lines::default())),
        )
        .await
}

fn list(outcome: &CallOutcome, name: &str) -> Vec<String> {
    match outcome.output(name) {
        Some(OutputValue::List(l)) => l.clone(),
        other => panic!("{name}: {other:?}"),
    }
}

#[tokio::test]
async fn tags_and_refs_from_with_version() {
    let outcome = tag(&[("version", "v1.4.2".into())], RunInfo::default(), None)
        .await
        .expect("tags");
    assert_eq!(list(&outcome, "tags"), ["1.4.2", "1.4", "1", "latest"]);
    assert_eq!(
        list(&outcome, "refs"),
        [
            "127.0.0.1:5000/team/app:1.4.2",
            "127.0.0.1:5000/team/app:1.4",
            "127.0.0.1:5000/team/app:1",
            "127.0.0.1:5000/team/app:latest"
        ]
    );
    assert_eq!(
        outcome.output("version"),
        Some(&OutputValue::Text("v1.4.2".into()))
    );
}

#[tokio::test]
async fn rules_as_a_yaml_list_with_run_values() {
    let run = RunInfo {
        id: "ca7".into(),
        commit: "deadbeefcafe0000".into(),
        branch: "main".into(),
        date: "2026-11-23T10:04:05Z".into(),
        ..RunInfo::default()
    };
    let rules = serde_json::json!([
        "{major}.{minor}",
        "sha-{sha}",
        "{branch}-{date}",
        "{run_id}"
    ]);
    let outcome = tag(
        &[
            ("version", "2.0.0-rc.1".into()),
            ("tags", rules),
            ("latest", "false".into()),
        ],
        run.clone(),
        None,
    )
    .await
    .expect("tags");
    assert_eq!(
        list(&outcome, "tags"),
        ["sha-deadbee", "main-20261123", "ca7"]
    );
}

#[tokio::test]
async fn the_version_from_the_git_tag_or_cargo_toml() {
    let run = RunInfo {
        git_tag: Some("v3.1.0".into()),
        ..RunInfo::default()
    };
    let outcome = tag(&[], run, None).await.expect("git tag");
    assert_eq!(list(&outcome, "tags"), ["3.1.0", "3.1", "3", "latest"]);

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"demo\"\nversion = \"0.7.3\"\nedition = \"2021\"\n",
    )
    .expect("write");
    std::fs::create_dir(dir.path().join("src")).expect("mkdir");
    std::fs::write(dir.path().join("src/lib.rs"), "").expect("write");
    let outcome = tag(
        &[("source", "cargo".into())],
        RunInfo::default(),
        Some(dir.path()),
    )
    .await
    .expect("cargo");
    assert_eq!(list(&outcome, "tags"), ["0.7.3", "0.7", "latest"]);
}

#[tokio::test]
async fn without_a_version_the_error_says_where_one_can_come_from() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = tag(&[], RunInfo::default(), Some(dir.path()))
        .await
        .expect_err("no version");
    assert_eq!(err.kind(), CallErrorKind::Config);
    assert!(
        err.to_string().contains("no version: set `with: version`"),
        "{err}"
    );
    let err = tag(
        &[("version", "1.2.3".into()), ("tags", "{{nope}}".into())],
        RunInfo::default(),
        None,
    )
    .await
    .expect_err("bad rule");
    assert!(err.to_string().contains("unknown placeholder"), "{err}");
}
