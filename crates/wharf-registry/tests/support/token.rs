//! A token server for distribution's token auth, written for the tests: it issues
//! RS256 JWTs that the real registry verifies against the certificate in its
//! `rootcertbundle`. It also speaks Azure Container Registry's two endpoints
//! (`/oauth2/exchange`, `/oauth2/token`) and App Service's managed identity
//! protocol (`/msi/token`), standing in for Azure AD and ACR's token service, which
//! cannot run here.
//!
//! Every request is recorded (without secrets: only whether credentials came and
//! whose), so tests check what went over the wire.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use http_body_util::BodyExt as _;
use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::Signer;
use openssl::x509::{X509, X509NameBuilder};
use serde_json::{Value, json};

pub const SERVICE: &str = "wharf-test-registry";
pub const ISSUER: &str = "wharf-test-issuer";
/// The App Service identity header the stand-in accepts.
pub const IDENTITY_HEADER: &str = "wharf-test-identity-header";
/// The AAD token the stand-in issues for `resource`.
pub fn aad_token(resource: &str) -> String {
    // A JWT-shaped token with a `tid` claim, as Azure AD's are.
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({ "tid": "tenant-0001", "aud": resource }).to_string());
    format!(
        "eyJhbGciOiJub25lIn0.{claims}.aad-signature-{}",
        resource.len()
    )
}

/// One request the server saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// The user of a valid or invalid Basic header, if one came.
    pub basic_user: Option<String>,
    /// Whether any Authorization header came.
    pub authorization: bool,
    /// Form or query parameters, secrets replaced by `<secret>`.
    pub params: Vec<(String, String)>,
    /// The host the request was addressed to.
    pub host: String,
}

impl Seen {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn params_named(&self, name: &str) -> Vec<&str> {
        self.params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// What the ACR stand-in accepts.
#[derive(Debug, Clone, Default)]
pub struct AcrRules {
    /// AAD audiences (resources) whose tokens the exchange accepts.
    pub accepted_resources: Vec<String>,
}

struct TokenState {
    users: HashMap<String, String>,
    key: PKey<Private>,
    cert_der: Vec<u8>,
    seen: Mutex<Vec<Seen>>,
    refresh_tokens: Mutex<HashSet<String>>,
    acr: Mutex<AcrRules>,
    /// Repositories (prefix) anonymous clients may pull.
    anonymous_pull_prefix: String,
}

pub struct TokenServer {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The PEM certificate for the registry's `rootcertbundle`.
    pub cert_path: PathBuf,
    state: Arc<TokenState>,
    _dir: tempfile::TempDir,
}

impl TokenServer {
    /// Starts on a free loopback port; `users` may log in with Basic.
    pub async fn start(users: &[(&str, &str)]) -> TokenServer {
        let rsa = Rsa::generate(2048).expect("RSA key");
        let key = PKey::from_rsa(rsa).expect("key");
        let mut name = X509NameBuilder::new().expect("name");
        name.append_entry_by_text("CN", "wharf test token issuer")
            .expect("CN");
        let name = name.build();
        let mut cert = X509::builder().expect("cert");
        cert.set_version(2).expect("version");
        cert.set_subject_name(&name).expect("subject");
        cert.set_issuer_name(&name).expect("issuer");
        cert.set_pubkey(&key).expect("pubkey");
        let serial = openssl::bn::BigNum::from_u32(1)
            .and_then(|b| b.to_asn1_integer())
            .expect("serial");
        cert.set_serial_number(&serial).expect("serial");
        cert.set_not_before(&Asn1Time::days_from_now(0).expect("time"))
            .expect("not before");
        cert.set_not_after(&Asn1Time::days_from_now(2).expect("time"))
            .expect("not after");
        cert.sign(&key, MessageDigest::sha256()).expect("sign");
        let cert = cert.build();
        let dir = tempfile::tempdir().expect("temp dir");
        let cert_path = dir.path().join("token-cert.pem");
        std::fs::write(&cert_path, cert.to_pem().expect("pem")).expect("write cert");
        let state = Arc::new(TokenState {
            users: users
                .iter()
                .map(|(u, p)| (u.to_string(), p.to_string()))
                .collect(),
            key,
            cert_der: cert.to_der().expect("der"),
            seen: Mutex::new(Vec::new()),
            refresh_tokens: Mutex::new(HashSet::new()),
            acr: Mutex::new(AcrRules::default()),
            anonymous_pull_prefix: "public/".into(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TokenServer {
            addr,
            base: format!("http://{addr}"),
            cert_path,
            state,
            _dir: dir,
        }
    }

    /// The realm for distribution's token auth.
    pub fn realm(&self) -> String {
        format!("{}/token", self.base)
    }

    /// The realm as ACR announces it.
    pub fn acr_realm(&self) -> String {
        format!("{}/oauth2/token", self.base)
    }

    pub fn set_acr(&self, rules: AcrRules) {
        *self.state.acr.lock().expect("lock") = rules;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().expect("lock").clone()
    }

    pub fn clear(&self) {
        self.state.seen.lock().expect("lock").clear();
    }
}

fn reply(status: StatusCode, body: Value) -> Response {
    Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

const SECRET_PARAMS: [&str; 3] = ["refresh_token", "access_token", "password"];

async fn handle(State(state): State<Arc<TokenState>>, request: Request) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let host = request
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    let headers = request.headers().clone();
    let mut params: Vec<(String, String)> = request
        .uri()
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if method == "POST" {
        params.extend(form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())));
    }
    let basic = basic(&headers);
    state.seen.lock().expect("lock").push(Seen {
        method: method.clone(),
        path: path.clone(),
        basic_user: basic.as_ref().map(|(u, _)| u.clone()),
        authorization: headers.contains_key("authorization"),
        params: params
            .iter()
            .map(|(k, v)| {
                let v = if SECRET_PARAMS.contains(&k.as_str()) {
                    "<secret>".to_string()
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect(),
        host,
    });
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    match (method.as_str(), path.as_str()) {
        ("GET", "/msi/token") => {
            if headers
                .get("x-identity-header")
                .and_then(|v| v.to_str().ok())
                != Some(IDENTITY_HEADER)
            {
                return reply(
                    StatusCode::UNAUTHORIZED,
                    json!({"error": "bad identity header"}),
                );
            }
            let resource = param("resource").unwrap_or_default();
            let expires = now() + 3600;
            reply(
                StatusCode::OK,
                json!({
                    "access_token": aad_token(&resource),
                    "expires_on": expires.to_string(),
                    "resource": resource,
                    "token_type": "Bearer",
                }),
            )
        }
        ("POST", "/oauth2/exchange") => {
            let rules = state.acr.lock().expect("lock").clone();
            let token = param("access_token").unwrap_or_default();
            let accepted = rules
                .accepted_resources
                .iter()
                .any(|r| aad_token(r) == token);
            if param("grant_type").as_deref() != Some("access_token")
                || param("service").as_deref() != Some(SERVICE)
                || !accepted
            {
                return reply(
                    StatusCode::UNAUTHORIZED,
                    json!({"errors": [{"code": "UNAUTHORIZED", "message": "invalid AAD token"}]}),
                );
            }
            let refresh = format!("acr-refresh-{}", uuid::Uuid::new_v4().simple());
            state
                .refresh_tokens
                .lock()
                .expect("lock")
                .insert(refresh.clone());
            reply(StatusCode::OK, json!({ "refresh_token": refresh }))
        }
        ("GET", "/oauth2/token") => {
            // ACR's basic variant: the null GUID with an ACR refresh token (what
            // `az acr login` has docker store).
            let Some((user, password)) = &basic else {
                return reply(
                    StatusCode::UNAUTHORIZED,
                    json!({"error": "credentials required"}),
                );
            };
            let known = state
                .refresh_tokens
                .lock()
                .expect("lock")
                .contains(password);
            if user != "00000000-0000-0000-0000-000000000000" || !known {
                return reply(
                    StatusCode::UNAUTHORIZED,
                    json!({"error": "invalid credentials"}),
                );
            }
            let scopes: Vec<String> = params
                .iter()
                .filter(|(k, _)| k == "scope")
                .map(|(_, v)| v.clone())
                .collect();
            reply(StatusCode::OK, token_answer(&state, Some(user), &scopes))
        }
        ("GET", "/token") => {
            let scopes: Vec<String> = params
                .iter()
                .filter(|(k, _)| k == "scope")
                .map(|(_, v)| v.clone())
                .collect();
            let user = match &basic {
                Some((user, password)) => {
                    if state.users.get(user) != Some(password) {
                        return reply(
                            StatusCode::UNAUTHORIZED,
                            json!({"details": "wrong user name or password"}),
                        );
                    }
                    Some(user.clone())
                }
                None => None,
            };
            let mut answer = token_answer(&state, user.as_deref(), &scopes);
            if param("offline_token").as_deref() == Some("true") && user.is_some() {
                let refresh = format!("refresh-{}", uuid::Uuid::new_v4().simple());
                state
                    .refresh_tokens
                    .lock()
                    .expect("lock")
                    .insert(refresh.clone());
                answer["refresh_token"] = Value::String(refresh);
            }
            reply(StatusCode::OK, answer)
        }
        ("POST", "/token") | ("POST", "/oauth2/token") => {
            if param("grant_type").as_deref() != Some("refresh_token") {
                return reply(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "unsupported_grant_type"}),
                );
            }
            let refresh = param("refresh_token").unwrap_or_default();
            if !state
                .refresh_tokens
                .lock()
                .expect("lock")
                .contains(&refresh)
            {
                return reply(StatusCode::UNAUTHORIZED, json!({"error": "invalid_grant"}));
            }
            let scopes: Vec<String> = params
                .iter()
                .filter(|(k, _)| k == "scope")
                .flat_map(|(_, v)| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                .collect();
            reply(
                StatusCode::OK,
                token_answer(&state, Some("refresh-user"), &scopes),
            )
        }
        _ => reply(StatusCode::NOT_FOUND, json!({"error": "no such route"})),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A token granting what `user` may have of `scopes`: everything for a user,
/// pull on `public/...` for anonymous clients.
fn token_answer(state: &TokenState, user: Option<&str>, scopes: &[String]) -> Value {
    let mut access = Vec::new();
    for scope in scopes {
        let mut parts = scope.splitn(2, ':');
        let kind = parts.next().unwrap_or_default();
        let rest = parts.next().unwrap_or_default();
        let Some((name, actions)) = rest.rsplit_once(':') else {
            continue;
        };
        let actions: Vec<&str> = actions
            .split(',')
            .filter(|a| match user {
                Some(_) => true,
                None => *a == "pull" && name.starts_with(&state.anonymous_pull_prefix),
            })
            .collect();
        if !actions.is_empty() {
            access.push(json!({"type": kind, "name": name, "actions": actions}));
        }
    }
    let header = json!({
        "typ": "JWT",
        "alg": "RS256",
        "x5c": [base64::engine::general_purpose::STANDARD.encode(&state.cert_der)],
    });
    let now = now();
    let claims = json!({
        "iss": ISSUER,
        "sub": user.unwrap_or(""),
        "aud": SERVICE,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": uuid::Uuid::new_v4().simple().to_string(),
        "access": access,
    });
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let signing_input = format!("{}.{}", b64(&header), b64(&claims));
    let mut signer = Signer::new(MessageDigest::sha256(), &state.key).expect("signer");
    signer.update(signing_input.as_bytes()).expect("sign");
    let signature = signer.sign_to_vec().expect("signature");
    let token = format!(
        "{signing_input}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature)
    );
    json!({ "token": token, "access_token": token, "expires_in": 300 })
}
