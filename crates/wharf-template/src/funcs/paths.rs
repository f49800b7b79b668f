//! Path functions (Go's `path` and, on Linux, `path/filepath`) and the
//! environment functions `env`/`expandenv`, which read only [`Options::env`].
//!
//! [`Options::env`]: crate::Options::env

use super::{Ctx, FuncDef, Since, Ty, def, ok, ok_s, s};
use crate::data::Data;

const V2: Since = Since::V2;
const V3: Since = Since::V3;

pub(crate) const FUNCS: &[FuncDef] = &[
    def("base", &[Ty::Str], None, V2, |_, x| ok_s(base(&s(&x, 0)))),
    def("dir", &[Ty::Str], None, V2, |_, x| ok_s(dir(&s(&x, 0)))),
    def("clean", &[Ty::Str], None, V2, |_, x| ok_s(clean(&s(&x, 0)))),
    def("ext", &[Ty::Str], None, V2, |_, x| ok_s(ext(&s(&x, 0)))),
    def("isAbs", &[Ty::Str], None, V2, |_, x| {
        ok(Data::Bool(s(&x, 0).starts_with('/')))
    }),
    def("osBase", &[Ty::Str], None, V3, |_, x| ok_s(base(&s(&x, 0)))),
    def("osDir", &[Ty::Str], None, V3, |_, x| ok_s(dir(&s(&x, 0)))),
    def("osClean", &[Ty::Str], None, V3, |_, x| {
        ok_s(clean(&s(&x, 0)))
    }),
    def("osExt", &[Ty::Str], None, V3, |_, x| ok_s(ext(&s(&x, 0)))),
    def("osIsAbs", &[Ty::Str], None, V3, |_, x| {
        ok(Data::Bool(s(&x, 0).starts_with('/')))
    }),
    def("env", &[Ty::Str], None, V2, |c, x| {
        ok_s(c.opts.env.get(&s(&x, 0)).cloned().unwrap_or_default())
    }),
    def("expandenv", &[Ty::Str], None, V2, |c, x| {
        ok_s(expand_env(c, &s(&x, 0)))
    }),
];

/// Go's `path.Clean`.
pub(crate) fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `path.Base`.
pub(crate) fn base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

/// Go's `path.Dir`.
pub(crate) fn dir(p: &str) -> String {
    let i = p.rfind('/').map_or(0, |i| i + 1);
    clean(&p[..i])
}

/// Go's `path.Ext`.
pub(crate) fn ext(p: &str) -> String {
    for (i, c) in p.char_indices().rev() {
        match c {
            '/' => break,
            '.' => return p[i..].to_string(),
            _ => {}
        }
    }
    String::new()
}

fn is_special(c: u8) -> bool {
    matches!(
        c,
        b'*' | b'#' | b'$' | b'@' | b'!' | b'?' | b'-' | b'0'..=b'9'
    )
}

/// Go's `os.ExpandEnv` over the options' environment.
fn expand_env(c: &Ctx<'_>, s: &str) -> String {
    let b = s.as_bytes();
    let lookup = |name: &str| c.opts.env.get(name).cloned().unwrap_or_default();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut j = 0;
    while j < b.len() {
        if b[j] == b'$' && j + 1 < b.len() {
            out.push_str(&s[i..j]);
            let rest = &s[j + 1..];
            let rb = rest.as_bytes();
            let (name, w): (&str, usize) = if rb[0] == b'{' {
                if rb.len() > 2 && is_special(rb[1]) && rb[2] == b'}' {
                    (&rest[1..2], 3)
                } else {
                    match rest[1..].find('}') {
                        Some(0) => ("", 2),
                        Some(k) => (&rest[1..1 + k], k + 2),
                        None => ("", 1),
                    }
                }
            } else if is_special(rb[0]) {
                (&rest[0..1], 1)
            } else {
                let k = rb
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                    .count();
                (&rest[..k], k)
            };
            if name.is_empty() && w > 0 {
                // invalid syntax: eat the characters
            } else if name.is_empty() {
                out.push('$');
            } else {
                out.push_str(&lookup(name));
            }
            j += w;
            i = j + 1;
        }
        j += 1;
    }
    out.push_str(&s[i.min(s.len())..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(clean("a//b/../c/."), "a/c");
        assert_eq!(clean("/../x"), "/x");
        assert_eq!(clean(""), ".");
        assert_eq!(base("/a/b.txt"), "b.txt");
        assert_eq!(base("/"), "/");
        assert_eq!(dir("/a/b"), "/a");
        assert_eq!(dir("b"), ".");
        assert_eq!(ext("x/a.tar.gz"), ".gz");
        assert_eq!(ext("a.d/b"), "");
    }

    #[test]
    fn expands() {
        let mut o = crate::Options::default();
        o.env.insert("A".into(), "1".into());
        let c = Ctx::new(&o);
        assert_eq!(expand_env(&c, "x$A-${A}-$B-$-${}$"), "x1-1--$");
    }
}
