//! Key Vault and the App Service managed identity protocol, on the wire,
//! against a stand-in server on loopback (Azure AD and Key Vault cannot run
//! here).
//!
//! `azure_identity` finds the managed identity endpoint in the process
//! environment (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`), and changing the
//! environment of a running process is `unsafe`, which this workspace forbids.
//! So each test starts the server, then runs this test binary again with that
//! environment to execute its scenarios in the child (which check the values
//! and errors the API returns), and finally checks the requests the server
//! saw. The child's environment also opts in to loopback vaults
//! (`WHARF_KEYVAULT_ALLOW_LOOPBACK=1`), without which the stand-in is refused.

use std::error::Error;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;
use wharf_secrets::{LocalSecrets, Resolver, SecretError};
use wharf_spec::Secret;

const CLIENT_ID: &str = "c1a2b3c4-0000-1111-2222-333344445555";
const IDENTITY_HEADER: &str = "test-identity-header-5f1e";
/// An `IDENTITY_HEADER` for which the stand-in has no identity at all.
const NO_IDENTITY_HEADER: &str = "test-identity-header-without-identity";
const ALLOW_LOOPBACK_ENV: &str = "WHARF_KEYVAULT_ALLOW_LOOPBACK";
/// A file whose presence makes the fake `az` fail.
const AZ_FAIL_ENV: &str = "WHARF_SECRETS_TEST_AZ_FAIL";
/// The token the fake `az` prints.
const AZ_TOKEN: &str = "tok-az-cli";
const VAULT_ENV: &str = "WHARF_SECRETS_TEST_VAULT";
const FROM_ENV_VAR: &str = "WHARF_SECRETS_TEST_FROM_ENV";
const FROM_ENV_VALUE: &str = "value-from-the-environment";
const DONE: &str = "wharf-secrets child: all scenarios passed";
const VERSION: &str = "0123456789abcdef0123456789abcdef";

/// The token the stand-in issues for a client id (or the system identity).
fn token_for(client_id: Option<&str>) -> String {
    match client_id {
        Some(id) => format!("tok-uami-{id}"),
        None => "tok-system-assigned".to_owned(),
    }
}

// ---------------------------------------------------------------------------
// The stand-in server
// ---------------------------------------------------------------------------

/// A request as the server saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

struct State {
    seen: Mutex<Vec<Seen>>,
    flaky_calls: AtomicUsize,
    barrier: tokio::sync::Barrier,
}

struct Server {
    base: String,
    state: Arc<State>,
}

impl Server {
    async fn start() -> std::io::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(State {
            seen: Mutex::new(Vec::new()),
            flaky_calls: AtomicUsize::new(0),
            barrier: tokio::sync::Barrier::new(2),
        });
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&shared)));
            }
        });
        Ok(Server { base, state })
    }

    fn seen(&self) -> Vec<Seen> {
        self.state
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Serve one request (HTTP/1.1, no body, `Connection: close`).
async fn serve(mut stream: TcpStream, state: Arc<State>) {
    let mut head = Vec::new();
    let mut chunk = [0_u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default();
    let Ok(url) = Url::parse(&format!("http://stand-in{target}")) else {
        return;
    };
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let seen = Seen {
        method,
        path: url.path().to_owned(),
        query: url.query_pairs().into_owned().collect(),
        headers,
    };
    state
        .seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(seen.clone());

    let (status, body) = route(&seen, &state).await;
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    let body = body.to_string();
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn kv_error(code: &str, message: &str) -> serde_json::Value {
    json!({ "error": { "code": code, "message": message } })
}

/// The App Service managed identity endpoint and Key Vault's get-secret API.
async fn route(req: &Seen, state: &State) -> (u16, serde_json::Value) {
    if req.path == "/msi/token" {
        if req.header("x-identity-header") == Some(NO_IDENTITY_HEADER) {
            // What Azure answers when no such identity is assigned.
            return (
                400,
                json!({ "error": "invalid_request", "error_description": "Identity not found" }),
            );
        }
        if req.header("x-identity-header") != Some(IDENTITY_HEADER) {
            return (
                401,
                json!({ "error": "missing or wrong X-IDENTITY-HEADER" }),
            );
        }
        let expires_on = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            + 3600;
        let resource = req.query("resource").unwrap_or_default();
        return (
            200,
            json!({
                "access_token": token_for(req.query("client_id")),
                "expires_on": expires_on.to_string(),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": req.query("client_id").unwrap_or("system"),
            }),
        );
    }
    let Some(secret) = req.path.strip_prefix("/secrets/") else {
        return (404, kv_error("NotFound", "no such route"));
    };
    let bearer = req.header("authorization").unwrap_or_default();
    if !bearer.starts_with("Bearer tok-") {
        return (
            401,
            kv_error(
                "Unauthorized",
                "AKV10000: Request is missing a Bearer or PoP token.",
            ),
        );
    }
    if req.query("api-version") != Some("7.4") {
        return (400, kv_error("BadParameter", "unsupported api-version"));
    }
    let bundle =
        |value: &str| json!({ "value": value, "id": req.path, "attributes": { "enabled": true } });
    match secret {
        "password" => (200, bundle("uami-secret-value")),
        "dbpass" => (200, bundle("db-latest")),
        s if s == format!("dbpass/{VERSION}") => (200, bundle("db-v1")),
        "forbidden" => (
            403,
            kv_error(
                "Forbidden",
                "Caller is not authorized to perform action on resource.\r\n\
                 Caller: appid=system;oid=0000\r\nAction: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'",
            ),
        ),
        "missing" => (
            404,
            kv_error(
                "SecretNotFound",
                "A secret with (name/id) missing was not found in this key vault.",
            ),
        ),
        "flaky" => {
            if state.flaky_calls.fetch_add(1, Ordering::SeqCst) == 0 {
                (503, kv_error("ServiceUnavailable", "try again"))
            } else {
                (200, bundle("flaky-value"))
            }
        }
        "broken" => (500, kv_error("InternalError", "the stand-in is broken")),
        "together-a" | "together-b" => {
            // Answers only once both requests are in flight: a sequential
            // resolver would never get here (the wait is a safety net).
            match tokio::time::timeout(Duration::from_secs(10), state.barrier.wait()).await {
                Ok(_) => (200, bundle(secret)),
                Err(_) => (
                    500,
                    kv_error("NotConcurrent", "the other request never came"),
                ),
            }
        }
        _ => (404, kv_error("SecretNotFound", "no such secret")),
    }
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

/// Runs test `test` of this binary in a child process whose managed identity
/// environment points at the stand-in (with `identity_header`), with loopback
/// vaults allowed and `extra` variables set; fails unless every scenario
/// passed and no token was printed.
async fn run_child(
    test: &str,
    server: &Server,
    identity_header: &str,
    extra: &[(&str, std::ffi::OsString)],
) -> Result<(), Box<dyn Error>> {
    let mut child = tokio::process::Command::new(std::env::current_exe()?);
    child.args([test, "--exact", "--nocapture", "--test-threads=1"]);
    for var in [
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_AUTHORITY_HOST",
        "IDENTITY_SERVER_THUMBPRINT",
        "IMDS_ENDPOINT",
        "MSI_ENDPOINT",
        "MSI_SECRET",
        "WHARF_AZURE_CREDENTIAL",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        child.env_remove(var);
    }
    child
        .env(VAULT_ENV, &server.base)
        .env("IDENTITY_ENDPOINT", format!("{}/msi/token", server.base))
        .env("IDENTITY_HEADER", identity_header)
        .env(ALLOW_LOOPBACK_ENV, "1")
        .env(FROM_ENV_VAR, FROM_ENV_VALUE)
        .kill_on_drop(true);
    for (name, value) in extra {
        child.env(name, value);
    }
    let out = child.output().await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(DONE),
        "child scenarios failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    // The child prints every error message it got: none shows a token.
    assert!(
        !stdout.contains("tok-") && !stderr.contains("tok-"),
        "{stdout}\n{stderr}"
    );
    Ok(())
}

/// Runs the scenarios in a child process with the managed identity
/// environment pointing at the stand-in, then checks what went over the wire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_vault_and_managed_identity_on_the_wire() -> Result<(), Box<dyn Error>> {
    if std::env::var_os(VAULT_ENV).is_some() {
        // We are the child process started below.
        return child_scenarios().await;
    }
    let server = Server::start().await?;
    run_child(
        "key_vault_and_managed_identity_on_the_wire",
        &server,
        IDENTITY_HEADER,
        &[],
    )
    .await?;

    let seen = server.seen();
    let count = |path: &str| seen.iter().filter(|r| r.path == path).count();

    // (a) Managed identity token requests: App Service protocol, one per
    // identity (credentials and their tokens are cached across resolves).
    let all_tokens: Vec<&Seen> = seen.iter().filter(|r| r.path == "/msi/token").collect();
    for t in &all_tokens {
        assert_eq!(t.method, "GET");
        assert_eq!(t.header("x-identity-header"), Some(IDENTITY_HEADER));
        assert_eq!(t.query("api-version"), Some("2019-08-01"));
    }
    // The token secret (`aadresourceid`) asked for its own resource, once.
    let arm: Vec<&&Seen> = all_tokens
        .iter()
        .filter(|t| t.query("resource") == Some("https://management.azure.com"))
        .collect();
    assert_eq!(arm.len(), 1, "{all_tokens:#?}");
    assert_eq!(arm[0].query("client_id"), Some(CLIENT_ID));
    let tokens: Vec<&Seen> = all_tokens
        .into_iter()
        .filter(|t| t.query("resource") != Some("https://management.azure.com"))
        .collect();
    for t in &tokens {
        assert_eq!(t.query("resource"), Some("https://vault.azure.net"));
    }
    let user_assigned = tokens
        .iter()
        .filter(|t| t.query("client_id") == Some(CLIENT_ID))
        .count();
    let system_assigned = tokens
        .iter()
        .filter(|t| t.query("client_id").is_none())
        .count();
    assert_eq!(
        (user_assigned, system_assigned, tokens.len()),
        (1, 1, 2),
        "{tokens:#?}"
    );

    // (b) Key Vault requests: GET, api-version 7.4, the right bearer token.
    let kv: Vec<&Seen> = seen
        .iter()
        .filter(|r| r.path.starts_with("/secrets/"))
        .collect();
    for r in &kv {
        assert_eq!(r.method, "GET", "{r:?}");
        assert_eq!(r.query("api-version"), Some("7.4"), "{r:?}");
        let expected = if r.path == "/secrets/password" {
            token_for(Some(CLIENT_ID))
        } else {
            token_for(None)
        };
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {expected}").as_str()),
            "{r:?}"
        );
    }
    assert_eq!(count(&format!("/secrets/dbpass/{VERSION}")), 1);
    // Local values won: their vault URLs were never requested.
    assert_eq!(count("/secrets/never-fetched"), 0);
    // One retry after 5xx; none after 4xx (one request per resolve call).
    assert_eq!(count("/secrets/flaky"), 2);
    assert_eq!(count("/secrets/broken"), 2);
    assert_eq!(count("/secrets/forbidden"), 2);
    assert_eq!(count("/secrets/missing"), 2);
    Ok(())
}

fn decl(id: &str, keyvault: String, client_id: Option<&str>) -> Secret {
    Secret {
        id: id.to_owned(),
        keyvault,
        client_id: client_id.map(str::to_owned),
        aad_resource_id: None,
    }
}

fn expect_err<T: std::fmt::Debug>(result: Result<T, SecretError>) -> SecretError {
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => {
            eprintln!("error message: {e}");
            e
        }
    }
}

/// The scenarios, run inside the child process started above, whose environment
/// points the managed identity credential at the stand-in server.
async fn child_scenarios() -> Result<(), Box<dyn Error>> {
    let base = std::env::var(VAULT_ENV)?;
    let url = |path: &str| format!("{base}/secrets/{path}");
    // The parent opted in to loopback vaults for this process.
    assert_eq!(std::env::var(ALLOW_LOOPBACK_ENV).as_deref(), Ok("1"));

    let mut local = LocalSecrets::new();
    local.parse_flag("given=local-value")?;
    // `--secret NAME` takes the value from the environment.
    local.parse_flag(FROM_ENV_VAR)?;
    assert_eq!(local.get(FROM_ENV_VAR), Some(FROM_ENV_VALUE));
    let resolver = Resolver::new(local);

    // User-assigned and system-assigned identities, pinned and latest
    // versions, and local values winning over their declarations.
    let values = resolver
        .resolve(&[
            decl("pw", url("password"), Some(CLIENT_ID)),
            decl("db", url(&format!("dbpass/{VERSION}")), None),
            decl("db_latest", url("dbpass"), None),
            decl("given", url("never-fetched"), Some(CLIENT_ID)),
            decl(FROM_ENV_VAR, url("never-fetched"), None),
        ])
        .await?;
    let expected = [
        ("db", "db-v1"),
        ("db_latest", "db-latest"),
        ("given", "local-value"),
        ("pw", "uami-secret-value"),
        (FROM_ENV_VAR, FROM_ENV_VALUE),
    ];
    let expected: std::collections::BTreeMap<String, String> = expected
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(values, expected);

    // Independent secrets are read concurrently: the stand-in answers
    // either only when both requests are in flight.
    let values = resolver
        .resolve(&[
            decl("a", url("together-a"), None),
            decl("b", url("together-b"), None),
        ])
        .await?;
    assert_eq!(values.get("a").map(String::as_str), Some("together-a"));
    assert_eq!(values.get("b").map(String::as_str), Some("together-b"));

    // A token secret (acr-builder's `aadresourceid`): the value is an access token
    // for the resource, from the managed identity it names; no vault is read.
    let token_secret = Secret {
        aad_resource_id: Some("https://management.azure.com/".into()),
        ..decl("arm", String::new(), Some(CLIENT_ID))
    };
    let values = resolver.resolve(&[token_secret]).await?;
    assert_eq!(
        values.get("arm").map(String::as_str),
        Some(token_for(Some(CLIENT_ID)).as_str())
    );

    // A 503 is retried once.
    let values = resolver.resolve(&[decl("f", url("flaky"), None)]).await?;
    assert_eq!(values.get("f").map(String::as_str), Some("flaky-value"));

    // 403: names the secret id, the vault and the identity; no token.
    let e = expect_err(
        resolver
            .resolve(&[decl("fb", url("forbidden"), None)])
            .await,
    );
    assert!(matches!(e, SecretError::Forbidden { .. }), "{e:?}");
    let msg = e.to_string();
    for part in [
        "secret `fb`",
        base.as_str(),
        "(HTTP 403: Forbidden: Caller is not authorized",
        "system-assigned managed identity",
        "Key Vault Secrets User",
    ] {
        assert!(msg.contains(part), "{part:?} not in {msg}");
    }
    assert!(
        !msg.contains("tok-") && !format!("{e:?}").contains("tok-"),
        "{msg}"
    );

    // 404 names the secret and vault.
    let e = expect_err(resolver.resolve(&[decl("m", url("missing"), None)]).await);
    let msg = e.to_string();
    assert!(matches!(e, SecretError::NotFound { .. }), "{e:?}");
    assert!(
        msg.contains("secret `m`") && msg.contains("`missing`") && msg.contains(&base),
        "{msg}"
    );

    // A persistent 500 fails after the retry.
    let e = expect_err(resolver.resolve(&[decl("x", url("broken"), None)]).await);
    assert!(
        matches!(e, SecretError::KeyVault { status: 500, .. }),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("InternalError: the stand-in is broken"),
        "{e}"
    );

    // Several failures: the first failing declaration's error is reported.
    let e = expect_err(
        resolver
            .resolve(&[
                decl("pw", url("password"), Some(CLIENT_ID)),
                decl("m", url("missing"), None),
                decl("fb", url("forbidden"), None),
            ])
            .await,
    );
    assert!(
        matches!(e, SecretError::NotFound { ref id, .. } if id == "m"),
        "{e:?}"
    );

    println!("{DONE}");
    Ok(())
}

/// The fake `az` (prints a token unless the file named by [`AZ_FAIL_ENV`]
/// exists) and a fake `azd` that is never logged in, so that no real login on
/// this machine takes part.
#[cfg(unix)]
fn fake_developer_tools(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let az = format!(
        "#!/bin/sh\n\
         if [ -e \"${AZ_FAIL_ENV}\" ]; then\n\
         \techo \"ERROR: Please run 'az login' to setup account.\" >&2\n\
         \texit 1\n\
         fi\n\
         printf '{{\"accessToken\":\"{AZ_TOKEN}\",\"expires_on\":%s,\"tokenType\":\"Bearer\"}}\\n' \
         \"$(( $(date +%s) + 3600 ))\"\n"
    );
    let azd = "#!/bin/sh\necho 'ERROR: not logged in, run `azd auth login` to login' >&2\nexit 1\n";
    for (name, script) in [("az", az.as_str()), ("azd", azd)] {
        let path = dir.join(name);
        std::fs::write(&path, script)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// A managed identity endpoint that has no identity for the secret: without
/// a declared clientID the developer login is tried next (here a fake `az`),
/// with one the failure is final; when both fail the error names both.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_identity_without_a_token_falls_back_to_the_developer_login()
-> Result<(), Box<dyn Error>> {
    if std::env::var_os(VAULT_ENV).is_some() {
        return fallback_child_scenarios().await;
    }
    let tools = tempfile::tempdir()?;
    fake_developer_tools(tools.path())?;
    let mut path = std::ffi::OsString::from(tools.path());
    if let Some(inherited) = std::env::var_os("PATH") {
        path.push(":");
        path.push(inherited);
    }
    let server = Server::start().await?;
    run_child(
        "managed_identity_without_a_token_falls_back_to_the_developer_login",
        &server,
        NO_IDENTITY_HEADER,
        &[
            ("PATH", path),
            (AZ_FAIL_ENV, tools.path().join("az-fails").into_os_string()),
        ],
    )
    .await?;

    let seen = server.seen();
    // The managed identity was asked first, for both declarations.
    let tokens: Vec<&Seen> = seen.iter().filter(|r| r.path == "/msi/token").collect();
    assert!(
        tokens.iter().any(|t| t.query("client_id").is_none())
            && tokens
                .iter()
                .any(|t| t.query("client_id") == Some(CLIENT_ID)),
        "{tokens:#?}"
    );
    // Key Vault was read once, with the developer login's token.
    let kv: Vec<&Seen> = seen
        .iter()
        .filter(|r| r.path.starts_with("/secrets/"))
        .collect();
    assert_eq!(kv.len(), 1, "{kv:#?}");
    assert_eq!(kv[0].path, "/secrets/password");
    assert_eq!(
        kv[0].header("authorization"),
        Some(format!("Bearer {AZ_TOKEN}").as_str())
    );
    Ok(())
}

/// The scenarios of the fallback test, in the child process.
#[cfg(unix)]
async fn fallback_child_scenarios() -> Result<(), Box<dyn Error>> {
    let base = std::env::var(VAULT_ENV)?;
    let url = |path: &str| format!("{base}/secrets/{path}");

    // No clientID: the system-assigned identity does not exist, `az` answers.
    let resolver = Resolver::new(LocalSecrets::new());
    let values = resolver
        .resolve(&[decl("pw", url("password"), None)])
        .await?;
    assert_eq!(
        values.get("pw").map(String::as_str),
        Some("uami-secret-value")
    );

    // A declared clientID is the identity ACR would use: no fallback.
    let e = expect_err(
        resolver
            .resolve(&[decl("uami", url("password"), Some(CLIENT_ID))])
            .await,
    );
    assert!(matches!(e, SecretError::Credential { .. }), "{e:?}");
    assert_eq!(e.id(), Some("uami"));
    let msg = e.to_string();
    assert!(
        msg.contains(&format!(
            "from the user-assigned managed identity with client ID {CLIENT_ID}:"
        )) && !msg.contains("Azure CLI"),
        "{msg}"
    );

    // Both fail: the error says what was tried, in order.
    std::fs::write(std::env::var(AZ_FAIL_ENV)?, "")?;
    let resolver = Resolver::new(LocalSecrets::new());
    let e = expect_err(resolver.resolve(&[decl("pw", url("password"), None)]).await);
    assert!(matches!(e, SecretError::Credential { .. }), "{e:?}");
    let msg = e.to_string();
    for part in [
        "secret `pw`: cannot get a token for Key Vault",
        "from the system-assigned managed identity or the Azure CLI / Azure Developer CLI login:",
        "tried the system-assigned managed identity: ",
        "; then the Azure CLI / Azure Developer CLI login: ",
        "az login",
        "--secret pw=VALUE",
    ] {
        assert!(msg.contains(part), "{part:?} not in {msg}");
    }

    println!("{DONE}");
    Ok(())
}
