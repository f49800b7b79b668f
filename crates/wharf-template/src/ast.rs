//! The parse tree (Go's `text/template/parse` nodes) and literal decoding.

use std::fmt;
use std::ops::Range;

use crate::funcs::FuncDef;

/// A byte span in the template source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sp {
    pub start: usize,
    pub end: usize,
}

impl Sp {
    pub(crate) fn new(start: usize, end: usize) -> Sp {
        Sp {
            start,
            end: end.max(start),
        }
    }

    pub(crate) fn range(self) -> Range<usize> {
        self.start..self.end
    }

    pub(crate) fn to(self, other: Sp) -> Sp {
        Sp::new(self.start, other.end.max(self.end))
    }
}

/// A list-level node.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// Text copied verbatim: `src[span]`.
    Text(Sp),
    /// `{{pipeline}}`; span covers the delimiters.
    Action {
        span: Sp,
        pipe: Pipe,
    },
    If(Branch),
    Range(Branch),
    With(Branch),
    /// `{{template "name" pipeline}}` (also the call half of `block`).
    Template {
        span: Sp,
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
}

/// The shared shape of `if`, `range` and `with`.
#[derive(Debug, Clone)]
pub(crate) struct Branch {
    pub span: Sp,
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

/// A pipeline with optional variable declarations.
#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    pub span: Sp,
    pub is_assign: bool,
    pub decl: Vec<(String, Sp)>,
    pub cmds: Vec<Cmd>,
}

/// One command of a pipeline: an operand followed by arguments.
#[derive(Debug, Clone)]
pub(crate) struct Cmd {
    pub span: Sp,
    pub args: Vec<Arg>,
}

/// An operand.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Field {
        span: Sp,
        idents: Vec<String>,
    },
    /// `$x.a.b`: idents[0] is the variable name including `$`.
    Variable {
        span: Sp,
        idents: Vec<String>,
    },
    Chain {
        span: Sp,
        node: Box<Arg>,
        fields: Vec<String>,
    },
    Identifier {
        span: Sp,
        name: String,
        func: &'static FuncDef,
    },
    Dot(Sp),
    Nil(Sp),
    Bool(Sp, bool),
    Number(Sp, Number),
    /// `text` is the quoted source form, `val` the decoded string.
    Str {
        span: Sp,
        text: String,
        val: String,
    },
    Pipe(Box<Pipe>),
}

impl Arg {
    pub(crate) fn span(&self) -> Sp {
        match self {
            Arg::Field { span, .. }
            | Arg::Variable { span, .. }
            | Arg::Chain { span, .. }
            | Arg::Identifier { span, .. }
            | Arg::Str { span, .. } => *span,
            Arg::Dot(s) | Arg::Nil(s) | Arg::Bool(s, _) | Arg::Number(s, _) => *s,
            Arg::Pipe(p) => p.span,
        }
    }
}

/// A numeric literal with Go's ideal-constant flags.
#[derive(Debug, Clone, Default)]
pub(crate) struct Number {
    pub text: String,
    pub is_int: bool,
    pub is_uint: bool,
    pub is_float: bool,
    pub int: i64,
    /// The value as Go's `Uint64` (when `is_uint`).
    pub uint: u64,
    pub float: f64,
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Field { idents, .. } => {
                for i in idents {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Variable { idents, .. } => write!(f, "{}", idents.join(".")),
            Arg::Chain { node, fields, .. } => {
                if matches!(**node, Arg::Pipe(_)) {
                    write!(f, "({node})")?;
                } else {
                    write!(f, "{node}")?;
                }
                for i in fields {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Identifier { name, .. } => write!(f, "{name}"),
            Arg::Dot(_) => write!(f, "."),
            Arg::Nil(_) => write!(f, "nil"),
            Arg::Bool(_, b) => write!(f, "{b}"),
            Arg::Number(_, n) => write!(f, "{}", n.text),
            Arg::Str { text, .. } => write!(f, "{text}"),
            Arg::Pipe(p) => write!(f, "{p}"),
        }
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                write!(f, " ")?;
            }
            if let Arg::Pipe(p) = a {
                write!(f, "({p})")?;
            } else {
                write!(f, "{a}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            let names: Vec<&str> = self.decl.iter().map(|(n, _)| n.as_str()).collect();
            write!(
                f,
                "{} {} ",
                names.join(", "),
                if self.is_assign { "=" } else { ":=" }
            )?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                write!(f, " | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// Calls `f` for every function identifier in `list`.
pub(crate) fn collect_calls(list: &[Node], f: &mut dyn FnMut(&str, &FuncDef, Sp)) {
    fn pipe(p: &Pipe, f: &mut dyn FnMut(&str, &FuncDef, Sp)) {
        for c in &p.cmds {
            for a in &c.args {
                arg(a, f);
            }
        }
    }
    fn arg(a: &Arg, f: &mut dyn FnMut(&str, &FuncDef, Sp)) {
        match a {
            Arg::Identifier { span, name, func } => f(name, func, *span),
            Arg::Chain { node, .. } => arg(node, f),
            Arg::Pipe(p) => pipe(p, f),
            _ => {}
        }
    }
    for n in list {
        match n {
            Node::Action { pipe: p, .. } => pipe(p, f),
            Node::If(b) | Node::Range(b) | Node::With(b) => {
                pipe(&b.pipe, f);
                collect_calls(&b.list, f);
                if let Some(e) = &b.else_list {
                    collect_calls(e, f);
                }
            }
            Node::Template { pipe: Some(p), .. } => pipe(p, f),
            _ => {}
        }
    }
}

/// Go's `IsEmptyTree`: only blank text and comments.
pub(crate) fn is_empty_tree(src: &str, list: &[Node]) -> bool {
    list.iter().all(|n| match n {
        Node::Text(sp) => src[sp.range()].trim().is_empty(),
        _ => false,
    })
}

/// Decodes a Go number literal into an ideal constant (Go's `newNumber`).
pub(crate) fn parse_number(text: &str, is_char: bool) -> Result<Number, String> {
    let mut n = Number {
        text: text.to_string(),
        ..Number::default()
    };
    if is_char {
        let inner = text.get(1..).unwrap_or("");
        let (c, tail) = unquote_char(inner, '\'')?;
        if tail != "'" {
            return Err(format!("malformed character constant: {text}"));
        }
        let c = c & 0x7fff_ffff;
        n.int = c as i64;
        n.is_int = true;
        n.is_uint = true;
        n.uint = c as u64;
        n.float = c as i64 as f64;
        n.is_float = true;
        return Ok(n);
    }
    if text.ends_with('i') {
        return Err(format!("complex numbers are not supported: {text}"));
    }
    let u = parse_uint(text);
    if let Some(u) = u {
        n.is_uint = true;
        n.uint = u;
        n.float = u as f64;
    }
    if let Some(i) = parse_int(text) {
        n.is_int = true;
        n.int = i;
        if i == 0 {
            n.is_uint = true;
        }
    }
    if n.is_int {
        n.is_float = true;
        n.float = n.int as f64;
    } else if n.is_uint {
        n.is_float = true;
    } else if let Some(f) = parse_float(text) {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!("integer overflow: {}", crate::format::quote(text)));
        }
        n.is_float = true;
        n.float = f;
        if f.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
            n.is_int = true;
            n.int = f as i64;
        }
        if f.fract() == 0.0 && (0.0..1.844_674_407_370_955_2e19).contains(&f) {
            n.is_uint = true;
            n.uint = f as u64;
        }
    }
    if !n.is_int && !n.is_uint && !n.is_float {
        return Err(format!(
            "illegal number syntax: {}",
            crate::format::quote(text)
        ));
    }
    Ok(n)
}

/// Removes Go-valid underscores (`1_000`, `0x_ff`); None if misplaced.
fn strip_underscores(digits: &str, base_prefix: bool) -> Option<String> {
    if !digits.contains('_') {
        return Some(digits.to_string());
    }
    let b = digits.as_bytes();
    // '_' must separate digits (or follow a base prefix).
    for (i, c) in b.iter().enumerate() {
        if *c == b'_' {
            let prev_ok = if i == 0 {
                base_prefix
            } else {
                b[i - 1] != b'_'
            };
            let next_ok = i + 1 < b.len() && b[i + 1] != b'_';
            if !prev_ok || !next_ok {
                return None;
            }
        }
    }
    Some(digits.replace('_', ""))
}

fn split_base(s: &str) -> (u32, &str, bool) {
    let lower = s.get(..2).map(str::to_ascii_lowercase);
    match lower.as_deref() {
        Some("0x") => (16, &s[2..], true),
        Some("0o") => (8, &s[2..], true),
        Some("0b") => (2, &s[2..], true),
        _ if s.len() > 1 && s.starts_with('0') => (8, &s[1..], true),
        _ => (10, s, false),
    }
}

/// Go's `strconv.ParseUint(s, 0, 64)`.
pub(crate) fn parse_uint(s: &str) -> Option<u64> {
    if s.starts_with(['+', '-']) || s.is_empty() {
        return None;
    }
    let (base, digits, prefixed) = split_base(s);
    let d = strip_underscores(digits, prefixed)?;
    // `from_str_radix` would also take a sign after the base prefix (`0x+5`).
    if d.is_empty() || !d.chars().all(|c| c.is_digit(base)) {
        return None;
    }
    u64::from_str_radix(&d, base).ok()
}

/// Go's `strconv.ParseInt(s, 0, 64)`.
pub(crate) fn parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let u = parse_uint(body)?;
    if neg {
        if u <= i64::MAX as u64 + 1 {
            Some((u as i128).wrapping_neg() as i64)
        } else {
            None
        }
    } else {
        i64::try_from(u).ok()
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for Go literal syntax (decimal and hex).
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let v = if body.len() > 2 && body[..2].eq_ignore_ascii_case("0x") {
        parse_hex_float(&body[2..])?
    } else {
        let d = strip_underscores(body, false)?;
        if d.is_empty()
            || !d
                .bytes()
                .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            return None;
        }
        d.parse::<f64>().ok()?
    };
    if v.is_infinite() {
        return None;
    }
    Some(if neg { -v } else { v })
}

fn parse_hex_float(s: &str) -> Option<f64> {
    let s = strip_underscores(s, true)?;
    let (mant, exp) = match s.find(['p', 'P']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
        None => (s.as_str(), 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + c.to_digit(16)? as f64;
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += c.to_digit(16)? as f64 * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}

/// Go's `strconv.UnquoteChar`: decodes one (possibly escaped) character.
pub(crate) fn unquote_char(s: &str, quote: char) -> Result<(u32, &str), String> {
    let syntax = || "invalid syntax".to_string();
    let mut chars = s.chars();
    let c = chars.next().ok_or_else(syntax)?;
    if c == quote && (quote == '\'' || quote == '"') {
        return Err(syntax());
    }
    if c != '\\' {
        return Ok((c as u32, chars.as_str()));
    }
    let e = chars.next().ok_or_else(syntax)?;
    let rest = chars.as_str();
    let simple = match e {
        'a' => Some(7),
        'b' => Some(8),
        'f' => Some(12),
        'n' => Some(10),
        'r' => Some(13),
        't' => Some(9),
        'v' => Some(11),
        '\\' => Some('\\' as u32),
        '\'' | '"' => {
            if e != quote {
                return Err(syntax());
            }
            Some(e as u32)
        }
        _ => None,
    };
    if let Some(v) = simple {
        return Ok((v, rest));
    }
    let hex = |n: usize| -> Result<(u32, &str), String> {
        let digits = rest.get(..n).ok_or_else(syntax)?;
        let v = u32::from_str_radix(digits, 16).map_err(|_| syntax())?;
        if !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(syntax());
        }
        Ok((v, &rest[n..]))
    };
    match e {
        'x' => {
            let (v, r) = hex(2)?;
            Ok((v | 0x8000_0000, r))
        }
        'u' | 'U' => {
            let (v, r) = hex(if e == 'u' { 4 } else { 8 })?;
            if char::from_u32(v).is_none() {
                return Err(syntax());
            }
            Ok((v, r))
        }
        '0'..='7' => {
            let digits = format!("{e}{}", rest.get(..2).ok_or_else(syntax)?);
            if !digits.bytes().all(|c| (b'0'..=b'7').contains(&c)) {
                return Err(syntax());
            }
            let v = u32::from_str_radix(&digits, 8).map_err(|_| syntax())?;
            if v > 255 {
                return Err(syntax());
            }
            Ok((v | 0x8000_0000, &rest[2..]))
        }
        _ => Err(syntax()),
    }
}

/// Go's `strconv.Unquote` for `"..."` and raw strings.
pub(crate) fn unquote(text: &str) -> Result<String, String> {
    let syntax = || "invalid syntax".to_string();
    if let Some(inner) = text.strip_prefix('`').and_then(|t| t.strip_suffix('`')) {
        return Ok(inner.replace('\r', ""));
    }
    let inner = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .ok_or_else(syntax)?;
    let mut bytes = Vec::with_capacity(inner.len());
    let mut s = inner;
    while !s.is_empty() {
        let (c, rest) = unquote_char(s, '"')?;
        if c & 0x8000_0000 != 0 {
            bytes.push((c & 0xff) as u8);
        } else {
            let ch = char::from_u32(c).ok_or_else(syntax)?;
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        }
        s = rest;
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let n = parse_number("0x1F", false).expect("hex");
        assert!(n.is_int && n.int == 31);
        let n = parse_number("1_000", false).expect("underscore");
        assert_eq!(n.int, 1000);
        let n = parse_number("1.0", false).expect("float");
        assert!(n.is_float && n.is_int && n.int == 1);
        let n = parse_number("1.5", false).expect("float");
        assert!(n.is_float && !n.is_int);
        let n = parse_number("'a'", true).expect("char");
        assert_eq!(n.int, 97);
        let n = parse_number("0b101", false).expect("bin");
        assert_eq!(n.int, 5);
        let n = parse_number("017", false).expect("octal");
        assert_eq!(n.int, 15);
        assert!(parse_number("99999999999999999999", false).is_err());
        assert!(parse_number("1__0", false).is_err());
        let n = parse_number("0x1p-2", false).expect("hexfloat");
        assert_eq!(n.float, 0.25);
    }

    #[test]
    fn strings() {
        assert_eq!(
            unquote("\"a\\tb\\u00e9\\x41\\101\"").expect("ok"),
            "a\tbéAA"
        );
        assert_eq!(unquote("`a\\n`").expect("ok"), "a\\n");
        assert!(unquote("\"\\q\"").is_err());
        assert!(unquote("\"\\'\"").is_err());
    }
}
