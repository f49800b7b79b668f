//! `semver` and `semverCompare` with Masterminds/semver (v3) rules: loose
//! versions (`v1.2`), wildcards, `~`, `^`, hyphen ranges, `,` (and), `||` (or).
//! Pre-release identifiers are validated with the `semver` crate.

use std::cmp::Ordering;
use std::fmt;
use std::rc::Rc;

use super::{FuncDef, Since, Ty, def, ok, s};
use crate::data::Data;

pub(crate) const FUNCS: &[FuncDef] = &[
    def("semver", &[Ty::Str], None, Since::V2, |_, x| {
        ok(Data::Semver(Rc::new(SemVer::parse(&s(&x, 0))?)))
    }),
    def(
        "semverCompare",
        &[Ty::Str, Ty::Str],
        None,
        Since::V2,
        |_, x| {
            let c = Constraints::parse(&s(&x, 0))?;
            let v = SemVer::parse(&s(&x, 1))?;
            ok(Data::Bool(c.check(&v)))
        },
    ),
];

/// A parsed version (Masterminds' `*semver.Version`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SemVer {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
    pub build: String,
    pub original: String,
}

const INVALID: &str = "Invalid Semantic Version";

impl SemVer {
    /// Masterminds' loose `NewVersion`.
    pub(crate) fn parse(text: &str) -> Result<SemVer, String> {
        let t = text.strip_prefix('v').unwrap_or(text);
        let (rest, build) = match t.split_once('+') {
            Some((r, b)) => (r, b),
            None => (t, ""),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((c, p)) => (c, p),
            None => (rest, ""),
        };
        let nums: Vec<&str> = core.split('.').collect();
        if nums.is_empty() || nums.len() > 3 {
            return Err(INVALID.into());
        }
        let mut parts = [0u64; 3];
        for (i, n) in nums.iter().enumerate() {
            if n.is_empty() || !n.bytes().all(|c| c.is_ascii_digit()) {
                return Err(INVALID.into());
            }
            parts[i] = n.parse().map_err(|_| INVALID.to_string())?;
        }
        if !pre.is_empty() {
            semver::Prerelease::new(pre).map_err(|_| INVALID.to_string())?;
        }
        if rest.contains('-') && pre.is_empty() {
            return Err(INVALID.into());
        }
        if !build.is_empty() {
            semver::BuildMetadata::new(build).map_err(|_| INVALID.to_string())?;
        } else if t.contains('+') {
            return Err(INVALID.into());
        }
        Ok(SemVer {
            major: parts[0],
            minor: parts[1],
            patch: parts[2],
            pre: pre.into(),
            build: build.into(),
            original: text.into(),
        })
    }

    /// Precedence (build metadata ignored).
    pub(crate) fn compare(&self, o: &SemVer) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| compare_pre(&self.pre, &o.pre))
    }
}

fn compare_pre(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let (pa, pb) = (
        semver::Prerelease::new(a).ok(),
        semver::Prerelease::new(b).ok(),
    );
    match (pa, pb) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

impl fmt::Display for SemVer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.build.is_empty() {
            write!(f, "+{}", self.build)?;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Constraint {
    op: String,
    con: SemVer,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

impl Constraint {
    fn parse(op: &str, ver: &str) -> Result<Constraint, String> {
        let bad = || format!("improper constraint: {op}{ver}");
        let v = ver.strip_prefix('v').unwrap_or(ver);
        let (core, tail) = match v.find(['-', '+']) {
            Some(i) => (&v[..i], &v[i..]),
            None => (v, ""),
        };
        let parts: Vec<&str> = core.split('.').collect();
        let part_ok =
            |p: &&str| is_x(p) || (!p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
        if parts.len() > 3 || (!core.is_empty() && !parts.iter().all(part_ok)) {
            return Err(bad());
        }
        let get = |i: usize| parts.get(i).copied().unwrap_or("");
        let (mut dirty, mut minor_dirty, mut patch_dirty) = (false, false, false);
        let text = if core.is_empty() || is_x(get(0)) {
            dirty = true;
            format!("0.0.0{tail}")
        } else if get(1).is_empty() || is_x(get(1)) {
            dirty = true;
            minor_dirty = true;
            format!("{}.0.0{tail}", get(0))
        } else if get(2).is_empty() || is_x(get(2)) {
            dirty = true;
            patch_dirty = true;
            format!("{}.{}.0{tail}", get(0), get(1))
        } else {
            v.to_string()
        };
        let con = SemVer::parse(&text).map_err(|_| bad())?;
        Ok(Constraint {
            op: op.to_string(),
            con,
            dirty,
            minor_dirty,
            patch_dirty,
        })
    }

    fn check(&self, v: &SemVer) -> bool {
        let c = &self.con;
        let pre_blocked = !v.pre.is_empty() && c.pre.is_empty();
        let cmp = v.compare(c);
        match self.op.as_str() {
            "" | "=" => {
                if self.dirty {
                    self.tilde(v)
                } else {
                    cmp == Ordering::Equal
                }
            }
            "!=" => {
                if self.dirty {
                    if pre_blocked {
                        return false;
                    }
                    if c.major != v.major {
                        return true;
                    }
                    if c.minor != v.minor && !self.minor_dirty {
                        return true;
                    } else if self.minor_dirty {
                        return false;
                    } else if c.patch != v.patch && !self.patch_dirty {
                        return true;
                    } else if self.patch_dirty {
                        if !v.pre.is_empty() || !c.pre.is_empty() {
                            return compare_pre(&v.pre, &c.pre) != Ordering::Equal;
                        }
                        return false;
                    }
                }
                cmp != Ordering::Equal
            }
            ">" => {
                if pre_blocked {
                    return false;
                }
                if !self.dirty {
                    return cmp == Ordering::Greater;
                }
                if v.major != c.major {
                    return v.major > c.major;
                }
                if self.minor_dirty {
                    return false;
                }
                if self.patch_dirty {
                    return v.minor > c.minor;
                }
                cmp == Ordering::Greater
            }
            "<" => !pre_blocked && cmp == Ordering::Less,
            ">=" | "=>" => !pre_blocked && cmp != Ordering::Less,
            "<=" | "=<" => {
                if pre_blocked {
                    return false;
                }
                if !self.dirty {
                    return cmp != Ordering::Greater;
                }
                if v.major > c.major {
                    return false;
                }
                !(v.major == c.major && v.minor > c.minor && !self.minor_dirty)
            }
            "~" | "~>" => self.tilde(v),
            "^" => {
                if pre_blocked || cmp == Ordering::Less {
                    return false;
                }
                if c.major > 0 || self.minor_dirty {
                    return v.major == c.major;
                }
                if v.major > 0 {
                    return false;
                }
                if c.minor > 0 || self.patch_dirty {
                    return v.minor == c.minor;
                }
                c.patch == v.patch
            }
            _ => false,
        }
    }

    fn tilde(&self, v: &SemVer) -> bool {
        let c = &self.con;
        if !v.pre.is_empty() && c.pre.is_empty() {
            return false;
        }
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        if v.major != c.major {
            return false;
        }
        v.minor == c.minor || self.minor_dirty
    }
}

/// `a, b || c` → OR of AND groups.
struct Constraints(Vec<Vec<Constraint>>);

const OPS: [&str; 12] = [
    "!=", ">=", "=>", "<=", "=<", "~>", ">", "<", "=", "~", "^", "",
];

impl Constraints {
    fn parse(text: &str) -> Result<Constraints, String> {
        let mut groups = Vec::new();
        for g in text.split("||") {
            let toks: Vec<&str> = g
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|t| !t.is_empty())
                .collect();
            // Join bare operators with their version: ">= 1.2".
            let mut words: Vec<String> = Vec::new();
            let mut pending = String::new();
            for t in toks {
                if t != "-" && OPS[..11].contains(&t) {
                    pending.push_str(t);
                } else {
                    words.push(format!("{pending}{t}"));
                    pending.clear();
                }
            }
            if !pending.is_empty() {
                return Err(format!("improper constraint: {}", text.trim()));
            }
            let mut group = Vec::new();
            let mut i = 0;
            while i < words.len() {
                if i + 2 < words.len() && words[i + 1] == "-" {
                    group.push(Constraint::parse(">=", &words[i])?);
                    group.push(Constraint::parse("<=", &words[i + 2])?);
                    i += 3;
                    continue;
                }
                let w = &words[i];
                let op = OPS
                    .iter()
                    .find(|op| w.starts_with(**op))
                    .copied()
                    .unwrap_or("");
                group.push(Constraint::parse(op, &w[op.len()..])?);
                i += 1;
            }
            if group.is_empty() {
                group.push(Constraint::parse("", "*")?);
            }
            groups.push(group);
        }
        Ok(Constraints(groups))
    }

    fn check(&self, v: &SemVer) -> bool {
        self.0.iter().any(|g| g.iter().all(|c| c.check(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(c: &str, v: &str) -> bool {
        Constraints::parse(c)
            .expect("constraint")
            .check(&SemVer::parse(v).expect("version"))
    }

    #[test]
    fn constraints() {
        assert!(m(">=1.2.3", "1.2.3"));
        assert!(!m(">=1.2.3", "1.2.2"));
        assert!(m("~1.2", "1.2.9"));
        assert!(!m("~1.2", "1.3.0"));
        assert!(m("^1", "1.9.0"));
        assert!(!m("^1", "2.0.0"));
        assert!(m("^0.2.3", "0.2.9"));
        assert!(!m("^0.2.3", "0.3.0"));
        assert!(m("1.2.x", "1.2.7"));
        assert!(m(">=1, <2", "1.5.0"));
        assert!(!m(">1, <2", "1.5.0"));
        assert!(!m(">=1, <2", "0.9.0"));
        assert!(m("<1 || >=3", "3.1.0"));
        assert!(m("1.2 - 1.4.5", "1.4.5"));
        assert!(!m("1.2 - 1.4.5", "1.4.6"));
        assert!(!m(">=1.0.0", "1.2.0-beta"));
        assert!(m(">=1.2.0-alpha", "1.2.0-beta"));
        assert!(m("*", "7.0.0"));
        assert!(m(">= 1.2", "v1.3"));
    }

    #[test]
    fn versions() {
        assert_eq!(SemVer::parse("v1.2").expect("v").to_string(), "1.2.0");
        assert!(SemVer::parse("1.2.3.4").is_err());
        assert!(SemVer::parse("x").is_err());
        assert_eq!(
            SemVer::parse("1.0.0-rc.1")
                .expect("v")
                .compare(&SemVer::parse("1.0.0").expect("v")),
            Ordering::Less
        );
    }
}
