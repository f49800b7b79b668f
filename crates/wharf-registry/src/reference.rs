//! Image references, parsed with Docker's rules (`distribution/reference`'s
//! `ParseNormalizedNamed`).
//!
//! - `busybox` is `docker.io/library/busybox:latest`;
//! - the first `/`-separated component is a registry host when it contains `.` or `:`,
//!   is `localhost`, or has an upper-case letter; otherwise the registry is `docker.io`;
//! - `index.docker.io` is written `docker.io`, and a one-component name on Docker Hub
//!   gets the `library/` prefix;
//! - a reference without tag or digest gets the tag `latest`; one with a digest keeps
//!   no tag unless it names one.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;

/// Docker Hub's canonical registry name.
pub const DOCKER_HUB: &str = "docker.io";
const LEGACY_DOCKER_HUB: &str = "index.docker.io";
const DEFAULT_TAG: &str = "latest";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// Registry host, with port when one was given: `docker.io`, `localhost:5000`.
    pub registry: String,
    /// Repository path inside the registry: `library/busybox`, `a/b`.
    pub repository: String,
    /// The tag, if any (`latest` when neither tag nor digest was written).
    pub tag: Option<String>,
    /// The digest, if any: `sha256:<64 hex>`.
    pub digest: Option<Digest>,
}

/// Why a reference was refused. The message always names the reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {reference:?}: {reason}")]
pub struct ReferenceError {
    /// The reference as written.
    pub reference: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ImageRef {
    /// Parses `reference` with Docker's normalization rules.
    pub fn parse(reference: &str) -> Result<ImageRef, ReferenceError> {
        let fail = |reason: String| ReferenceError {
            reference: reference.to_string(),
            reason,
        };
        if reference.is_empty() {
            return Err(fail("the reference is empty".into()));
        }
        if reference.len() == 64 && is_lower_hex(reference) {
            return Err(fail(
                "a 64-character hexadecimal string is an image ID, not a repository name".into(),
            ));
        }
        let (name_tag, digest) = match reference.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (reference, None),
        };
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => (
                &name_tag[..last_slash + i],
                Some(&name_tag[last_slash + i + 1..]),
            ),
            None => (name_tag, None),
        };
        let (registry, repository) = split_registry(name);
        if !registry_is_valid(&registry) {
            return Err(fail(format!("{registry:?} is not a valid registry host")));
        }
        if repository.to_ascii_lowercase() != repository {
            return Err(fail(format!(
                "repository name {repository:?} must be lowercase"
            )));
        }
        if let Err(reason) = check_repository(&repository) {
            return Err(fail(reason));
        }
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(fail(format!(
                "the name is longer than {MAX_NAME_LEN} characters"
            )));
        }
        if let Some(tag) = tag
            && !tag_is_valid(tag)
        {
            return Err(fail(format!(
                "tag {tag:?} must match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}"
            )));
        }
        let digest = match digest {
            Some(text) => Some(Digest::parse(text).map_err(|e| fail(e.to_string()))?),
            None => None,
        };
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (None, Some(_)) => None,
        };
        Ok(ImageRef {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// What to ask the registry's manifest endpoint for: the digest when there is one,
    /// else the tag.
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_ref()
            .map(Digest::as_str)
            .or(self.tag.as_deref())
            .unwrap_or(DEFAULT_TAG)
    }

    /// The same repository with another tag (and no digest).
    pub fn with_tag(&self, tag: &str) -> ImageRef {
        ImageRef {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        }
    }

    /// The same repository pinned to `digest` (the tag is kept for display).
    pub fn with_digest(&self, digest: Digest) -> ImageRef {
        ImageRef {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: self.tag.clone(),
            digest: Some(digest),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
    }
}

/// The registry host an image name refers to, by Docker's rules, without validating
/// the rest: `busybox` → `docker.io`, `localhost:5000/a:1` → `localhost:5000`.
pub fn registry_host(image: &str) -> String {
    let name = image.split_once('@').map_or(image, |(n, _)| n);
    split_registry(name).0
}

/// Splits a name (no digest; a tag may follow) into registry and repository, as
/// `splitDockerDomain` does.
fn split_registry(name: &str) -> (String, String) {
    let (mut registry, mut repository) = match name.split_once('/') {
        Some((first, rest)) if is_registry_component(first) => {
            (first.to_string(), rest.to_string())
        }
        _ => (DOCKER_HUB.to_string(), name.to_string()),
    };
    if registry == LEGACY_DOCKER_HUB {
        registry = DOCKER_HUB.to_string();
    }
    if registry == DOCKER_HUB && !repository.contains('/') {
        repository = format!("library/{repository}");
    }
    (registry, repository)
}

fn is_registry_component(first: &str) -> bool {
    first.contains(['.', ':'])
        || first == "localhost"
        || first.chars().any(|c| c.is_ascii_uppercase())
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `host[:port]` where host is a DNS name, an IPv4 address, or a bracketed IPv6 address.
fn registry_is_valid(registry: &str) -> bool {
    let (host_ok, port) = if let Some(rest) = registry.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        let ok = !v6.is_empty()
            && v6
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return false,
            },
        };
        (ok, port)
    } else {
        let (host, port) = match registry.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (registry, None),
        };
        (dns_name_is_valid(host), port)
    };
    host_ok && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn dns_name_is_valid(host: &str) -> bool {
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Path components: `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`, joined by `/`.
pub(crate) fn check_repository(repository: &str) -> Result<(), String> {
    if repository.is_empty() {
        return Err("the repository name is empty".into());
    }
    for component in repository.split('/') {
        if !path_component_is_valid(component) {
            return Err(format!(
                "repository path component {component:?} must be lowercase letters and digits, \
                 separated by '.', '_', '__' or dashes"
            ));
        }
    }
    Ok(())
}

fn path_component_is_valid(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    let run = |i: &mut usize| {
        let start = *i;
        while *i < bytes.len() && alnum(bytes[*i]) {
            *i += 1;
        }
        *i > start
    };
    if !run(&mut i) {
        return false;
    }
    while i < bytes.len() {
        match bytes[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < bytes.len() && bytes[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < bytes.len() && bytes[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if !run(&mut i) {
            return false;
        }
    }
    true
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub(crate) fn tag_is_valid(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    !bytes.is_empty()
        && bytes.len() <= MAX_TAG_LEN
        && word(bytes[0])
        && bytes[1..]
            .iter()
            .all(|&b| word(b) || b == b'.' || b == b'-')
}

/// `algorithm:encoded` per the OCI digest grammar; sha256 and sha512 must have their
/// exact lengths in lower-case hex.
pub(crate) fn check_digest(digest: &str) -> Result<(), String> {
    let bad = || format!("digest {digest:?} is not of the form sha256:<64 hex digits>");
    let (algorithm, encoded) = digest.split_once(':').ok_or_else(bad)?;
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.split(['+', '.', '_', '-']).all(|part| {
            part.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if !algorithm_ok {
        return Err(bad());
    }
    let expected_len = match algorithm {
        "sha256" => Some(64),
        "sha512" => Some(128),
        _ => None,
    };
    let encoded_ok = match expected_len {
        Some(len) => encoded.len() == len && is_lower_hex(encoded),
        None => {
            encoded.len() >= 32
                && encoded
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
        }
    };
    if encoded_ok { Ok(()) } else { Err(bad()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parsed(s: &str) -> (String, String, Option<String>, Option<String>) {
        let r = ImageRef::parse(s).unwrap_or_else(|e| panic!("{e}"));
        (
            r.registry,
            r.repository,
            r.tag,
            r.digest.map(|d| d.to_string()),
        )
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn docker_hub_names_are_normalized() {
        assert_eq!(
            parsed("busybox"),
            (
                "docker.io".into(),
                "library/busybox".into(),
                some("latest"),
                None
            )
        );
        assert_eq!(
            parsed("user/app:1.0"),
            ("docker.io".into(), "user/app".into(), some("1.0"), None)
        );
        assert_eq!(
            parsed("index.docker.io/busybox:1"),
            (
                "docker.io".into(),
                "library/busybox".into(),
                some("1"),
                None
            )
        );
        assert_eq!(
            parsed("docker.io/library/busybox").0,
            "docker.io".to_string()
        );
        assert_eq!(
            ImageRef::parse("busybox").map(|r| r.to_string()),
            Ok("docker.io/library/busybox:latest".to_string())
        );
    }

    #[test]
    fn registry_hosts_are_recognized() {
        assert_eq!(
            parsed("localhost:5000/a/b:1"),
            ("localhost:5000".into(), "a/b".into(), some("1"), None)
        );
        assert_eq!(parsed("localhost/a").0, "localhost".to_string());
        assert_eq!(
            parsed("myreg.azurecr.io/team/app").0,
            "myreg.azurecr.io".to_string()
        );
        assert_eq!(parsed("127.0.0.1:5000/x").0, "127.0.0.1:5000".to_string());
        assert_eq!(parsed("[::1]:5000/x:2").0, "[::1]:5000".to_string());
        assert_eq!(parsed("Registry/x").0, "Registry".to_string());
        // No '.' or ':' and not localhost: a Docker Hub namespace.
        assert_eq!(
            parsed("team/app"),
            ("docker.io".into(), "team/app".into(), some("latest"), None)
        );
    }

    #[test]
    fn digests_and_tags() {
        let digest = format!("sha256:{HEX}");
        assert_eq!(
            parsed(&format!("a.b.c/x@{digest}")),
            ("a.b.c".into(), "x".into(), None, Some(digest.clone()))
        );
        assert_eq!(
            parsed(&format!("a.b.c/x:v1@{digest}")),
            ("a.b.c".into(), "x".into(), some("v1"), Some(digest.clone()))
        );
        let r = ImageRef::parse(&format!("a.b.c/x:v1@{digest}")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.to_string(), format!("a.b.c/x:v1@{digest}"));
        assert_eq!(r.manifest_reference(), digest);
        assert_eq!(r.name(), "a.b.c/x");
    }

    #[test]
    fn invalid_references_are_named_in_the_error() {
        for bad in [
            "",
            "Busybox",
            "docker.io/Library/x",
            "x:bad+tag",
            "x@sha256:abc",
            "a..b/x",
            "reg:port/x",
            "x/",
            "x//y",
            "-x",
            HEX,
            "x:",
        ] {
            let err = ImageRef::parse(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad:?} parsed"));
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn path_components_follow_the_grammar() {
        for ok in ["a", "a.b", "a_b", "a__b", "a--b", "a-b-c", "0"] {
            assert!(path_component_is_valid(ok), "{ok}");
        }
        for bad in ["", "a___b", "a.", ".a", "a..b", "_a", "a-", "A"] {
            assert!(!path_component_is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn registry_host_of_names() {
        assert_eq!(registry_host("busybox"), "docker.io");
        assert_eq!(registry_host("localhost:5000/a/b:1"), "localhost:5000");
        assert_eq!(registry_host("index.docker.io/x/y"), "docker.io");
        assert_eq!(registry_host(&format!("a.b.c/x@sha256:{HEX}")), "a.b.c");
        assert_eq!(registry_host("team/app:1"), "docker.io");
    }
}
