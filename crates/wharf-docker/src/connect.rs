//! Connecting to the engine the way the `docker` CLI does, and the request fixes wharf
//! applies to every call (see [`fix_request`]).

use std::path::PathBuf;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use bollard::models::SystemVersion;
use bollard::{API_DEFAULT_VERSION, BollardRequest, ClientVersion, Docker};
use http::HeaderValue;
use http::uri::PathAndQuery;

use crate::error::{Error, describe};

/// Seconds the engine may take to start answering one call. Long operations (waits,
/// builds, pushes) stream their answer, so this bounds only the time to the first byte.
const REQUEST_TIMEOUT_SECS: u64 = 600;

/// Where the engine listens when `DOCKER_HOST` is unset.
const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// Marks a build query parameter that carries extra parameters bollard cannot express
/// (repeated `t` and `extrahosts`, 64-bit `memory` and `shmsize`); [`fix_request`]
/// unpacks it.
pub(crate) const QUERY_EXTRAS: &str = "wharf-query-extras:";

/// Where the engine listens, as `DOCKER_HOST` (and `DOCKER_TLS_VERIFY`) name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// A unix socket: `unix:///var/run/docker.sock`.
    Unix(PathBuf),
    /// Plain TCP: `tcp://host:2375`.
    Tcp(String),
    /// TCP with TLS, client certificates from [`cert_path`]: `https://host:2376`, or
    /// `tcp://` with `DOCKER_TLS_VERIFY`.
    Tls(String),
}

impl Endpoint {
    /// The endpoint `DOCKER_HOST` names (default `unix:///var/run/docker.sock`).
    pub(crate) fn from_env() -> Result<Endpoint, Error> {
        let host = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| !h.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_HOST.to_string());
        let tls_verify = std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| !v.is_empty());
        Endpoint::parse(&host, tls_verify)
    }

    fn parse(host: &str, tls_verify: bool) -> Result<Endpoint, Error> {
        let address = |rest: &str| rest.trim_end_matches('/').to_string();
        if let Some(path) = host.strip_prefix("unix://") {
            Ok(Endpoint::Unix(PathBuf::from(path)))
        } else if let Some(rest) = host.strip_prefix("https://") {
            Ok(Endpoint::Tls(address(rest)))
        } else if let Some(rest) = host
            .strip_prefix("tcp://")
            .or_else(|| host.strip_prefix("http://"))
        {
            Ok(if tls_verify {
                Endpoint::Tls(address(rest))
            } else {
                Endpoint::Tcp(address(rest))
            })
        } else {
            Err(Error::msg(format!(
                "DOCKER_HOST={host} is not supported: use unix://, tcp:// (with DOCKER_TLS_VERIFY=1 for TLS) or https:// \
                 (for ssh://, forward the engine socket with `ssh -L` and use unix:// or tcp://)"
            )))
        }
    }

    /// How the endpoint reads in messages (as the user would write `DOCKER_HOST`).
    pub(crate) fn describe(&self) -> String {
        match self {
            Endpoint::Unix(path) => format!("unix://{}", path.display()),
            Endpoint::Tcp(address) => format!("tcp://{address}"),
            Endpoint::Tls(address) => format!("https://{address}"),
        }
    }

    /// A new connection of its own to the engine (for a BuildKit session, which takes
    /// over the connection it starts on).
    pub(crate) async fn dial(&self) -> Result<Box<dyn EngineStream>, std::io::Error> {
        match self {
            Endpoint::Unix(path) => Ok(Box::new(tokio::net::UnixStream::connect(path).await?)),
            Endpoint::Tcp(address) => Ok(Box::new(tokio::net::TcpStream::connect(address).await?)),
            Endpoint::Tls(address) => {
                let config = tls_config(&cert_path()).map_err(std::io::Error::other)?;
                let host = address
                    .rsplit_once(':')
                    .map_or(address.as_str(), |(h, _)| h)
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string();
                let name =
                    rustls::pki_types::ServerName::try_from(host).map_err(std::io::Error::other)?;
                let tcp = tokio::net::TcpStream::connect(address).await?;
                let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
                Ok(Box::new(connector.connect(name, tcp).await?))
            }
        }
    }
}

/// A connection to the engine.
pub(crate) trait EngineStream:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static
{
}

impl<T> EngineStream for T where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static
{
}

/// The TLS client settings of `DOCKER_CERT_PATH`: the engine's CA (`ca.pem`) and the
/// client certificate (`cert.pem`, `key.pem`), as the docker CLI uses them.
fn tls_config(certs: &std::path::Path) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let read_certs = |name: &str| -> Result<Vec<CertificateDer<'static>>, String> {
        let path = certs.join(name);
        CertificateDer::pem_file_iter(&path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certs("ca.pem")? {
        roots
            .add(cert)
            .map_err(|e| format!("{}: {e}", certs.join("ca.pem").display()))?;
    }
    let key_path = certs.join("key.pem");
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| format!("cannot read {}: {e}", key_path.display()))?;
    // Several crates may enable rustls providers; pick ring explicitly.
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_client_auth_cert(read_certs("cert.pem")?, key)
    .map_err(|e| format!("the client certificate in {}: {e}", certs.display()))
}

/// Connects to the engine named by `DOCKER_HOST` (unix socket, tcp, or TLS with
/// `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH`) and negotiates the API version.
pub(crate) async fn connect() -> Result<Docker, Error> {
    connect_to(&Endpoint::from_env()?).await
}

/// Connects to `endpoint` and negotiates the API version.
pub(crate) async fn connect_to(endpoint: &Endpoint) -> Result<Docker, Error> {
    Ok(connect_reading_version(endpoint).await?.0)
}

/// Connects to `endpoint`, negotiates the API version and returns what the engine
/// said of itself: one `GET /version`, as bollard's `negotiate_version` makes, whose
/// answer also gives the platform.
pub(crate) async fn connect_reading_version(
    endpoint: &Endpoint,
) -> Result<(Docker, SystemVersion), Error> {
    let cannot = |e: bollard::errors::Error| {
        Error::msg(format!(
            "cannot connect to the Docker engine at {}: {}",
            endpoint.describe(),
            describe(&e)
        ))
    };
    let probe = client(endpoint, API_DEFAULT_VERSION).map_err(cannot)?;
    let version = probe.version().await.map_err(cannot)?;
    let server = version
        .api_version
        .as_deref()
        .and_then(|v| v.split_once('.'))
        .and_then(|(major, minor)| Some((major.parse().ok()?, minor.parse().ok()?)))
        .map(|(major_version, minor_version)| ClientVersion {
            major_version,
            minor_version,
        })
        .ok_or_else(|| {
            Error::msg(format!(
                "the Docker engine at {} did not say which API version it speaks",
                endpoint.describe()
            ))
        })?;
    let docker = if server < *API_DEFAULT_VERSION {
        client(endpoint, &server).map_err(cannot)?
    } else {
        probe
    };
    Ok((docker, version))
}

/// A client of `endpoint` speaking API `version`; no request is made.
fn client(endpoint: &Endpoint, version: &ClientVersion) -> Result<Docker, bollard::errors::Error> {
    let docker = match endpoint {
        Endpoint::Unix(path) => Docker::connect_with_unix(
            &format!("unix://{}", path.display()),
            REQUEST_TIMEOUT_SECS,
            version,
        )?,
        Endpoint::Tls(address) => {
            // Several crates may enable rustls providers; pick ring explicitly (an error
            // only means a provider is already installed).
            let _ = rustls::crypto::ring::default_provider().install_default();
            let certs = cert_path();
            Docker::connect_with_ssl(
                &format!("tcp://{address}"),
                &certs.join("key.pem"),
                &certs.join("cert.pem"),
                &certs.join("ca.pem"),
                REQUEST_TIMEOUT_SECS,
                version,
            )?
        }
        Endpoint::Tcp(address) => {
            Docker::connect_with_http(&format!("tcp://{address}"), REQUEST_TIMEOUT_SECS, version)?
        }
    };
    Ok(docker.with_request_modifier(fix_request))
}

/// `DOCKER_CERT_PATH`, else `~/.docker`.
fn cert_path() -> PathBuf {
    if let Some(p) = std::env::var_os("DOCKER_CERT_PATH").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".docker")
}

/// The engine's OS and architecture from its `GET /version` answer, as Go names
/// them (`linux`, `amd64`).
pub(crate) fn platform_of(version: SystemVersion) -> Result<(String, String), Error> {
    match (version.os, version.arch) {
        (Some(os), Some(arch)) if !os.is_empty() && !arch.is_empty() => Ok((os, arch)),
        _ => Err(Error::msg(
            "the Docker engine did not report its OS and architecture",
        )),
    }
}

/// The engine's OS and architecture, asked again.
pub(crate) async fn platform(docker: &Docker) -> Result<(String, String), Error> {
    let version = docker
        .version()
        .await
        .map_err(|e| Error::docker("cannot read the Docker engine's version", e))?;
    platform_of(version)
}

/// Runs before every request bollard sends:
///
/// - bollard encodes `X-Registry-Auth` and `X-Registry-Config` with standard base64, but
///   dockerd decodes them as URL-safe base64, so credentials whose encoding contains
///   `+` or `/` were refused. They are re-encoded here, for every call that sends them
///   (pull, push, build).
/// - on `/build`, the [`QUERY_EXTRAS`] parameter is replaced by the parameters it
///   carries, which replace bollard's parameters of the same names.
pub(crate) fn fix_request(mut request: BollardRequest) -> BollardRequest {
    for name in ["X-Registry-Auth", "X-Registry-Config"] {
        let fixed = request
            .headers()
            .get(name)
            .and_then(|v| reencode_url_safe(v.as_bytes()));
        if let Some(value) = fixed {
            request.headers_mut().insert(name, value);
        }
    }
    if request.uri().path().ends_with("/build") {
        expand_query_extras(&mut request);
    }
    request
}

/// Standard base64 to URL-safe base64 (padded, as Go's `base64.URLEncoding`).
fn reencode_url_safe(value: &[u8]) -> Option<HeaderValue> {
    let decoded = STANDARD.decode(value).ok()?;
    HeaderValue::from_str(&URL_SAFE.encode(decoded)).ok()
}

fn expand_query_extras(request: &mut BollardRequest) {
    let Some(query) = request.uri().query() else {
        return;
    };
    if !query.contains("wharf-query-extras") {
        return;
    }
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let extras: Vec<(String, String)> = pairs
        .iter()
        .filter_map(|(_, v)| v.strip_prefix(QUERY_EXTRAS))
        .flat_map(|e| form_urlencoded::parse(e.as_bytes()).into_owned())
        .collect();
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (key, value) in &pairs {
        if value.starts_with(QUERY_EXTRAS) {
            for (k, v) in &extras {
                out.append_pair(k, v);
            }
        } else if !extras.iter().any(|(k, _)| k == key) {
            // An extra replaces bollard's parameter of the same name.
            out.append_pair(key, value);
        }
    }
    let new_query = out.finish();
    let path_and_query = if new_query.is_empty() {
        request.uri().path().to_string()
    } else {
        format!("{}?{new_query}", request.uri().path())
    };
    let mut parts = request.uri().clone().into_parts();
    if let Ok(pq) = PathAndQuery::from_str(&path_and_query) {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
}

/// Packs parameters for [`fix_request`] to unpack into the `/build` query.
pub(crate) fn pack_query_extras(pairs: &[(&str, String)]) -> Option<String> {
    if pairs.is_empty() {
        return None;
    }
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    Some(format!("{QUERY_EXTRAS}{}", s.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::body_full;

    fn request(uri: &str) -> BollardRequest {
        http::Request::builder()
            .uri(uri)
            .body(body_full(bytes::Bytes::new()))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn endpoints_as_docker_host_names_them() {
        assert_eq!(
            Endpoint::parse("unix:///run/docker.sock", false).ok(),
            Some(Endpoint::Unix("/run/docker.sock".into()))
        );
        assert_eq!(
            Endpoint::parse("tcp://10.0.0.1:2375", false).ok(),
            Some(Endpoint::Tcp("10.0.0.1:2375".into()))
        );
        assert_eq!(
            Endpoint::parse("tcp://e:2376", true).ok(),
            Some(Endpoint::Tls("e:2376".into()))
        );
        assert_eq!(
            Endpoint::parse("https://e:2376/", false).ok(),
            Some(Endpoint::Tls("e:2376".into()))
        );
        assert!(Endpoint::parse("ssh://me@host", false).is_err());
    }

    #[test]
    fn registry_headers_become_url_safe() {
        // "tester:abc>>>def" style JSON encodes with '+' or '/' in standard base64.
        let json = r#"{"username":"tester","password":"abc>>>def?"}"#;
        let standard = STANDARD.encode(json);
        assert!(standard.contains('+') || standard.contains('/'));
        let mut req = request("http://localhost/v1.41/images/x/push");
        req.headers_mut().insert(
            "X-Registry-Auth",
            HeaderValue::from_str(&standard).unwrap_or_else(|e| panic!("{e}")),
        );
        let fixed = fix_request(req);
        let value = fixed
            .headers()
            .get("X-Registry-Auth")
            .map(|v| v.as_bytes().to_vec())
            .unwrap_or_default();
        assert_eq!(URL_SAFE.decode(&value).ok(), Some(json.as_bytes().to_vec()));
        assert!(!value.contains(&b'+') && !value.contains(&b'/'));
    }

    #[test]
    fn build_extras_are_unpacked() {
        let packed = pack_query_extras(&[
            ("version", "2".to_string()),
            ("t", "a:1".to_string()),
            ("t", "b:2".to_string()),
            ("extrahosts", "h:1.2.3.4".to_string()),
        ])
        .unwrap_or_default();
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("dockerfile", "Dockerfile");
        q.append_pair("extrahosts", &packed);
        q.append_pair("rm", "true");
        q.append_pair("version", "1");
        let req = fix_request(request(&format!(
            "http://localhost/v1.41/build?{}",
            q.finish()
        )));
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        let expected: Vec<(String, String)> = [
            ("dockerfile", "Dockerfile"),
            ("version", "2"),
            ("t", "a:1"),
            ("t", "b:2"),
            ("extrahosts", "h:1.2.3.4"),
            ("rm", "true"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(pairs, expected);
        assert_eq!(req.uri().path(), "/v1.41/build");
    }
}
