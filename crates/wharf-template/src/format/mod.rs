//! A subset of Go's `fmt` package over [`Data`]: `Sprint`, `Sprintln`, `Sprintf`
//! and the `%v` rendering used when a template prints a value.

pub(crate) mod float;
mod printf;

use crate::data::{Data, MAX_NESTING};

pub(crate) use printf::sprintf;

/// Formatting flags and sizes of one verb.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct Flags {
    pub plus: bool,
    pub minus: bool,
    pub sharp: bool,
    pub space: bool,
    pub zero: bool,
    pub wid: Option<usize>,
    pub prec: Option<usize>,
    /// `%#v`: Go-syntax rendering.
    pub sharp_v: bool,
}

/// Go's `fmt.Sprint(v)` of a single value.
pub(crate) fn fmt_v(v: &Data) -> String {
    let mut out = String::new();
    print_arg(&mut out, v, 'v', Flags::default(), 0);
    out
}

/// Go's `fmt.Sprint(args...)`: spaces between operands when neither is a string.
pub(crate) fn sprint(args: &[Data]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Data::Str(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        print_arg(&mut out, a, 'v', Flags::default(), 0);
        prev_string = is_string;
    }
    out
}

/// Go's `fmt.Sprintln(args...)`: always a space between operands, newline at the end.
pub(crate) fn sprintln(args: &[Data]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        print_arg(&mut out, a, 'v', Flags::default(), 0);
    }
    out.push('\n');
    out
}

/// Pads `s` to the flags' width (counted in runes), left or right.
pub(crate) fn pad(out: &mut String, s: &str, f: Flags) {
    let Some(w) = f.wid else {
        out.push_str(s);
        return;
    };
    let n = s.chars().count();
    if n >= w {
        out.push_str(s);
        return;
    }
    let fill = w - n;
    if f.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else {
        let c = if f.zero { '0' } else { ' ' };
        out.extend(std::iter::repeat_n(c, fill));
        out.push_str(s);
    }
}

/// Writes `%!verb(type=value)`.
pub(crate) fn bad_verb(out: &mut String, v: &Data, verb: char) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    if matches!(v, Data::Nil) {
        out.push_str("<nil>");
    } else {
        out.push_str(v.type_name());
        out.push('=');
        print_arg(out, v, 'v', Flags::default(), 0);
    }
    out.push(')');
}

/// Go's `printArg`/`printValue` for one operand.
pub(crate) fn print_arg(out: &mut String, v: &Data, verb: char, f: Flags, depth: usize) {
    if depth > MAX_NESTING {
        out.push_str("<...>");
        return;
    }
    if verb == 'T' {
        pad(out, v.type_name(), f);
        return;
    }
    match v {
        Data::Nil => {
            if depth > 0 || verb == 'v' {
                pad(out, "<nil>", f);
            } else {
                bad_verb(out, v, verb);
            }
        }
        Data::Bool(b) => match verb {
            't' | 'v' => pad(out, if *b { "true" } else { "false" }, f),
            _ => bad_verb(out, v, verb),
        },
        Data::Int(i) => printf::fmt_integer(out, *i, verb, f, v),
        Data::Uint(u) => printf::fmt_unsigned(out, *u, verb, f, v),
        Data::Float(x) => printf::fmt_float(out, *x, verb, f, v),
        Data::Str(s) => printf::fmt_string(out, s, verb, f, v),
        Data::Time(z) => {
            let s = crate::time_layout::go_string(z);
            stringer(out, &s, verb, f, v)
        }
        Data::Semver(sv) => stringer(out, &sv.to_string(), verb, f, v),
        Data::Cert(c) => {
            if f.sharp_v && verb == 'v' {
                go_syntax(out, v, depth);
                return;
            }
            // Go's printValue for a struct: `{field field}`, `%+v` names them.
            out.push('{');
            for (i, (name, value)) in c.fields().into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                if f.plus {
                    out.push_str(name);
                    out.push(':');
                }
                printf::fmt_string(out, value, verb, f, &Data::str(value));
            }
            out.push('}');
        }
        Data::List(l) => {
            if f.sharp_v && verb == 'v' {
                out.push_str("[]interface {}{");
                for (i, e) in l.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    go_syntax(out, e, depth + 1);
                }
                out.push('}');
                return;
            }
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_arg(out, e, verb, f, depth + 1);
            }
            out.push(']');
        }
        Data::Map(_) => {
            if f.sharp_v && verb == 'v' {
                go_syntax(out, v, depth);
                return;
            }
            out.push_str("map[");
            for (i, (k, e)) in v.map_entries().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                printf::fmt_string(out, k, verb, f, &Data::str(k));
                out.push(':');
                print_arg(out, e, verb, f, depth + 1);
            }
            out.push(']');
        }
    }
}

/// Values with a `String()` method: `v s q x X` use it, other verbs are bad.
fn stringer(out: &mut String, s: &str, verb: char, f: Flags, v: &Data) {
    match verb {
        'v' | 's' | 'q' | 'x' | 'X' => printf::fmt_string(out, s, verb, f, &Data::str(s)),
        _ => bad_verb(out, v, verb),
    }
}

/// A rough `%#v` (Go syntax) rendering.
fn go_syntax(out: &mut String, v: &Data, depth: usize) {
    if depth > MAX_NESTING {
        out.push_str("<...>");
        return;
    }
    match v {
        Data::Nil => out.push_str("interface {}(nil)"),
        Data::Str(s) => out.push_str(&quote(s)),
        Data::List(l) => {
            out.push_str("[]interface {}{");
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                go_syntax(out, e, depth + 1);
            }
            out.push('}');
        }
        Data::Map(_) => {
            out.push_str("map[string]interface {}{");
            for (i, (k, e)) in v.map_entries().iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&quote(k));
                out.push(':');
                go_syntax(out, e, depth + 1);
            }
            out.push('}');
        }
        Data::Cert(c) => {
            out.push_str("sprig.certificate{");
            for (i, (name, value)) in c.fields().into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(name);
                out.push(':');
                out.push_str(&quote(value));
            }
            out.push('}');
        }
        other => print_arg(out, other, 'v', Flags::default(), depth + 1),
    }
}

/// Go's `strconv.Quote`.
pub(crate) fn quote(s: &str) -> String {
    quote_with(s, '"', false)
}

/// Go's `strconv.Quote`/`QuoteToASCII`/`QuoteRune` core.
pub(crate) fn quote_with(s: &str, q: char, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        push_escaped(&mut out, c, q, ascii_only);
    }
    out.push(q);
    out
}

/// Go's `strconv.Quote` of a byte string that may not be UTF-8: invalid bytes
/// are written `\xNN`.
pub(crate) fn quote_bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() + 2);
    out.push('"');
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_escaped(&mut out, c, '"', false);
        }
        for x in chunk.invalid() {
            out.push_str(&format!("\\x{x:02x}"));
        }
    }
    out.push('"');
    out
}

fn push_escaped(out: &mut String, c: char, q: char, ascii_only: bool) {
    if c == q || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if c == '\u{FFFD}' {
        out.push_str("\\ufffd");
        return;
    }
    if ascii_only {
        if (c as u32) < 0x80 && is_print(c) {
            out.push(c);
            return;
        }
    } else if is_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            out.push_str(&format!("\\x{:02x}", c as u32));
        }
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// Approximates Go's `strconv.IsPrint`: letters, marks, numbers, punctuation,
/// symbols and the ASCII space.
pub(crate) fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    // Unassigned/private/format ranges commonly hit in practice.
    !matches!(u, 0xAD | 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x206F | 0xFEFF | 0xE000..=0xF8FF | 0xFFF0..=0xFFFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn print_values() {
        assert_eq!(fmt_v(&Data::Float(1e6)), "1e+06");
        assert_eq!(
            fmt_v(&Data::list(vec![Data::str("a"), Data::Nil, Data::Int(2)])),
            "[a <nil> 2]"
        );
        let mut m = BTreeMap::new();
        m.insert("b".to_string(), Data::Int(2));
        m.insert("a".to_string(), Data::Int(1));
        assert_eq!(fmt_v(&Data::map(m)), "map[a:1 b:2]");
    }

    #[test]
    fn sprint_spacing() {
        assert_eq!(sprint(&[Data::Int(1), Data::Int(2)]), "1 2");
        assert_eq!(sprint(&[Data::str("a"), Data::Int(2)]), "a2");
        assert_eq!(sprint(&[Data::Int(1), Data::str("a"), Data::Int(2)]), "1a2");
        assert_eq!(sprintln(&[Data::str("a"), Data::str("b")]), "a b\n");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b\n\x01é"), "\"a\\\"b\\n\\x01é\"");
        assert_eq!(quote_with("é", '"', true), "\"\\u00e9\"");
    }
}
