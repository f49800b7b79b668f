//! Go's builtin template functions (`funcs.go`). Sprig's `slice` replaces Go's.

use super::{Ctx, FuncDef, Imp, Since, Ty, a, def, ok, ok_s};
use crate::data::{Data, RVal};
use crate::format;

pub(crate) const FUNCS: &[FuncDef] = &[
    FuncDef {
        name: "and",
        params: &[Ty::Reflect],
        variadic: Some(Ty::Reflect),
        imp: Imp::And,
        since: Since::V2,
    },
    FuncDef {
        name: "or",
        params: &[Ty::Reflect],
        variadic: Some(Ty::Reflect),
        imp: Imp::Or,
        since: Since::V2,
    },
    def("not", &[Ty::Reflect], None, Since::V2, not),
    def("len", &[Ty::Reflect], None, Since::V2, len),
    def("index", &[Ty::Reflect], Some(Ty::Reflect), Since::V2, index),
    def("print", &[], Some(Ty::Any), Since::V2, print),
    def("printf", &[Ty::Str], Some(Ty::Any), Since::V2, printf),
    def("println", &[], Some(Ty::Any), Since::V2, println),
    def("html", &[], Some(Ty::Any), Since::V2, html),
    def("js", &[], Some(Ty::Any), Since::V2, js),
    def("urlquery", &[], Some(Ty::Any), Since::V2, urlquery),
    def("eq", &[Ty::Reflect], Some(Ty::Reflect), Since::V2, eq),
    def("ne", &[Ty::Reflect, Ty::Reflect], None, Since::V2, ne),
    def("lt", &[Ty::Reflect, Ty::Reflect], None, Since::V2, lt),
    def("le", &[Ty::Reflect, Ty::Reflect], None, Since::V2, le),
    def("gt", &[Ty::Reflect, Ty::Reflect], None, Since::V2, gt),
    def("ge", &[Ty::Reflect, Ty::Reflect], None, Since::V2, ge),
    def("call", &[Ty::Reflect], Some(Ty::Reflect), Since::V2, call),
];

fn all(args: &[RVal]) -> Vec<Data> {
    args.iter().map(RVal::data).collect()
}

fn not(_: &mut Ctx<'_>, args: Vec<RVal>) -> Result<RVal, String> {
    ok(Data::Bool(!args.first().is_some_and(RVal::truth)))
}

fn len(_: &mut Ctx<'_>, args: Vec<RVal>) -> Result<RVal, String> {
    let n = match args.first() {
        None | Some(RVal::Invalid) => {
            return Err("reflect: call of reflect.Value.Type on zero Value".into());
        }
        Some(RVal::Iface(Data::Nil) | RVal::Plain(Data::Nil)) => {
            return Err("len of nil pointer".into());
        }
        Some(RVal::Iface(d) | RVal::Plain(d)) => match d {
            Data::Str(s) => s.len(),
            Data::List(l) => l.len(),
            Data::Map(m) => Data::map_len(m),
            other => return Err(format!("len of type {}", other.type_name())),
        },
    };
    ok(Data::Int(n as i64))
}

fn index(_: &mut Ctx<'_>, args: Vec<RVal>) -> Result<RVal, String> {
    let mut item = match args.first() {
        Some(RVal::Iface(Data::Nil) | RVal::Plain(Data::Nil) | RVal::Invalid) | None => {
            return Err("index of untyped nil".into());
        }
        Some(v) => v.clone(),
    };
    for idx in &args[1..] {
        let d = match &item {
            RVal::Iface(Data::Nil) | RVal::Plain(Data::Nil) | RVal::Invalid => {
                return Err("index of nil pointer".into());
            }
            RVal::Iface(d) | RVal::Plain(d) => d.clone(),
        };
        let idx = idx.as_data().cloned();
        item = match &d {
            Data::List(_) | Data::Str(_) => {
                let len = match &d {
                    Data::List(l) => l.len(),
                    Data::Str(s) => s.len(),
                    _ => 0,
                };
                let x = match idx {
                    Some(Data::Int(x)) => x,
                    None | Some(Data::Nil) => {
                        return Err("cannot index slice/array with nil".into());
                    }
                    Some(other) => {
                        return Err(format!(
                            "cannot index slice/array with type {}",
                            other.type_name()
                        ));
                    }
                };
                if x < 0 || x as usize >= len {
                    return Err(format!("index out of range: {x}"));
                }
                match &d {
                    Data::List(l) => RVal::Iface(l[x as usize].clone()),
                    Data::Str(s) => RVal::Plain(Data::Int(s.as_bytes()[x as usize] as i64)),
                    _ => RVal::Invalid,
                }
            }
            Data::Map(_) => match idx {
                Some(Data::Str(k)) => match d.map_get(&k) {
                    Some(v) => RVal::Iface(v),
                    None => RVal::Iface(Data::Nil),
                },
                None | Some(Data::Nil) => {
                    return Err("value is nil; should be of type string".into());
                }
                Some(other) => {
                    return Err(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    ));
                }
            },
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

fn print(_: &mut Ctx<'_>, args: Vec<RVal>) -> Result<RVal, String> {
    ok_s(format::sprint(&all(&args)))
}

fn printf(_: &mut Ctx<'_>, args: Vec<RVal>) -> Result<RVal, String> {
    let f = super::s(&args, 0);
    ok_s(format::sprintf(&f, &all(&args[1..])))
}

fn println(_: &mut Ctx<'_>, args: Vec<RVal>) -> Result<RVal, String> {
    ok_s(format::sprintln(&all(&args)))
}

/// Go's `evalArgs`: one string as is, else `Sprint` with nil as `<no value>`.
fn eval_args(args: &[RVal]) -> String {
    if let [RVal::Plain(Data::Str(s)) | RVal::Iface(Data::Str(s))] = args {
        return s.to_string();
    }
    let parts: Vec<Data> = args
        .iter()
        .map(|v| match v.as_data() {
            None | Some(Data::Nil) => Data::str("<no value>"),
            Some(d) => d.clone(),
        })
        .collect();
    format::sprint(&parts)
}

/// Go's `template.HTMLEscapeString`.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn html(_: &mut Ctx<'_>, args: Vec<RVal>) -> Result<RVal, String> {
    ok_s(html_escape(&eval_args(&args)))
}

/// Go's `template.JSEscapeString`.
pub(crate) fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if (c as u32) >= 0x80 && !format::is_print(c) => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

fn js(_: &mut Ctx<'_>, args: Vec<RVal>) -> Result<RVal, String> {
    ok_s(js_escape(&eval_args(&args)))
}

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn urlquery(_: &mut Ctx<'_>, args: Vec<RVal>) -> Result<RVal, String> {
    ok_s(query_escape(&eval_args(&args)))
}

#[derive(PartialEq, Eq, Clone, Copy, Debug)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Uint,
    Float,
    Str,
    Other,
}

fn kind(d: Option<&Data>) -> Kind {
    match d {
        None | Some(Data::Nil) => Kind::Invalid,
        Some(Data::Bool(_)) => Kind::Bool,
        Some(Data::Int(_)) => Kind::Int,
        Some(Data::Uint(_)) => Kind::Uint,
        Some(Data::Float(_)) => Kind::Float,
        Some(Data::Str(_)) => Kind::Str,
        Some(_) => Kind::Other,
    }
}

const BAD_CMP: &str = "incompatible types for comparison";
const BAD_CMP_TYPE: &str = "invalid type for comparison";

/// Go compares an int and a uint by value (a negative int is less than any uint).
fn int_uint(x: Option<&Data>, y: Option<&Data>) -> Option<std::cmp::Ordering> {
    match (x, y) {
        (Some(Data::Int(a)), Some(Data::Uint(b))) => Some(if *a < 0 {
            std::cmp::Ordering::Less
        } else {
            a.unsigned_abs().cmp(b)
        }),
        (Some(Data::Uint(a)), Some(Data::Int(b))) => Some(if *b < 0 {
            std::cmp::Ordering::Greater
        } else {
            a.cmp(&b.unsigned_abs())
        }),
        _ => None,
    }
}

fn eq_pair(x: Option<&Data>, y: Option<&Data>) -> Result<bool, String> {
    let (k1, k2) = (kind(x), kind(y));
    if let Some(order) = int_uint(x, y) {
        return Ok(order == std::cmp::Ordering::Equal);
    }
    if k1 != k2 {
        if k1 != Kind::Invalid && k2 != Kind::Invalid {
            return Err(BAD_CMP.into());
        }
        return Ok(false);
    }
    Ok(match (x, y) {
        (Some(Data::Bool(a)), Some(Data::Bool(b))) => a == b,
        (Some(Data::Int(a)), Some(Data::Int(b))) => a == b,
        (Some(Data::Uint(a)), Some(Data::Uint(b))) => a == b,
        (Some(Data::Float(a)), Some(Data::Float(b))) => a == b,
        (Some(Data::Str(a)), Some(Data::Str(b))) => a == b,
        (None | Some(Data::Nil), None | Some(Data::Nil)) => true,
        (Some(a), Some(b)) => match (a, b) {
            (Data::List(_), _) | (Data::Map(_), _) => {
                return Err(format!(
                    "non-comparable type {}: {}",
                    format::fmt_v(a),
                    a.type_name()
                ));
            }
            (Data::Time(p), Data::Time(q)) => p == q,
            (Data::Semver(p), Data::Semver(q)) => std::rc::Rc::ptr_eq(p, q),
            (Data::Cert(p), Data::Cert(q)) => p == q,
            _ => {
                return Err(format!(
                    "non-comparable types {}: {}, {}: {}",
                    format::fmt_v(a),
                    a.type_name(),
                    b.type_name(),
                    format::fmt_v(b)
                ));
            }
        },
        _ => false,
    })
}

fn eq(_: &mut Ctx<'_>, args: Vec<RVal>) -> Result<RVal, String> {
    let x = args.first().and_then(RVal::as_data);
    if args.len() < 2 {
        return Err("missing argument for comparison".into());
    }
    for y in &args[1..] {
        if eq_pair(x, y.as_data())? {
            return ok(Data::Bool(true));
        }
    }
    ok(Data::Bool(false))
}

fn ne(_: &mut Ctx<'_>, args: Vec<RVal>) -> Result<RVal, String> {
    let r = eq_pair(args[0].as_data(), args[1].as_data())?;
    ok(Data::Bool(!r))
}

fn less(x: Option<&Data>, y: Option<&Data>) -> Result<bool, String> {
    let (k1, k2) = (kind(x), kind(y));
    for k in [k1, k2] {
        if matches!(k, Kind::Invalid | Kind::Other) {
            return Err(BAD_CMP_TYPE.into());
        }
    }
    if let Some(order) = int_uint(x, y) {
        return Ok(order == std::cmp::Ordering::Less);
    }
    if k1 != k2 {
        return Err(BAD_CMP.into());
    }
    match (x, y) {
        (Some(Data::Int(a)), Some(Data::Int(b))) => Ok(a < b),
        (Some(Data::Uint(a)), Some(Data::Uint(b))) => Ok(a < b),
        (Some(Data::Float(a)), Some(Data::Float(b))) => Ok(a < b),
        (Some(Data::Str(a)), Some(Data::Str(b))) => Ok(a < b),
        _ => Err(BAD_CMP_TYPE.into()),
    }
}

fn lt(_: &mut Ctx<'_>, args: Vec<RVal>) -> Result<RVal, String> {
    ok(Data::Bool(less(args[0].as_data(), args[1].as_data())?))
}

fn le_inner(args: &[RVal]) -> Result<bool, String> {
    if less(args[0].as_data(), args[1].as_data())? {
        return Ok(true);
    }
    eq_pair(args[0].as_data(), args[1].as_data())
}

fn le(_: &mut Ctx<'_>, args: Vec<RVal>) -> Result<RVal, String> {
    ok(Data::Bool(le_inner(&args)?))
}

fn gt(_: &mut Ctx<'_>, args: Vec<RVal>) -> Result<RVal, String> {
    ok(Data::Bool(!le_inner(&args)?))
}

fn ge(_: &mut Ctx<'_>, args: Vec<RVal>) -> Result<RVal, String> {
    ok(Data::Bool(!less(args[0].as_data(), args[1].as_data())?))
}

fn call(_: &mut Ctx<'_>, args: Vec<RVal>) -> Result<RVal, String> {
    let f = a(&args, 0);
    if matches!(f, Data::Nil) {
        return Err("call of nil".into());
    }
    Err(format!(
        "non-function {} of type {}",
        format::fmt_v(&f),
        f.type_name()
    ))
}
