//! Which URLs may be spoken to, and with what: the ARM endpoint gets the
//! token; SAS URLs get none. Plain http only to loopback addresses.

use std::net::IpAddr;

use url::Url;

use crate::error::{Error, Result};

/// The public cloud's Azure Resource Manager.
pub const DEFAULT_ARM_ENDPOINT: &str = "https://management.azure.com";
/// The environment variable that names another ARM endpoint (sovereign clouds; tests).
pub const ARM_ENDPOINT_ENV: &str = "WHARF_ARM_ENDPOINT";
/// The token scope for ARM.
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";

/// Whether `host` is a loopback name or address.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// A URL that must be `https`, or `http` to a loopback address.
pub fn checked_url(what: &str, text: &str) -> Result<Url> {
    let bad = |why: &str| Error::Endpoint {
        what: what.to_owned(),
        url: crate::redact_sas(text),
        why: why.to_owned(),
    };
    let url = Url::parse(text.trim()).map_err(|e| bad(&e.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err(bad("plain http is accepted only for loopback addresses")),
        _ => return Err(bad("use an https URL")),
    }
    if url.host().is_none() {
        return Err(bad("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("it must not carry a user name or password"));
    }
    Ok(url)
}

/// The ARM endpoint: its origin is the only one a token is sent to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArmEndpoint {
    base: Url,
}

impl ArmEndpoint {
    /// `https://management.azure.com`, or `value` (from `WHARF_ARM_ENDPOINT`).
    pub fn new(value: Option<&str>) -> Result<ArmEndpoint> {
        let text = value
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .unwrap_or(DEFAULT_ARM_ENDPOINT);
        let url = checked_url(ARM_ENDPOINT_ENV, text)?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::Endpoint {
                what: ARM_ENDPOINT_ENV.into(),
                url: text.into(),
                why: "it must not have a query or fragment".into(),
            });
        }
        let mut base = url;
        let path = base.path().trim_end_matches('/').to_owned();
        base.set_path(&path);
        Ok(ArmEndpoint { base })
    }

    /// From the process environment.
    pub fn from_environment() -> Result<ArmEndpoint> {
        let value = std::env::var(ARM_ENDPOINT_ENV).ok();
        ArmEndpoint::new(value.as_deref())
    }

    /// `base` + `path` (which starts with `/`) + `?api-version=…`.
    pub fn url(&self, path: &str, api_version: &str) -> Result<Url> {
        let text = format!("{}{}", self.base.as_str().trim_end_matches('/'), path);
        let mut url = Url::parse(&text).map_err(|e| Error::Protocol {
            operation: "building an ARM URL".into(),
            message: e.to_string(),
        })?;
        url.query_pairs_mut()
            .append_pair("api-version", api_version);
        Ok(url)
    }

    /// Whether `url` has this endpoint's origin (scheme, host, port), so a
    /// token may go there (an ARM `nextLink`, a long-running operation's `Location`).
    pub fn owns(&self, url: &Url) -> bool {
        url.origin() == self.base.origin()
    }

    /// The token scope: `https://management.azure.com/.default` for the
    /// public cloud and loopback stand-ins, else the endpoint's own origin
    /// (`https://management.chinacloudapi.cn/.default`, …), which is each
    /// sovereign cloud's ARM audience.
    pub fn scope(&self) -> String {
        if is_loopback(&self.base) || self.base.host_str() == Some("management.azure.com") {
            return ARM_SCOPE.to_owned();
        }
        format!("{}/.default", self.base.origin().ascii_serialization())
    }

    /// The base URL.
    pub fn as_str(&self) -> &str {
        self.base.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_public_arm_and_http_is_for_loopback_only() {
        let default = ArmEndpoint::new(None).expect("default");
        assert_eq!(default.as_str(), "https://management.azure.com/");
        assert!(ArmEndpoint::new(Some("http://127.0.0.1:8080")).is_ok());
        assert!(ArmEndpoint::new(Some("http://localhost:1")).is_ok());
        assert!(ArmEndpoint::new(Some("http://[::1]:1/")).is_ok());
        assert!(ArmEndpoint::new(Some("https://management.chinacloudapi.cn")).is_ok());
        let err = ArmEndpoint::new(Some("http://management.example.com"))
            .expect_err("plain http to a remote host");
        assert!(err.to_string().contains("loopback"), "{err}");
        assert!(ArmEndpoint::new(Some("ftp://x")).is_err());
        assert_eq!(default.scope(), ARM_SCOPE);
        let china = ArmEndpoint::new(Some("https://management.chinacloudapi.cn/")).expect("cn");
        assert_eq!(
            china.scope(),
            "https://management.chinacloudapi.cn/.default"
        );
        let local = ArmEndpoint::new(Some("http://127.0.0.1:1")).expect("local");
        assert_eq!(local.scope(), ARM_SCOPE);
        assert!(ArmEndpoint::new(Some("https://u:p@x")).is_err());
    }

    #[test]
    fn tokens_go_only_to_the_endpoint_origin() {
        let arm = ArmEndpoint::new(Some("http://127.0.0.1:9000")).expect("endpoint");
        let own = Url::parse("http://127.0.0.1:9000/subscriptions/s?x=1").expect("url");
        let other_port = Url::parse("http://127.0.0.1:9001/subscriptions/s").expect("url");
        let blob = Url::parse("https://acct.blob.core.windows.net/c/b?sig=x").expect("url");
        assert!(arm.owns(&own));
        assert!(!arm.owns(&other_port));
        assert!(!arm.owns(&blob));
        let url = arm
            .url("/subscriptions/s/x", "2025-03-01-preview")
            .expect("url");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9000/subscriptions/s/x?api-version=2025-03-01-preview"
        );
    }
}
