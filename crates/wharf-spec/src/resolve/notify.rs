//! The top-level `notify:` list (a wharf extension): notifier plugins that run after
//! the steps, on success, on failure, or both.

use std::collections::HashMap;

use super::kind::Around;
use super::{Resolver, text};
use crate::decode::RawNotify;
use crate::diagnostic::Diagnostic;
use crate::source::Span;
use crate::task::{Action, DEFAULT_RETRY_DELAY, Notify, NotifyOn, Step};

/// Seconds a notification may take when it sets no `timeout`.
pub const DEFAULT_NOTIFY_TIMEOUT: u64 = 60;

impl Resolver<'_> {
    /// The `notify:` entries, checked. Ids must differ from each other and from the
    /// steps' ids (events and logs name them).
    pub(super) fn notify(
        &mut self,
        raw: &[RawNotify],
        task_env: &[String],
        step_ids: &[String],
        around: &Around<'_>,
    ) -> Vec<Notify> {
        let mut out = Vec::new();
        let mut seen: HashMap<String, Span> = HashMap::new();
        for (index, entry) in raw.iter().enumerate() {
            let id = text(entry.id.as_ref()).unwrap_or_else(|| format!("notify_{index}"));
            let id_span = entry.id.as_ref().map_or(entry.span, |i| i.span);
            if step_ids.contains(&id) {
                self.error(
                    Diagnostic::error(
                        "duplicate-id",
                        format!("notification id `{id}` is also a step id"),
                    )
                    .with_help("give the notification another id"),
                    id_span,
                );
            } else if let Some(&first) = seen.get(&id) {
                self.duplicate(
                    Diagnostic::error(
                        "duplicate-id",
                        format!("notification id `{id}` is used twice"),
                    ),
                    id_span,
                    first,
                    "first used here",
                );
            } else {
                seen.insert(id.clone(), id_span);
            }
            let on = self.notify_on(entry);
            let timeout = match entry.timeout.as_ref().map(|t| t.value) {
                Some(t) if t > 0 => t.unsigned_abs(),
                _ => DEFAULT_NOTIFY_TIMEOUT,
            };
            let Some(plugin) = entry.plugin.as_ref().filter(|p| !p.value.is_empty()) else {
                self.error(
                    Diagnostic::error("notify-plugin", "a notify entry needs a `plugin:`")
                        .with_help("name the notifier, e.g. `plugin: webhook-notifier`"),
                    entry.span,
                );
                continue;
            };
            let Some(call) = self.plugin_call(
                plugin,
                entry.with.as_ref(),
                entry.allow.as_ref(),
                &around.secret_ids,
            ) else {
                continue;
            };
            out.push(Notify {
                on,
                step: Step {
                    id,
                    action: Action::Plugin(call),
                    depends_on: Vec::new(),
                    timeout,
                    start_delay: 0,
                    retries: 0,
                    retry_delay: DEFAULT_RETRY_DELAY,
                    retry_on_errors: Vec::new(),
                    repeat: 0,
                    ignore_errors: false,
                    env: task_env.to_vec(),
                    span: entry.span,
                },
            });
        }
        out
    }

    /// `on:`: success, failure, or both (the default).
    fn notify_on(&mut self, entry: &RawNotify) -> Vec<NotifyOn> {
        let Some(list) = entry.on.as_ref().filter(|l| !l.value.is_empty()) else {
            return vec![NotifyOn::Success, NotifyOn::Failure];
        };
        let mut on = Vec::new();
        for item in &list.value {
            let value = match item.value.to_ascii_lowercase().as_str() {
                "success" => NotifyOn::Success,
                "failure" => NotifyOn::Failure,
                _ => {
                    self.error(
                        Diagnostic::error(
                            "notify-on",
                            format!("`{}` is not a time to notify", item.value),
                        )
                        .with_help("use success, failure, or both"),
                        item.span,
                    );
                    continue;
                }
            };
            if !on.contains(&value) {
                on.push(value);
            }
        }
        on
    }
}
