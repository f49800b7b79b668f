//! A JSON Schema (draft-07) of the task file, generated from the same property
//! tables the loader uses, for yaml-language-server and other editors.

use serde_json::{Map, Value, json};

use crate::properties::{self, Kind, Property};
use crate::task::VALID_VERSIONS;

/// The schema's `$id`.
pub const SCHEMA_ID: &str = "https://wharf.dev/schemas/acb.schema.json";

/// The JSON Schema of `acb.yaml`.
pub fn json_schema() -> Value {
    let mut root = object_schema(properties::TASK);
    if let Some(props) = root.get_mut("properties").and_then(Value::as_object_mut)
        && let Some(version) = props.get_mut("version")
    {
        let description = version.get("description").cloned();
        *version = one_of_schema(VALID_VERSIONS);
        if let (Value::Object(map), Some(d)) = (&mut *version, description) {
            map.insert("description".into(), d);
        }
    }
    if let Value::Object(map) = &mut root {
        map.insert(
            "$schema".into(),
            json!("http://json-schema.org/draft-07/schema#"),
        );
        map.insert("$id".into(), json!(SCHEMA_ID));
        map.insert(
            "title".into(),
            json!("ACR Tasks multi-step file (acb.yaml)"),
        );
        map.insert(
            "description".into(),
            json!("A multi-step task for Azure Container Registry Tasks, run locally by wharf. Templates ({{...}}) and $aliases are resolved before this schema applies."),
        );
    }
    root
}

fn object_schema(table: &'static [Property]) -> Value {
    let mut props = Map::new();
    for p in table {
        props.insert(p.key.to_string(), property_schema(p));
    }
    let mut schema = json!({
        "type": "object",
        "properties": props,
        "additionalProperties": false,
    });
    if std::ptr::eq(table, properties::STEP) {
        let kinds: Vec<Value> = crate::kinds::KINDS
            .iter()
            .map(|k| json!({"required": [k.key]}))
            .collect();
        schema["anyOf"] = Value::Array(kinds);
    }
    schema
}

/// A template placeholder stands in for any scalar before rendering.
fn templated(schema: Value) -> Value {
    json!({"anyOf": [schema, {"type": "string", "pattern": "\\{\\{.*\\}\\}"}]})
}

/// A string that is one of `values`, compared case-insensitively as ACR compares
/// them. JSON Schema patterns have no case-insensitive flag that editors support,
/// so each letter is written as a class (`[eE][nN]…`).
fn one_of_schema(values: &[&str]) -> Value {
    let alternatives: Vec<String> = values
        .iter()
        .map(|v| {
            v.chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                    } else if "\\^$.|?*+()[]{}/".contains(c) {
                        format!("\\{c}")
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();
    templated(json!({
        "type": "string",
        "pattern": format!("^(?:{})$", alternatives.join("|")),
    }))
}

fn property_schema(p: &Property) -> Value {
    let mut schema = match p.kind {
        Kind::String => json!({"type": ["string", "number", "boolean"]}),
        Kind::Int => templated(json!({"type": "integer"})),
        Kind::Bool => templated(json!({"type": "boolean"})),
        Kind::StringList => {
            json!({"type": "array", "items": {"type": ["string", "number", "boolean"]}})
        }
        Kind::IntList => json!({"type": "array", "items": {"type": "integer"}}),
        Kind::StringMap => {
            json!({"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}})
        }
        Kind::ObjectList(table) => json!({"type": "array", "items": object_schema(table)}),
        Kind::Object(table) => object_schema(table),
        Kind::AnyMap => json!({"type": "object"}),
    };
    if !p.one_of.is_empty() {
        schema = one_of_schema(p.one_of);
    }
    if let Value::Object(map) = &mut schema {
        map.insert("description".into(), json!(p.doc));
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_describes_every_step_key() {
        let schema = json_schema();
        let steps = &schema["properties"]["steps"]["items"]["properties"];
        for p in properties::STEP {
            assert!(steps.get(p.key).is_some(), "missing {}", p.key);
        }
        assert_eq!(
            schema["properties"]["steps"]["items"]["additionalProperties"],
            json!(false)
        );
        assert_eq!(
            steps["cache"]["anyOf"][0]["pattern"],
            json!("^(?:[eE][nN][aA][bB][lL][eE][dD]|[dD][iI][sS][aA][bB][lL][eE][dD])$")
        );
        assert_eq!(
            schema["properties"]["version"]["anyOf"][0]["pattern"],
            json!("^(?:1\\.0-[pP][rR][eE][vV][iI][eE][wW]-1|[vV]1\\.0\\.0|[vV]1\\.1\\.0)$")
        );
        assert!(schema["properties"]["version"]["description"].is_string());
    }
}
