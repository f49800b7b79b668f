//! YAML text to a tree of located nodes, and scalar resolution as ACR's YAML
//! library (`gopkg.in/yaml.v2`, YAML 1.1 rules) does it.
//!
//! Parsing uses the maintained `saphyr-parser` event parser; the tree keeps the
//! byte span of every node so that every later problem can be placed.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError};

use crate::source::Span;

/// The most nodes a document may expand to through `*alias` references, to keep a
/// "billion laughs" document from exhausting memory.
const MAX_NODES: usize = 1_000_000;

/// The deepest nesting accepted.
const MAX_DEPTH: usize = 512;

/// A located YAML node.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// What the node holds.
    pub kind: NodeKind,
    /// Where it is, in bytes of the parsed text.
    pub span: Span,
}

/// What a node holds.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// A scalar, unresolved.
    Scalar(Scalar),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order; keys may repeat.
    Map(Vec<(Node, Node)>),
}

/// A scalar as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Scalar {
    /// The scalar's text after YAML's quoting/folding rules.
    pub value: String,
    /// Whether it was written plain (unquoted, not a block scalar): only plain
    /// scalars resolve to null, booleans and numbers.
    pub plain: bool,
    /// An explicit tag such as `!!str`, as `tag:yaml.org,2002:str`.
    pub tag: Option<String>,
}

/// A scalar resolved to its YAML 1.1 type, as yaml.v2 resolves it.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolved {
    /// `~`, `null`, empty.
    Null,
    /// `true`, `yes`, `on`, `y`, … and their negatives.
    Bool(bool),
    /// A decimal, hex (`0x`), octal (`0` or `0o`) or binary (`0b`) integer; `_` ignored.
    Int(i64),
    /// A float, `.inf` or `.nan`.
    Float(f64),
    /// Anything else.
    Str(String),
}

impl Resolved {
    /// The YAML type name, as in `!!str`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Resolved::Null => "null",
            Resolved::Bool(_) => "bool",
            Resolved::Int(_) => "int",
            Resolved::Float(_) => "float",
            Resolved::Str(_) => "str",
        }
    }
}

const YAML_TAG_PREFIX: &str = "tag:yaml.org,2002:";

impl Scalar {
    /// Resolves the scalar's type with yaml.v2's rules.
    pub fn resolve(&self) -> Resolved {
        if let Some(tag) = &self.tag {
            let short = tag.strip_prefix(YAML_TAG_PREFIX).unwrap_or(tag);
            return match short {
                "str" => Resolved::Str(self.value.clone()),
                "null" => Resolved::Null,
                "bool" | "int" | "float" => resolve_plain(&self.value),
                _ => Resolved::Str(self.value.clone()),
            };
        }
        if !self.plain {
            return Resolved::Str(self.value.clone());
        }
        resolve_plain(&self.value)
    }
}

fn resolve_plain(text: &str) -> Resolved {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            return Resolved::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            return Resolved::Bool(false);
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.') {
        let plain: String = text.chars().filter(|&c| c != '_').collect();
        if let Some(i) = parse_go_int(&plain) {
            return Resolved::Int(i);
        }
        if is_go_float(&plain)
            && let Ok(f) = plain.parse::<f64>()
        {
            return Resolved::Float(f);
        }
    }
    Resolved::Str(text.to_string())
}

/// Parses an integer as Go's `strconv.ParseInt(s, 0, 64)` does.
fn parse_go_int(s: &str) -> Option<i64> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, body) = if let Some(rest) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, rest)
    } else if let Some(rest) = digits
        .strip_prefix("0b")
        .or_else(|| digits.strip_prefix("0B"))
    {
        (2, rest)
    } else if let Some(rest) = digits
        .strip_prefix("0o")
        .or_else(|| digits.strip_prefix("0O"))
    {
        (8, rest)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(body, radix).ok()?;
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value).ok()
}

/// Whether `s` has the shape of a YAML float (`1.5`, `.5`, `1e3`, `-2.`).
fn is_go_float(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits_ok = |p: &str| p.chars().all(|c| c.is_ascii_digit());
    if !digits_ok(int_part)
        || !digits_ok(frac_part)
        || (int_part.is_empty() && frac_part.is_empty())
    {
        return false;
    }
    match exponent {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && digits_ok(e)
        }
    }
}

/// A YAML syntax error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    /// What is wrong.
    pub message: String,
    /// Where, in bytes of the parsed text.
    pub span: Span,
}

/// Converts the parser's character offsets to byte offsets.
struct Offsets<'a> {
    text: &'a str,
    /// Byte offset of each character, when the text is not all ASCII.
    table: Option<Vec<usize>>,
}

impl<'a> Offsets<'a> {
    fn new(text: &'a str) -> Offsets<'a> {
        let table = (!text.is_ascii()).then(|| {
            let mut t: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            t.push(text.len());
            t
        });
        Offsets { text, table }
    }

    fn byte(&self, char_index: usize) -> usize {
        match &self.table {
            None => char_index.min(self.text.len()),
            Some(t) => t.get(char_index).copied().unwrap_or(self.text.len()),
        }
    }

    fn span(&self, span: saphyr_parser::Span) -> Span {
        Span::new(self.byte(span.start.index()), self.byte(span.end.index()))
    }
}

enum Frame {
    Seq {
        anchor: usize,
        start: usize,
        items: Vec<Node>,
    },
    Map {
        anchor: usize,
        start: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

/// Parses the first document of `text`. An empty stream yields `Ok(None)`.
pub fn parse(text: &str) -> Result<Option<Node>, YamlError> {
    let offsets = Offsets::new(text);
    let scan_error = |e: ScanError| {
        let at = offsets.byte(e.marker().index());
        YamlError {
            message: e.info().to_string(),
            span: Span::new(at, at + usize::from(at < text.len())),
        }
    };
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut node_count = 0usize;
    let mut parser = Parser::new_from_str(text);
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(scan_error)?;
        let span = offsets.span(span);
        let finished: Option<(Node, usize)> = match event {
            Event::StreamStart | Event::DocumentStart(_) | Event::Nothing => None,
            Event::DocumentEnd | Event::StreamEnd => return Ok(None),
            Event::Scalar(value, style, anchor, tag) => {
                let tag = tag.map(|t| format!("{}{}", t.handle, t.suffix));
                let tag = tag.map(|t| match t.strip_prefix("!!") {
                    Some(short) => format!("{YAML_TAG_PREFIX}{short}"),
                    None => t,
                });
                Some((
                    Node {
                        kind: NodeKind::Scalar(Scalar {
                            value: value.into_owned(),
                            plain: style == ScalarStyle::Plain,
                            tag,
                        }),
                        span,
                    },
                    anchor,
                ))
            }
            Event::Alias(id) => {
                let Some(target) = anchors.get(&id) else {
                    return Err(YamlError {
                        message: "unknown anchor".into(),
                        span,
                    });
                };
                node_count = node_count.saturating_add(count_nodes(target));
                let mut node = target.clone();
                node.span = span;
                Some((node, 0))
            }
            Event::SequenceStart(anchor, _) => {
                push_frame(
                    &mut stack,
                    Frame::Seq {
                        anchor,
                        start: span.start,
                        items: Vec::new(),
                    },
                    span,
                )?;
                None
            }
            Event::MappingStart(anchor, _) => {
                push_frame(
                    &mut stack,
                    Frame::Map {
                        anchor,
                        start: span.start,
                        entries: Vec::new(),
                        key: None,
                    },
                    span,
                )?;
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq {
                    anchor,
                    start,
                    items,
                }) => Some((
                    Node {
                        kind: NodeKind::Seq(items),
                        span: Span::new(start, span.end.max(start)),
                    },
                    anchor,
                )),
                Some(Frame::Map {
                    anchor,
                    start,
                    entries,
                    ..
                }) => Some((
                    Node {
                        kind: NodeKind::Map(merge_keys(entries)),
                        span: Span::new(start, span.end.max(start)),
                    },
                    anchor,
                )),
                None => None,
            },
        };
        let Some((node, anchor)) = finished else {
            continue;
        };
        node_count += 1;
        if node_count > MAX_NODES {
            return Err(YamlError {
                message: format!(
                    "the document expands to more than {MAX_NODES} nodes through aliases"
                ),
                span: node.span,
            });
        }
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => return Ok(Some(node)),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
    Ok(None)
}

fn push_frame(stack: &mut Vec<Frame>, frame: Frame, span: Span) -> Result<(), YamlError> {
    if stack.len() >= MAX_DEPTH {
        return Err(YamlError {
            message: format!("the document nests deeper than {MAX_DEPTH} levels"),
            span,
        });
    }
    stack.push(frame);
    Ok(())
}

fn count_nodes(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Scalar(_) => 1,
        NodeKind::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        NodeKind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| count_nodes(k) + count_nodes(v))
                .sum::<usize>()
        }
    }
}

/// Applies YAML merge keys (`<<: *base` or `<<: [*a, *b]`): merged entries come
/// after the mapping's own and never override them.
fn merge_keys(entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
    if !entries.iter().any(|(k, _)| is_merge_key(k)) {
        return entries;
    }
    let mut own = Vec::new();
    let mut merged = Vec::new();
    for (key, value) in entries {
        if !is_merge_key(&key) {
            own.push((key, value));
            continue;
        }
        let sources = match value.kind {
            NodeKind::Seq(items) => items,
            _ => vec![value],
        };
        for source in sources {
            if let NodeKind::Map(source_entries) = source.kind {
                merged.extend(source_entries);
            }
        }
    }
    for (key, value) in merged {
        let taken = own.iter().any(|(k, _)| same_key(k, &key));
        if !taken {
            own.push((key, value));
        }
    }
    own
}

fn is_merge_key(node: &Node) -> bool {
    matches!(&node.kind, NodeKind::Scalar(s) if s.plain && s.value == "<<")
}

fn same_key(a: &Node, b: &Node) -> bool {
    match (&a.kind, &b.kind) {
        (NodeKind::Scalar(x), NodeKind::Scalar(y)) => x.value == y.value,
        _ => false,
    }
}

impl Node {
    /// The scalar, if this is one.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// A short description of the node's type for messages: "a string", "a list", "a mapping".
    pub fn describe(&self) -> String {
        match &self.kind {
            NodeKind::Scalar(s) => match s.resolve() {
                Resolved::Null => "null".into(),
                Resolved::Bool(_) => "a boolean".into(),
                Resolved::Int(_) => "an integer".into(),
                Resolved::Float(_) => "a number".into(),
                Resolved::Str(_) => "a string".into(),
            },
            NodeKind::Seq(_) => "a list".into(),
            NodeKind::Map(_) => "a mapping".into(),
        }
    }

    /// Whether the node is a null scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar(s) if s.resolve() == Resolved::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(v: &str) -> Resolved {
        Scalar {
            value: v.into(),
            plain: true,
            tag: None,
        }
        .resolve()
    }

    #[test]
    fn resolves_like_yaml_v2() {
        assert_eq!(scalar("yes"), Resolved::Bool(true));
        assert_eq!(scalar("Off"), Resolved::Bool(false));
        assert_eq!(scalar("~"), Resolved::Null);
        assert_eq!(scalar(""), Resolved::Null);
        assert_eq!(scalar("0x1F"), Resolved::Int(31));
        assert_eq!(scalar("010"), Resolved::Int(8));
        assert_eq!(scalar("1_000"), Resolved::Int(1000));
        assert_eq!(scalar("-0b11"), Resolved::Int(-3));
        assert_eq!(scalar("1.10"), Resolved::Float(1.1));
        assert_eq!(scalar("1e3"), Resolved::Float(1000.0));
        assert_eq!(scalar("v1.0"), Resolved::Str("v1.0".into()));
        assert_eq!(scalar("1.2.3"), Resolved::Str("1.2.3".into()));
        // Too big for an int64: yaml.v2 falls back to a float.
        assert_eq!(scalar("99999999999999999999"), Resolved::Float(1e20));
        let quoted = Scalar {
            value: "600".into(),
            plain: false,
            tag: None,
        };
        assert_eq!(quoted.resolve(), Resolved::Str("600".into()));
    }

    #[test]
    fn spans_are_byte_offsets() {
        let text = "é: x\nsteps:\n  - cmd: \"hello\"\n";
        let Ok(Some(root)) = parse(text) else {
            panic!("parse failed")
        };
        let NodeKind::Map(entries) = &root.kind else {
            panic!("not a map")
        };
        let NodeKind::Seq(steps) = &entries[1].1.kind else {
            panic!("not a seq")
        };
        let NodeKind::Map(step) = &steps[0].kind else {
            panic!("not a map")
        };
        let value = &step[0].1;
        assert_eq!(&text[value.span.start..value.span.end], "\"hello\"");
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let text = "base: &b {a: 1, b: 2}\nderived:\n  <<: *b\n  b: 3\n";
        let Ok(Some(root)) = parse(text) else {
            panic!("parse failed")
        };
        let NodeKind::Map(entries) = &root.kind else {
            panic!("not a map")
        };
        let NodeKind::Map(derived) = &entries[1].1.kind else {
            panic!("not a map")
        };
        let pairs: Vec<(String, String)> = derived
            .iter()
            .filter_map(|(k, v)| Some((k.as_scalar()?.value.clone(), v.as_scalar()?.value.clone())))
            .collect();
        assert_eq!(
            pairs,
            vec![("b".into(), "3".into()), ("a".into(), "1".into())]
        );
    }

    #[test]
    fn billion_laughs_is_refused() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..9 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            text.push_str(&format!(
                "l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        assert!(parse(&text).is_err());
    }

    #[test]
    fn syntax_errors_have_a_place() {
        let text = "steps:\n  - cmd: [a\n";
        let err = parse(text).err();
        assert!(err.is_some_and(|e| e.span.start > 0));
    }
}
