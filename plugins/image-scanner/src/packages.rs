//! The package inventory: dpkg's status database (`var/lib/dpkg/status`, and the
//! per-package files of distroless images in `var/lib/dpkg/status.d/`) and apk's
//! installed database (`lib/apk/db/installed`); and version order as dpkg has it.

use std::cmp::Ordering;

/// An installed package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    /// OSV ecosystem: `Debian` or `Alpine`.
    pub ecosystem: &'static str,
    /// Package name.
    pub name: String,
    /// Installed version.
    pub version: String,
    /// The database it was listed in.
    pub source: String,
}

/// Packages of a dpkg status file (only those whose status is `installed`).
pub fn parse_dpkg(text: &str, source: &str) -> Vec<Package> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let (mut name, mut version, mut installed) = (None, None, true);
        for line in stanza.lines() {
            if let Some(v) = line.strip_prefix("Package:") {
                name = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("Version:") {
                version = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("Status:") {
                installed = v.trim().ends_with(" installed");
            }
        }
        if let (Some(name), Some(version), true) = (name, version, installed) {
            out.push(Package {
                ecosystem: "Debian",
                name,
                version,
                source: source.to_string(),
            });
        }
    }
    out
}

/// Packages of apk's installed database (`P:` name, `V:` version).
pub fn parse_apk(text: &str, source: &str) -> Vec<Package> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let (mut name, mut version) = (None, None);
        for line in stanza.lines() {
            if let Some(v) = line.strip_prefix("P:") {
                name = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("V:") {
                version = Some(v.trim().to_string());
            }
        }
        if let (Some(name), Some(version)) = (name, version) {
            out.push(Package {
                ecosystem: "Alpine",
                name,
                version,
                source: source.to_string(),
            });
        }
    }
    out
}

/// Orders two versions as dpkg does (`epoch:upstream-revision`, `~` before
/// anything). apk versions (`1.36.1-r2`) order correctly under the same rules for
/// the forms Alpine uses.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ea, ra) = split_epoch(a);
    let (eb, rb) = split_epoch(b);
    ea.cmp(&eb).then_with(|| {
        let (ua, va) = split_revision(ra);
        let (ub, vb) = split_revision(rb);
        compare_part(ua, ub).then_with(|| compare_part(va, vb))
    })
}

fn split_epoch(v: &str) -> (u64, &str) {
    match v.split_once(':') {
        Some((e, rest)) if e.chars().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), rest),
        _ => (0, v),
    }
}

fn split_revision(v: &str) -> (&str, &str) {
    match v.rfind('-') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, ""),
    }
}

fn order(c: Option<char>) -> i32 {
    match c {
        None => 0,
        Some('~') => -1,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(c) => c as i32 + 256,
    }
}

fn compare_part(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while !a.is_empty() || !b.is_empty() {
        // The non-digit prefix, character by character.
        loop {
            let ca = a
                .first()
                .filter(|c| !c.is_ascii_digit())
                .map(|&c| c as char);
            let cb = b
                .first()
                .filter(|c| !c.is_ascii_digit())
                .map(|&c| c as char);
            if ca.is_none() && cb.is_none() {
                break;
            }
            let (oa, ob) = (order(ca), order(cb));
            if oa != ob {
                return oa.cmp(&ob);
            }
            if ca.is_some() {
                a = &a[1..];
            }
            if cb.is_some() {
                b = &b[1..];
            }
        }
        // Then the number.
        let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
        let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let na = trim_zeros(&a[..da]);
        let nb = trim_zeros(&b[..db]);
        let c = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
        if c != Ordering::Equal {
            return c;
        }
        a = &a[da..];
        b = &b[db..];
    }
    Ordering::Equal
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let z = d.iter().take_while(|&&c| c == b'0').count();
    &d[z..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_status_lists_installed_packages_only() {
        let status = "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9+deb12u4\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\nPackage: openssl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3.0.11-1~deb12u2\n";
        let p = parse_dpkg(status, "var/lib/dpkg/status");
        let names: Vec<_> = p
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            names,
            [("libc6", "2.36-9+deb12u4"), ("openssl", "3.0.11-1~deb12u2")]
        );
        assert_eq!(p[0].ecosystem, "Debian");
    }

    #[test]
    fn apk_installed_lists_names_and_versions() {
        let db = "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\n\nC:Q1def=\nP:busybox\nV:1.36.1-r5\n";
        let p = parse_apk(db, "lib/apk/db/installed");
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[1].name.as_str(), p[1].version.as_str()),
            ("busybox", "1.36.1-r5")
        );
        assert_eq!(p[1].ecosystem, "Alpine");
    }

    #[test]
    fn versions_order_as_dpkg_orders_them() {
        use Ordering::*;
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "1.1", Less),
            ("1.10", "1.9", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1:0.1", "2.0", Greater),
            ("3.0.11-1~deb12u2", "3.0.11-1", Less),
            ("2.36-9+deb12u4", "2.36-9+deb12u3", Greater),
            ("1.36.1-r5", "1.36.1-r10", Less),
            ("1.2a", "1.2", Greater),
            ("007", "7", Equal),
        ] {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
        }
    }
}
