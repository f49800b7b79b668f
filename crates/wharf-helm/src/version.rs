//! Chart versions as helm checks them: Masterminds `semver.NewVersion`, which is
//! lenient (a `v` prefix, `1` and `1.2` for `1.0.0` and `1.2.0`, leading zeros in
//! the numbers), and the strict form (`semver.StrictNewVersion`) helm keeps when
//! it lists a repository's tags.

use crate::error::VersionError;

/// A version accepted by helm's lenient parser, with its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChartVersion {
    /// The major number.
    pub major: u64,
    /// The minor number (0 when absent).
    pub minor: u64,
    /// The patch number (0 when absent).
    pub patch: u64,
    /// The pre-release, without its `-` (empty when absent).
    pub pre: String,
    /// The build metadata, without its `+` (empty when absent).
    pub build: String,
}

impl ChartVersion {
    /// Parses `text` as helm does (`semver.NewVersion` with Masterminds' default
    /// coercion): `[v]MAJOR[.MINOR[.PATCH]][-PRERELEASE][+BUILD]`.
    ///
    /// ```
    /// use wharf_helm::ChartVersion;
    /// let v = ChartVersion::parse("v1.2").unwrap();
    /// assert_eq!((v.major, v.minor, v.patch), (1, 2, 0));
    /// assert!(ChartVersion::parse("1.2.3.4").is_err());
    /// assert!(ChartVersion::parse("1.0.0-01").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<ChartVersion, VersionError> {
        if text.is_empty() {
            return Err(VersionError::Empty);
        }
        let rest = text.strip_prefix('v').unwrap_or(text);
        let (major, mut rest) = number(rest).ok_or(VersionError::Syntax)?;
        let mut parts = [0u64; 2];
        for part in &mut parts {
            let Some(after_dot) = rest.strip_prefix('.') else {
                break;
            };
            let (n, after) = number(after_dot).ok_or(VersionError::Syntax)?;
            *part = n.parse().map_err(|_| VersionError::TooLarge)?;
            rest = after;
        }
        let major = major.parse().map_err(|_| VersionError::TooLarge)?;
        let (pre, build) = match rest.as_bytes().first() {
            None => ("", ""),
            Some(b'-') => match rest[1..].split_once('+') {
                Some((pre, build)) => (pre, build),
                None => (&rest[1..], ""),
            },
            Some(b'+') => ("", &rest[1..]),
            Some(_) => return Err(VersionError::Syntax),
        };
        let has_pre = rest.starts_with('-');
        let has_build = rest.contains('+');
        if (has_pre && !identifiers(pre)) || (has_build && !identifiers(build)) {
            return Err(VersionError::Syntax);
        }
        for id in pre.split('.').filter(|_| has_pre) {
            if id.len() > 1 && id.bytes().all(|b| b.is_ascii_digit()) && id.starts_with('0') {
                return Err(VersionError::LeadingZero(id.to_string()));
            }
        }
        Ok(ChartVersion {
            major,
            minor: parts[0],
            patch: parts[1],
            pre: pre.to_string(),
            build: build.to_string(),
        })
    }
}

/// A run of ASCII digits at the start of `s`, and what follows.
fn number(s: &str) -> Option<(&str, &str)> {
    let end = s.bytes().take_while(u8::is_ascii_digit).count();
    (end > 0).then(|| s.split_at(end))
}

/// Dot-separated, non-empty identifiers of `[0-9A-Za-z-]`.
fn identifiers(s: &str) -> bool {
    s.split('.')
        .all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// Whether helm's strict parser (`semver.StrictNewVersion`) accepts `text`:
/// exactly `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`, no `v`, no leading zeros.
pub fn is_strict_version(text: &str) -> bool {
    semver::Version::parse(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_forms_helm_accepts() {
        for ok in [
            "1",
            "1.2",
            "1.2.3",
            "v1.2.3",
            "01.02.03",
            "1.0.0-alpha.1",
            "1.0.0-alpha-beta",
            "1.0.0+build.5",
            "1.0.0-rc.1+sha.abc",
            "1-2",
            "1.2+x",
        ] {
            assert!(ChartVersion::parse(ok).is_ok(), "{ok} should parse");
        }
        let v = ChartVersion::parse("v2.5-rc.1+b7").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            v,
            ChartVersion {
                major: 2,
                minor: 5,
                patch: 0,
                pre: "rc.1".into(),
                build: "b7".into()
            }
        );
    }

    #[test]
    fn forms_helm_refuses() {
        assert_eq!(ChartVersion::parse(""), Err(VersionError::Empty));
        for bad in [
            "1.2.3.4",
            "1.x",
            "V1",
            "1.0.0-",
            "1.0.0+",
            "1.0.0-a..b",
            "1.0.0_1",
            " 1.0.0",
            "a",
        ] {
            assert_eq!(ChartVersion::parse(bad), Err(VersionError::Syntax), "{bad}");
        }
        assert_eq!(
            ChartVersion::parse("1.0.0-01"),
            Err(VersionError::LeadingZero("01".into()))
        );
        assert_eq!(
            ChartVersion::parse("18446744073709551616"),
            Err(VersionError::TooLarge)
        );
    }

    #[test]
    fn strict_versions_are_what_tag_listing_keeps() {
        assert!(is_strict_version("1.2.3"));
        assert!(is_strict_version("1.2.3-rc.1+build.5"));
        assert!(!is_strict_version("v1.2.3"));
        assert!(!is_strict_version("1.2"));
        assert!(!is_strict_version("01.2.3"));
    }
}
