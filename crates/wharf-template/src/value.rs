//! The public dynamic [`Value`] handed to a template as its data.

use std::collections::BTreeMap;

/// A dynamic value, as Go's `interface{}` holding what YAML/JSON/TOML decode to.
///
/// Integers are one type here. Go distinguishes `int` (template literals, `len`)
/// from `int64` (TOML values, Sprig arithmetic); wharf does not, see the README.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Go's untyped `nil`.
    Nil,
    /// A `bool`.
    Bool(bool),
    /// An integer (`int`/`int64`).
    Int(i64),
    /// A `uint64` above int64's range (yaml.v2 decodes such integers so).
    Uint(u64),
    /// A `float64`.
    Float(f64),
    /// A `string`.
    String(String),
    /// A `[]interface{}`.
    List(Vec<Value>),
    /// A `map[string]interface{}`.
    Map(BTreeMap<String, Value>),
    /// A `time.Time`.
    Time(jiff::Zoned),
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None if n.as_u64().is_some() => Value::Uint(n.as_u64().unwrap_or(0)),
                None => Value::Float(n.as_f64().unwrap_or(0.0)),
            },
            serde_json::Value::String(s) => Value::String(s),
            serde_json::Value::Array(a) => Value::List(a.into_iter().map(Value::from).collect()),
            serde_json::Value::Object(o) => {
                Value::Map(o.into_iter().map(|(k, v)| (k, Value::from(v))).collect())
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl Value {
    /// Converts to JSON the way Go's `encoding/json` sees the value: times become
    /// RFC 3339 strings with nanoseconds, non-finite floats become `null`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Nil => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Uint(u) => serde_json::Value::from(*u),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::List(l) => serde_json::Value::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) => {
                serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
            Value::Time(z) => serde_json::Value::String(crate::time_layout::rfc3339_nano(z)),
        }
    }

    /// Builds a map value from `(key, value)` pairs.
    pub fn map<K: Into<String>, I: IntoIterator<Item = (K, Value)>>(items: I) -> Value {
        Value::Map(items.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_json_numbers() {
        let v: Value = serde_json::json!({"a": 1, "b": 1.5, "c": [null, true, "x"]}).into();
        let Value::Map(m) = &v else {
            panic!("not a map")
        };
        assert_eq!(m["a"], Value::Int(1));
        assert_eq!(m["b"], Value::Float(1.5));
        assert_eq!(
            m["c"],
            Value::List(vec![Value::Nil, Value::Bool(true), Value::from("x")])
        );
        assert_eq!(
            v.to_json(),
            serde_json::json!({"a": 1, "b": 1.5, "c": [null, true, "x"]})
        );
    }
}
