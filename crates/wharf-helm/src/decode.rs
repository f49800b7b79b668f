//! Chart.yaml, Chart.lock and values.yaml read as helm reads them:
//! `sigs.k8s.io/yaml.Unmarshal`, which parses YAML with yaml.v2 (YAML 1.1
//! scalars), converts it to JSON (numbers and booleans given to a string field
//! become their text, map keys become strings) and decodes that JSON with Go's
//! `encoding/json` (field names matched without regard to case, unknown keys
//! ignored, `null` leaving a field alone).
//!
//! The YAML is parsed by wharf-spec's located reader, so every problem has its
//! file, line and column.

use std::collections::BTreeMap;

use wharf_spec::yaml::{Node, NodeKind, Resolved, Scalar, parse};

use crate::error::{ChartError, Place};
use crate::go_format::format_float_g;
use crate::metadata::{AnyValue, Dependency, GO_ZERO_TIME, Lock, Maintainer, Metadata};

/// A file's text, checked to be UTF-8.
pub(crate) struct Text<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl Text<'_> {
    fn place(&self, node: &Node) -> Box<Place> {
        Place::at(self.file, self.text, node.span.start, node.span.end)
    }
}

/// `data` as UTF-8, or a syntax error at the first byte that is not.
pub(crate) fn utf8<'a>(file: &str, data: &'a [u8]) -> Result<&'a str, ChartError> {
    std::str::from_utf8(data).map_err(|e| {
        let valid = std::str::from_utf8(&data[..e.valid_up_to()]).unwrap_or_default();
        let at = valid.len();
        ChartError::Syntax {
            place: Place::at(file, valid, at, at),
            message: "the file is not valid UTF-8".into(),
        }
    })
}

fn parse_located(t: &Text<'_>, offset: usize) -> Result<Option<Node>, ChartError> {
    let chunk = &t.text[offset..];
    match parse(chunk) {
        Ok(node) => Ok(node.map(|n| shifted(n, offset))),
        Err(e) => Err(ChartError::Syntax {
            place: Place::at(t.file, t.text, offset + e.span.start, offset + e.span.end),
            message: format!("invalid YAML: {}", e.message),
        }),
    }
}

/// Moves every span of `node` by `offset` bytes.
fn shifted(mut node: Node, offset: usize) -> Node {
    if offset == 0 {
        return node;
    }
    let mut todo: Vec<&mut Node> = vec![&mut node];
    while let Some(n) = todo.pop() {
        n.span.start += offset;
        n.span.end += offset;
        match &mut n.kind {
            NodeKind::Scalar(_) => {}
            NodeKind::Seq(items) => todo.extend(items.iter_mut()),
            NodeKind::Map(entries) => {
                for (k, v) in entries.iter_mut() {
                    todo.push(k);
                    todo.push(v);
                }
            }
        }
    }
    node
}

/// A scalar as yaml.v2 hands it to `sigs.k8s.io/yaml`.
#[derive(Clone, Debug, PartialEq)]
enum GoScalar {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
}

fn go_scalar(s: &Scalar) -> GoScalar {
    match s.resolve() {
        Resolved::Null => GoScalar::Null,
        Resolved::Bool(b) => GoScalar::Bool(b),
        Resolved::Int(i) => GoScalar::Int(i),
        // yaml.v2 reads integers past int64 as uint64 before it tries floats.
        Resolved::Uint(u) => GoScalar::Uint(u),
        Resolved::Float(f) => GoScalar::Float(f),
        Resolved::Str(s) => GoScalar::Str(s),
    }
}

/// A scalar given to a Go string field: numbers and booleans become text.
fn scalar_text(s: &GoScalar) -> Option<String> {
    match s {
        GoScalar::Null => None,
        GoScalar::Bool(b) => Some(b.to_string()),
        GoScalar::Int(i) => Some(i.to_string()),
        GoScalar::Uint(u) => Some(u.to_string()),
        GoScalar::Float(f) => Some(format_float_g(*f, 32)),
        GoScalar::Str(s) => Some(s.clone()),
    }
}

/// A mapping key as `sigs.k8s.io/yaml` turns it into a JSON key.
fn key_string(t: &Text<'_>, key: &Node, field: &str) -> Result<String, ChartError> {
    let unsupported = |found: String| ChartError::WrongType {
        place: t.place(key),
        field: field.to_string(),
        expected: "a mapping with string, number or boolean keys",
        found,
    };
    let NodeKind::Scalar(s) = &key.kind else {
        return Err(unsupported(format!("a key that is {}", key.describe())));
    };
    match go_scalar(s) {
        GoScalar::Str(s) => Ok(s),
        GoScalar::Int(i) => Ok(i.to_string()),
        GoScalar::Bool(b) => Ok(b.to_string()),
        GoScalar::Float(f) => Ok(match format_float_g(f, 32).as_str() {
            "+Inf" => ".inf".into(),
            "-Inf" => "-.inf".into(),
            "NaN" => ".nan".into(),
            other => other.to_string(),
        }),
        GoScalar::Null => Err(unsupported("a null key".into())),
        GoScalar::Uint(_) => Err(unsupported("a key larger than an int64".into())),
    }
}

/// A mapping's entries keyed as JSON sees them: later duplicates win, and the
/// keys come in byte order (the order `encoding/json` decodes them in).
fn json_entries<'n>(
    t: &Text<'_>,
    entries: &'n [(Node, Node)],
    field: &str,
) -> Result<Vec<(String, &'n Node, &'n Node)>, ChartError> {
    let mut by_key: BTreeMap<String, (&Node, &Node)> = BTreeMap::new();
    for (k, v) in entries {
        by_key.insert(key_string(t, k, field)?, (k, v));
    }
    Ok(by_key.into_iter().map(|(k, (kn, v))| (k, kn, v)).collect())
}

/// Go's case-insensitive field match (`bytes.EqualFold`) for ASCII field names.
fn field_matches(key: &str, field: &str) -> bool {
    let folded: String = key
        .chars()
        .map(|c| match c {
            '\u{212a}' => 'k',
            '\u{17f}' => 's',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    folded == field.to_ascii_lowercase()
}

/// The struct field a JSON key sets: an exact match, else a case-insensitive one.
fn field_for<'f>(key: &str, fields: &[&'f str]) -> Option<&'f str> {
    fields
        .iter()
        .find(|f| **f == key)
        .or_else(|| fields.iter().find(|f| field_matches(key, f)))
        .copied()
}

fn wrong(t: &Text<'_>, node: &Node, field: &str, expected: &'static str) -> ChartError {
    ChartError::WrongType {
        place: t.place(node),
        field: field.to_string(),
        expected,
        found: node.describe(),
    }
}

/// A value for a Go `string` field; `None` for null (the field is left alone).
fn string_value(t: &Text<'_>, node: &Node, field: &str) -> Result<Option<String>, ChartError> {
    match &node.kind {
        NodeKind::Scalar(s) => Ok(scalar_text(&go_scalar(s))),
        _ => Err(wrong(t, node, field, "a string")),
    }
}

fn bool_value(t: &Text<'_>, node: &Node, field: &str) -> Result<Option<bool>, ChartError> {
    match &node.kind {
        NodeKind::Scalar(s) => match go_scalar(s) {
            GoScalar::Null => Ok(None),
            GoScalar::Bool(b) => Ok(Some(b)),
            _ => Err(wrong(t, node, field, "a boolean (true or false)")),
        },
        _ => Err(wrong(t, node, field, "a boolean (true or false)")),
    }
}

/// A value for a Go `[]string` field; null empties it.
fn string_list(t: &Text<'_>, node: &Node, field: &str) -> Result<Vec<String>, ChartError> {
    match &node.kind {
        NodeKind::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                Ok(string_value(t, item, &format!("{field}[{i}]"))?.unwrap_or_default())
            })
            .collect(),
        _ if node.is_null() => Ok(Vec::new()),
        _ => Err(wrong(t, node, field, "a list of strings")),
    }
}

/// A value for a Go `any`, as it is after the JSON round trip.
fn any_value(t: &Text<'_>, node: &Node, field: &str) -> Result<AnyValue, ChartError> {
    Ok(match &node.kind {
        NodeKind::Scalar(s) => match go_scalar(s) {
            GoScalar::Null => AnyValue::Null,
            GoScalar::Bool(b) => AnyValue::Bool(b),
            GoScalar::Int(i) => AnyValue::Number(i as f64),
            GoScalar::Uint(u) => AnyValue::Number(u as f64),
            GoScalar::Float(f) if f.is_finite() => AnyValue::Number(f),
            GoScalar::Float(_) => {
                return Err(wrong(
                    t,
                    node,
                    field,
                    "a finite number (JSON has no .inf or .nan)",
                ));
            }
            GoScalar::Str(s) => AnyValue::String(s),
        },
        NodeKind::Seq(items) => AnyValue::List(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| any_value(t, item, &format!("{field}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        NodeKind::Map(entries) => {
            let mut m = BTreeMap::new();
            for (k, _, v) in json_entries(t, entries, field)? {
                let value = any_value(t, v, &format!("{field}.{k}"))?;
                m.insert(k, value);
            }
            AnyValue::Map(m)
        }
    })
}

fn record(meta: &mut Metadata, t: &Text<'_>, field: String, node: &Node) {
    meta.places.fields.insert(field, *t.place(node));
}

const METADATA_FIELDS: &[&str] = &[
    "name",
    "home",
    "sources",
    "version",
    "description",
    "keywords",
    "maintainers",
    "icon",
    "apiVersion",
    "condition",
    "tags",
    "appVersion",
    "deprecated",
    "annotations",
    "kubeVersion",
    "dependencies",
    "type",
];

/// Reads a Chart.yaml (or a requirements.yaml, which helm reads into the same
/// fields) into `meta`, over what is already there, as `yaml.Unmarshal` does.
pub(crate) fn chart_yaml(meta: &mut Metadata, file: &str, data: &[u8]) -> Result<(), ChartError> {
    let text = utf8(file, data)?;
    let t = Text { file, text };
    if meta.places.file.is_none() {
        meta.places.file = Some(Place::start_of(file, text));
    }
    let Some(root) = parse_located(&t, 0)? else {
        return Ok(());
    };
    let entries = match &root.kind {
        NodeKind::Map(entries) => entries,
        _ if root.is_null() => return Ok(()),
        _ => {
            return Err(ChartError::WrongType {
                place: t.place(&root),
                field: "Chart.yaml".into(),
                expected: "a mapping of fields (name: ..., version: ...)",
                found: root.describe(),
            });
        }
    };
    for (key, _, value) in json_entries(&t, entries, "Chart.yaml")? {
        let Some(field) = field_for(&key, METADATA_FIELDS) else {
            continue;
        };
        record(meta, &t, field.to_string(), value);
        match field {
            "sources" => meta.sources = string_list(&t, value, field)?,
            "keywords" => meta.keywords = string_list(&t, value, field)?,
            "deprecated" => {
                if let Some(b) = bool_value(&t, value, field)? {
                    meta.deprecated = b;
                }
            }
            "annotations" => annotations(meta, &t, value)?,
            "maintainers" => meta.maintainers = maintainers(meta, &t, value)?,
            "dependencies" => meta.dependencies = dependencies(meta, &t, value, "dependencies")?,
            _ => {
                let Some(s) = string_value(&t, value, field)? else {
                    continue;
                };
                let target = match field {
                    "name" => &mut meta.name,
                    "home" => &mut meta.home,
                    "version" => &mut meta.version,
                    "description" => &mut meta.description,
                    "icon" => &mut meta.icon,
                    "apiVersion" => &mut meta.api_version,
                    "condition" => &mut meta.condition,
                    "tags" => &mut meta.tags,
                    "appVersion" => &mut meta.app_version,
                    "kubeVersion" => &mut meta.kube_version,
                    _ => &mut meta.chart_type,
                };
                *target = s;
            }
        }
    }
    Ok(())
}

fn annotations(meta: &mut Metadata, t: &Text<'_>, node: &Node) -> Result<(), ChartError> {
    match &node.kind {
        NodeKind::Map(entries) => {
            for (k, key_node, v) in json_entries(t, entries, "annotations")? {
                let field = format!("annotations.{k}");
                let value = string_value(t, v, &field)?.unwrap_or_default();
                record(meta, t, field, key_node);
                meta.annotations.insert(k, value);
            }
            Ok(())
        }
        _ if node.is_null() => {
            meta.annotations.clear();
            Ok(())
        }
        _ => Err(wrong(t, node, "annotations", "a mapping of strings")),
    }
}

fn maintainers(
    meta: &mut Metadata,
    t: &Text<'_>,
    node: &Node,
) -> Result<Vec<Option<Maintainer>>, ChartError> {
    let items = match &node.kind {
        NodeKind::Seq(items) => items,
        _ if node.is_null() => return Ok(Vec::new()),
        _ => return Err(wrong(t, node, "maintainers", "a list of mappings")),
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("maintainers[{i}]");
        record(meta, t, at.clone(), item);
        out.push(match &item.kind {
            NodeKind::Map(entries) => {
                let mut m = Maintainer::default();
                for (k, _, v) in json_entries(t, entries, &at)? {
                    let Some(field) = field_for(&k, &["name", "email", "url"]) else {
                        continue;
                    };
                    let Some(s) = string_value(t, v, &format!("{at}.{field}"))? else {
                        continue;
                    };
                    match field {
                        "name" => m.name = s,
                        "email" => m.email = s,
                        _ => m.url = s,
                    }
                }
                Some(m)
            }
            _ if item.is_null() => None,
            _ => return Err(wrong(t, item, &at, "a mapping (name, email, url)")),
        });
    }
    Ok(out)
}

const DEPENDENCY_FIELDS: &[&str] = &[
    "name",
    "version",
    "repository",
    "condition",
    "tags",
    "enabled",
    "import-values",
    "alias",
];

fn dependencies(
    meta: &mut Metadata,
    t: &Text<'_>,
    node: &Node,
    field: &str,
) -> Result<Vec<Option<Dependency>>, ChartError> {
    let items = match &node.kind {
        NodeKind::Seq(items) => items,
        _ if node.is_null() => return Ok(Vec::new()),
        _ => return Err(wrong(t, node, field, "a list of mappings")),
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{field}[{i}]");
        record(meta, t, at.clone(), item);
        out.push(match &item.kind {
            NodeKind::Map(entries) => {
                let mut d = Dependency::default();
                for (k, _, v) in json_entries(t, entries, &at)? {
                    let Some(name) = field_for(&k, DEPENDENCY_FIELDS) else {
                        continue;
                    };
                    let path = format!("{at}.{name}");
                    record(meta, t, path.clone(), v);
                    match name {
                        "tags" => d.tags = string_list(t, v, &path)?,
                        "enabled" => {
                            if let Some(b) = bool_value(t, v, &path)? {
                                d.enabled = b;
                            }
                        }
                        "import-values" => {
                            d.import_values = match &v.kind {
                                NodeKind::Seq(values) => values
                                    .iter()
                                    .enumerate()
                                    .map(|(j, x)| any_value(t, x, &format!("{path}[{j}]")))
                                    .collect::<Result<_, _>>()?,
                                _ if v.is_null() => Vec::new(),
                                _ => return Err(wrong(t, v, &path, "a list")),
                            }
                        }
                        _ => {
                            let Some(s) = string_value(t, v, &path)? else {
                                continue;
                            };
                            match name {
                                "name" => d.name = s,
                                "version" => d.version = s,
                                "repository" => d.repository = s,
                                "condition" => d.condition = s,
                                _ => d.alias = s,
                            }
                        }
                    }
                }
                Some(d)
            }
            _ if item.is_null() => None,
            _ => {
                return Err(wrong(
                    t,
                    item,
                    &at,
                    "a mapping (name, version, repository, ...)",
                ));
            }
        });
    }
    Ok(out)
}

/// Reads a Chart.lock (or requirements.lock).
pub(crate) fn lock(file: &str, data: &[u8]) -> Result<Lock, ChartError> {
    let text = utf8(file, data)?;
    let t = Text { file, text };
    let mut lock = Lock {
        generated: GO_ZERO_TIME.into(),
        ..Lock::default()
    };
    let Some(root) = parse_located(&t, 0)? else {
        return Ok(lock);
    };
    let entries = match &root.kind {
        NodeKind::Map(entries) => entries,
        _ if root.is_null() => return Ok(lock),
        _ => return Err(wrong(&t, &root, "Chart.lock", "a mapping")),
    };
    // The place bookkeeping of dependencies is not needed for a lock.
    let mut scratch = Metadata::default();
    for (key, _, value) in json_entries(&t, entries, "Chart.lock")? {
        match field_for(&key, &["generated", "digest", "dependencies"]) {
            Some("generated") => match &value.kind {
                NodeKind::Scalar(s) => match go_scalar(s) {
                    GoScalar::Null => {}
                    GoScalar::Str(text) => {
                        lock.generated = go_time(&text).ok_or_else(|| ChartError::InvalidField {
                            place: t.place(value),
                            field: "generated".into(),
                            message: format!(
                                "generated {text:?} is not an RFC 3339 time such as 2024-01-31T12:00:00Z"
                            ),
                        })?;
                    }
                    _ => return Err(wrong(&t, value, "generated", "an RFC 3339 time")),
                },
                _ => return Err(wrong(&t, value, "generated", "an RFC 3339 time")),
            },
            Some("digest") => {
                if let Some(s) = string_value(&t, value, "digest")? {
                    lock.digest = s;
                }
            }
            Some(_) => {
                lock.dependencies = if value.is_null() {
                    None
                } else {
                    Some(dependencies(&mut scratch, &t, value, "dependencies")?)
                };
            }
            None => {}
        }
    }
    Ok(lock)
}

/// An RFC 3339 time as Go's `time.Time` reads it from JSON and writes it back
/// (`RFC3339Nano`: trailing zeros of the fraction dropped, `Z` for a zero offset).
pub(crate) fn go_time(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        (part.bytes().all(|c| c.is_ascii_digit()) && !part.is_empty())
            .then(|| part.parse().ok())
            .flatten()
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    jiff::civil::Date::new(year as i16, month as i8, day as i8).ok()?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut i = 19;
    let mut fraction = String::new();
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        fraction = text[start..i.min(start + 9)]
            .trim_end_matches('0')
            .to_string();
    }
    let zone = match &text[i..] {
        "Z" => "Z".to_string(),
        z if z.len() == 6 && matches!(z.as_bytes()[0], b'+' | b'-') && z.as_bytes()[3] == b':' => {
            let (h, m) = (digits(i + 1..i + 3)?, digits(i + 4..i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            if h == 0 && m == 0 {
                "Z".into()
            } else {
                z.to_string()
            }
        }
        _ => return None,
    };
    let mut out = text[..19].to_string();
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(&fraction);
    }
    out.push_str(&zone);
    Some(out)
}

/// Checks a values.yaml as helm loads it: YAML documents split at `---` lines,
/// each one a mapping (or empty), with keys JSON can carry and no infinite numbers.
pub(crate) fn values(file: &str, data: &[u8]) -> Result<(), ChartError> {
    let text = utf8(file, data)?;
    let t = Text { file, text };
    let mut start = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix("---") {
            let rest = rest.trim();
            if !rest.is_empty() && !rest.starts_with('#') {
                return Err(ChartError::Syntax {
                    place: Place::at(file, text, offset, offset + line.trim_end().len()),
                    message: format!(
                        "invalid YAML document separator: {rest:?} (only a comment may follow ---)"
                    ),
                });
            }
            values_document(&t, start, offset)?;
            start = offset + line.len();
        }
        offset += line.len();
    }
    values_document(&t, start, text.len())
}

fn values_document(t: &Text<'_>, start: usize, end: usize) -> Result<(), ChartError> {
    if start >= end {
        return Ok(());
    }
    let chunk = Text {
        file: t.file,
        text: &t.text[..end],
    };
    let Some(root) = parse_located(&chunk, start)? else {
        return Ok(());
    };
    match &root.kind {
        NodeKind::Map(_) => check_json_value(t, &root, "values"),
        _ if root.is_null() => Ok(()),
        _ => Err(ChartError::WrongType {
            place: t.place(&root),
            field: "values".into(),
            expected: "a mapping (key: value)",
            found: root.describe(),
        }),
    }
}

/// What `sigs.k8s.io/yaml` cannot turn into JSON: keys that are null, too large or
/// not scalars, and infinite or NaN numbers.
fn check_json_value(t: &Text<'_>, node: &Node, field: &str) -> Result<(), ChartError> {
    let mut todo: Vec<(&Node, String)> = vec![(node, field.to_string())];
    while let Some((n, path)) = todo.pop() {
        match &n.kind {
            NodeKind::Scalar(s) => {
                if let GoScalar::Float(f) = go_scalar(s)
                    && !f.is_finite()
                {
                    return Err(wrong(
                        t,
                        n,
                        &path,
                        "a finite number (JSON has no .inf or .nan)",
                    ));
                }
            }
            NodeKind::Seq(items) => {
                todo.extend(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, x)| (x, format!("{path}[{i}]"))),
                );
            }
            NodeKind::Map(entries) => {
                for (k, v) in entries {
                    let key = key_string(t, k, &path)?;
                    todo.push((v, format!("{path}.{key}")));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Metadata, ChartError> {
        let mut m = Metadata::default();
        chart_yaml(&mut m, "Chart.yaml", text.as_bytes())?;
        Ok(m)
    }

    #[test]
    fn scalars_become_strings_as_sigs_yaml_makes_them() {
        let m =
            load("name: web\nversion: 1.10\nappVersion: 010\ndescription: yes\nkubeVersion: 1e3\n")
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.version, "1.1");
        assert_eq!(m.app_version, "8");
        assert_eq!(m.description, "true");
        assert_eq!(m.kube_version, "1000");
    }

    #[test]
    fn field_names_match_without_case_and_unknown_keys_are_ignored() {
        let m = load("NAME: web\nApiVersion: v2\nfoo: bar\nname: exact\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.name, "exact");
        assert_eq!(m.api_version, "v2");
    }

    #[test]
    fn wrong_types_are_located() {
        let err = load("name: web\ndeprecated: \"yes\"\n").err();
        let Some(ChartError::WrongType { place, field, .. }) = err else {
            panic!("expected a type error, got {err:?}")
        };
        assert_eq!(
            (place.line, place.column, field.as_str()),
            (2, 13, "deprecated")
        );
        assert!(load("sources: https://x\n").is_err());
        assert!(load("- a\n").is_err());
        let err = load("name: [a\n").err();
        assert!(
            matches!(err, Some(ChartError::Syntax { place, .. }) if place.line == 2 || place.line == 1)
        );
    }

    #[test]
    fn dependencies_and_maintainers_decode() {
        let m = load(
            "dependencies:\n- name: db\n  version: 1.x\n  enabled: true\n  tags: [a, 1]\n  import-values: [x, {child: a, parent: b}, 3]\n- ~\nmaintainers:\n- name: Ann\n  Email: a@x\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let Some(Some(d)) = m.dependencies.first() else {
            panic!("no dependency")
        };
        assert_eq!(d.tags, ["a", "1"]);
        assert!(d.enabled);
        assert_eq!(d.import_values.len(), 3);
        assert_eq!(m.dependencies.get(1), Some(&None));
        assert_eq!(
            m.maintainers[0].as_ref().map(|x| x.email.as_str()),
            Some("a@x")
        );
        assert_eq!(
            m.places.fields.get("dependencies[1]").map(|p| p.line),
            Some(7)
        );
    }

    #[test]
    fn lock_times_are_normalised_as_go_writes_them() {
        assert_eq!(
            go_time("2019-03-18T19:35:00Z").as_deref(),
            Some("2019-03-18T19:35:00Z")
        );
        assert_eq!(
            go_time("2016-09-13T17:25:17.178932760-06:00").as_deref(),
            Some("2016-09-13T17:25:17.17893276-06:00")
        );
        assert_eq!(
            go_time("2020-01-01T00:00:00.000+00:00").as_deref(),
            Some("2020-01-01T00:00:00Z")
        );
        assert_eq!(go_time("2020-02-30T00:00:00Z"), None);
        assert_eq!(go_time("2020-01-01 00:00:00Z"), None);
        let l = lock(
            "Chart.lock",
            b"digest: d\ngenerated: 2019-03-18T19:35:00Z\ndependencies: []\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(l.dependencies, Some(vec![]));
        assert!(lock("Chart.lock", b"generated: yesterday\n").is_err());
    }

    #[test]
    fn values_documents_must_be_mappings() {
        assert!(values("values.yaml", b"a: 1\n---\nb: 2\n").is_ok());
        assert!(values("values.yaml", b"").is_ok());
        assert!(values("values.yaml", b"# only a comment\n").is_ok());
        let err = values("values.yaml", b"a: 1\n---\n- x\n").err();
        assert!(matches!(err, Some(ChartError::WrongType { place, .. }) if place.line == 3));
        assert!(values("values.yaml", b"--- x\n").is_err());
        assert!(values("values.yaml", b"a: .inf\n").is_err());
        assert!(values("values.yaml", b"~: 1\n").is_err());
    }

    proptest::proptest! {
        /// No input makes the readers panic: they load or return an error.
        #[test]
        fn readers_never_panic(text in "(name|version|dependencies|annotations|- |: |\\[|\\]|\\{|\\}|---|\"|'|#|&a|\\*a|!!str|[0-9.+_vx]|[ \n\t]|[a-z]|\u{e9}|\u{1f680}){0,60}") {
            let mut m = Metadata::default();
            let _ = chart_yaml(&mut m, "Chart.yaml", text.as_bytes());
            let _ = m.validate();
            let _ = m.to_chart_yaml();
            let _ = m.to_json();
            let _ = lock("Chart.lock", text.as_bytes());
            let _ = values("values.yaml", text.as_bytes());
            let _ = crate::IgnoreRules::parse(".helmignore", &text).map(|r| r.ignores(&text, false));
            let _ = crate::ChartVersion::parse(&text);
            let _ = go_time(&text);
        }
    }
}
