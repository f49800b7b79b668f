//! Template data: values files, `--set`, and the run variables (`.Run`, `.Build`,
//! `.ValuesJSON`, `.RunJSON`), as ACR builds them.

use std::collections::BTreeMap;

use wharf_template::{Value, go};

use crate::yaml::{Node, NodeKind, Resolved};

/// What ACR calls the run: identity, source and platform of one execution.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunInfo {
    /// Short unique id of the run (`--id`).
    pub id: String,
    /// Commit the run builds.
    pub commit: String,
    /// Repository URL.
    pub repository: String,
    /// Branch the run builds.
    pub branch: String,
    /// Git tag the run builds.
    pub git_tag: String,
    /// Why the run started (`manual` locally).
    pub triggered_by: String,
    /// Registry login server (`--registry`), e.g. `myreg.azurecr.io`.
    pub registry: String,
    /// Start of the run, UTC.
    pub date: jiff::Timestamp,
    /// Name of the volume mounted at /workspace.
    pub shared_volume: String,
    /// Engine OS, as Go's GOOS (`linux`).
    pub os: String,
    /// OS version.
    pub os_version: String,
    /// Engine architecture, as Go's GOARCH (`amd64`, `arm64`).
    pub architecture: String,
    /// Name of the task.
    pub task_name: String,
}

impl RunInfo {
    /// The registry name: the text before the first `.` of the registry.
    pub fn registry_name(&self) -> &str {
        self.registry.split('.').next().unwrap_or_default()
    }

    /// The run date in ACR's format, Go layout `20060102-150405` plus a literal `z`.
    pub fn date_text(&self) -> String {
        self.date.strftime("%Y%m%d-%H%M%Sz").to_string()
    }

    fn fields(&self) -> BTreeMap<String, Value> {
        let s = |v: &str| Value::String(v.to_string());
        [
            ("ID", s(&self.id)),
            ("Commit", s(&self.commit)),
            ("Repository", s(&self.repository)),
            ("Branch", s(&self.branch)),
            ("GitTag", s(&self.git_tag)),
            ("TriggeredBy", s(&self.triggered_by)),
            ("Registry", s(&self.registry)),
            ("RegistryName", s(self.registry_name())),
            ("Date", Value::String(self.date_text())),
            ("SharedVolume", s(&self.shared_volume)),
            ("OS", s(&self.os)),
            ("OSVersion", s(&self.os_version)),
            ("Architecture", s(&self.architecture)),
            ("TaskName", s(&self.task_name)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// The Go platform names of the machine wharf runs on.
pub fn host_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    };
    (std::env::consts::OS, arch)
}

/// Converts a YAML node to a template value with yaml.v2's typing.
pub fn yaml_to_value(node: &Node) -> Value {
    match &node.kind {
        NodeKind::Scalar(s) => match s.resolve() {
            Resolved::Null => Value::Nil,
            Resolved::Bool(b) => Value::Bool(b),
            Resolved::Int(i) => Value::Int(i),
            Resolved::Uint(u) => Value::Uint(u),
            Resolved::Float(f) => Value::Float(f),
            Resolved::Str(text) => Value::String(text),
        },
        NodeKind::Seq(items) => Value::List(items.iter().map(yaml_to_value).collect()),
        NodeKind::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = k.as_scalar().map(|s| s.value.clone()).unwrap_or_default();
                    (key, yaml_to_value(v))
                })
                .collect(),
        ),
    }
}

/// Merges `overlay` into `base`: maps merge key by key, anything else is replaced.
pub fn merge_values(base: &mut BTreeMap<String, Value>, overlay: BTreeMap<String, Value>) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(Value::Map(inner)), Value::Map(over)) => merge_values(inner, over),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Parses `--set key=value` entries: split at the first `=`, key non-empty and
/// taken literally (`a.b` is one key), value always a string, last one wins.
pub fn parse_set(entries: &[String]) -> Result<BTreeMap<String, Value>, String> {
    let mut out = BTreeMap::new();
    for entry in entries {
        let Some((key, value)) = entry.split_once('=') else {
            return Err(format!(
                "failed to parse --set {entry:?}: invalid format, no = assignment found"
            ));
        };
        if key.is_empty() {
            return Err(format!(
                "failed to parse --set {entry:?}: expected a key=val format"
            ));
        }
        out.insert(key.to_string(), Value::String(value.to_string()));
    }
    Ok(out)
}

/// Builds the data the task template is rendered with. Fails, as ACR does, when
/// the values cannot be written as JSON for `.ValuesJSON` (NaN or an infinity).
pub fn template_data(
    run: &RunInfo,
    values: &BTreeMap<String, Value>,
    secrets: &BTreeMap<String, String>,
) -> Result<Value, String> {
    let run_fields = Value::Map(run.fields());
    let values = Value::Map(values.clone());
    let values_json =
        go::json(&values, true).map_err(|e| format!("failed to serialize Values: {e}"))?;
    let run_json =
        go::json(&run_fields, true).map_err(|e| format!("failed to serialize Run: {e}"))?;
    let mut data = BTreeMap::new();
    data.insert(
        "Build".to_string(),
        Value::Map([("ID".to_string(), Value::String(run.id.clone()))].into()),
    );
    data.insert("Run".to_string(), run_fields);
    data.insert("Values".to_string(), values);
    data.insert(
        "ValuesJSON".to_string(),
        Value::String(shell_quote(&values_json)),
    );
    data.insert("RunJSON".to_string(), Value::String(shell_quote(&run_json)));
    data.insert(
        "Secrets".to_string(),
        Value::Map(
            secrets
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        ),
    );
    Ok(Value::Map(data))
}

/// ACR's `shellQuote`: `''` for empty; wrapped in single quotes (with `'` written as
/// `'"'"'`) when any character is outside `[A-Za-z0-9_^@=+%,:./-]`.
pub fn shell_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".into();
    }
    let plain = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_^@=+%,:./-".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\"'\"'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_values_are_flat_strings_and_last_wins() {
        let set = parse_set(&["a.b=1".into(), "x=y=z".into(), "x=2".into()]);
        let Ok(set) = set else { panic!("{set:?}") };
        assert_eq!(set.get("a.b"), Some(&Value::String("1".into())));
        assert_eq!(set.get("x"), Some(&Value::String("2".into())));
        assert!(parse_set(&["novalue".into()]).is_err());
        assert!(parse_set(&["=v".into()]).is_err());
    }

    #[test]
    fn shell_quoting_matches_acr() {
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("abc/d:1.0"), "abc/d:1.0");
        assert_eq!(shell_quote("{\"a\":1}"), "'{\"a\":1}'");
        assert_eq!(shell_quote("it's"), "'it'\"'\"'s'");
    }

    #[test]
    fn run_fields_follow_acr_formats() {
        let run = RunInfo {
            registry: "myreg.azurecr.io".into(),
            date: "2010-05-20T13:14:22Z".parse().unwrap_or_default(),
            ..RunInfo::default()
        };
        assert_eq!(run.registry_name(), "myreg");
        assert_eq!(run.date_text(), "20100520-131422z");
    }

    #[test]
    fn values_json_is_go_escaped_and_sorted() {
        let values: BTreeMap<String, Value> = [
            ("b".to_string(), Value::String("<x>".into())),
            ("a".to_string(), Value::Int(1)),
        ]
        .into();
        let data = template_data(&RunInfo::default(), &values, &BTreeMap::new());
        let Ok(Value::Map(m)) = data else {
            panic!("{data:?}")
        };
        assert_eq!(
            m.get("ValuesJSON"),
            Some(&Value::String(
                "'{\"a\":1,\"b\":\"\\u003cx\\u003e\"}'".into()
            ))
        );
    }

    #[test]
    fn values_json_fails_on_nan_as_go_does() {
        let values: BTreeMap<String, Value> = [("x".to_string(), Value::Float(f64::NAN))].into();
        let data = template_data(&RunInfo::default(), &values, &BTreeMap::new());
        assert_eq!(
            data.err().as_deref(),
            Some("failed to serialize Values: json: unsupported value: NaN")
        );
    }
}
