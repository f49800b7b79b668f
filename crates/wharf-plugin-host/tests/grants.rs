//! Deny by default: files, environment, secrets and HTTP reach a plugin only when
//! the step grants them, and a refusal says what to grant.

mod support;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::mpsc;

use support::*;
use wharf_plugin_host::*;

fn context_with_file() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("data")).expect("mkdir");
    std::fs::write(dir.path().join("data/version.txt"), "4.5.6\n").expect("write");
    std::fs::create_dir(dir.path().join("private")).expect("mkdir");
    std::fs::write(dir.path().join("private/key.txt"), "do-not-read\n").expect("write");
    dir
}

#[tokio::test]
async fn a_plugin_importing_the_filesystem_without_a_read_grant_does_not_run() {
    let plugin = load("reads-file");
    assert!(plugin.needs().iter().any(|(_, c)| *c == Capability::Read));
    let rec = Arc::new(Recorder::default());
    let ctx = context_with_file();
    let mut input = tag_input(&[("path", "data/version.txt")]);
    input.context_dir = Some(ctx.path().to_path_buf());
    let err = host()
        .call(&plugin, input, services(&rec))
        .await
        .expect_err("denied");
    match &err {
        CallError::Denied(d) => {
            assert_eq!(d.grant, ["read"]);
            assert!(
                d.message.contains("allow: { read: [path, ...] }"),
                "{}",
                d.message
            );
            assert!(d.message.contains("wasi:filesystem"), "{}", d.message);
        }
        other => panic!("{other:?}"),
    }
    assert!(rec.lines().is_empty(), "it did not run: {:?}", rec.lines());
}

#[tokio::test]
async fn a_read_grant_opens_that_directory_read_only_and_nothing_else() {
    let plugin = load("reads-file");
    let ctx = context_with_file();
    let rec = Arc::new(Recorder::default());
    let mut input = tag_input(&[("path", "data/version.txt")]);
    input.context_dir = Some(ctx.path().to_path_buf());
    input.grants.read = vec!["data".into()];
    let outcome = host()
        .call(&plugin, input.clone(), services(&rec))
        .await
        .expect("granted");
    assert_eq!(
        outcome.output("tags"),
        Some(&OutputValue::List(vec!["4.5.6".into()]))
    );

    input.with = vec![("path".into(), "private/key.txt".into())];
    let err = host()
        .call(&plugin, input, services(&rec))
        .await
        .expect_err("outside");
    assert!(
        err.to_string().contains("cannot read private/key.txt"),
        "{err}"
    );
}

#[tokio::test]
async fn environment_variables_reach_a_plugin_only_when_granted() {
    let plugin = load("reads-env");
    let rec = Arc::new(Recorder::default());
    let mut input = tag_input(&[("var", "WHARF_TEST_VALUE")]);
    input.env = vec![("WHARF_TEST_VALUE".into(), "seen".into())];
    let outcome = host()
        .call(&plugin, input.clone(), services(&rec))
        .await
        .expect("runs");
    assert_eq!(
        outcome.output("tags"),
        Some(&OutputValue::List(vec!["env-unset".into()]))
    );

    input.grants.env = vec!["WHARF_TEST_VALUE".into()];
    let outcome = host()
        .call(&plugin, input, services(&rec))
        .await
        .expect("runs");
    assert_eq!(
        outcome.output("tags"),
        Some(&OutputValue::List(vec!["env-seen".into()]))
    );
}

#[tokio::test]
async fn a_secret_not_granted_is_refused_by_id_and_a_granted_one_is_masked_in_the_log() {
    let plugin = load("reads-env");
    let rec = Arc::new(Recorder::default());
    let mut input = tag_input(&[("secret", "hook-key")]);
    input.secrets = vec![("hook-key".into(), "s3cr3t-value".into())];
    let err = host()
        .call(&plugin, input.clone(), services(&rec))
        .await
        .expect_err("denied");
    match &err {
        CallError::Denied(d) => {
            assert!(
                d.message.contains("allow: { secrets: [hook-key] }"),
                "{}",
                d.message
            );
            assert!(!d.message.contains("s3cr3t-value"));
        }
        other => panic!("{other:?}"),
    }

    input.grants.secrets = vec!["hook-key".into()];
    let outcome = host()
        .call(&plugin, input, services(&rec))
        .await
        .expect("granted");
    assert_eq!(
        outcome.output("tags"),
        Some(&OutputValue::List(vec!["secret-12-mac-32".into()]))
    );
    let log = rec.text();
    assert!(log.contains("the secret is ***"), "{log}");
    assert!(log.contains("stdout says ***"), "{log}");
    assert!(!log.contains("s3cr3t-value"), "{log}");
}

/// A one-shot HTTP receiver on loopback: answers 200 and hands over the request.
fn receiver() -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut head = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            let mut stream = stream;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
            let _ = tx.send(format!("{head}\r\n{}", String::from_utf8_lossy(&body)));
        }
    });
    (addr, rx)
}

fn run_event() -> Subject {
    Subject::Run(Box::new(RunEvent {
        run: RunInfo {
            id: "run-42".into(),
            ..RunInfo::default()
        },
        status: RunStatus::Success,
        started: "2026-11-23T10:00:00Z".into(),
        finished: "2026-11-23T10:01:00Z".into(),
        duration_ms: 60_000,
        steps: vec![],
        images: vec![],
        findings: vec![],
        error: None,
    }))
}

#[tokio::test]
async fn http_goes_only_to_granted_hosts() {
    let plugin = load("calls-http");
    assert_eq!(plugin.world(), World::Notifier);
    let (addr, requests) = receiver();
    let url = format!("http://{addr}/hook");
    let rec = Arc::new(Recorder::default());

    // No grant at all: refused before it runs.
    let input = input(&[("url", url.as_str())], run_event());
    let err = host()
        .call(&plugin, input.clone(), services(&rec))
        .await
        .expect_err("no grant");
    assert!(
        matches!(&err, CallError::Denied(d) if d.grant == ["http"]),
        "{err:?}"
    );

    // Granted another host: the request is refused, and the error names the grant.
    let mut other = input.clone();
    other.grants.http = vec!["127.0.0.1:1".into()];
    let err = host()
        .call(&plugin, other, services(&rec))
        .await
        .expect_err("wrong host");
    match &err {
        CallError::Denied(d) => assert!(
            d.message
                .contains(&format!("allow: {{ http: [\"{addr}\"] }}")),
            "{}",
            d.message
        ),
        other => panic!("{other:?}"),
    }
    assert!(requests.try_recv().is_err(), "nothing reached the receiver");

    // Granted: it arrives.
    let mut granted = input;
    granted.grants.http = vec![addr.clone()];
    host()
        .call(&plugin, granted, services(&rec))
        .await
        .expect("sent");
    let request = requests
        .recv_timeout(std::time::Duration::from_secs(5))
        .expect("received");
    assert!(request.starts_with("POST /hook HTTP/1.1"), "{request}");
    assert!(request.ends_with("run-42"), "{request}");
}

#[tokio::test]
async fn a_component_of_another_world_is_refused_with_what_it_is() {
    let err = host()
        .load_file(&wharf_e2e::plugins::plugin_wasm("not-a-plugin"))
        .expect_err("not a plugin");
    assert!(matches!(err, LoadError::NotAPlugin { .. }), "{err:?}");
    assert!(err.to_string().contains("wasi:cli/run"), "{err}");

    let tagger = load("hostile-plugin");
    let rec = Arc::new(Recorder::default());
    let err = host()
        .call(
            &tagger,
            input(&[("mode", "ok")], run_event()),
            services(&rec),
        )
        .await
        .expect_err("wrong world");
    assert!(
        err.to_string()
            .contains("is a tagger, but a notify: entry needs a notifier"),
        "{err}"
    );
    assert_eq!(err.kind(), CallErrorKind::Config);
}
