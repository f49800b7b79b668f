//! YAML nodes to the raw task: every value typed and located, every type error and
//! unknown key reported (all of them, not just the first).
//!
//! Types follow ACR's Go structs decoded by yaml.v2: a string field takes any
//! scalar's text, an int field an integer (or a float, truncated, when it fits), a
//! bool field only a boolean; null is the zero value.

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::properties::{self, Property};
use crate::source::{FileId, Span};
use crate::source_map::MapChain;
use crate::yaml::{Node, NodeKind, Resolved};

/// A value with the place it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it is in the file (after mapping back through every text pass).
    pub span: Span,
}

impl<T> Spanned<T> {
    fn new(value: T, span: Span) -> Spanned<T> {
        Spanned { value, span }
    }
}

/// A list with the place of the whole list.
pub type SpannedList<T> = Spanned<Vec<Spanned<T>>>;

/// A mapping of names to text (alias values, secret volume files), in file order,
/// with the place of the whole mapping.
pub type SpannedMap = Spanned<Vec<(Spanned<String>, Spanned<String>)>>;

/// The task file as written, typed but not yet defaulted or validated.
#[derive(Clone, Debug, Default)]
pub struct RawTask {
    pub version: Option<Spanned<String>>,
    pub is_build_task: Option<Spanned<bool>>,
    pub step_timeout: Option<Spanned<i64>>,
    pub working_directory: Option<Spanned<String>>,
    pub env: Option<SpannedList<String>>,
    pub secrets: Vec<RawSecret>,
    pub networks: Vec<RawNetwork>,
    pub volumes: Vec<RawVolume>,
    pub steps: Vec<RawStep>,
    /// `notify:` entries (wharf extension).
    pub notify: Vec<RawNotify>,
    /// Where the `steps` key is, for messages about the list as a whole.
    pub steps_span: Option<Span>,
    /// Where the `notify` key is.
    pub notify_span: Option<Span>,
    /// Where the `alias` key is, when the YAML still has one.
    pub alias_span: Option<Span>,
}

#[derive(Clone, Debug, Default)]
pub struct RawSecret {
    pub span: Span,
    pub id: Option<Spanned<String>>,
    pub keyvault: Option<Spanned<String>>,
    pub client_id: Option<Spanned<String>>,
    pub aad_resource_id: Option<Spanned<String>>,
}

#[derive(Clone, Debug, Default)]
pub struct RawNetwork {
    pub span: Span,
    pub name: Option<Spanned<String>>,
    pub driver: Option<Spanned<String>>,
    pub ipv6: Option<Spanned<bool>>,
    pub skip_creation: Option<Spanned<bool>>,
    pub is_default: Option<Spanned<bool>>,
}

#[derive(Clone, Debug, Default)]
pub struct RawVolume {
    pub span: Span,
    pub name: Option<Spanned<String>>,
    /// File name to base64 content, in file order.
    pub secret: Option<SpannedMap>,
}

#[derive(Clone, Debug, Default)]
pub struct RawMount {
    pub span: Span,
    pub name: Option<Spanned<String>>,
    pub mount_path: Option<Spanned<String>>,
}

/// A mapping of names to any values (`with:`), in file order, each entry located.
pub type SpannedAnyMap = Spanned<Vec<(Spanned<String>, Spanned<serde_json::Value>)>>;

/// An `allow:` block.
#[derive(Clone, Debug, Default)]
pub struct RawAllow {
    pub span: Span,
    pub http: Option<SpannedList<String>>,
    pub env: Option<SpannedList<String>>,
    pub read: Option<SpannedList<String>>,
    pub secrets: Option<SpannedList<String>>,
}

/// A `notify:` entry.
#[derive(Clone, Debug, Default)]
pub struct RawNotify {
    pub span: Span,
    pub id: Option<Spanned<String>>,
    pub plugin: Option<Spanned<String>>,
    pub with: Option<SpannedAnyMap>,
    pub allow: Option<RawAllow>,
    pub on: Option<SpannedList<String>>,
    pub timeout: Option<Spanned<i64>>,
}

#[derive(Clone, Debug, Default)]
pub struct RawStep {
    /// The whole step.
    pub span: Span,
    pub id: Option<Spanned<String>>,
    pub cmd: Option<Spanned<String>>,
    pub build: Option<Spanned<String>>,
    pub push: Option<SpannedList<String>>,
    pub plugin: Option<Spanned<String>>,
    pub helm: Option<Spanned<String>>,
    pub sign: Option<SpannedList<String>>,
    pub key: Option<Spanned<String>>,
    pub cert: Option<Spanned<String>>,
    pub format: Option<Spanned<String>>,
    pub with: Option<SpannedAnyMap>,
    pub allow: Option<RawAllow>,
    /// The keys written in the step, for rules about keys that do not apply to its kind.
    pub keys: Vec<(&'static Property, Span)>,
    /// Keys whose value had the wrong type (already reported), so that rules about
    /// the key being absent stay quiet.
    pub mistyped: Vec<&'static str>,
    pub when: Option<SpannedList<String>>,
    pub timeout: Option<Spanned<i64>>,
    pub start_delay: Option<Spanned<i64>>,
    pub retries: Option<Spanned<i64>>,
    pub retry_delay: Option<Spanned<i64>>,
    pub retry_on_errors: Option<SpannedList<String>>,
    pub repeat: Option<Spanned<i64>>,
    pub ignore_errors: Option<Spanned<bool>>,
    pub detach: Option<Spanned<bool>>,
    pub keep: Option<Spanned<bool>>,
    pub privileged: Option<Spanned<bool>>,
    pub user: Option<Spanned<String>>,
    pub network: Option<Spanned<String>>,
    pub isolation: Option<Spanned<String>>,
    pub entry_point: Option<Spanned<String>>,
    pub ports: Option<SpannedList<String>>,
    pub expose: Option<SpannedList<String>>,
    pub cpus: Option<Spanned<String>>,
    pub working_directory: Option<Spanned<String>>,
    pub disable_working_directory_override: Option<Spanned<bool>>,
    pub env: Option<SpannedList<String>>,
    pub pull: Option<Spanned<bool>>,
    pub cmd_download_retries: Option<Spanned<i64>>,
    pub cmd_download_retry_delay: Option<Spanned<i64>>,
    pub cache: Option<Spanned<String>>,
    pub tags: Option<SpannedList<String>>,
    pub volume_mounts: Vec<RawMount>,
    pub exited_with: Option<SpannedList<i64>>,
    pub exited_without: Option<SpannedList<i64>>,
}

/// The alias block as written.
#[derive(Clone, Debug, Default)]
pub struct RawAlias {
    pub values: Vec<(Spanned<String>, Spanned<String>)>,
    pub src: Vec<Spanned<String>>,
    pub directive: Option<Spanned<String>>,
}

/// Decodes nodes of one text, reporting problems at places in `file`.
pub struct Decoder<'a> {
    file: FileId,
    chain: MapChain<'a>,
    diags: &'a mut Diagnostics,
}

/// The recognised entries of one mapping.
struct Object<'n> {
    span: Span,
    fields: Vec<(&'static Property, &'n Node, &'n Node)>,
}

impl<'n> Object<'n> {
    /// The value of `key`; when a key repeats, the last one wins, as in yaml.v2.
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.fields
            .iter()
            .rev()
            .find(|(p, _, _)| p.key == key)
            .map(|(_, _, v)| *v)
    }

    fn key_span(&self, key: &str) -> Option<Span> {
        self.fields
            .iter()
            .rev()
            .find(|(p, _, _)| p.key == key)
            .map(|(_, k, _)| k.span)
    }
}

impl<'a> Decoder<'a> {
    /// A decoder for text whose spans `chain` maps back to `file`.
    pub fn new(file: FileId, chain: MapChain<'a>, diags: &'a mut Diagnostics) -> Decoder<'a> {
        Decoder { file, chain, diags }
    }

    /// Maps a span of the decoded text to the file.
    pub fn locate(&self, span: Span) -> Span {
        self.chain.map_span(span)
    }

    fn report(&mut self, diagnostic: Diagnostic, span: Span) {
        let span = self.locate(span);
        self.diags.push(diagnostic.at(self.file, span));
    }

    /// Decodes a whole task document. `root` is `None` for an empty file.
    pub fn task(&mut self, root: Option<&Node>) -> RawTask {
        let mut task = RawTask::default();
        let Some(root) = root else {
            return task;
        };
        if root.is_null() {
            return task;
        }
        let Some(obj) = self.object(root, properties::TASK, "the task") else {
            return task;
        };
        task.version = self.string_field(&obj, "version");
        task.is_build_task = self.bool_field(&obj, "isbuildtask");
        task.step_timeout = self.int_field(&obj, "stepTimeout");
        task.working_directory = self.string_field(&obj, "workingDirectory");
        task.env = self.string_list_field(&obj, "env");
        task.secrets = self.object_list(&obj, "secrets", properties::SECRET, |d, o| RawSecret {
            span: d.locate(o.span),
            id: d.string_field(o, "id"),
            keyvault: d.string_field(o, "keyvault"),
            client_id: d.string_field(o, "clientID"),
            aad_resource_id: d.string_field(o, "aadresourceid"),
        });
        task.networks =
            self.object_list(&obj, "networks", properties::NETWORK, |d, o| RawNetwork {
                span: d.locate(o.span),
                name: d.string_field(o, "name"),
                driver: d.string_field(o, "driver"),
                ipv6: d.bool_field(o, "ipv6"),
                skip_creation: d.bool_field(o, "skipCreation"),
                is_default: d.bool_field(o, "isDefault"),
            });
        task.volumes = self.object_list(&obj, "volumes", properties::VOLUME, |d, o| RawVolume {
            span: d.locate(o.span),
            name: d.string_field(o, "name"),
            secret: d.string_map_field(o, "secret"),
        });
        task.steps_span = obj.key_span("steps").map(|s| self.locate(s));
        task.notify_span = obj.key_span("notify").map(|s| self.locate(s));
        task.alias_span = obj.key_span("alias").map(|s| self.locate(s));
        task.steps = self.object_list(&obj, "steps", properties::STEP, Decoder::step);
        task.notify = self.object_list(&obj, "notify", properties::NOTIFY, |d, o| RawNotify {
            span: d.locate(o.span),
            id: d.string_field(o, "id"),
            plugin: d.string_field(o, "plugin"),
            with: d.any_map_field(o, "with"),
            allow: d.allow_field(o),
            on: d.string_list_field(o, "on"),
            timeout: d.int_field(o, "timeout"),
        });
        task
    }

    fn allow_field(&mut self, o: &Object<'_>) -> Option<RawAllow> {
        let node = o.get("allow")?;
        if node.is_null() {
            return None;
        }
        let obj = self.object(node, properties::ALLOW, "the allow block")?;
        Some(RawAllow {
            span: self.locate(obj.span),
            http: self.string_list_field(&obj, "http"),
            env: self.string_list_field(&obj, "env"),
            read: self.string_list_field(&obj, "read"),
            secrets: self.string_list_field(&obj, "secrets"),
        })
    }

    fn any_map_field(&mut self, obj: &Object<'_>, key: &str) -> Option<SpannedAnyMap> {
        let node = obj.get(key)?;
        if node.is_null() {
            return None;
        }
        let NodeKind::Map(entries) = &node.kind else {
            self.report(
                Diagnostic::error(
                    "wrong-type",
                    format!(
                        "`{key}` must be a mapping of names to values, not {}",
                        node.describe()
                    ),
                ),
                node.span,
            );
            return None;
        };
        let mut out = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let Some(name) = self.string(k, "a key") else {
                continue;
            };
            if let Some(value) = self.any_value(v) {
                out.push((name, Spanned::new(value, self.locate(v.span))));
            }
        }
        Some(Spanned::new(out, self.locate(node.span)))
    }

    /// Any YAML value as JSON, with yaml.v2's scalar typing.
    fn any_value(&mut self, node: &Node) -> Option<serde_json::Value> {
        use serde_json::Value;
        Some(match &node.kind {
            NodeKind::Scalar(s) => match s.resolve() {
                Resolved::Null => Value::Null,
                Resolved::Bool(b) => Value::Bool(b),
                Resolved::Int(i) => Value::from(i),
                Resolved::Uint(u) => Value::from(u),
                Resolved::Float(f) => serde_json::Number::from_f64(f)
                    .map_or_else(|| Value::String(s.value.clone()), Value::Number),
                Resolved::Str(text) => Value::String(text),
            },
            NodeKind::Seq(items) => {
                Value::Array(items.iter().filter_map(|i| self.any_value(i)).collect())
            }
            NodeKind::Map(entries) => {
                let mut map = serde_json::Map::new();
                for (k, v) in entries {
                    let Some(name) = self.string(k, "a key") else {
                        continue;
                    };
                    if let Some(value) = self.any_value(v) {
                        map.insert(name.value, value);
                    }
                }
                Value::Object(map)
            }
        })
    }

    fn step(&mut self, o: &Object<'_>) -> RawStep {
        let mut step = self.step_fields(o);
        let written = |key: &str| o.get(key).is_some_and(|n| !n.is_null());
        for (key, decoded) in [
            ("cmd", step.cmd.is_some()),
            ("build", step.build.is_some()),
            ("push", step.push.is_some()),
            ("plugin", step.plugin.is_some()),
            ("helm", step.helm.is_some()),
            ("sign", step.sign.is_some()),
        ] {
            if written(key) && !decoded {
                step.mistyped.push(key);
            }
        }
        step
    }

    fn step_fields(&mut self, o: &Object<'_>) -> RawStep {
        RawStep {
            span: self.locate(o.span),
            id: self.string_field(o, "id"),
            cmd: self.string_field(o, "cmd"),
            build: self.string_field(o, "build"),
            push: self.string_list_field(o, "push"),
            plugin: self.string_field(o, "plugin"),
            helm: self.string_field(o, "helm"),
            sign: self.string_list_field(o, "sign"),
            key: self.string_field(o, "key"),
            cert: self.string_field(o, "cert"),
            format: self.string_field(o, "format"),
            with: self.any_map_field(o, "with"),
            allow: self.allow_field(o),
            keys: o
                .fields
                .iter()
                .map(|(p, k, _)| (*p, self.locate(k.span)))
                .collect(),
            mistyped: Vec::new(),
            when: self.string_list_field(o, "when"),
            timeout: self.int_field(o, "timeout"),
            start_delay: self.int_field(o, "startDelay"),
            retries: self.int_field(o, "retries"),
            retry_delay: self.int_field(o, "retryDelay"),
            retry_on_errors: self.string_list_field(o, "retryOnErrors"),
            repeat: self.int_field(o, "repeat"),
            ignore_errors: self.bool_field(o, "ignoreErrors"),
            detach: self.bool_field(o, "detach"),
            keep: self.bool_field(o, "keep"),
            privileged: self.bool_field(o, "privileged"),
            user: self.string_field(o, "user"),
            network: self.string_field(o, "network"),
            isolation: self.string_field(o, "isolation"),
            entry_point: self.string_field(o, "entryPoint"),
            ports: self.string_list_field(o, "ports"),
            expose: self.string_list_field(o, "expose"),
            cpus: self.string_field(o, "cpus"),
            working_directory: self.string_field(o, "workingDirectory"),
            disable_working_directory_override: self
                .bool_field(o, "disableWorkingDirectoryOverride"),
            env: self.string_list_field(o, "env"),
            pull: self.bool_field(o, "pull"),
            cmd_download_retries: self.int_field(o, "cmdDownloadRetries"),
            cmd_download_retry_delay: self.int_field(o, "cmdDownloadRetryDelay"),
            cache: self.string_field(o, "cache"),
            tags: self.string_list_field(o, "tags"),
            volume_mounts: self.object_list(o, "volumeMounts", properties::VOLUME_MOUNT, |d, m| {
                RawMount {
                    span: d.locate(m.span),
                    name: d.string_field(m, "name"),
                    mount_path: d.string_field(m, "mountPath"),
                }
            }),
            exited_with: self.int_list_field(o, "exitedWith"),
            exited_without: self.int_list_field(o, "exitedWithout"),
        }
    }

    /// Decodes the `alias:` block document.
    pub fn alias_block(&mut self, root: Option<&Node>) -> RawAlias {
        let mut alias = RawAlias::default();
        let Some(root) = root else {
            return alias;
        };
        let NodeKind::Map(entries) = &root.kind else {
            return alias;
        };
        let Some((_, block)) = entries
            .iter()
            .rev()
            .find(|(k, _)| k.as_scalar().is_some_and(|s| s.value == "alias"))
        else {
            return alias;
        };
        if block.is_null() {
            return alias;
        }
        let Some(obj) = self.object(block, properties::ALIAS, "the alias block") else {
            return alias;
        };
        alias.values = self
            .string_map_field(&obj, "values")
            .map(|m| m.value)
            .unwrap_or_default();
        alias.src = self
            .string_list_field(&obj, "src")
            .map(|l| l.value)
            .unwrap_or_default();
        alias.directive = self.string_field(&obj, "directive");
        alias
    }

    /// Decodes a flat `name: text` mapping (an alias `src` file).
    pub fn string_map_document(
        &mut self,
        root: Option<&Node>,
    ) -> Vec<(Spanned<String>, Spanned<String>)> {
        match root {
            Some(node) if !node.is_null() => self
                .string_map(node, "the alias file")
                .map(|m| m.value)
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Checks that `node` is a mapping and sorts its keys into known (kept) and
    /// unknown (warned about, with a suggestion).
    fn object<'n>(
        &mut self,
        node: &'n Node,
        table: &'static [Property],
        what: &str,
    ) -> Option<Object<'n>> {
        let NodeKind::Map(entries) = &node.kind else {
            self.report(
                Diagnostic::error(
                    "wrong-type",
                    format!(
                        "{what} must be a mapping of keys to values, not {}",
                        node.describe()
                    ),
                ),
                node.span,
            );
            return None;
        };
        let mut fields = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let Some(name) = key.as_scalar().map(|s| s.value.as_str()) else {
                self.report(
                    Diagnostic::error(
                        "wrong-type",
                        format!("keys of {what} must be plain names, not {}", key.describe()),
                    ),
                    key.span,
                );
                continue;
            };
            let Some(property) = properties::find(table, name) else {
                let mut d = Diagnostic::warning(
                    "unknown-key",
                    format!("unknown key `{name}` in {what}; ACR ignores it"),
                )
                .with_label("not a known key");
                if let Some(known) = properties::suggest(table, name) {
                    d = d.with_help(format!("did you mean `{known}`?"));
                }
                self.report(d, key.span);
                continue;
            };
            let earlier: Option<&Node> = fields
                .iter()
                .find(|(p, _, _): &&(&Property, &Node, &Node)| p.key == property.key)
                .map(|(_, k, _)| *k);
            if let Some(first) = earlier {
                let related = crate::diagnostic::Location {
                    file: self.file,
                    span: self.locate(first.span),
                };
                self.report(
                    Diagnostic::warning(
                        "duplicate-key",
                        format!("`{name}` is given twice in {what}; the last one is used"),
                    )
                    .with_related(related, "first given here"),
                    key.span,
                );
            }
            fields.push((property, key, value));
        }
        Some(Object {
            span: node.span,
            fields,
        })
    }

    fn object_list<T>(
        &mut self,
        obj: &Object<'_>,
        key: &str,
        table: &'static [Property],
        mut each: impl FnMut(&mut Decoder<'a>, &Object<'_>) -> T,
    ) -> Vec<T> {
        let Some(node) = obj.get(key) else {
            return Vec::new();
        };
        if node.is_null() {
            return Vec::new();
        }
        let NodeKind::Seq(items) = &node.kind else {
            self.report(
                Diagnostic::error(
                    "wrong-type",
                    format!("`{key}` must be a list, not {}", node.describe()),
                )
                .with_help(format!(
                    "write each entry of `{key}` on its own line starting with `- `"
                )),
                node.span,
            );
            return Vec::new();
        };
        let singular = key.strip_suffix('s').unwrap_or(key);
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let what = format!("a {singular} entry");
            if let Some(o) = self.object(item, table, &what) {
                out.push(each(self, &o));
            }
        }
        out
    }

    fn wrong_type(&mut self, key: &str, expected: &str, node: &Node) {
        let mut d = Diagnostic::error(
            "wrong-type",
            format!(
                "{} must be {expected}, not {}",
                subject(key),
                node.describe()
            ),
        );
        if let (Some(s), "an integer" | "a boolean") = (node.as_scalar(), expected)
            && !s.plain
        {
            d = d.with_help("remove the quotes");
        }
        if expected.starts_with("a list") && node.as_scalar().is_some() {
            d = d.with_help(format!(
                "write `{key}: [{}]`",
                node.as_scalar()
                    .map(|s| s.value.as_str())
                    .unwrap_or_default()
            ));
        }
        self.report(d, node.span);
    }

    fn string_field(&mut self, obj: &Object<'_>, key: &str) -> Option<Spanned<String>> {
        let node = obj.get(key)?;
        self.string(node, key)
    }

    fn string(&mut self, node: &Node, key: &str) -> Option<Spanned<String>> {
        match &node.kind {
            NodeKind::Scalar(s) => match s.resolve() {
                Resolved::Null => None,
                _ => Some(Spanned::new(s.value.clone(), self.locate(node.span))),
            },
            _ => {
                self.wrong_type(key, "a string", node);
                None
            }
        }
    }

    fn int_field(&mut self, obj: &Object<'_>, key: &str) -> Option<Spanned<i64>> {
        let node = obj.get(key)?;
        self.int(node, key)
    }

    fn int(&mut self, node: &Node, key: &str) -> Option<Spanned<i64>> {
        match node.as_scalar().map(|s| (s, s.resolve())) {
            Some((_, Resolved::Null)) => None,
            Some((_, Resolved::Int(i))) => Some(Spanned::new(i, self.locate(node.span))),
            Some((s, Resolved::Uint(_))) => {
                self.report(
                    Diagnostic::error(
                        "wrong-type",
                        format!(
                            "{} takes an int, and {} is too large for one",
                            subject(key),
                            s.value
                        ),
                    ),
                    node.span,
                );
                None
            }
            // yaml.v2 stores a float in an int field when it fits, dropping the fraction.
            Some((s, Resolved::Float(f))) if fits_i64(f) => {
                let i = f.trunc() as i64;
                if f.fract() != 0.0 {
                    self.report(
                        Diagnostic::warning(
                            "float-truncated",
                            format!(
                                "{} takes whole numbers; ACR drops the fraction of {} and uses {i}",
                                subject(key),
                                s.value
                            ),
                        )
                        .with_label(format!("used as {i}"))
                        .with_help(format!("write {i}")),
                        node.span,
                    );
                }
                Some(Spanned::new(i, self.locate(node.span)))
            }
            _ => {
                self.wrong_type(key, "an integer", node);
                None
            }
        }
    }

    fn bool_field(&mut self, obj: &Object<'_>, key: &str) -> Option<Spanned<bool>> {
        let node = obj.get(key)?;
        match node.as_scalar().map(|s| s.resolve()) {
            Some(Resolved::Null) => None,
            Some(Resolved::Bool(b)) => Some(Spanned::new(b, self.locate(node.span))),
            _ => {
                self.wrong_type(key, "a boolean", node);
                None
            }
        }
    }

    fn string_list_field(&mut self, obj: &Object<'_>, key: &str) -> Option<SpannedList<String>> {
        let node = obj.get(key)?;
        self.list(node, key, "a list of strings", |d, item| match &item.kind {
            NodeKind::Scalar(s) => {
                let text = match s.resolve() {
                    Resolved::Null => String::new(),
                    _ => s.value.clone(),
                };
                Some(Spanned::new(text, d.locate(item.span)))
            }
            _ => {
                d.wrong_type(&format!("each entry of `{key}`"), "a string", item);
                None
            }
        })
    }

    fn int_list_field(&mut self, obj: &Object<'_>, key: &str) -> Option<SpannedList<i64>> {
        let node = obj.get(key)?;
        self.list(node, key, "a list of integers", |d, item| {
            d.int(item, &format!("each entry of `{key}`"))
        })
    }

    fn list<T>(
        &mut self,
        node: &Node,
        key: &str,
        expected: &str,
        mut each: impl FnMut(&mut Decoder<'a>, &Node) -> Option<Spanned<T>>,
    ) -> Option<SpannedList<T>> {
        if node.is_null() {
            return None;
        }
        let NodeKind::Seq(items) = &node.kind else {
            self.wrong_type(key, expected, node);
            return None;
        };
        let values = items.iter().filter_map(|item| each(self, item)).collect();
        Some(Spanned::new(values, self.locate(node.span)))
    }

    fn string_map_field(&mut self, obj: &Object<'_>, key: &str) -> Option<SpannedMap> {
        let node = obj.get(key)?;
        if node.is_null() {
            return None;
        }
        self.string_map(node, &format!("`{key}`"))
    }

    fn string_map(&mut self, node: &Node, what: &str) -> Option<SpannedMap> {
        let NodeKind::Map(entries) = &node.kind else {
            self.report(
                Diagnostic::error(
                    "wrong-type",
                    format!(
                        "{what} must be a mapping of names to text, not {}",
                        node.describe()
                    ),
                ),
                node.span,
            );
            return None;
        };
        let mut out = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let Some(name) = self.string(k, "a key") else {
                continue;
            };
            let value = match &v.kind {
                NodeKind::Scalar(s) => {
                    let text = if s.resolve() == Resolved::Null {
                        String::new()
                    } else {
                        s.value.clone()
                    };
                    Spanned::new(text, self.locate(v.span))
                }
                _ => {
                    self.wrong_type(&name.value, "a string", v);
                    continue;
                }
            };
            out.push((name, value));
        }
        Some(Spanned::new(out, self.locate(node.span)))
    }
}

/// `key` as the subject of a message: a bare key is quoted (`timeout`), a phrase
/// that already quotes its key (each entry of `ports`) is kept.
fn subject(key: &str) -> String {
    if key.contains('`') {
        key.to_string()
    } else {
        format!("`{key}`")
    }
}

/// Whether yaml.v2 converts `f` to an int64: finite and in range (it truncates).
fn fits_i64(f: f64) -> bool {
    // -2^63 and 2^63, both exactly representable.
    const MIN: f64 = -9_223_372_036_854_775_808.0;
    const MAX: f64 = 9_223_372_036_854_775_808.0;
    f.is_finite() && (MIN..MAX).contains(&f)
}
