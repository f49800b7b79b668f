//! The Python and JavaScript templates of `cargo xtask new-plugin --lang python|js`
//! (`plugins/sdk-*/templates/`, which xtask writes out) build with the pinned
//! toolchains and do what the issue says in the real host: the tagger tags with
//! `with: version` and `latest` (outputs `tags`, `refs`), the scanner reports a
//! low finding per file whose path contains `with: pattern`, the notifier POSTs the
//! run summary as JSON to `with: url` (and only to a granted host).

use std::path::PathBuf;
use std::sync::Arc;

use wharf_e2e::plugin_langs::{self, BuildOptions, Lang};
use wharf_plugin_contract::{Event, Lines, image, run_event};
use wharf_plugin_host::*;

/// Writes the template as xtask does, into a stable directory (so its build is reused).
fn app(lang: Lang, kind: &str) -> PathBuf {
    let root = wharf_e2e::plugins::workspace_root();
    let (sdk, ext) = match lang {
        Lang::Python => ("plugins/sdk-python", "py"),
        Lang::Js => ("plugins/sdk-js", "js"),
    };
    let text = std::fs::read_to_string(root.join(sdk).join(format!("templates/{kind}.{ext}")))
        .expect("template")
        .replace("@NAME@", &format!("template-{kind}"))
        .replace("@KIND@", kind);
    let dir = root.join(format!(
        "target/plugin-template-tests/{}-{kind}",
        lang.as_str()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let entry = dir.join(lang.entry());
    if std::fs::read_to_string(&entry).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&entry, text).expect("write");
    }
    dir
}

fn host() -> PluginHost {
    PluginHost::new(HostConfig {
        cache_dir: Some(wharf_e2e::plugins::workspace_root().join("target/plugin-cache-tests")),
        ..HostConfig::default()
    })
    .expect("host")
}

fn input(with: &[(&str, &str)]) -> CallInput {
    CallInput {
        with: with
            .iter()
            .map(|(k, v)| (k.to_string(), (*v).into()))
            .collect(),
        grants: Grants::default(),
        limits: Limits::default(),
        run: RunInfo::default(),
        context_dir: None,
        env: vec![],
        secrets: vec![],
        subject: Subject::Image(image()),
    }
}

struct Files;

impl ImageAccess for Files {
    fn config(&self) -> BoxFuture<'_, Result<String, ImageError>> {
        Box::pin(async { Ok("{}".to_string()) })
    }
    fn list_files(&self) -> BoxFuture<'_, Result<Vec<FileEntry>, ImageError>> {
        Box::pin(async {
            Ok(["etc/passwd", "app/secret.key", "app/main"]
                .iter()
                .map(|p| FileEntry {
                    path: p.to_string(),
                    kind: FileKind::File,
                    mode: 0o644,
                    uid: 0,
                    gid: 0,
                    size: 1,
                    link_target: None,
                })
                .collect())
        })
    }
    fn read_file<'a>(
        &'a self,
        path: &'a str,
        _: u64,
    ) -> BoxFuture<'a, Result<Vec<u8>, ImageError>> {
        Box::pin(async move { Err(ImageError::NotFound(path.to_string())) })
    }
}

async fn tagger(lang: Lang) {
    let path = plugin_langs::build(
        lang,
        &app(lang, "tagger"),
        "tagger",
        BuildOptions::default(),
    )
    .expect("build");
    let host = host();
    let plugin = host.load_file(&path).expect("load");
    assert_eq!(plugin.world(), World::Tagger);
    let lines = Arc::new(Lines::default());
    let outcome = host
        .call(
            &plugin,
            input(&[("version", "1.0.0")]),
            Services::log_only(lines.clone()),
        )
        .await
        .expect("tags");
    assert_eq!(
        outcome.output("tags"),
        Some(&OutputValue::List(vec!["1.0.0".into(), "latest".into()]))
    );
    assert_eq!(
        outcome.output("refs"),
        Some(&OutputValue::List(vec![
            "127.0.0.1:5000/team/app:1.0.0".into(),
            "127.0.0.1:5000/team/app:latest".into()
        ]))
    );
    assert!(
        lines
            .texts()
            .iter()
            .any(|l| l.contains("as 1.0.0 and latest")),
        "{:?}",
        lines.texts()
    );
    let err = host
        .call(&plugin, input(&[]), Services::log_only(lines))
        .await
        .expect_err("no version");
    assert!(
        err.to_string().contains("`with: version` is required"),
        "{err}"
    );
}

async fn scanner(lang: Lang) {
    let path = plugin_langs::build(
        lang,
        &app(lang, "scanner"),
        "scanner",
        BuildOptions::default(),
    )
    .expect("build");
    let host = host();
    let plugin = host.load_file(&path).expect("load");
    assert_eq!(plugin.world(), World::Scanner);
    let services = Services {
        log: Arc::new(Lines::default()),
        image: Some(Arc::new(Files)),
        tags: None,
        reports: None,
    };
    let outcome = host
        .call(&plugin, input(&[("pattern", "secret")]), services)
        .await
        .expect("scans");
    assert_eq!(outcome.findings.len(), 1, "{outcome:?}");
    assert_eq!(outcome.findings[0].path.as_deref(), Some("app/secret.key"));
    assert_eq!(outcome.findings[0].severity, Severity::Low);
    assert_eq!(
        outcome.output("count"),
        Some(&OutputValue::Text("1".into()))
    );
}

async fn notifier(lang: Lang) {
    let path = plugin_langs::build(
        lang,
        &app(lang, "notifier"),
        "notifier",
        BuildOptions::default(),
    )
    .expect("build");
    let host = host();
    let plugin = host.load_file(&path).expect("load");
    assert_eq!(plugin.world(), World::Notifier);
    let receiver = wharf_e2e::Receiver::start();
    let event = run_event(&Event {
        status: "success".into(),
        steps: vec![
            ("build".into(), "succeeded".into()),
            ("lint".into(), "ignored".into()),
        ],
    });
    let call = |grant: &str| CallInput {
        grants: Grants {
            http: vec![grant.to_string()],
            ..Grants::default()
        },
        subject: Subject::Run(Box::new(event.clone())),
        ..input(&[("url", receiver.url("/hook").as_str())])
    };

    host.call(
        &plugin,
        call(&receiver.addr),
        Services::log_only(Arc::new(Lines::default())),
    )
    .await
    .expect("notified");
    let got = receiver.requests();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].path, "/hook");
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    assert_eq!(
        got[0].json(),
        serde_json::json!({
            "run": "run1",
            "status": "success",
            "steps": [{"id": "build", "status": "succeeded"}, {"id": "lint", "status": "ignored"}],
        })
    );

    // A receiver the step does not grant: refused before a connection is made.
    let err = host
        .call(
            &plugin,
            call("127.0.0.1:9"),
            Services::log_only(Arc::new(Lines::default())),
        )
        .await
        .expect_err("denied");
    assert_eq!(err.kind(), CallErrorKind::Denied, "{err}");
    assert!(
        err.to_string()
            .contains(&format!("allow: {{ http: [\"{}\"] }}", receiver.addr)),
        "{err}"
    );
    assert_eq!(receiver.requests().len(), 1, "the denied request went out");
}

#[tokio::test]
async fn the_python_notifier_template_works() {
    notifier(Lang::Python).await;
}

#[tokio::test]
async fn the_js_notifier_template_works() {
    notifier(Lang::Js).await;
}

#[tokio::test]
async fn the_js_tagger_template_works() {
    tagger(Lang::Js).await;
}

#[tokio::test]
async fn the_js_scanner_template_works() {
    scanner(Lang::Js).await;
}

#[tokio::test]
async fn the_python_tagger_template_works() {
    tagger(Lang::Python).await;
}

#[tokio::test]
async fn the_python_scanner_template_works() {
    scanner(Lang::Python).await;
}
