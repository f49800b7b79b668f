//! Sprig regular expression functions on the `regex` crate, whose syntax is
//! RE2's like Go's `regexp`.

use regex::Regex;

use super::{FuncDef, Since, Ty, def, n, ok, ok_s, s};
use crate::data::{Data, RVal};

const V2: Since = Since::V2;
const V3: Since = Since::V3;

fn compile(re: &str) -> Result<Regex, String> {
    Regex::new(re).map_err(|e| {
        let first = e.to_string();
        let line = first
            .lines()
            .rev()
            .find(|l| l.starts_with("error:"))
            .map(|l| l.trim_start_matches("error:").trim().to_string())
            .unwrap_or(first);
        format!("error parsing regexp: {line}: `{re}`")
    })
}

fn find_all(re: &Regex, src: &str, limit: i64) -> Vec<(usize, usize)> {
    if limit == 0 {
        return Vec::new();
    }
    let it = re.find_iter(src).map(|m| (m.start(), m.end()));
    if limit < 0 {
        it.collect()
    } else {
        it.take(limit as usize).collect()
    }
}

fn find_all_strings(x: &[RVal]) -> Result<RVal, String> {
    let re = compile(&s(x, 0))?;
    let src = s(x, 1);
    let v: Vec<&str> = find_all(&re, &src, n(x, 2))
        .into_iter()
        .map(|(a, b)| &src[a..b])
        .collect();
    ok(Data::strings(v))
}

fn split(x: &[RVal]) -> Result<RVal, String> {
    let re = compile(&s(x, 0))?;
    let src = s(x, 1);
    let limit = n(x, 2);
    if limit == 0 {
        return ok(Data::list(vec![]));
    }
    if !re.as_str().is_empty() && src.is_empty() {
        return ok(Data::strings([""]));
    }
    let mut out: Vec<&str> = Vec::new();
    let (mut beg, mut end) = (0usize, 0usize);
    for (ms, me) in find_all(&re, &src, limit) {
        if limit > 0 && out.len() as i64 == limit - 1 {
            break;
        }
        end = ms;
        if me != 0 {
            out.push(&src[beg..end]);
        }
        beg = me;
    }
    if end != src.len() {
        out.push(&src[beg..]);
    }
    ok(Data::strings(out))
}

/// Go's `regexp.QuoteMeta`.
fn quote_meta(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(crate) const FUNCS: &[FuncDef] = &[
    def("regexMatch", &[Ty::Str, Ty::Str], None, V2, |_, x| {
        ok(Data::Bool(
            compile(&s(&x, 0)).is_ok_and(|r| r.is_match(&s(&x, 1))),
        ))
    }),
    def("mustRegexMatch", &[Ty::Str, Ty::Str], None, V3, |_, x| {
        ok(Data::Bool(compile(&s(&x, 0))?.is_match(&s(&x, 1))))
    }),
    def(
        "regexFindAll",
        &[Ty::Str, Ty::Str, Ty::Int],
        None,
        V2,
        |_, x| find_all_strings(&x),
    ),
    def(
        "mustRegexFindAll",
        &[Ty::Str, Ty::Str, Ty::Int],
        None,
        V3,
        |_, x| find_all_strings(&x),
    ),
    def("regexFind", &[Ty::Str, Ty::Str], None, V2, |_, x| {
        let re = compile(&s(&x, 0))?;
        let src = s(&x, 1);
        ok_s(re.find(&src).map_or("", |m| m.as_str()))
    }),
    def("mustRegexFind", &[Ty::Str, Ty::Str], None, V3, |_, x| {
        let re = compile(&s(&x, 0))?;
        let src = s(&x, 1);
        ok_s(re.find(&src).map_or("", |m| m.as_str()))
    }),
    def(
        "regexReplaceAll",
        &[Ty::Str, Ty::Str, Ty::Str],
        None,
        V2,
        |_, x| {
            let re = compile(&s(&x, 0))?;
            ok_s(re.replace_all(&s(&x, 1), s(&x, 2).as_str()))
        },
    ),
    def(
        "mustRegexReplaceAll",
        &[Ty::Str, Ty::Str, Ty::Str],
        None,
        V3,
        |_, x| {
            let re = compile(&s(&x, 0))?;
            ok_s(re.replace_all(&s(&x, 1), s(&x, 2).as_str()))
        },
    ),
    def(
        "regexReplaceAllLiteral",
        &[Ty::Str, Ty::Str, Ty::Str],
        None,
        V2,
        |_, x| {
            let re = compile(&s(&x, 0))?;
            ok_s(re.replace_all(&s(&x, 1), regex::NoExpand(&s(&x, 2))))
        },
    ),
    def(
        "mustRegexReplaceAllLiteral",
        &[Ty::Str, Ty::Str, Ty::Str],
        None,
        V3,
        |_, x| {
            let re = compile(&s(&x, 0))?;
            ok_s(re.replace_all(&s(&x, 1), regex::NoExpand(&s(&x, 2))))
        },
    ),
    def(
        "regexSplit",
        &[Ty::Str, Ty::Str, Ty::Int],
        None,
        V2,
        |_, x| split(&x),
    ),
    def(
        "mustRegexSplit",
        &[Ty::Str, Ty::Str, Ty::Int],
        None,
        V3,
        |_, x| split(&x),
    ),
    def("regexQuoteMeta", &[Ty::Str], None, V3, |_, x| {
        ok_s(quote_meta(&s(&x, 0)))
    }),
];
