//! The chart metadata as helm's `json.Marshal(meta)` writes it: fields in Go's
//! declaration order, empty ones left out, strings escaped as Go escapes them.
//! This is the config blob of a chart pushed to an OCI registry.

use crate::go_format::{json_float, json_string};
use crate::metadata::{AnyValue, Dependency, Metadata};

impl Metadata {
    /// The chart metadata as helm's `json.Marshal(meta)` writes it: the config
    /// blob of a chart pushed to an OCI registry.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        let mut first = true;
        let mut key = |out: &mut String, k: &str| {
            if !first {
                out.push(',');
            }
            first = false;
            json_string(out, k);
            out.push(':');
        };
        macro_rules! string_field {
            ($k:literal, $v:expr) => {
                if !$v.is_empty() {
                    key(&mut out, $k);
                    json_string(&mut out, &$v);
                }
            };
        }
        string_field!("name", self.name);
        string_field!("home", self.home);
        if !self.sources.is_empty() {
            key(&mut out, "sources");
            json_strings(&mut out, &self.sources);
        }
        string_field!("version", self.version);
        string_field!("description", self.description);
        if !self.keywords.is_empty() {
            key(&mut out, "keywords");
            json_strings(&mut out, &self.keywords);
        }
        if !self.maintainers.is_empty() {
            key(&mut out, "maintainers");
            out.push('[');
            for (i, m) in self.maintainers.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match m {
                    None => out.push_str("null"),
                    Some(m) => json_object(
                        &mut out,
                        &[("name", &m.name), ("email", &m.email), ("url", &m.url)],
                    ),
                }
            }
            out.push(']');
        }
        string_field!("icon", self.icon);
        string_field!("apiVersion", self.api_version);
        string_field!("condition", self.condition);
        string_field!("tags", self.tags);
        string_field!("appVersion", self.app_version);
        if self.deprecated {
            key(&mut out, "deprecated");
            out.push_str("true");
        }
        if !self.annotations.is_empty() {
            key(&mut out, "annotations");
            out.push('{');
            for (i, (k, v)) in self.annotations.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(&mut out, k);
                out.push(':');
                json_string(&mut out, v);
            }
            out.push('}');
        }
        string_field!("kubeVersion", self.kube_version);
        if !self.dependencies.is_empty() {
            key(&mut out, "dependencies");
            out.push('[');
            for (i, d) in self.dependencies.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match d {
                    None => out.push_str("null"),
                    Some(d) => dependency_json(&mut out, d),
                }
            }
            out.push(']');
        }
        string_field!("type", self.chart_type);
        out.push('}');
        out
    }
}

fn json_strings(out: &mut String, items: &[String]) {
    out.push('[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(out, s);
    }
    out.push(']');
}

/// An object of string fields with `omitempty`.
fn json_object(out: &mut String, fields: &[(&str, &String)]) {
    out.push('{');
    let mut first = true;
    for (k, v) in fields {
        if v.is_empty() {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        json_string(out, k);
        out.push(':');
        json_string(out, v);
    }
    out.push('}');
}

fn dependency_json(out: &mut String, d: &Dependency) {
    out.push('{');
    json_string(out, "name");
    out.push(':');
    json_string(out, &d.name);
    if !d.version.is_empty() {
        out.push_str(",\"version\":");
        json_string(out, &d.version);
    }
    out.push_str(",\"repository\":");
    json_string(out, &d.repository);
    if !d.condition.is_empty() {
        out.push_str(",\"condition\":");
        json_string(out, &d.condition);
    }
    if !d.tags.is_empty() {
        out.push_str(",\"tags\":");
        json_strings(out, &d.tags);
    }
    if d.enabled {
        out.push_str(",\"enabled\":true");
    }
    if !d.import_values.is_empty() {
        out.push_str(",\"import-values\":[");
        for (i, v) in d.import_values.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            any_json(out, v);
        }
        out.push(']');
    }
    if !d.alias.is_empty() {
        out.push_str(",\"alias\":");
        json_string(out, &d.alias);
    }
    out.push('}');
}

fn any_json(out: &mut String, v: &AnyValue) {
    match v {
        AnyValue::Null => out.push_str("null"),
        AnyValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        AnyValue::Number(f) => out.push_str(&json_float(*f).unwrap_or_else(|| "null".into())),
        AnyValue::String(s) => json_string(out, s),
        AnyValue::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                any_json(out, item);
            }
            out.push(']');
        }
        AnyValue::Map(m) => {
            out.push('{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(out, k);
                out.push(':');
                any_json(out, item);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::metadata::{AnyValue, Dependency, Maintainer, Metadata};

    fn meta() -> Metadata {
        Metadata {
            api_version: "v2".into(),
            name: "web".into(),
            version: "1.2.3".into(),
            ..Metadata::default()
        }
    }

    #[test]
    fn config_json_follows_go_field_order() {
        let mut m = meta();
        m.home = "https://x/<y>".into();
        m.keywords = vec!["a".into()];
        m.maintainers = vec![Some(Maintainer {
            name: "Ann".into(),
            email: "a@x".into(),
            url: String::new(),
        })];
        m.deprecated = true;
        m.dependencies = vec![Some(Dependency {
            name: "db".into(),
            import_values: vec![AnyValue::Number(1.0), AnyValue::String("x".into())],
            ..Dependency::default()
        })];
        assert_eq!(
            m.to_json(),
            r#"{"name":"web","home":"https://x/\u003cy\u003e","version":"1.2.3","keywords":["a"],"maintainers":[{"name":"Ann","email":"a@x"}],"apiVersion":"v2","deprecated":true,"dependencies":[{"name":"db","repository":"","import-values":[1,"x"]}]}"#
        );
    }
}
