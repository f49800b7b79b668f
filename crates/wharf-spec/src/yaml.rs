//! YAML text to a tree of located nodes, and scalar resolution as ACR's YAML
//! library (`gopkg.in/yaml.v2`, YAML 1.1 rules) does it.
//!
//! Parsing uses the maintained `saphyr-parser` event parser; the tree keeps the
//! byte span of every node so that every later problem can be placed.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError};

use crate::source::Span;

/// The most nodes a document may expand to through `*alias` references (and the
/// copies anchors keep), to keep a "billion laughs" document from exhausting memory.
pub const MAX_NODES: usize = 1_000_000;

/// The deepest nesting of sequences and mappings accepted, also after `*alias`
/// references are expanded; it keeps every recursive walk over a [`Node`] shallow.
pub const MAX_DEPTH: usize = 512;

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
    /// An integer above int64's range that fits uint64 (yaml.v2 then makes a uint64).
    Uint(u64),
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
            Resolved::Uint(_) => "uint64",
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
        if let Some(i) = wharf_template::go::parse_int(&plain) {
            return Resolved::Int(i);
        }
        if let Some(u) = wharf_template::go::parse_uint(&plain) {
            return Resolved::Uint(u);
        }
        if is_go_float(&plain)
            && let Ok(f) = plain.parse::<f64>()
        {
            return Resolved::Float(f);
        }
    }
    Resolved::Str(text.to_string())
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

/// A node being built: its children so far, and how deep and large they are.
enum Frame {
    Seq {
        anchor: usize,
        start: usize,
        items: Vec<Node>,
        size: Size,
    },
    Map {
        anchor: usize,
        start: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        size: Size,
    },
}

/// How deep and how large a node's tree is.
#[derive(Clone, Copy, Debug, Default)]
struct Size {
    /// Levels of sequences and mappings on the deepest path (a scalar has none).
    depth: usize,
    /// Nodes in the tree, the node itself included.
    count: usize,
}

impl Size {
    const SCALAR: Size = Size { depth: 0, count: 1 };

    /// Accounts for one more child.
    fn add_child(&mut self, child: Size) {
        self.depth = self.depth.max(child.depth);
        self.count = self.count.saturating_add(child.count);
    }

    /// The size of a sequence or mapping whose children add up to `self`.
    fn container(self) -> Size {
        Size {
            depth: self.depth + 1,
            count: self.count.saturating_add(1),
        }
    }
}

/// An anchored node, with its size: an `*alias` copies it, so its size is checked
/// before the copy is made.
struct Anchored {
    node: Node,
    size: Size,
}

/// Parses the first document of `text`. An empty stream yields `Ok(None)`.
///
/// Every `*alias` becomes a copy of its anchored node, so a document may expand far
/// beyond its text; the expanded tree is kept within [`MAX_DEPTH`] levels and
/// [`MAX_NODES`] nodes, checked before each copy. Every recursive walk over a
/// [`Node`] (clone, drop, comparison, conversion) therefore stays shallow.
pub fn parse(text: &str) -> Result<Option<Node>, YamlError> {
    let offsets = Offsets::new(text);
    let scan_error = |e: ScanError| {
        let at = offsets.byte(e.marker().index());
        YamlError {
            message: e.info().to_string(),
            span: Span::new(at, at + usize::from(at < text.len())),
        }
    };
    let mut anchors: HashMap<usize, Anchored> = HashMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut node_count = 0usize;
    let mut parser = Parser::new_from_str(text);
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(scan_error)?;
        let span = offsets.span(span);
        let finished: Option<(Node, usize, Size)> = match event {
            Event::StreamStart | Event::DocumentStart(_) | Event::Nothing => None,
            Event::DocumentEnd | Event::StreamEnd => return Ok(None),
            Event::Scalar(value, style, anchor, tag) => {
                let tag = tag.map(|t| format!("{}{}", t.handle, t.suffix));
                let tag = tag.map(|t| match t.strip_prefix("!!") {
                    Some(short) => format!("{YAML_TAG_PREFIX}{short}"),
                    None => t,
                });
                node_count += 1;
                let mut value = value.into_owned();
                // A block scalar that ends the text without a line break has none at its
                // end (as libyaml, and so ACR, reads it); saphyr-parser adds one.
                let block = matches!(style, ScalarStyle::Literal | ScalarStyle::Folded);
                if block
                    && span.end >= text.len()
                    && !text.ends_with(['\n', '\r'])
                    && value.ends_with('\n')
                {
                    value.pop();
                }
                Some((
                    Node {
                        kind: NodeKind::Scalar(Scalar {
                            value,
                            plain: style == ScalarStyle::Plain,
                            tag,
                        }),
                        span,
                    },
                    anchor,
                    Size::SCALAR,
                ))
            }
            Event::Alias(id) => {
                let Some(target) = anchors.get(&id) else {
                    return Err(YamlError {
                        message: "unknown anchor".into(),
                        span,
                    });
                };
                if stack.len() + target.size.depth > MAX_DEPTH {
                    return Err(YamlError {
                        message: format!(
                            "this alias nests the document deeper than {MAX_DEPTH} levels"
                        ),
                        span,
                    });
                }
                node_count = node_count.saturating_add(target.size.count);
                if node_count > MAX_NODES {
                    return Err(too_many_nodes(span));
                }
                let mut node = target.node.clone();
                node.span = span;
                Some((node, 0, target.size))
            }
            Event::SequenceStart(anchor, _) => {
                push_frame(
                    &mut stack,
                    Frame::Seq {
                        anchor,
                        start: span.start,
                        items: Vec::new(),
                        size: Size::default(),
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
                        size: Size::default(),
                    },
                    span,
                )?;
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (kind, anchor, start, size) = match stack.pop() {
                    Some(Frame::Seq {
                        anchor,
                        start,
                        items,
                        size,
                    }) => (NodeKind::Seq(items), anchor, start, size),
                    Some(Frame::Map {
                        anchor,
                        start,
                        entries,
                        size,
                        ..
                    }) => (NodeKind::Map(merge_keys(entries)), anchor, start, size),
                    None => continue,
                };
                node_count += 1;
                Some((
                    Node {
                        kind,
                        span: Span::new(start, span.end.max(start)),
                    },
                    anchor,
                    size.container(),
                ))
            }
        };
        let Some((node, anchor, size)) = finished else {
            continue;
        };
        if anchor != 0 {
            // The anchor keeps a copy of the node: it counts too, so that anchors
            // nested around a large node cannot copy it at every level.
            node_count = node_count.saturating_add(size.count);
        }
        if node_count > MAX_NODES {
            return Err(too_many_nodes(node.span));
        }
        if anchor != 0 {
            anchors.insert(
                anchor,
                Anchored {
                    node: node.clone(),
                    size,
                },
            );
        }
        match stack.last_mut() {
            None => return Ok(Some(node)),
            Some(Frame::Seq { items, size: s, .. }) => {
                s.add_child(size);
                items.push(node);
            }
            Some(Frame::Map {
                entries,
                key,
                size: s,
                ..
            }) => {
                s.add_child(size);
                match key.take() {
                    None => *key = Some(node),
                    Some(k) => entries.push((k, node)),
                }
            }
        }
    }
    Ok(None)
}

fn too_many_nodes(span: Span) -> YamlError {
    YamlError {
        message: format!(
            "the document expands to more than {MAX_NODES} nodes through anchors and aliases"
        ),
        span,
    }
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
                Resolved::Int(_) | Resolved::Uint(_) => "an integer".into(),
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
    fn a_block_scalar_at_the_end_keeps_no_line_break_the_text_lacks() {
        let value = |text: &str| match parse(text).ok().flatten().map(|n| n.kind) {
            Some(NodeKind::Map(entries)) => entries[0].1.as_scalar().map(|s| s.value.clone()),
            _ => None,
        };
        assert_eq!(value("a: |\n  one").as_deref(), Some("one"));
        assert_eq!(value("a: |\n  one\n").as_deref(), Some("one\n"));
        assert_eq!(value("a: >\n  one\n  two").as_deref(), Some("one two"));
        assert_eq!(value("a: |-\n  one").as_deref(), Some("one"));
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

    /// `a1: &a1 [[…*a0…]]`, `a2: &a2 [[…*a1…]]`, …: every link nests the previous
    /// anchor `depth` levels deeper.
    fn chained(links: usize, depth: usize) -> String {
        let mut text = String::from("a0: &a0 x\n");
        for i in 1..=links {
            text.push_str(&format!(
                "a{i}: &a{i} {}*a{}{}\n",
                "[".repeat(depth),
                i - 1,
                "]".repeat(depth)
            ));
        }
        text
    }

    fn depth(node: &Node) -> usize {
        let mut deepest = 0;
        let mut todo = vec![(node, 0)];
        while let Some((n, d)) = todo.pop() {
            deepest = deepest.max(d);
            match &n.kind {
                NodeKind::Scalar(_) => {}
                NodeKind::Seq(items) => todo.extend(items.iter().map(|i| (i, d + 1))),
                NodeKind::Map(entries) => {
                    todo.extend(entries.iter().flat_map(|(k, v)| [(k, d + 1), (v, d + 1)]));
                }
            }
        }
        deepest
    }

    #[test]
    fn chained_anchors_cannot_nest_past_the_limit() {
        // 200 links of 200 levels would be 40 000 levels deep: refused at the alias
        // that would cross the limit, with its place, before anything is copied.
        let text = chained(200, 200);
        let err = parse(&text).err();
        let Some(err) = err else {
            panic!("a 40 000-level document was accepted")
        };
        assert!(err.message.contains("deeper than 512"), "{}", err.message);
        assert_eq!(&text[err.span.start..err.span.end], "*a2");
    }

    #[test]
    fn aliases_may_reach_the_depth_limit_exactly() {
        // The root mapping is level 1; two links of 255 levels below it make 511,
        // a third sequence level makes 512.
        let mut text = chained(2, 255);
        text.push_str("last: [*a2]\n");
        let Ok(Some(root)) = parse(&text) else {
            panic!("a document at the limit was refused")
        };
        assert_eq!(depth(&root), MAX_DEPTH);
        let copy = root.clone();
        assert_eq!(copy, root);
        text.push_str("over: [[*a2]]\n");
        assert!(parse(&text).is_err());
    }

    #[test]
    fn aliases_cannot_expand_past_the_node_limit() {
        // Each link doubles the tree: 2^21 scalars are refused before the copy.
        let mut text = String::from("a0: &a0 x\n");
        for i in 1..=21 {
            text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}]\n", p = i - 1));
        }
        let err = parse(&text).err();
        assert!(err.is_some_and(|e| e.message.contains("nodes through anchors and aliases")));
    }

    #[test]
    fn anchors_nested_around_a_large_node_count_their_copies() {
        // 2^15 scalars load; 200 anchors nested around one alias of them would each
        // keep a copy of the 2^16 nodes: 13 million nodes.
        let mut text = String::from("a0: &a0 x\n");
        for i in 1..=15 {
            text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}]\n", p = i - 1));
        }
        assert!(parse(&text).is_ok());
        text.push_str("nested: ");
        for i in 0..200 {
            text.push_str(&format!("&n{i} ["));
        }
        text.push_str("*a15");
        text.push_str(&"]".repeat(200));
        text.push('\n');
        let err = parse(&text).err();
        assert!(err.is_some_and(|e| e.message.contains("nodes through anchors and aliases")));
    }

    #[test]
    fn syntax_errors_have_a_place() {
        let text = "steps:\n  - cmd: [a\n";
        let err = parse(text).err();
        assert!(err.is_some_and(|e| e.span.start > 0));
    }
}
