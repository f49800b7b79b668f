//! Key Vault secret URLs: `https://<vault-host>/secrets/<name>[/<version>]`.

use std::fmt;

use url::{Host, Url};

/// The Key Vault REST API version used to read secrets.
pub(crate) const API_VERSION: &str = "7.4";

/// Token scope for the public cloud (also used for loopback test vaults).
pub(crate) const PUBLIC_SCOPE: &str = "https://vault.azure.net/.default";

/// The environment variable that, set to `1`, lets loopback vault URLs through
/// (for tests against a local stand-in Key Vault).
pub(crate) const ALLOW_LOOPBACK_ENV: &str = "WHARF_KEYVAULT_ALLOW_LOOPBACK";

/// Known vault host suffixes and the token scope of their cloud.
const CLOUDS: &[(&str, &str)] = &[
    (".vault.azure.net", PUBLIC_SCOPE),
    (".vault.azure.cn", "https://vault.azure.cn/.default"),
    (
        ".vault.usgovcloudapi.net",
        "https://vault.usgovcloudapi.net/.default",
    ),
];

/// A parsed Key Vault secret URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct VaultSecretUrl {
    /// `scheme://host[:port]`, for messages.
    pub(crate) vault: String,
    /// Secret name.
    pub(crate) name: String,
    /// Secret version, when pinned.
    pub(crate) version: Option<String>,
    /// OAuth scope of the vault's cloud.
    pub(crate) scope: &'static str,
    /// The URL to GET, with `api-version`.
    pub(crate) request: Url,
    /// Whether the host is a loopback address (no proxy is used for it).
    pub(crate) loopback: bool,
}

impl fmt::Debug for VaultSecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.request.as_str())
    }
}

impl VaultSecretUrl {
    /// The secret name, with the version when one was declared, for messages.
    pub(crate) fn what(&self) -> String {
        match &self.version {
            Some(v) => format!("`{}` version `{v}`", self.name),
            None => format!("`{}`", self.name),
        }
    }
}

/// The declared URL for messages, with any user name or password removed.
pub(crate) fn for_display(raw: &str) -> String {
    match Url::parse(raw.trim()) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            // Both setters only fail for URLs that cannot have credentials.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        _ => raw.to_owned(),
    }
}

const SHAPE: &str = "expected https://<vault>.vault.azure.net/secrets/<name>[/<version>]";

/// Parse a declaration's `keyvault` URL. The host must be a Key Vault host of
/// a known cloud, over `https`, so that a task file can never make wharf send
/// a Key Vault token to an arbitrary server.
///
/// A loopback host (`localhost`, `127.0.0.0/8`, `[::1]`; `http` or `https`)
/// is accepted only with `allow_loopback` — the environment's opt-in
/// [`ALLOW_LOOPBACK_ENV`]`=1`, for tests against a local stand-in Key Vault.
/// It receives a public-cloud token: without the opt-in, any task file could
/// have the user's token (e.g. from `az login`) sent to any local port.
pub(crate) fn parse(raw: &str, allow_loopback: bool) -> Result<VaultSecretUrl, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("not a URL ({e}); {SHAPE}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a user name or password".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("must not have a query or fragment; {SHAPE}"));
    }
    let (loopback, domain) = match url.host() {
        Some(Host::Domain(d)) => (d.eq_ignore_ascii_case("localhost"), Some(d)),
        Some(Host::Ipv4(a)) => (a.is_loopback(), None),
        Some(Host::Ipv6(a)) => (a.is_loopback(), None),
        None => return Err(format!("has no host; {SHAPE}")),
    };
    if loopback && !allow_loopback {
        let host = url.host_str().unwrap_or_default();
        return Err(format!(
            "host `{host}` is a loopback address, not an Azure Key Vault host; wharf sends a \
             Key Vault token to a loopback address only when the environment sets \
             {ALLOW_LOOPBACK_ENV}=1, which is meant for tests against a local stand-in; {SHAPE}"
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(
                "plain http is only allowed to a loopback host (localhost, 127.0.0.1, [::1]); \
                 use https"
                    .to_owned(),
            );
        }
        other => return Err(format!("scheme `{other}` is not https; {SHAPE}")),
    }
    let scope = if loopback {
        PUBLIC_SCOPE
    } else {
        let host = domain.unwrap_or_default().to_ascii_lowercase();
        CLOUDS
            .iter()
            .find(|(suffix, _)| host.strip_suffix(suffix).is_some_and(|v| !v.is_empty()))
            .map(|(_, scope)| *scope)
            .ok_or_else(|| {
                format!(
                    "host `{host}` is not an Azure Key Vault host \
                     (<vault>.vault.azure.net, .vault.azure.cn or .vault.usgovcloudapi.net)"
                )
            })?
    };

    let mut segments: Vec<&str> = url
        .path_segments()
        .map(Iterator::collect)
        .unwrap_or_default();
    if segments.len() > 1 && segments.last() == Some(&"") {
        segments.pop();
    }
    let (name, version) = match segments.as_slice() {
        ["secrets", name] => (*name, None),
        ["secrets", name, version] => (*name, Some(*version)),
        _ => {
            return Err(format!(
                "path `{}` is not a secret path; {SHAPE}",
                url.path()
            ));
        }
    };
    let name_ok = (1..=127).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !name_ok {
        return Err(format!(
            "secret name `{name}` is not 1-127 letters, digits and dashes"
        ));
    }
    if let Some(v) = version
        && (v.is_empty() || !v.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return Err(format!("secret version `{v}` is not letters and digits"));
    }

    let vault = url.origin().ascii_serialization();
    let path = match version {
        Some(v) => format!("{vault}/secrets/{name}/{v}?api-version={API_VERSION}"),
        None => format!("{vault}/secrets/{name}?api-version={API_VERSION}"),
    };
    let request = Url::parse(&path).map_err(|e| format!("cannot build the request URL: {e}"))?;
    Ok(VaultSecretUrl {
        vault,
        name: name.to_owned(),
        version: version.map(str::to_owned),
        scope,
        request,
        loopback,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> VaultSecretUrl {
        match parse(raw, false) {
            Ok(u) => u,
            Err(e) => panic!("{raw}: {e}"),
        }
    }

    fn ok_with_loopback(raw: &str) -> VaultSecretUrl {
        match parse(raw, true) {
            Ok(u) => u,
            Err(e) => panic!("{raw}: {e}"),
        }
    }

    #[test]
    fn public_cloud_with_and_without_version() {
        let u = ok("https://MyVault.vault.azure.net/secrets/password");
        assert_eq!(u.vault, "https://myvault.vault.azure.net");
        assert_eq!(u.name, "password");
        assert_eq!(u.version, None);
        assert_eq!(u.scope, "https://vault.azure.net/.default");
        assert_eq!(
            u.request.as_str(),
            "https://myvault.vault.azure.net/secrets/password?api-version=7.4"
        );
        assert!(!u.loopback);

        let u =
            ok("https://myvault.vault.azure.net/secrets/db-pass/0123456789abcdef0123456789abcdef/");
        assert_eq!(
            u.version.as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(
            u.request.as_str(),
            "https://myvault.vault.azure.net/secrets/db-pass/0123456789abcdef0123456789abcdef?api-version=7.4"
        );
        assert_eq!(
            u.what(),
            "`db-pass` version `0123456789abcdef0123456789abcdef`"
        );
    }

    #[test]
    fn display_drops_credentials() {
        assert_eq!(
            for_display("https://u:hunter2@v.vault.azure.net/secrets/a"),
            "https://v.vault.azure.net/secrets/a"
        );
        assert_eq!(for_display("not a url"), "not a url");
    }

    #[test]
    fn sovereign_clouds_get_their_scope() {
        assert_eq!(
            ok("https://v.vault.azure.cn/secrets/s").scope,
            "https://vault.azure.cn/.default"
        );
        assert_eq!(
            ok("https://v.vault.usgovcloudapi.net/secrets/s").scope,
            "https://vault.usgovcloudapi.net/.default"
        );
    }

    const LOOPBACK: [&str; 6] = [
        "http://127.0.0.1:8200/secrets/s",
        "http://localhost/secrets/s",
        "http://LocalHost:9/secrets/s",
        "http://[::1]:1/secrets/s/v1",
        "https://127.0.0.1/secrets/s",
        "https://127.8.9.10:443/secrets/s",
    ];

    #[test]
    fn loopback_is_refused_without_the_opt_in() {
        for raw in LOOPBACK {
            match parse(raw, false) {
                Ok(u) => panic!("{raw} accepted without the opt-in: {u:?}"),
                Err(e) => {
                    assert!(e.contains("is a loopback address"), "{raw}: {e}");
                    assert!(e.contains("WHARF_KEYVAULT_ALLOW_LOOPBACK=1"), "{raw}: {e}");
                }
            }
        }
    }

    #[test]
    fn loopback_with_the_opt_in_may_use_http_and_gets_the_public_scope() {
        for raw in LOOPBACK {
            let u = ok_with_loopback(raw);
            assert!(u.loopback, "{raw}");
            assert_eq!(u.scope, PUBLIC_SCOPE, "{raw}");
        }
        assert_eq!(
            ok_with_loopback("http://127.0.0.1:8200/secrets/s")
                .request
                .as_str(),
            "http://127.0.0.1:8200/secrets/s?api-version=7.4"
        );
        // The opt-in changes nothing for other hosts.
        assert!(!ok_with_loopback("https://v.vault.azure.net/secrets/s").loopback);
        for raw in ["http://10.0.0.1/secrets/a", "https://example.com/secrets/s"] {
            assert!(parse(raw, true).is_err(), "{raw}");
        }
    }

    #[test]
    fn malformed_urls_are_refused() {
        let cases = [
            ("myvault.vault.azure.net/secrets/s", "not a URL"),
            (
                "http://myvault.vault.azure.net/secrets/s",
                "plain http is only allowed",
            ),
            (
                "ftp://myvault.vault.azure.net/secrets/s",
                "scheme `ftp` is not https",
            ),
            (
                "https://example.com/secrets/s",
                "not an Azure Key Vault host",
            ),
            (
                "https://vault.azure.net/secrets/s",
                "not an Azure Key Vault host",
            ),
            (
                "https://evil.vault.azure.net.example.com/secrets/s",
                "not an Azure Key Vault host",
            ),
            ("https://v.vault.azure.net/keys/k", "not a secret path"),
            ("https://v.vault.azure.net/secrets", "not a secret path"),
            ("https://v.vault.azure.net/secrets/", "not a secret path"),
            (
                "https://v.vault.azure.net/secrets/a/b/c",
                "not a secret path",
            ),
            ("https://v.vault.azure.net/secrets/a_b", "secret name `a_b`"),
            (
                "https://v.vault.azure.net/secrets/a/v-1",
                "secret version `v-1`",
            ),
            ("https://v.vault.azure.net/secrets/a?x=1", "query"),
            ("https://u:p@v.vault.azure.net/secrets/a", "user name"),
            ("http://10.0.0.1/secrets/a", "plain http"),
        ];
        for (raw, expected) in cases {
            match parse(raw, false) {
                Ok(u) => panic!("{raw} should be refused, got {u:?}"),
                Err(e) => assert!(e.contains(expected), "{raw}: {e}"),
            }
        }
    }
}
