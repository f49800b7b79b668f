//! The payloads: a run as ACR's push webhook, a CloudEvent, a Slack message or a
//! Teams Adaptive Card. Plain functions of the run event, tested natively.

use serde_json::{Value, json};
use wharf_plugin_sdk::notifier::{PushedImage, RunEvent, RunStatus, Severity};

/// A payload format (`with: format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// ACR's webhook `push` event, one request per image pushed.
    AcrWebhook,
    /// A CloudEvents 1.0 event in structured mode.
    CloudEvents,
    /// A Slack incoming-webhook message (text and blocks).
    Slack,
    /// A Microsoft Teams message holding an Adaptive Card.
    Teams,
}

impl Format {
    /// Parses `with: format`.
    pub fn parse(text: &str) -> Result<Format, String> {
        match text {
            "acr-webhook" | "acr" => Ok(Format::AcrWebhook),
            "cloudevents" | "cloudevent" => Ok(Format::CloudEvents),
            "slack" => Ok(Format::Slack),
            "teams" => Ok(Format::Teams),
            other => Err(format!(
                "`with: format` is acr-webhook, cloudevents, slack or teams, not {other:?}"
            )),
        }
    }

    /// The request's content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::CloudEvents => "application/cloudevents+json; charset=utf-8",
            _ => "application/json",
        }
    }
}

/// One request body to send, with the id it is signed and deduplicated under.
#[derive(Clone, Debug, PartialEq)]
pub struct Payload {
    /// Stable for the run, entry and image: `webhook-id`, the CloudEvent's `id`.
    pub id: String,
    /// The body.
    pub body: Value,
}

fn status_word(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Success => "succeeded",
        RunStatus::Failure => "failed",
    }
}

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

fn message_id(event: &RunEvent, suffix: &str) -> String {
    let base = format!("msg_{}_{}", event.run.id, event.run.step_id);
    if suffix.is_empty() {
        base
    } else {
        format!("{base}_{suffix}")
    }
}

/// The run event as JSON (the CloudEvent's `data`).
pub fn event_json(event: &RunEvent) -> Value {
    let r = &event.run;
    json!({
        "run": {
            "id": r.id, "registry": r.registry, "commit": r.commit, "branch": r.branch,
            "gitTag": r.git_tag, "date": r.date, "os": r.os, "architecture": r.architecture,
            "taskName": r.task_name,
        },
        "status": status_word(event.status),
        "started": event.started,
        "finished": event.finished,
        "durationMs": event.duration_ms,
        "steps": event.steps.iter().map(|s| json!({
            "id": s.id, "status": s.status, "durationMs": s.duration_ms, "error": s.error,
        })).collect::<Vec<_>>(),
        "images": event.images.iter().map(image_json).collect::<Vec<_>>(),
        "findings": event.findings.iter()
            .map(|f| (severity_name(f.severity).to_string(), json!(f.count)))
            .collect::<serde_json::Map<_, _>>(),
        "error": event.error,
    })
}

fn image_json(i: &PushedImage) -> Value {
    json!({
        "reference": i.image.reference,
        "registry": i.image.registry,
        "repository": i.image.repository,
        "tag": i.image.tag,
        "digest": i.digest,
    })
}

fn summary_line(event: &RunEvent) -> String {
    let what = if event.run.task_name.is_empty() {
        "wharf run".to_string()
    } else {
        format!("wharf task {}", event.run.task_name)
    };
    let mut line = format!(
        "{what} {} {} in {:.1}s",
        event.run.id,
        status_word(event.status),
        event.duration_ms as f64 / 1000.0
    );
    if let Some(e) = &event.error {
        line.push_str(&format!(": {e}"));
    }
    line
}

fn findings_text(event: &RunEvent) -> Option<String> {
    (!event.findings.is_empty()).then(|| {
        event
            .findings
            .iter()
            .map(|f| format!("{} {}", f.count, severity_name(f.severity)))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// The payloads for `event` in `format` (ACR's webhook: one per image, none when the
/// run pushed nothing).
pub fn payloads(format: Format, event: &RunEvent) -> Vec<Payload> {
    match format {
        Format::AcrWebhook => event
            .images
            .iter()
            .enumerate()
            .map(|(n, image)| acr_push(event, image, n))
            .collect(),
        Format::CloudEvents => vec![Payload {
            id: message_id(event, ""),
            body: json!({
                "specversion": "1.0",
                "type": format!("dev.wharf.run.{}", status_word(event.status)),
                "source": if event.run.registry.is_empty() {
                    "wharf".to_string()
                } else {
                    format!("wharf/{}", event.run.registry)
                },
                "id": message_id(event, ""),
                "time": event.finished,
                "subject": event.run.id,
                "datacontenttype": "application/json",
                "data": event_json(event),
            }),
        }],
        Format::Slack => {
            let mut lines = vec![format!("*{}*", summary_line(event))];
            for s in &event.steps {
                lines.push(format!("• `{}` {}", s.id, s.status));
            }
            for i in &event.images {
                lines.push(format!("• pushed `{}`", i.image.reference));
            }
            if let Some(f) = findings_text(event) {
                lines.push(format!("• findings: {f}"));
            }
            vec![Payload {
                id: message_id(event, ""),
                body: json!({
                    "text": summary_line(event),
                    "blocks": [{
                        "type": "section",
                        "text": {"type": "mrkdwn", "text": lines.join("\n")},
                    }],
                }),
            }]
        }
        Format::Teams => {
            let mut facts: Vec<Value> = event
                .steps
                .iter()
                .map(|s| json!({"title": s.id, "value": s.status}))
                .collect();
            for i in &event.images {
                facts.push(json!({"title": "pushed", "value": i.image.reference}));
            }
            if let Some(f) = findings_text(event) {
                facts.push(json!({"title": "findings", "value": f}));
            }
            vec![Payload {
                id: message_id(event, ""),
                body: json!({
                    "type": "message",
                    "attachments": [{
                        "contentType": "application/vnd.microsoft.card.adaptive",
                        "contentUrl": null,
                        "content": {
                            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                            "type": "AdaptiveCard",
                            "version": "1.4",
                            "body": [
                                {
                                    "type": "TextBlock",
                                    "text": summary_line(event),
                                    "weight": "Bolder",
                                    "size": "Medium",
                                    "wrap": true,
                                    "color": if event.status == RunStatus::Success { "Good" } else { "Attention" },
                                },
                                {"type": "FactSet", "facts": facts},
                            ],
                        },
                    }],
                }),
            }]
        }
    }
}

/// ACR's webhook push event for one image.
fn acr_push(event: &RunEvent, image: &PushedImage, n: usize) -> Payload {
    let id = message_id(event, &n.to_string());
    let mut target = serde_json::Map::new();
    if let Some(m) = &image.media_type {
        target.insert("mediaType".into(), json!(m));
    }
    if let Some(size) = image.size {
        target.insert("size".into(), json!(size));
        target.insert("length".into(), json!(size));
    }
    if let Some(d) = image.digest.as_ref().or(image.image.digest.as_ref()) {
        target.insert("digest".into(), json!(d));
    }
    target.insert("repository".into(), json!(image.image.repository));
    if let Some(t) = &image.image.tag {
        target.insert("tag".into(), json!(t));
    }
    Payload {
        id: id.clone(),
        body: json!({
            "id": id,
            "timestamp": event.finished,
            "action": "push",
            "target": target,
            "request": {
                "id": event.run.id,
                "host": image.image.registry,
                "method": "PUT",
                "useragent": "wharf",
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_plugin_sdk::notifier::{FindingCount, ImageRef, RunInfo, StepSummary};

    pub(crate) fn event(status: RunStatus) -> RunEvent {
        RunEvent {
            run: RunInfo {
                id: "ca1".into(),
                registry: "reg.example:5000".into(),
                commit: "abc".into(),
                branch: "main".into(),
                git_tag: None,
                date: "2026-11-23T10:04:05Z".into(),
                os: "linux".into(),
                architecture: "amd64".into(),
                task_name: String::new(),
                step_id: "notify_0".into(),
            },
            status,
            started: "2026-11-23T10:04:05Z".into(),
            finished: "2026-11-23T10:04:09Z".into(),
            duration_ms: 4200,
            steps: vec![StepSummary {
                id: "build".into(),
                status: "succeeded".into(),
                duration_ms: 4000,
                error: None,
            }],
            images: vec![PushedImage {
                image: ImageRef {
                    reference: "reg.example:5000/team/app:1.2.3".into(),
                    registry: "reg.example:5000".into(),
                    repository: "team/app".into(),
                    tag: Some("1.2.3".into()),
                    digest: None,
                },
                digest: Some(format!("sha256:{}", "a".repeat(64))),
                media_type: Some("application/vnd.oci.image.manifest.v1+json".into()),
                size: Some(524),
            }],
            findings: vec![FindingCount {
                severity: Severity::High,
                count: 2,
            }],
            error: None,
        }
    }

    #[test]
    fn acr_webhook_is_acrs_push_event_one_per_image() {
        let p = payloads(Format::AcrWebhook, &event(RunStatus::Success));
        assert_eq!(p.len(), 1);
        let b = &p[0].body;
        assert_eq!(b["action"], "push");
        assert_eq!(b["target"]["repository"], "team/app");
        assert_eq!(b["target"]["tag"], "1.2.3");
        assert_eq!(b["target"]["size"], 524);
        assert_eq!(b["target"]["digest"], format!("sha256:{}", "a".repeat(64)));
        assert_eq!(b["request"]["host"], "reg.example:5000");
        let mut none = event(RunStatus::Success);
        none.images.clear();
        assert!(payloads(Format::AcrWebhook, &none).is_empty());
    }

    #[test]
    fn a_cloudevent_has_the_required_attributes_and_the_run_as_data() {
        let p = payloads(Format::CloudEvents, &event(RunStatus::Failure));
        let b = &p[0].body;
        assert_eq!(b["specversion"], "1.0");
        assert_eq!(b["type"], "dev.wharf.run.failed");
        assert_eq!(b["id"], "msg_ca1_notify_0");
        assert_eq!(b["source"], "wharf/reg.example:5000");
        assert_eq!(b["data"]["findings"]["high"], 2);
        assert_eq!(b["data"]["steps"][0]["id"], "build");
    }

    #[test]
    fn slack_and_teams_messages_say_how_the_run_ended() {
        let slack = &payloads(Format::Slack, &event(RunStatus::Success))[0].body;
        assert!(
            slack["text"]
                .as_str()
                .unwrap_or("")
                .contains("ca1 succeeded")
        );
        let block = slack["blocks"][0]["text"]["text"].as_str().unwrap_or("");
        assert!(block.contains("reg.example:5000/team/app:1.2.3"), "{block}");
        assert!(block.contains("2 high"), "{block}");
        let teams = &payloads(Format::Teams, &event(RunStatus::Failure))[0].body;
        let card = &teams["attachments"][0];
        assert_eq!(
            card["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(card["content"]["type"], "AdaptiveCard");
        assert_eq!(card["content"]["body"][0]["color"], "Attention");
    }

    #[test]
    fn unknown_formats_are_refused_by_name() {
        let e = Format::parse("xml").expect_err("refused");
        assert!(
            e.contains("acr-webhook, cloudevents, slack or teams"),
            "{e}"
        );
    }
}
