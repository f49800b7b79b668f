//! webhook-notifier as a component in the real host, against a local receiver.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use hmac::Mac as _;
use wharf_e2e::Receiver;
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

fn event() -> RunEvent {
    RunEvent {
        run: RunInfo {
            id: "nt1".into(),
            registry: "127.0.0.1:5000".into(),
            step_id: "notify_0".into(),
            ..RunInfo::default()
        },
        status: RunStatus::Success,
        started: "2026-11-23T10:04:05Z".into(),
        finished: "2026-11-23T10:04:09Z".into(),
        duration_ms: 4000,
        steps: vec![StepSummary {
            id: "build".into(),
            status: "succeeded".into(),
            duration_ms: 3900,
            error: None,
        }],
        images: vec![PushedImage {
            image: ImageRef {
                reference: "127.0.0.1:5000/team/app:1.2.3".into(),
                registry: "127.0.0.1:5000".into(),
                repository: "team/app".into(),
                tag: Some("1.2.3".into()),
                digest: None,
            },
            digest: Some(format!("sha256:{}", "b".repeat(64))),
            media_type: None,
            size: None,
        }],
        findings: vec![],
        error: None,
    }
}

async fn notify(
    with: &[(&str, serde_json::Value)],
    http: &[&str],
    secrets: &[(&str, &str)],
) -> (Result<CallOutcome, CallError>, Arc<Lines>) {
    let plugin = host()
        .load_file(&wharf_e2e::plugins::plugin_wasm("webhook-notifier"))
        .expect("load");
    assert_eq!(plugin.world(), World::Notifier);
    let lines = Arc::new(Lines::default());
    let input = CallInput {
        with: with
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        grants: Grants {
            http: http.iter().map(|h| h.to_string()).collect(),
            secrets: secrets.iter().map(|(id, _)| id.to_string()).collect(),
            ..Grants::default()
        },
        limits: Limits {
            timeout: Duration::from_secs(20),
            ..Limits::default()
        },
        run: RunInfo::default(),
        context_dir: None,
        env: vec![],
        secrets: secrets
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        subject: Subject::Run(Box::new(event())),
    };
    let r = host()
        .call(&plugin, input, Services::log_only(lines.clone()))
        .await;
    (r, lines)
}

fn verify(request: &wharf_e2e::Received, key: &[u8]) {
    let id = request.header("webhook-id").expect("webhook-id");
    let ts = request
        .header("webhook-timestamp")
        .expect("webhook-timestamp");
    let sig = request
        .header("webhook-signature")
        .expect("webhook-signature");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("key");
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&request.body);
    let want = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert_eq!(sig, want, "the signature verifies with the secret");
}

#[tokio::test]
async fn a_signed_cloudevent_reaches_the_receiver_and_verifies() {
    let receiver = Receiver::start();
    let (r, _) = notify(
        &[
            ("url", receiver.url("/hook").into()),
            ("secret", "hook-key".into()),
        ],
        &[&receiver.addr],
        &[("hook-key", "s3cret-k3y")],
    )
    .await;
    r.expect("notified");
    let got = receiver.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].header("content-type"),
        Some("application/cloudevents+json; charset=utf-8")
    );
    let body = got[0].json();
    assert_eq!(body["type"], "dev.wharf.run.succeeded");
    assert_eq!(
        body["data"]["images"][0]["reference"],
        "127.0.0.1:5000/team/app:1.2.3"
    );
    assert_eq!(got[0].header("webhook-id"), Some("msg_nt1_notify_0"));
    verify(&got[0], b"s3cret-k3y");
    assert!(!String::from_utf8_lossy(&got[0].body).contains("s3cret-k3y"));
}

#[tokio::test]
async fn a_whsec_secret_is_the_base64_key_standard_webhooks_libraries_use() {
    let receiver = Receiver::start();
    let (r, _) = notify(
        &[
            ("url", receiver.url("/").into()),
            ("format", "acr-webhook".into()),
            ("secret", "k".into()),
        ],
        &[&receiver.addr],
        &[("k", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")],
    )
    .await;
    r.expect("notified");
    let got = receiver.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["action"], "push");
    assert_eq!(got[0].json()["target"]["tag"], "1.2.3");
    let key = base64::engine::general_purpose::STANDARD
        .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .expect("b64");
    verify(&got[0], &key);
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_until_the_receiver_accepts() {
    let receiver = Receiver::answering(&[503, 429, 200]);
    let (r, lines) = notify(
        &[
            ("url", receiver.url("/slack").into()),
            ("format", "slack".into()),
            ("retry-delay-ms", serde_json::json!(10)),
        ],
        &[&receiver.addr],
        &[],
    )
    .await;
    r.expect("notified after retries");
    let got = receiver.requests();
    assert_eq!(got.len(), 3);
    assert!(
        got[2].json()["text"]
            .as_str()
            .unwrap_or("")
            .contains("nt1 succeeded")
    );
    let log = lines.0.lock().expect("lock").join("\n");
    assert!(log.contains("answered 503; trying again"), "{log}");
}

#[tokio::test]
async fn a_client_error_is_not_retried_and_fails_the_notification() {
    let receiver = Receiver::answering(&[400]);
    let (r, _) = notify(
        &[
            ("url", receiver.url("/teams").into()),
            ("format", "teams".into()),
        ],
        &[&receiver.addr],
        &[],
    )
    .await;
    let e = r.expect_err("400 fails");
    assert!(e.to_string().contains("answered 400"), "{e}");
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(
        receiver.requests()[0].json()["attachments"][0]["content"]["type"],
        "AdaptiveCard"
    );
}

#[tokio::test]
async fn a_host_not_allowed_is_refused_before_any_request() {
    let receiver = Receiver::start();
    let other = Receiver::start();
    let (r, _) = notify(&[("url", other.url("/").into())], &[&receiver.addr], &[]).await;
    let e = r.expect_err("denied");
    assert_eq!(e.kind(), CallErrorKind::Denied, "{e}");
    assert!(e.to_string().contains(&other.addr), "{e}");
    assert!(other.requests().is_empty());
}
