//! webhook-notifier: tells a webhook how a run ended, as ACR's push webhook, a
//! CloudEvent, a Slack message or a Teams Adaptive Card; signs each request with
//! Standard Webhooks headers when given a secret; retries 429 and 5xx answers. The
//! host sends only to the hosts the entry's `allow: http:` lists. See README.md.

pub mod format;
pub mod retry;
pub mod sign;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wharf_plugin_sdk::notifier::http::{HttpError, Request};
use wharf_plugin_sdk::notifier::{Guest, PluginError, RunEvent, config, log, secrets};

use format::{Format, Payload};

struct WebhookNotifier;

/// How to sign: with the host's HMAC (the key never enters the plugin), or with a
/// `whsec_` key decoded here.
enum Signer {
    Host(secrets::Secret),
    Key(Vec<u8>),
}

impl Signer {
    fn open(id: &str) -> Result<Signer, PluginError> {
        let secret = secrets::get(id)?;
        // Looked at only for the `whsec_` prefix; a plain secret signs through the host.
        let value = secret.reveal();
        match sign::whsec_key(&value) {
            Some(key) => Ok(Signer::Key(key.map_err(PluginError::InvalidConfig)?)),
            None => Ok(Signer::Host(secret)),
        }
    }

    fn mac(&self, content: &[u8]) -> Vec<u8> {
        match self {
            Signer::Host(secret) => secret.hmac_sha256(content),
            Signer::Key(key) => sign::mac(key, content),
        }
    }
}

fn send(
    url: &str,
    format: Format,
    payload: &Payload,
    signer: Option<&Signer>,
    headers: &[(String, String)],
    retries: u32,
    base_delay: Duration,
) -> Result<(), PluginError> {
    let body = serde_json::to_vec(&payload.body)
        .map_err(|e| PluginError::Other(format!("cannot encode the payload: {e}")))?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut request = Request::post(url, body.clone())
            .header("content-type", format.content_type())
            .header("user-agent", "wharf-webhook-notifier");
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if let Some(signer) = signer {
            let timestamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let mac = signer.mac(&sign::signed_content(&payload.id, timestamp, &body));
            request = request
                .header("webhook-id", &payload.id)
                .header("webhook-timestamp", &timestamp.to_string())
                .header("webhook-signature", &sign::header(&mac));
        }
        let (retry_after, why) = match request.send() {
            Ok(r) if (200..300).contains(&r.status) => {
                log::info(&format!("{url} answered {}", r.status));
                return Ok(());
            }
            Ok(r) if retry::retryable(r.status) => (
                r.header("retry-after").map(str::to_string),
                format!("{url} answered {}", r.status),
            ),
            Ok(r) => {
                return Err(PluginError::Failed(format!(
                    "{url} answered {}: {}",
                    r.status,
                    String::from_utf8_lossy(&r.body[..r.body.len().min(200)])
                )));
            }
            Err(HttpError::Denied(m)) => return Err(PluginError::AccessDenied(m)),
            Err(HttpError::Invalid(m)) => return Err(PluginError::InvalidConfig(m)),
            Err(HttpError::Failed(m)) => (None, format!("{url}: {m}")),
        };
        if attempt > retries {
            return Err(PluginError::Failed(format!(
                "{why} (gave up after {attempt} attempts)"
            )));
        }
        let wait = retry::delay(attempt, base_delay, retry_after.as_deref());
        log::warn(&format!("{why}; trying again in {} ms", wait.as_millis()));
        std::thread::sleep(wait);
    }
}

impl Guest for WebhookNotifier {
    fn notify(event: RunEvent) -> Result<(), PluginError> {
        let url = config::require("url")?;
        let format = Format::parse(
            config::get("format")
                .as_deref()
                .unwrap_or("cloudevents")
                .trim(),
        )
        .map_err(PluginError::InvalidConfig)?;
        let retries = config::json::<u32>("retries")?.unwrap_or(3).min(10);
        let base_delay = Duration::from_millis(
            config::json::<u64>("retry-delay-ms")?
                .unwrap_or(1000)
                .min(30_000),
        );
        let headers: Vec<(String, String)> =
            config::json::<serde_json::Map<String, serde_json::Value>>("headers")?
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, v)
                })
                .collect();
        let signer = match config::get("secret") {
            Some(id) => Some(Signer::open(id.trim())?),
            None => None,
        };
        let payloads = format::payloads(format, &event);
        if payloads.is_empty() {
            log::info("the run pushed no image: no acr-webhook push event to send");
            return Ok(());
        }
        for payload in &payloads {
            send(
                &url,
                format,
                payload,
                signer.as_ref(),
                &headers,
                retries,
                base_delay,
            )?;
        }
        Ok(())
    }
}

wharf_plugin_sdk::export_notifier!(WebhookNotifier);
