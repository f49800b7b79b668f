//! YAML text as Go's `yaml.v2` (go.yaml.in/yaml/v2 2.4, the library behind
//! `sigs.k8s.io/yaml.Marshal`) writes it, for the Chart.yaml and Chart.lock
//! helm puts in an archive.
//!
//! `sigs.k8s.io/yaml.Marshal` turns a value into JSON, parses the JSON back into
//! maps and slices with yaml.v2, and emits those: keys sorted (yaml.v2's own
//! order, [`key_order`]), block style, sequences in a mapping not indented, empty
//! collections as `[]`/`{}`, each string in the style yaml.v2 picks (plain when it
//! would read back as the same string, else double-quoted, a literal block for
//! text with line breaks), and long lines folded at spaces past column 80. This
//! module is that emitter, written from libyaml's rules as yaml.v2 carries them.

use std::cmp::Ordering;

use crate::go_format::{is_digit, is_letter};
use crate::yaml_resolve::{is_base60_float, resolves_to_string};

/// A value to emit.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    /// A Go string: yaml.v2 chooses its style.
    Str(String),
    /// A scalar written as is in plain style: booleans, numbers, `null`.
    Plain(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, emitted in the order given: build it with [`sorted_map`].
    Map(Vec<(String, Node)>),
}

/// A mapping with its keys in yaml.v2's order.
pub(crate) fn sorted_map(mut entries: Vec<(String, Node)>) -> Node {
    entries.sort_by(|a, b| key_order(&a.0, &b.0));
    Node::Map(entries)
}

/// yaml.v2's order of string map keys (`keyList.Less`): letters compare by code
/// point, a letter sorts after a non-letter, and runs of digits compare as numbers.
pub(crate) fn key_order(a: &str, b: &str) -> Ordering {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let less = |x: &[char], y: &[char]| -> bool {
        for i in 0..x.len().min(y.len()) {
            if x[i] == y[i] {
                continue;
            }
            let xl = is_letter(x[i]);
            let yl = is_letter(y[i]);
            if xl && yl {
                return x[i] < y[i];
            }
            if xl || yl {
                return yl;
            }
            let mut xn: i64 = 0;
            let mut yn: i64 = 0;
            if x[i] == '0' || y[i] == '0' {
                let mut j = i;
                while j > 0 && is_digit(x[j - 1]) {
                    j -= 1;
                    if x[j] != '0' {
                        xn = 1;
                        yn = 1;
                        break;
                    }
                }
            }
            let mut xi = i;
            while xi < x.len() && is_digit(x[xi]) {
                xn = xn
                    .wrapping_mul(10)
                    .wrapping_add(i64::from(x[xi] as u32) - i64::from(b'0'));
                xi += 1;
            }
            let mut yi = i;
            while yi < y.len() && is_digit(y[yi]) {
                yn = yn
                    .wrapping_mul(10)
                    .wrapping_add(i64::from(y[yi] as u32) - i64::from(b'0'));
                yi += 1;
            }
            if xn != yn {
                return xn < yn;
            }
            if xi != yi {
                return xi < yi;
            }
            return x[i] < y[i];
        }
        x.len() < y.len()
    };
    if less(&ar, &br) {
        Ordering::Less
    } else if less(&br, &ar) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

/// Emits `root` as one YAML document.
pub(crate) fn to_yaml(root: &Node) -> String {
    let mut e = Emitter {
        out: String::new(),
        column: 0,
        indent: -1,
        indents: Vec::new(),
        whitespace: true,
        indention: true,
        open_ended: false,
        flow_level: 0,
    };
    e.node(root, Context::ROOT);
    // Document end (implicit), then stream end.
    e.write_indent();
    if e.open_ended {
        e.write_indicator("...", true, false, false);
        e.write_indent();
    }
    e.out
}

const BEST_INDENT: i64 = 2;
const BEST_WIDTH: usize = 80;

#[derive(Clone, Copy)]
struct Context {
    root: bool,
    mapping: bool,
    simple_key: bool,
}

impl Context {
    const ROOT: Context = Context {
        root: true,
        mapping: false,
        simple_key: false,
    };
    const SEQUENCE: Context = Context {
        root: false,
        mapping: false,
        simple_key: false,
    };
    const MAPPING: Context = Context {
        root: false,
        mapping: true,
        simple_key: false,
    };
    const SIMPLE_KEY: Context = Context {
        root: false,
        mapping: true,
        simple_key: true,
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

struct Emitter {
    out: String,
    /// Characters written on the current line.
    column: usize,
    indent: i64,
    indents: Vec<i64>,
    /// The last character written was whitespace.
    whitespace: bool,
    /// Only indentation has been written on the current line.
    indention: bool,
    open_ended: bool,
    flow_level: usize,
}

impl Emitter {
    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    /// Copies a line break from a scalar.
    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { BEST_INDENT } else { 0 };
        } else if !indentless {
            self.indent += BEST_INDENT;
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(
        &mut self,
        indicator: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        for c in indicator.chars() {
            self.put(c);
        }
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
        self.open_ended = false;
    }

    fn node(&mut self, node: &Node, ctx: Context) {
        match node {
            Node::Str(s) => self.scalar(s, string_style(s), ctx),
            Node::Plain(s) => self.scalar(s, Style::Plain, ctx),
            Node::Seq(items) if items.is_empty() => self.empty_flow("[", "]"),
            Node::Map(entries) if entries.is_empty() => self.empty_flow("{", "}"),
            Node::Seq(items) => {
                self.increase_indent(false, ctx.mapping && !self.indention);
                for item in items {
                    self.write_indent();
                    self.write_indicator("-", true, false, true);
                    self.node(item, Context::SEQUENCE);
                }
                self.pop_indent();
            }
            Node::Map(entries) => {
                self.increase_indent(false, false);
                for (key, value) in entries {
                    self.write_indent();
                    if simple_key(key) {
                        self.node(&Node::Str(key.clone()), Context::SIMPLE_KEY);
                        self.write_indicator(":", false, false, false);
                    } else {
                        self.write_indicator("?", true, false, true);
                        self.node(&Node::Str(key.clone()), Context::MAPPING);
                        self.write_indent();
                        self.write_indicator(":", true, false, true);
                    }
                    self.node(value, Context::MAPPING);
                }
                self.pop_indent();
            }
        }
    }

    fn empty_flow(&mut self, open: &str, close: &str) {
        self.write_indicator(open, true, true, false);
        self.increase_indent(true, false);
        self.flow_level += 1;
        self.flow_level -= 1;
        self.pop_indent();
        self.write_indicator(close, false, false, false);
    }

    fn scalar(&mut self, value: &str, requested: Style, ctx: Context) {
        let chars: Vec<char> = value.chars().collect();
        let analysis = analyze(&chars);
        let style = self.select_style(requested, &analysis, chars.is_empty(), ctx);
        self.increase_indent(true, false);
        let allow_breaks = !ctx.simple_key;
        match style {
            Style::Plain => self.write_plain(&chars, allow_breaks, ctx.root),
            Style::Single => self.write_single_quoted(&chars, allow_breaks),
            Style::Double => self.write_double_quoted(&chars, allow_breaks),
            Style::Literal => self.write_literal(&chars),
        }
        self.pop_indent();
    }

    fn select_style(&self, mut style: Style, a: &Analysis, empty: bool, ctx: Context) -> Style {
        if ctx.simple_key && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain {
            if (self.flow_level > 0 && !a.flow_plain_allowed)
                || (self.flow_level == 0 && !a.block_plain_allowed)
            {
                style = Style::Single;
            }
            if empty && (self.flow_level > 0 || ctx.simple_key) {
                style = Style::Single;
            }
        }
        if style == Style::Single && !a.single_quoted_allowed {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block_allowed || self.flow_level > 0 || ctx.simple_key) {
            style = Style::Double;
        }
        style
    }

    fn write_plain(&mut self, value: &[char], allow_breaks: bool, root: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        let mut spaces = false;
        let mut breaks = false;
        for (i, &c) in value.iter().enumerate() {
            if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && !is_space_at(value, i + 1)
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.whitespace = false;
        self.indention = false;
        if root {
            self.open_ended = true;
        }
    }

    fn write_single_quoted(&mut self, value: &[char], allow_breaks: bool) {
        self.write_indicator("'", true, false, false);
        let mut spaces = false;
        let mut breaks = false;
        let n = value.len();
        for (i, &c) in value.iter().enumerate() {
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i + 1 < n
                    && !is_space_at(value, i + 1)
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double_quoted(&mut self, value: &[char], allow_breaks: bool) {
        self.write_indicator("\"", true, false, false);
        let starts_with_bom = value.first() == Some(&'\u{feff}');
        let mut spaces = false;
        let n = value.len();
        for (i, &c) in value.iter().enumerate() {
            if !is_printable(c) || starts_with_bom || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                match c {
                    '\0' => self.put('0'),
                    '\u{7}' => self.put('a'),
                    '\u{8}' => self.put('b'),
                    '\t' => self.put('t'),
                    '\n' => self.put('n'),
                    '\u{b}' => self.put('v'),
                    '\u{c}' => self.put('f'),
                    '\r' => self.put('r'),
                    '\u{1b}' => self.put('e'),
                    '"' => self.put('"'),
                    '\\' => self.put('\\'),
                    '\u{85}' => self.put('N'),
                    '\u{a0}' => self.put('_'),
                    '\u{2028}' => self.put('L'),
                    '\u{2029}' => self.put('P'),
                    c => {
                        let v = c as u32;
                        let (letter, width) = if v <= 0xff {
                            ('x', 2)
                        } else if v <= 0xffff {
                            ('u', 4)
                        } else {
                            ('U', 8)
                        };
                        self.put(letter);
                        for k in (0..width).rev() {
                            let digit = (v >> (k * 4)) & 0xf;
                            self.put(char::from(b"0123456789ABCDEF"[digit as usize]));
                        }
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i > 0 && i + 1 < n {
                    self.write_indent();
                    if is_space_at(value, i + 1) {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_literal(&mut self, value: &[char]) {
        self.write_indicator("|", true, false, false);
        // Block scalar hints: an indentation indicator when the text starts with
        // a space or break, and the chomping indicator.
        if value.first().is_some_and(|&c| c == ' ' || is_break(c)) {
            let hint = char::from(b'0' + BEST_INDENT as u8).to_string();
            self.write_indicator(&hint, false, false, false);
        }
        self.open_ended = false;
        let chomp = match value {
            [] => Some('-'),
            [.., last] if !is_break(*last) => Some('-'),
            [_] => {
                self.open_ended = true;
                Some('+')
            }
            [.., before, _] if is_break(*before) => {
                self.open_ended = true;
                Some('+')
            }
            _ => None,
        };
        if let Some(chomp) = chomp {
            // As in yaml.v2, writing the indicator clears `open_ended` again.
            self.write_indicator(&chomp.to_string(), false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for &c in value {
            if is_break(c) {
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

/// What a scalar's text allows (libyaml's `yaml_emitter_analyze_scalar`).
struct Analysis {
    multiline: bool,
    flow_plain_allowed: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn analyze(value: &[char]) -> Analysis {
    if value.is_empty() {
        return Analysis {
            multiline: false,
            flow_plain_allowed: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let mut block_indicators = false;
    let mut flow_indicators = false;
    let mut line_breaks = false;
    let mut special_characters = false;
    let mut leading_space = false;
    let mut leading_break = false;
    let mut trailing_space = false;
    let mut trailing_break = false;
    let mut break_space = false;
    let mut space_break = false;
    let mut previous_space = false;
    let mut previous_break = false;

    if value.starts_with(&['-', '-', '-']) || value.starts_with(&['.', '.', '.']) {
        block_indicators = true;
        flow_indicators = true;
    }
    let mut preceded_by_whitespace = true;
    let n = value.len();
    for (i, &c) in value.iter().enumerate() {
        let followed_by_whitespace = i + 1 >= n || matches!(value[i + 1], ' ' | '\t');
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                '?' | ':' => {
                    flow_indicators = true;
                    if followed_by_whitespace {
                        block_indicators = true;
                    }
                }
                '-' if followed_by_whitespace => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                _ => {}
            }
        } else {
            match c {
                ',' | '?' | '[' | ']' | '{' | '}' => flow_indicators = true,
                ':' => {
                    flow_indicators = true;
                    if followed_by_whitespace {
                        block_indicators = true;
                    }
                }
                '#' if preceded_by_whitespace => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                _ => {}
            }
        }
        if !is_printable(c) {
            special_characters = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == n {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == n {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = matches!(c, ' ' | '\t' | '\0') || is_break(c);
    }

    let mut a = Analysis {
        multiline: line_breaks,
        flow_plain_allowed: true,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special_characters {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
    }
    if flow_indicators {
        a.flow_plain_allowed = false;
    }
    if block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// Whether a key fits on one line before its `:` (at most 128 bytes, no breaks).
fn simple_key(key: &str) -> bool {
    key.len() <= 128 && !key.chars().any(is_break)
}

fn is_space_at(value: &[char], i: usize) -> bool {
    value.get(i) == Some(&' ')
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// libyaml's printable set: tab and most control characters are not, and
/// neither is anything outside the Basic Multilingual Plane.
fn is_printable(c: char) -> bool {
    let v = c as u32;
    v == 0x0a
        || (0x20..=0x7e).contains(&v)
        || (0xa0..=0xd7ff).contains(&v)
        || ((0xe000..=0xfffd).contains(&v) && v != 0xfeff)
}

/// The style yaml.v2 asks for a Go string (`encoder.stringv`): a literal block
/// for text with a line feed, plain when the text would read back as the same
/// string, else double-quoted.
fn string_style(s: &str) -> Style {
    if s.contains('\n') {
        Style::Literal
    } else if resolves_to_string(s) && !is_base60_float(s) {
        Style::Plain
    } else {
        Style::Double
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Node {
        Node::Str(v.into())
    }

    fn doc(entries: Vec<(&str, Node)>) -> String {
        to_yaml(&sorted_map(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        ))
    }

    #[test]
    fn keys_sort_as_yaml_v2_sorts_them() {
        let mut keys = vec!["b", "a10", "a9", "A", "_x", "a", "1", "a09"];
        keys.sort_by(|a, b| key_order(a, b));
        // `_` sorts before `1`: neither is a letter, and no digits count as 0.
        assert_eq!(keys, ["_x", "1", "A", "a", "a9", "a09", "a10", "b"]);
        let mut keys = vec!["version", "apiVersion", "appVersion", "annotations", "name"];
        keys.sort_by(|a, b| key_order(a, b));
        assert_eq!(
            keys,
            ["annotations", "apiVersion", "appVersion", "name", "version"]
        );
    }

    #[test]
    fn strings_get_the_style_yaml_v2_picks() {
        let text = doc(vec![
            ("plain", s("hello world")),
            ("number", s("1.0")),
            ("bool", s("yes")),
            ("empty", s("")),
            ("octal-ish", s("08")),
            ("date", s("2023-10-05")),
            ("base60", s("1:20")),
            ("colon", s("a: b")),
            ("lead", s(" x")),
            ("star", s("*x")),
            ("quote", s("it's")),
            ("emoji", s("go 🚀")),
            ("tab", s("a\tb")),
            ("lines", s("one\ntwo\n")),
            ("lines2", s("one\ntwo")),
            ("keep", s("one\n\n")),
            ("version", s("v1.2.3")),
        ]);
        assert_eq!(
            text,
            "base60: \"1:20\"\nbool: \"yes\"\ncolon: 'a: b'\ndate: \"2023-10-05\"\n\
             emoji: \"go \\U0001F680\"\nempty: \"\"\nkeep: |+\n  one\n\nlead: ' x'\n\
             lines: |\n  one\n  two\nlines2: |-\n  one\n  two\nnumber: \"1.0\"\n\
             octal-ish: \"08\"\nplain: hello world\nquote: it's\nstar: '*x'\n\
             tab: \"a\\tb\"\nversion: v1.2.3\n"
        );
    }

    #[test]
    fn long_lines_fold_past_column_80() {
        let long = "Fast, reliable, scalable, and easy to use open-source relational database system. MariaDB Server is intended for mission-critical, heavy-load production systems as well as for embedding into mass-deployed software. Highly available MariaDB cluster.";
        assert_eq!(
            doc(vec![("description", s(long))]),
            "description: Fast, reliable, scalable, and easy to use open-source relational database\n  \
             system. MariaDB Server is intended for mission-critical, heavy-load production systems\n  \
             as well as for embedding into mass-deployed software. Highly available MariaDB cluster.\n"
        );
    }

    #[test]
    fn collections_as_yaml_v2_lays_them_out() {
        let text = doc(vec![
            ("sources", Node::Seq(vec![s("a"), s("b")])),
            (
                "maintainers",
                Node::Seq(vec![sorted_map(vec![
                    ("name".into(), s("x")),
                    ("email".into(), s("y")),
                    ("url".into(), s("z")),
                ])]),
            ),
            ("nested", Node::Seq(vec![Node::Seq(vec![s("a")])])),
            ("annotations", sorted_map(vec![("k".into(), s("v"))])),
            ("empty", Node::Seq(vec![])),
            ("none", Node::Map(vec![])),
            ("flag", Node::Plain("true".into())),
        ]);
        assert_eq!(
            text,
            "annotations:\n  k: v\nempty: []\nflag: true\nmaintainers:\n- email: \"y\"\n  name: x\n  url: z\n\
             nested:\n- - a\nnone: {}\nsources:\n- a\n- b\n"
        );
    }

    #[test]
    fn odd_keys_are_quoted_or_written_as_complex_keys() {
        let long_key = "k".repeat(130);
        let text = to_yaml(&Node::Map(vec![
            ("true".into(), s("x")),
            (long_key.clone(), s("z")),
        ]));
        assert_eq!(text, format!("\"true\": x\n? {long_key}\n: z\n"));
    }

    /// Reads `text` with wharf-spec's YAML reader: the first key's value.
    fn read_back(text: &str) -> Option<String> {
        use wharf_spec::yaml::{NodeKind, Resolved, parse};
        let root = parse(text).ok()??;
        let NodeKind::Map(entries) = root.kind else {
            return None;
        };
        let (_, value) = entries.into_iter().next()?;
        match value.as_scalar()?.resolve() {
            Resolved::Str(s) => Some(s),
            _ => None,
        }
    }

    proptest::proptest! {
        /// Whatever the string, what the emitter writes reads back as that
        /// string: quoted when it would otherwise be a number, a boolean or
        /// null, folded lines joined again, escapes undone.
        #[test]
        fn every_string_reads_back_as_itself(
            value in "[ -~\u{a0}-\u{ff}\u{4e00}-\u{4e0f}\u{1f680}\t\n]{0,120}"
        ) {
            let text = to_yaml(&sorted_map(vec![("key".into(), Node::Str(value.clone()))]));
            proptest::prop_assert_eq!(read_back(&text), Some(value), "{}", text);
        }

        #[test]
        fn long_words_fold_and_read_back(words in proptest::collection::vec("[a-z]{1,12}", 1..40)) {
            let value = words.join(" ");
            let text = to_yaml(&sorted_map(vec![("description".into(), Node::Str(value.clone()))]));
            proptest::prop_assert!(text.lines().all(|l| l.chars().count() <= 80 + 13), "{}", text);
            proptest::prop_assert_eq!(read_back(&text), Some(value));
        }
    }
}
