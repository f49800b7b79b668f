//! Capabilities: what a step's `allow:` block grants, what a plugin's imports ask
//! for, and the limits of one call.
//!
//! Deny by default: a plugin gets no environment, no files and no network unless the
//! step grants them. Its import list is its request — a plugin importing
//! `wasi:filesystem/*` or `wasi:http/*` without the matching grant is refused before
//! it runs, with the grant to add. Raw sockets are never granted: the network is
//! reachable only through `wasi:http`, host by host.
//!
//! `wasi:cli/environment` is the exception: Rust's standard library imports it in
//! every component (its panic handler reads `RUST_BACKTRACE`), so the import cannot
//! be the request. It is always linked and holds exactly the variables `env:`
//! grants — none by default.

use std::time::Duration;

use crate::error::Denied;

/// The step's `allow:` block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    /// `http: ["host:port"]`: destinations for outbound HTTP (`host` alone means port
    /// 80 for `http://` and 443 for `https://`).
    pub http: Vec<String>,
    /// `env: [NAME]`: environment variables the plugin may read.
    pub env: Vec<String>,
    /// `read: [path]`: files and directories (relative to the build context, or
    /// absolute) the plugin may read.
    pub read: Vec<String>,
    /// `secrets: [id]`: secrets the plugin may open.
    pub secrets: Vec<String>,
}

/// The limits of one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Wall time of the whole call (the step's `timeout`): an epoch deadline stops
    /// guest code, an async timeout stops a call blocked in the host.
    pub timeout: Duration,
    /// Linear memory of the plugin.
    pub memory_bytes: u64,
    /// Log and stdout/stderr bytes, and the size of what the plugin returns.
    pub output_bytes: u64,
    /// Bytes the guest may pass into one host call (wasmtime's hostcall fuel).
    pub hostcall_bytes: u64,
    /// Resource handles (secrets, HTTP objects) alive at once.
    pub resources: u32,
    /// Largest file read through `files.read-file` or `image.read-file`.
    pub read_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            timeout: Duration::from_secs(60),
            memory_bytes: 256 << 20,
            output_bytes: 1 << 20,
            hostcall_bytes: 16 << 20,
            resources: 1024,
            read_bytes: 32 << 20,
        }
    }
}

/// A capability a plugin's imports ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// Files (`wasi:filesystem/*`).
    Read,
    /// Outbound HTTP (`wasi:http/*`).
    Http,
}

impl Capability {
    /// What the capability is, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Capability::Read => "files",
            Capability::Http => "outbound HTTP",
        }
    }

    /// The `allow:` entry that grants it.
    pub fn grant_hint(self) -> &'static str {
        match self {
            Capability::Read => "allow: { read: [path, ...] } naming what it may read",
            Capability::Http => "allow: { http: [\"host:port\", ...] } naming where it may connect",
        }
    }

    fn granted(self, grants: &Grants) -> bool {
        match self {
            Capability::Read => !grants.read.is_empty(),
            Capability::Http => !grants.http.is_empty(),
        }
    }
}

/// The WASI version this host provides; a plugin importing a newer one cannot link.
pub const HOST_WASI: semver::Version = semver::Version::new(0, 2, 12);
/// The plugin toolchains known to build against at most [`HOST_WASI`], named when a
/// plugin imports a newer WASI.
const TOOL_PINS: &str = " (Rust: wasm32-wasip2 with wit-bindgen 0.57; Python: componentize-py \
                         0.25.1 --stub-wasi; JavaScript: componentize-qjs 0.4.5 --stub-wasi)";

/// The contract version this host provides.
pub const HOST_CONTRACT: semver::Version = semver::Version::new(0, 1, 0);

/// What one import of a component asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ImportNeed {
    /// Always provided (the contract, stdio, clocks, random, io).
    Provided,
    /// Provided only with a grant.
    Grant(Capability),
    /// Never provided: the reason.
    Refused(String),
}

/// Classifies one import name (`wasi:cli/stdout@0.2.6`, `wharf:plugin/log@0.1.0`).
pub(crate) fn classify_import(name: &str) -> ImportNeed {
    let (iface, version) = match name.split_once('@') {
        Some((i, v)) => (i, Some(v)),
        None => (name, None),
    };
    let (package, interface) = iface.split_once('/').unwrap_or((iface, ""));
    let version = version.map(semver::Version::parse);
    let too_new = |host: &semver::Version, what: &str| -> Option<ImportNeed> {
        match &version {
            Some(Ok(v)) if !v.pre.is_empty() => Some(ImportNeed::Refused(format!(
                "it imports {name}, a pre-release {what} version, which the host cannot match; \
                 build it against a released version (≤ {host})"
            ))),
            Some(Ok(v))
                if v.major != host.major
                    || (host.major == 0 && v.minor != host.minor)
                    || v > host =>
            {
                Some(ImportNeed::Refused(format!(
                    "it imports {name}, but this host provides {what} {host}: build the plugin \
                     with a toolchain (or WIT) whose {what} is at most {host}{}",
                    if what == "WASI" { TOOL_PINS } else { "" }
                )))
            }
            Some(Err(_)) => Some(ImportNeed::Refused(format!(
                "it imports {name}, whose version is not semver"
            ))),
            _ => None,
        }
    };
    match package {
        "wharf:plugin" => {
            if let Some(refused) = too_new(&HOST_CONTRACT, "wharf:plugin") {
                return refused;
            }
            match interface {
                "types" | "log" | "config" | "secrets" | "files" | "versions" | "image"
                | "reports" => ImportNeed::Provided,
                other => ImportNeed::Refused(format!(
                    "it imports wharf:plugin/{other}, which this host does not provide"
                )),
            }
        }
        "wasi:io" | "wasi:clocks" | "wasi:random" | "wasi:cli" | "wasi:filesystem"
        | "wasi:http" | "wasi:sockets" => {
            if let Some(refused) = too_new(&HOST_WASI, "WASI") {
                return refused;
            }
            match (package, interface) {
                ("wasi:cli", _) | ("wasi:io", _) | ("wasi:clocks", _) | ("wasi:random", _) => {
                    ImportNeed::Provided
                }
                ("wasi:filesystem", _) => ImportNeed::Grant(Capability::Read),
                ("wasi:http", "types" | "outgoing-handler") => ImportNeed::Grant(Capability::Http),
                ("wasi:sockets", _) => ImportNeed::Refused(format!(
                    "it imports {name}: plugins get no raw sockets, only HTTP through wasi:http \
                     to the hosts `allow: http:` lists (for componentize-py, build with \
                     --stub-wasi)"
                )),
                _ => {
                    ImportNeed::Refused(format!("it imports {name}, which wharf does not provide"))
                }
            }
        }
        _ => ImportNeed::Refused(format!(
            "it imports {name}, which wharf does not provide (plugins may import \
             wharf:plugin/* and WASI 0.2)"
        )),
    }
}

/// Checks `needs` (from a plugin's imports) against `grants`.
pub(crate) fn check(
    plugin: &str,
    needs: &[(String, Capability)],
    grants: &Grants,
) -> Result<(), Denied> {
    let mut missing: Vec<(String, Capability)> = needs
        .iter()
        .filter(|(_, c)| !c.granted(grants))
        .cloned()
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    missing.sort_by_key(|(_, c)| *c);
    let mut caps: Vec<Capability> = missing.iter().map(|(_, c)| *c).collect();
    caps.dedup();
    let imports: Vec<&str> = missing.iter().map(|(n, _)| n.as_str()).collect();
    let grant = caps
        .iter()
        .map(|c| c.grant_hint())
        .collect::<Vec<_>>()
        .join("; and ");
    Err(Denied {
        message: format!(
            "plugin {plugin} asks for {} (it imports {}), which the step does not grant: add {grant}",
            caps.iter()
                .map(|c| c.describe())
                .collect::<Vec<_>>()
                .join(" and "),
            imports.join(", "),
        ),
        grant: caps
            .iter()
            .map(|c| match c {
                Capability::Read => "read",
                Capability::Http => "http",
            })
            .map(str::to_string)
            .collect(),
    })
}

/// Whether `authority` (`host:port` as the request names it, scheme given) is in
/// the `http:` grants. A grant without a port means the scheme's default port.
pub(crate) fn http_allowed(grants: &Grants, https: bool, authority: &str) -> bool {
    let default_port = if https { 443 } else { 80 };
    let (host, port) = split_host_port(authority, default_port);
    grants.http.iter().any(|grant| {
        let grant = grant
            .strip_prefix("https://")
            .or_else(|| grant.strip_prefix("http://"))
            .unwrap_or(grant)
            .trim_end_matches('/');
        let (ghost, gport) = split_host_port(grant, default_port);
        ghost.eq_ignore_ascii_case(&host) && gport == port
    })
}

fn split_host_port(authority: &str, default_port: u16) -> (String, u16) {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(rest) = authority.strip_prefix('[') {
        // [v6]:port
        if let Some((host, tail)) = rest.split_once(']') {
            let port = tail
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .unwrap_or(default_port);
            return (host.to_string(), port);
        }
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) && !port.is_empty() => {
            (host.to_string(), port.parse().unwrap_or(default_port))
        }
        _ => (authority.to_string(), default_port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdio_and_the_contract_are_provided_and_the_rest_needs_grants() {
        assert_eq!(
            classify_import("wharf:plugin/log@0.1.0"),
            ImportNeed::Provided
        );
        assert_eq!(
            classify_import("wasi:cli/stdout@0.2.6"),
            ImportNeed::Provided
        );
        assert_eq!(
            classify_import("wasi:io/streams@0.2.12"),
            ImportNeed::Provided
        );
        assert_eq!(
            classify_import("wasi:cli/environment@0.2.6"),
            ImportNeed::Provided
        );
        assert_eq!(
            classify_import("wasi:filesystem/preopens@0.2.6"),
            ImportNeed::Grant(Capability::Read)
        );
        assert_eq!(
            classify_import("wasi:http/outgoing-handler@0.2.10"),
            ImportNeed::Grant(Capability::Http)
        );
        assert!(
            matches!(classify_import("wasi:sockets/tcp@0.2.6"), ImportNeed::Refused(m) if m.contains("no raw sockets"))
        );
        assert!(
            matches!(classify_import("wasi:cli/stdout@0.2.13"), ImportNeed::Refused(m) if m.contains("at most 0.2.12") && m.contains("componentize-py 0.25.1"))
        );
        assert!(matches!(
            classify_import("wharf:plugin/log@0.2.0"),
            ImportNeed::Refused(_)
        ));
        assert!(matches!(
            classify_import("acme:thing/x@1.0.0"),
            ImportNeed::Refused(_)
        ));
    }

    #[test]
    fn a_missing_grant_names_what_to_add() {
        let needs = vec![
            ("wasi:filesystem/types@0.2.6".to_string(), Capability::Read),
            ("wasi:http/types@0.2.6".to_string(), Capability::Http),
        ];
        let err = check("greedy", &needs, &Grants::default()).expect_err("denied");
        assert!(
            err.message.contains("allow: { read: [path, ...] }"),
            "{}",
            err.message
        );
        assert!(
            err.message
                .contains("allow: { http: [\"host:port\", ...] }"),
            "{}",
            err.message
        );
        assert!(err.message.contains("wasi:filesystem/types@0.2.6"));
        assert_eq!(err.grant, ["read", "http"]);
        let grants = Grants {
            read: vec!["data".into()],
            ..Grants::default()
        };
        let err = check("greedy", &needs, &grants).expect_err("still denied");
        assert_eq!(err.grant, ["http"]);
    }

    #[test]
    fn http_grants_match_host_and_port_exactly() {
        let grants = Grants {
            http: vec!["127.0.0.1:8080".into(), "hooks.example.com".into()],
            ..Grants::default()
        };
        assert!(http_allowed(&grants, false, "127.0.0.1:8080"));
        assert!(!http_allowed(&grants, false, "127.0.0.1:8081"));
        assert!(!http_allowed(&grants, false, "127.0.0.2:8080"));
        assert!(http_allowed(&grants, true, "hooks.example.com"));
        assert!(http_allowed(&grants, true, "HOOKS.example.com:443"));
        assert!(http_allowed(&grants, false, "hooks.example.com"));
        assert!(!http_allowed(&grants, false, "hooks.example.com:8443"));
        assert!(!http_allowed(&grants, true, "user@evil.example.com"));
    }
}
