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
            map.insert("title".into(), json!("version"));
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
        // Exactly one kind: a step with both cmd and build is underlined.
        let kinds: Vec<Value> = crate::kinds::KINDS
            .iter()
            .map(|k| json!({"required": [k.key]}))
            .collect();
        schema["oneOf"] = Value::Array(kinds);
    }
    schema
}

/// The constraints that let a value be written as an editor sees it before templates
/// and aliases are resolved, added to `schema` (whose `type` is a list). One schema,
/// not an `anyOf`, so that an editor's hover shows the key once.
///
/// - A Go template written unquoted where a value goes (`timeout: {{.Values.t}}`):
///   YAML, and so an editor, reads it as a mapping with one key that starts with `{`
///   and no value. wharf and ACR render it before YAML sees it.
/// - With `alias`, an alias where a number or boolean goes (`detach: $yes`): a plain
///   string to YAML, substituted before the file is read (v1.1.0 and later). A quoted
///   template (`timeout: "{{.Values.t}}"`) is a string after rendering too, so it is
///   not accepted where ACR wants a number or a boolean.
/// - Nothing after the key: null, which ACR reads as the zero value.
fn as_written(mut schema: Value, alias: bool) -> Value {
    if let Some(Value::Array(types)) = schema.get_mut("type") {
        for extra in ["object", "null"] {
            if !types.iter().any(|t| t == extra) {
                types.push(json!(extra));
            }
        }
        if alias && !types.iter().any(|t| t == "string") {
            types.push(json!("string"));
            schema["pattern"] = json!("^\\$[A-Za-z0-9]+$");
        }
    }
    schema["minProperties"] = json!(1);
    schema["maxProperties"] = json!(1);
    schema["propertyNames"] = json!({"pattern": "^\\{"});
    schema["additionalProperties"] = json!({"type": "null"});
    schema
}

/// A string that is one of `values`, accepted in any case, as ACR compares them, or
/// a template; the values are offered as completions (`examples`). JSON Schema
/// patterns have no case-insensitive flag that editors support, so each letter is
/// written as a class (`[eE][nN]…`).
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
    let mut schema = as_written(json!({"type": ["string"]}), false);
    // The values, or a quoted template (it renders to a string, which may be one).
    schema["pattern"] = json!(format!("^(?:{})$|\\{{\\{{", alternatives.join("|")));
    schema["examples"] = json!(values);
    schema
}

fn scalar() -> Value {
    json!({"type": ["string", "number", "boolean"]})
}

fn property_schema(p: &Property) -> Value {
    let mut schema = match p.kind {
        Kind::String => as_written(scalar(), false),
        Kind::Int => as_written(json!({"type": ["integer"]}), true),
        Kind::Bool => as_written(json!({"type": ["boolean"]}), true),
        Kind::StringList => as_written(
            json!({"type": ["array"], "items": as_written(scalar(), false)}),
            false,
        ),
        Kind::IntList => as_written(
            json!({"type": ["array"], "items": as_written(json!({"type": ["integer"]}), true)}),
            false,
        ),
        Kind::StringMap => {
            json!({"type": "object", "additionalProperties": as_written(scalar(), false)})
        }
        Kind::ObjectList(table) => json!({"type": "array", "items": object_schema(table)}),
        Kind::Object(table) => object_schema(table),
        Kind::AnyMap => json!({"type": "object"}),
    };
    if !p.one_of.is_empty() {
        schema = match p.kind {
            // A list of the values (notify's `on: [success, failure]`).
            Kind::StringList => as_written(
                json!({"type": ["array"], "items": one_of_schema(p.one_of)}),
                false,
            ),
            _ => one_of_schema(p.one_of),
        };
    }
    if let Value::Object(map) = &mut schema {
        // A title of its own, so that an editor's hover names the key once (without
        // it, yaml-language-server repeats the file's title for every matching form).
        map.insert("title".into(), json!(p.key));
        map.insert("description".into(), json!(p.doc));
        if p.extension {
            map.insert(
                "markdownDescription".into(),
                json!(format!(
                    "{}\n\n*wharf extension: `az acr run` does not know this key.*",
                    p.doc
                )),
            );
        }
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
        assert_eq!(steps["cache"]["examples"], json!(["enabled", "disabled"]));
        assert_eq!(
            steps["cache"]["pattern"],
            json!("^(?:[eE][nN][aA][bB][lL][eE][dD]|[dD][iI][sS][aA][bB][lL][eE][dD])$|\\{\\{")
        );
        assert_eq!(
            schema["properties"]["version"]["pattern"],
            json!("^(?:1\\.0-[pP][rR][eE][vV][iI][eE][wW]-1|[vV]1\\.0\\.0|[vV]1\\.1\\.0)$|\\{\\{")
        );
        assert!(schema["properties"]["version"]["description"].is_string());
    }
}
