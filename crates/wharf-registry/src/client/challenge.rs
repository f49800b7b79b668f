//! `WWW-Authenticate` challenges (RFC 7235), `Link` headers (RFC 8288) and token
//! scopes, as registries send and expect them.

use std::collections::BTreeSet;
use std::fmt;

/// One challenge: a scheme and its parameters (names lower-cased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// `bearer`, `basic` (lower-cased).
    pub scheme: String,
    /// `(name, value)` pairs, names lower-cased, values unquoted.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The value of parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses one `WWW-Authenticate` header value, which may hold several challenges
/// (`Basic realm="x", Bearer realm="y",service="z"`). Malformed parts are skipped.
pub(crate) fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let mut chars = header.char_indices().peekable();
    let bytes = header;
    loop {
        // Skip separators.
        while let Some(&(_, c)) = chars.peek() {
            if c == ',' || c.is_whitespace() {
                chars.next();
            } else {
                break;
            }
        }
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        // A token: a scheme, or a parameter name.
        let mut end = start;
        while let Some(&(i, c)) = chars.peek() {
            if c == '=' || c == ',' || c.is_whitespace() {
                break;
            }
            end = i + c.len_utf8();
            chars.next();
        }
        let token = &bytes[start..end];
        // Whitespace, then '=' means a parameter.
        let mut lookahead = chars.clone();
        while lookahead
            .peek()
            .is_some_and(|&(_, c)| c == ' ' || c == '\t')
        {
            lookahead.next();
        }
        if lookahead.peek().is_some_and(|&(_, c)| c == '=') {
            chars = lookahead;
            chars.next();
            while chars.peek().is_some_and(|&(_, c)| c == ' ' || c == '\t') {
                chars.next();
            }
            let value = if chars.peek().is_some_and(|&(_, c)| c == '"') {
                chars.next();
                let mut value = String::new();
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, escaped)) = chars.next() {
                                value.push(escaped);
                            }
                        }
                        '"' => break,
                        other => value.push(other),
                    }
                }
                value
            } else {
                let mut value = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c == ',' || c.is_whitespace() {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
                value
            };
            if let Some(current) = out.last_mut() {
                current.params.push((token.to_ascii_lowercase(), value));
            }
        } else if !token.is_empty() {
            out.push(Challenge {
                scheme: token.to_ascii_lowercase(),
                params: Vec::new(),
            });
        }
    }
    out
}

/// The `rel="next"` target of a `Link` header: `</v2/x/tags/list?last=a&n=2>; rel="next"`.
pub(crate) fn next_link(header: &str) -> Option<String> {
    for link in header.split(',') {
        let link = link.trim();
        let Some(rest) = link.strip_prefix('<') else {
            continue;
        };
        let Some((target, params)) = rest.split_once('>') else {
            continue;
        };
        let is_next = params.split(';').any(|p| {
            let p = p.trim();
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("rel")
                    && v.trim()
                        .trim_matches('"')
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            })
        });
        if is_next {
            return Some(target.to_string());
        }
    }
    None
}

/// The access a token is asked for: `repository:app:pull,push`, `registry:catalog:*`.
/// Kept sorted and merged, so equal access has one cache key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Scope {
    /// `type:name` → actions.
    entries: Vec<(String, BTreeSet<String>)>,
}

impl Scope {
    /// No access (what `docker login` asks for).
    pub fn none() -> Scope {
        Scope::default()
    }

    /// `repository:<name>:<actions>`.
    pub fn repository(name: &str, actions: &[&str]) -> Scope {
        let mut scope = Scope::default();
        scope.add(&format!("repository:{name}"), actions.iter().copied());
        scope
    }

    /// `registry:catalog:*`.
    pub fn catalog() -> Scope {
        let mut scope = Scope::default();
        scope.add("registry:catalog", ["*"]);
        scope
    }

    /// This scope and `other`'s.
    pub fn with(mut self, other: &Scope) -> Scope {
        for (resource, actions) in &other.entries {
            self.add(resource, actions.iter().map(String::as_str));
        }
        self
    }

    /// Adds a scope in the wire form (`repository:app:pull,push`), as a challenge's
    /// `scope` parameter gives it (space-separated).
    pub(crate) fn with_wire(mut self, wire: &str) -> Scope {
        for item in wire.split_whitespace() {
            // The name may contain ':' (a registry with a port in a resource name is
            // not a thing, but a `type:name:actions` split from the right is safe).
            if let Some((resource, actions)) = item.rsplit_once(':') {
                self.add(resource, actions.split(',').filter(|a| !a.is_empty()));
            }
        }
        self
    }

    fn add<'a>(&mut self, resource: &str, actions: impl IntoIterator<Item = &'a str>) {
        let set = match self.entries.iter_mut().find(|(r, _)| r == resource) {
            Some((_, set)) => set,
            None => {
                self.entries.push((resource.to_string(), BTreeSet::new()));
                self.entries.sort_by(|a, b| a.0.cmp(&b.0));
                match self.entries.iter_mut().find(|(r, _)| r == resource) {
                    Some((_, set)) => set,
                    None => return,
                }
            }
        };
        set.extend(actions.into_iter().map(str::to_string));
    }

    /// Each entry in the wire form, for repeated `scope` query parameters.
    pub(crate) fn items(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|(resource, actions)| {
                let actions: Vec<&str> = actions.iter().map(String::as_str).collect();
                format!("{resource}:{}", actions.join(","))
            })
            .collect()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl fmt::Display for Scope {
    /// The space-separated wire form (also the cache key).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.items().join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_parse() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c[0].param("service"), Some("registry.docker.io"));
        assert_eq!(
            c[0].param("scope"),
            Some("repository:samalba/my-app:pull,push")
        );
    }

    #[test]
    fn several_challenges_and_odd_spacing() {
        let c = parse_challenges(
            r#"Basic realm="Registry Realm", Bearer realm = "https://a/token" , service=a,error="insufficient_scope""#,
        );
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].param("realm"), Some("Registry Realm"));
        assert_eq!(c[1].param("realm"), Some("https://a/token"));
        assert_eq!(c[1].param("service"), Some("a"));
        assert_eq!(c[1].param("error"), Some("insufficient_scope"));
        let quoted = parse_challenges(r#"Bearer realm="a\"b""#);
        assert_eq!(quoted[0].param("realm"), Some("a\"b"));
        assert!(parse_challenges("").is_empty());
        assert_eq!(parse_challenges("Basic")[0].scheme, "basic");
    }

    #[test]
    fn next_links_are_found() {
        assert_eq!(
            next_link(r#"</v2/x/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/x/tags/list?last=b&n=2")
        );
        assert_eq!(
            next_link(r#"<https://a/prev>; rel="prev", <https://a/next>; rel=next"#).as_deref(),
            Some("https://a/next")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn scopes_merge_and_sort() {
        let s = Scope::repository("b", &["push", "pull"])
            .with(&Scope::repository("a", &["pull"]))
            .with(&Scope::repository("b", &["pull"]));
        assert_eq!(s.to_string(), "repository:a:pull repository:b:pull,push");
        let wire = Scope::none().with_wire("repository:x/y:pull,push registry:catalog:*");
        assert_eq!(
            wire.to_string(),
            "registry:catalog:* repository:x/y:pull,push"
        );
        assert!(Scope::none().is_empty());
        assert_eq!(
            Scope::catalog().items(),
            vec!["registry:catalog:*".to_string()]
        );
    }
}
