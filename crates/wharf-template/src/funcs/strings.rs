//! Sprig string functions (strings.go, goutils, xstrings).
//!
//! Go strings are bytes; functions that cut at byte offsets (`substr`, `trunc`,
//! `abbrev`, `wrap`) cut the same bytes here and repair a split UTF-8 sequence
//! with U+FFFD, where Go would keep the invalid bytes.

use std::collections::BTreeMap;

use rand::Rng;
use rand::seq::SliceRandom;

use super::convert::{strslice, strval};
use super::{Ctx, FuncDef, Since, Ty, a, check_size, def, n, ok, ok_s, s};
use crate::data::{Data, RVal};
use crate::format;

const V2: Since = Since::V2;

pub(crate) const FUNCS: &[FuncDef] = &[
    def("hello", &[], None, V2, |_, _| ok_s("Hello!")),
    def("trim", &[Ty::Str], None, V2, |_, x| ok_s(s(&x, 0).trim())),
    def("trimAll", &[Ty::Str, Ty::Str], None, V2, trim_all),
    def("trimall", &[Ty::Str, Ty::Str], None, V2, trim_all),
    def("trimPrefix", &[Ty::Str, Ty::Str], None, V2, |_, x| {
        let (p, v) = (s(&x, 0), s(&x, 1));
        ok_s(v.strip_prefix(p.as_str()).unwrap_or(&v))
    }),
    def("trimSuffix", &[Ty::Str, Ty::Str], None, V2, |_, x| {
        let (p, v) = (s(&x, 0), s(&x, 1));
        ok_s(v.strip_suffix(p.as_str()).unwrap_or(&v))
    }),
    def("upper", &[Ty::Str], None, V2, |_, x| {
        ok_s(map_chars(&s(&x, 0), upper_char))
    }),
    def("lower", &[Ty::Str], None, V2, |_, x| {
        ok_s(map_chars(&s(&x, 0), lower_char))
    }),
    def("title", &[Ty::Str], None, V2, |_, x| ok_s(title(&s(&x, 0)))),
    def("untitle", &[Ty::Str], None, V2, |_, x| {
        ok_s(untitle(&s(&x, 0)))
    }),
    def("repeat", &[Ty::Int, Ty::Str], None, V2, repeat),
    def("substr", &[Ty::Int, Ty::Int, Ty::Str], None, V2, substr),
    def("nospace", &[Ty::Str], None, V2, |_, x| {
        ok_s(
            s(&x, 0)
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>(),
        )
    }),
    def("trunc", &[Ty::Int, Ty::Str], None, V2, trunc),
    def("abbrev", &[Ty::Int, Ty::Str], None, V2, |_, x| {
        let w = n(&x, 0);
        let v = s(&x, 1);
        if w < 4 {
            return ok_s(v);
        }
        ok_s(abbreviate_full(&v, 0, w).unwrap_or_default())
    }),
    def(
        "abbrevboth",
        &[Ty::Int, Ty::Int, Ty::Str],
        None,
        V2,
        |_, x| {
            let (l, r, v) = (n(&x, 0), n(&x, 1), s(&x, 2));
            if r < 4 || (l > 0 && r < 7) {
                return ok_s(v);
            }
            ok_s(abbreviate_full(&v, l, r).unwrap_or_default())
        },
    ),
    def("initials", &[Ty::Str], None, V2, |_, x| {
        ok_s(initials(&s(&x, 0)))
    }),
    def("wrap", &[Ty::Int, Ty::Str], None, V2, |_, x| {
        ok_s(wrap_custom(&s(&x, 1), n(&x, 0), "", false))
    }),
    def(
        "wrapWith",
        &[Ty::Int, Ty::Str, Ty::Str],
        None,
        V2,
        |_, x| ok_s(wrap_custom(&s(&x, 2), n(&x, 0), &s(&x, 1), true)),
    ),
    def("contains", &[Ty::Str, Ty::Str], None, V2, |_, x| {
        ok(Data::Bool(s(&x, 1).contains(s(&x, 0).as_str())))
    }),
    def("hasPrefix", &[Ty::Str, Ty::Str], None, V2, |_, x| {
        ok(Data::Bool(s(&x, 1).starts_with(s(&x, 0).as_str())))
    }),
    def("hasSuffix", &[Ty::Str, Ty::Str], None, V2, |_, x| {
        ok(Data::Bool(s(&x, 1).ends_with(s(&x, 0).as_str())))
    }),
    def("quote", &[], Some(Ty::Any), V2, |_, x| {
        let v: Vec<String> = x
            .iter()
            .map(RVal::data)
            .filter(|d| !matches!(d, Data::Nil))
            .map(|d| format::quote(&strval(&d)))
            .collect();
        ok_s(v.join(" "))
    }),
    def("squote", &[], Some(Ty::Any), V2, |_, x| {
        let v: Vec<String> = x
            .iter()
            .map(RVal::data)
            .filter(|d| !matches!(d, Data::Nil))
            .map(|d| format!("'{}'", format::fmt_v(&d)))
            .collect();
        ok_s(v.join(" "))
    }),
    def("cat", &[], Some(Ty::Any), V2, |_, x| {
        let v: Vec<String> = x
            .iter()
            .map(RVal::data)
            .filter(|d| !matches!(d, Data::Nil))
            .map(|d| format::fmt_v(&d))
            .collect();
        ok_s(v.join(" "))
    }),
    def("indent", &[Ty::Int, Ty::Str], None, V2, |_, x| {
        ok_s(indent(n(&x, 0), &s(&x, 1))?)
    }),
    def("nindent", &[Ty::Int, Ty::Str], None, V2, |_, x| {
        ok_s(format!("\n{}", indent(n(&x, 0), &s(&x, 1))?))
    }),
    def("replace", &[Ty::Str, Ty::Str, Ty::Str], None, V2, replace),
    def("plural", &[Ty::Str, Ty::Str, Ty::Int], None, V2, |_, x| {
        ok_s(if n(&x, 2) == 1 { s(&x, 0) } else { s(&x, 1) })
    }),
    def("snakecase", &[Ty::Str], None, V2, |_, x| {
        ok_s(words_case(&s(&x, 0), '_'))
    }),
    def("kebabcase", &[Ty::Str], None, V2, |_, x| {
        ok_s(words_case(&s(&x, 0), '-'))
    }),
    def("camelcase", &[Ty::Str], None, V2, |_, x| {
        ok_s(camel_case(&s(&x, 0)))
    }),
    def("swapcase", &[Ty::Str], None, V2, |_, x| {
        ok_s(map_chars(&s(&x, 0), |c| {
            if c.is_uppercase() {
                lower_char(c)
            } else if c.is_lowercase() {
                upper_char(c)
            } else {
                c
            }
        }))
    }),
    def("shuffle", &[Ty::Str], None, V2, |_, x| {
        let mut v: Vec<char> = s(&x, 0).chars().collect();
        v.shuffle(&mut rand::rng());
        ok_s(v.into_iter().collect::<String>())
    }),
    def("randAlphaNum", &[Ty::Int], None, V2, |_, x| {
        random_from(
            n(&x, 0),
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        )
    }),
    def("randAlpha", &[Ty::Int], None, V2, |_, x| {
        random_from(
            n(&x, 0),
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        )
    }),
    def("randNumeric", &[Ty::Int], None, V2, |_, x| {
        random_from(n(&x, 0), b"0123456789")
    }),
    def("randAscii", &[Ty::Int], None, V2, |_, x| {
        let chars: Vec<u8> = (32u8..=126).collect();
        random_from(n(&x, 0), &chars)
    }),
    def("split", &[Ty::Str, Ty::Str], None, V2, |_, x| {
        ok(parts_map(go_split(&s(&x, 1), &s(&x, 0), -1)))
    }),
    def("splitn", &[Ty::Str, Ty::Int, Ty::Str], None, V2, |_, x| {
        ok(parts_map(go_split(&s(&x, 2), &s(&x, 0), n(&x, 1))))
    }),
    def("splitList", &[Ty::Str, Ty::Str], None, V2, |_, x| {
        ok(Data::strings(go_split(&s(&x, 1), &s(&x, 0), -1)))
    }),
    def("join", &[Ty::Str, Ty::Any], None, V2, |_, x| {
        ok_s(strslice(&a(&x, 1)).join(&s(&x, 0)))
    }),
    def("sortAlpha", &[Ty::Any], None, V2, |_, x| {
        let v = a(&x, 0);
        let mut l = match v {
            Data::List(_) => strslice(&v),
            other => vec![strval(&other)],
        };
        l.sort();
        ok(Data::strings(l))
    }),
    def("toString", &[Ty::Any], None, V2, |_, x| {
        ok_s(strval(&a(&x, 0)))
    }),
    def("toStrings", &[Ty::Any], None, V2, |_, x| {
        ok(Data::strings(strslice(&a(&x, 0))))
    }),
];

fn trim_all(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let cut = s(&x, 0);
    ok_s(s(&x, 1).trim_matches(|c| cut.contains(c)))
}

/// Go's simple (1:1) upper-case mapping.
pub(crate) fn upper_char(c: char) -> char {
    let mut u = c.to_uppercase();
    match (u.next(), u.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

/// Go's simple (1:1) lower-case mapping.
pub(crate) fn lower_char(c: char) -> char {
    let mut l = c.to_lowercase();
    match (l.next(), l.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

fn map_chars(s: &str, f: impl Fn(char) -> char) -> String {
    s.chars().map(f).collect()
}

/// Go's deprecated `strings.Title`.
fn title(s: &str) -> String {
    let is_sep = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else if c.is_alphanumeric() {
            false
        } else {
            c.is_whitespace()
        }
    };
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let r = if is_sep(prev) { upper_char(c) } else { c };
            prev = c;
            r
        })
        .collect()
}

/// goutils `Uncapitalize`: lower-cases the first letter of each space-separated word.
fn untitle(s: &str) -> String {
    let mut next = true;
    s.chars()
        .map(|c| {
            if c.is_whitespace() {
                next = true;
                c
            } else if next {
                next = false;
                lower_char(c)
            } else {
                c
            }
        })
        .collect()
}

/// goutils `Initials`: first byte after whitespace (bytes read as Latin-1, as Go does).
fn initials(s: &str) -> String {
    let mut out = String::new();
    let mut gap = true;
    for b in s.bytes() {
        let c = char::from(b);
        if c.is_whitespace() {
            gap = true;
        } else if gap {
            out.push(c);
            gap = false;
        }
    }
    out
}

fn repeat(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let count = n(&x, 0);
    let v = s(&x, 1);
    if count < 0 {
        return Err("strings: negative Repeat count".into());
    }
    check_size(count as u128 * v.len() as u128, "repeat")?;
    ok_s(v.repeat(count as usize))
}

/// `s[start:end]` on bytes with Go's panic message on bad bounds.
pub(crate) fn byte_slice(s: &str, start: i64, end: i64) -> Result<String, String> {
    let len = s.len() as i64;
    if end < 0 || end > len {
        return Err(format!(
            "runtime error: slice bounds out of range [:{end}] with length {len}"
        ));
    }
    if start < 0 || start > end {
        return Err(format!(
            "runtime error: slice bounds out of range [{start}:{end}]"
        ));
    }
    Ok(String::from_utf8_lossy(&s.as_bytes()[start as usize..end as usize]).into_owned())
}

fn substr(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let (start, end, v) = (n(&x, 0), n(&x, 1), s(&x, 2));
    let len = v.len() as i64;
    if start < 0 {
        return ok_s(byte_slice(&v, 0, end)?);
    }
    if end < 0 || end > len {
        return ok_s(byte_slice(&v, start, len)?);
    }
    ok_s(byte_slice(&v, start, end)?)
}

/// Sprig v2.22's `trunc`: a negative length is an error (v3 counts from the end).
fn trunc(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let (c, v) = (n(&x, 0), s(&x, 1));
    if v.len() as i64 <= c {
        return ok_s(v);
    }
    ok_s(byte_slice(&v, 0, c)?)
}

/// goutils `AbbreviateFull` (byte based).
fn abbreviate_full(s: &str, offset: i64, max_width: i64) -> Option<String> {
    if s.is_empty() {
        return Some(String::new());
    }
    if max_width < 4 {
        return None;
    }
    let len = s.len() as i64;
    if len <= max_width {
        return Some(s.to_string());
    }
    let mut offset = offset.min(len);
    if len - offset < max_width - 3 {
        offset = len - (max_width - 3);
    }
    let marker = "...";
    if offset <= 4 {
        return Some(format!("{}{marker}", byte_slice(s, 0, max_width - 3).ok()?));
    }
    if max_width < 7 {
        return None;
    }
    if offset + max_width - 3 < len {
        let rest = byte_slice(s, offset, len).ok()?;
        return Some(format!(
            "{marker}{}",
            abbreviate_full(&rest, 0, max_width - 3)?
        ));
    }
    Some(format!(
        "{marker}{}",
        byte_slice(s, len - (max_width - 3), len).ok()?
    ))
}

/// goutils `WrapCustom` (byte based).
fn wrap_custom(s: &str, wrap_len: i64, newline: &str, wrap_long: bool) -> String {
    if s.is_empty() {
        return String::new();
    }
    let nl = if newline.is_empty() { "\n" } else { newline };
    let wl = wrap_len.max(1) as usize;
    let b = s.as_bytes();
    let len = b.len();
    let mut offset = 0usize;
    let mut out: Vec<u8> = Vec::with_capacity(len + len / wl * nl.len());
    while len - offset > wl {
        if b[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = wl + offset + 1;
        let space = b[offset..end].iter().rposition(|c| *c == b' ');
        if let Some(sp) = space {
            out.extend_from_slice(&b[offset..offset + sp]);
            out.extend_from_slice(nl.as_bytes());
            offset += sp + 1;
        } else if wrap_long {
            out.extend_from_slice(&b[offset..wl + offset]);
            out.extend_from_slice(nl.as_bytes());
            offset += wl;
        } else {
            let end = wl + offset;
            match b[end..].iter().position(|c| *c == b' ') {
                None => {
                    out.extend_from_slice(&b[offset..]);
                    offset = len;
                }
                Some(i) => {
                    out.extend_from_slice(&b[offset..end + i]);
                    out.extend_from_slice(nl.as_bytes());
                    offset = end + i + 1;
                }
            }
        }
    }
    out.extend_from_slice(&b[offset.min(len)..]);
    String::from_utf8_lossy(&out).into_owned()
}

fn indent(spaces: i64, v: &str) -> Result<String, String> {
    if spaces < 0 {
        return Err("strings: negative Repeat count".into());
    }
    let lines = v.matches('\n').count() as u128 + 1;
    check_size(spaces as u128 * lines + v.len() as u128, "indent")?;
    let pad = " ".repeat(spaces as usize);
    Ok(format!("{pad}{}", v.replace('\n', &format!("\n{pad}"))))
}

fn replace(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let (old, new, src) = (s(&x, 0), s(&x, 1), s(&x, 2));
    if old.is_empty() {
        // Go inserts `new` before every rune and at the end.
        check_size(
            (src.chars().count() as u128 + 1) * new.len() as u128 + src.len() as u128,
            "replace",
        )?;
        let mut out = String::new();
        for c in src.chars() {
            out.push_str(&new);
            out.push(c);
        }
        out.push_str(&new);
        return ok_s(out);
    }
    check_size(
        src.matches(old.as_str()).count() as u128 * new.len() as u128 + src.len() as u128,
        "replace",
    )?;
    ok_s(src.replace(old.as_str(), &new))
}

fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || c.is_whitespace()
}

/// xstrings `ToCamelCase`: connectors removed, the following letter upper-cased.
fn camel_case(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    let mut r0 = None;
    for c in chars.by_ref() {
        if !is_connector(c) {
            r0 = Some(upper_char(c));
            break;
        }
        out.push(c);
    }
    let Some(mut r0) = r0 else {
        return out;
    };
    for c in chars {
        let r1 = r0;
        r0 = c;
        if is_connector(r0) && is_connector(r1) {
            out.push(r1);
            continue;
        }
        if is_connector(r1) {
            r0 = upper_char(r0);
        } else {
            out.push(r1);
        }
    }
    out.push(r0);
    out
}

/// Snake/kebab case: words split at connectors, punctuation and case changes
/// (`HTTPServer` → `http_server`), lower-cased and joined by `sep`.
fn words_case(s: &str, sep: char) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if c.is_uppercase() && !cur.is_empty() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || (prev.is_uppercase() && next_lower) {
                words.push(std::mem::take(&mut cur));
            }
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words.join(&sep.to_string())
}

fn random_from(count: i64, alphabet: &[u8]) -> Result<RVal, String> {
    if count <= 0 {
        return ok_s("");
    }
    check_size(count as u128, "random string")?;
    let mut rng = rand::rng();
    let s: String = (0..count)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect();
    ok_s(s)
}

/// Go's `strings.SplitN(s, sep, n)`.
pub(crate) fn go_split(s: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        let chars: Vec<String> = s.chars().map(String::from).collect();
        if n > 0 && (n as usize) < chars.len() {
            let mut v: Vec<String> = chars[..n as usize - 1].to_vec();
            let skip: usize = v.iter().map(String::len).sum();
            v.push(s[skip..].to_string());
            return v;
        }
        return chars;
    }
    if n < 0 {
        return s.split(sep).map(str::to_string).collect();
    }
    s.splitn(n as usize, sep).map(str::to_string).collect()
}

fn parts_map(parts: Vec<String>) -> Data {
    let m: BTreeMap<String, Data> = parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| (format!("_{i}"), Data::str(p)))
        .collect();
    Data::map(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        assert_eq!(words_case("FirstName", '_'), "first_name");
        assert_eq!(words_case("HTTPServer", '_'), "http_server");
        assert_eq!(words_case("some words here", '-'), "some-words-here");
        assert_eq!(camel_case("http_server"), "HttpServer");
        assert_eq!(camel_case("_complex__case_"), "_Complex_Case_");
        assert_eq!(camel_case("some words"), "SomeWords");
        assert_eq!(title("hello wORLD-x"), "Hello WORLD-X");
        assert_eq!(untitle("Hello World"), "hello world");
        assert_eq!(initials("Hello World"), "HW");
    }

    #[test]
    fn wrapping() {
        assert_eq!(wrap_custom("Hello World", 5, "", false), "Hello\nWorld");
        assert_eq!(wrap_custom("abcdefghij", 3, "\n", true), "abc\ndef\nghi\nj");
        assert_eq!(
            abbreviate_full("Now is the time", 0, 8).as_deref(),
            Some("Now i...")
        );
        assert_eq!(go_split("a,b,c", ",", 2), vec!["a", "b,c"]);
    }
}
