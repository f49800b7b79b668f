//! A BuildKit session over the Engine API, as the docker CLI serves one while
//! `docker build` runs with BuildKit: `POST /session` on a connection of its own,
//! upgraded to h2c, after which the engine calls back over gRPC for what a build needs
//! from its client — registry credentials (pulls, cache imports), `--secret` values
//! and `--ssh` agents — and checks that the session is alive.
//!
//! The build context does not go through the session: it is the body of the `/build`
//! request (streamed from the workspace), which the engine's BuildKit reads as a
//! tarball context. So a session only ever serves small requests.

use std::collections::HashMap;
use std::path::PathBuf;

use bollard_buildkit_proto::health::health_check_response::ServingStatus;
use bollard_buildkit_proto::health::health_server::{Health, HealthServer};
use bollard_buildkit_proto::health::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse,
};
use bollard_buildkit_proto::moby::buildkit::secrets::v1::secrets_server::{Secrets, SecretsServer};
use bollard_buildkit_proto::moby::buildkit::secrets::v1::{GetSecretRequest, GetSecretResponse};
use bollard_buildkit_proto::moby::filesync::v1::auth_server::{Auth, AuthServer};
use bollard_buildkit_proto::moby::filesync::v1::{
    CredentialsRequest, CredentialsResponse, FetchTokenRequest, FetchTokenResponse,
    GetTokenAuthorityRequest, GetTokenAuthorityResponse, VerifyTokenAuthorityRequest,
    VerifyTokenAuthorityResponse,
};
use bollard_buildkit_proto::moby::sshforward::v1::ssh_server::{Ssh, SshServer};
use bollard_buildkit_proto::moby::sshforward::v1::{
    BytesMessage, CheckAgentRequest, CheckAgentResponse,
};
use bytes::Bytes;
use futures_util::StreamExt;
use http::{StatusCode, header};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::{Request, Response, Status, Streaming};
use wharf_registry::reference::DOCKER_HUB;

use crate::connect::Endpoint;
use crate::{Credential, CredentialLookup, labels};

/// The session's id, as the engine knows it.
const HEADER_ID: &str = "X-Docker-Expose-Session-Uuid";
/// A name for the session (the CLI sends its working directory's name).
const HEADER_NAME: &str = "X-Docker-Expose-Session-Name";
/// A key the engine groups sessions by (for shared file caches, which wharf does not use).
const HEADER_SHARED_KEY: &str = "X-Docker-Expose-Session-Sharedkey";
/// One per gRPC method the session serves.
const HEADER_METHOD: &str = "X-Docker-Expose-Session-Grpc-Method";

/// The gRPC metadata key that names the agent a `ForwardAgent` call is for.
const SSH_ID_KEY: &str = "buildkit.ssh.id";
/// The agent `--ssh default` names, and the one a call without an id means.
pub(crate) const SSH_DEFAULT_ID: &str = "default";

/// The largest ssh-agent message relayed (OpenSSH's own limit).
const MAX_AGENT_MESSAGE: usize = 256 * 1024;

/// What a session hands out.
#[derive(Clone)]
pub(crate) struct SessionProviders {
    /// `--secret` values by id.
    pub secrets: HashMap<String, Vec<u8>>,
    /// `--ssh` agents by id: the agent's socket on this machine.
    pub ssh: HashMap<String, PathBuf>,
    /// Registry credentials by host.
    pub credentials: CredentialLookup,
}

/// An open session; dropping it closes the session's connection.
pub(crate) struct Session {
    id: String,
    served: tokio::task::JoinHandle<()>,
}

impl Session {
    /// The id to give the build (`session=` of `/build`).
    pub(crate) fn id(&self) -> &str {
        &self.id
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.served.abort();
    }
}

/// Why no session could be opened.
#[derive(Debug)]
pub(crate) enum SessionError {
    /// The engine answered, but does not take sessions (no BuildKit).
    Refused(String),
    /// The engine could not be reached or the connection failed.
    Failed(String),
}

/// Opens a session on `endpoint` (API version `api_version`, as `1.41`) that serves
/// `providers`.
pub(crate) async fn open(
    endpoint: &Endpoint,
    api_version: &str,
    providers: SessionProviders,
) -> Result<Session, SessionError> {
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        SessionError::Failed(format!(
            "cannot open a BuildKit session with the Docker engine at {}: {what}: {e}",
            endpoint.describe()
        ))
    };
    let id = format!("wharf-{}", labels::new_session());
    let stream = endpoint
        .dial()
        .await
        .map_err(|e| failed("cannot connect", &e))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| failed("the connection failed", &e))?;
    // Drives the request until the connection is handed over to the session.
    let connection = tokio::spawn(connection.with_upgrades());

    let mut request = http::Request::post(format!("/v{api_version}/session"))
        .header(header::HOST, "docker")
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "h2c")
        .header(HEADER_ID, &id)
        .header(HEADER_NAME, "wharf")
        .header(HEADER_SHARED_KEY, &id);
    for method in served_methods() {
        request = request.header(HEADER_METHOD, method);
    }
    let request = request
        .body(http_body_util::Empty::<Bytes>::new())
        .map_err(|e| failed("bad request", &e))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| failed("the engine did not answer", &e))?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        connection.abort();
        let text = String::from_utf8_lossy(&body);
        return Err(SessionError::Refused(format!(
            "the Docker engine refused a BuildKit session ({status}{}{})",
            if text.trim().is_empty() { "" } else { ": " },
            text.trim()
        )));
    }
    let upgraded = hyper::upgrade::on(response)
        .await
        .map_err(|e| failed("the connection was not handed over", &e))?;

    let SessionProviders {
        secrets,
        ssh,
        credentials,
    } = providers;
    let routes = Routes::new(HealthServer::new(Alive))
        .add_service(AuthServer::new(Credentials(credentials)))
        .add_service(SecretsServer::new(SecretValues(secrets)))
        .add_service(SshServer::new(Agents(ssh)))
        .prepare();
    let served = tokio::spawn(async move {
        // The engine is the gRPC client on this connection: wharf serves.
        let service = hyper_util::service::TowerToHyperService::new(routes);
        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(upgraded, service)
            .await;
        connection.abort();
    });
    Ok(Session { id, served })
}

/// The gRPC methods a session serves, as the engine asks to be told.
fn served_methods() -> Vec<String> {
    let method = |service: &str, name: &str| format!("/{service}/{name}");
    vec![
        method(HealthServer::<Alive>::NAME, "Check"),
        method(AuthServer::<Credentials>::NAME, "Credentials"),
        method(SecretsServer::<SecretValues>::NAME, "GetSecret"),
        method(SshServer::<Agents>::NAME, "CheckAgent"),
        method(SshServer::<Agents>::NAME, "ForwardAgent"),
    ]
}

/// Answers the engine's health checks: the session lives as long as its connection.
struct Alive;

#[tonic::async_trait]
impl Health for Alive {
    async fn check(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))
    }

    async fn list(
        &self,
        _request: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        Err(Status::unimplemented("wharf's session answers Check only"))
    }

    type WatchStream = ReceiverStream<Result<HealthCheckResponse, Status>>;

    async fn watch(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("wharf's session answers Check only"))
    }
}

/// Registry credentials, from what `docker login` stored (the executor's lookup).
struct Credentials(CredentialLookup);

/// The host wharf's credential lookup knows a registry by: BuildKit asks for Docker
/// Hub by its API host.
fn lookup_host(host: &str) -> &str {
    match host {
        "registry-1.docker.io" | "index.docker.io" => DOCKER_HUB,
        other => other,
    }
}

#[tonic::async_trait]
impl Auth for Credentials {
    async fn credentials(
        &self,
        request: Request<CredentialsRequest>,
    ) -> Result<Response<CredentialsResponse>, Status> {
        let host = request.into_inner().host;
        // No credentials is an anonymous pull, not an error.
        let response = match (self.0)(lookup_host(&host)) {
            Some(Credential::Basic { username, password }) => CredentialsResponse {
                username,
                secret: password,
            },
            Some(Credential::IdentityToken(token)) => CredentialsResponse {
                username: String::new(),
                secret: token,
            },
            None => CredentialsResponse::default(),
        };
        Ok(Response::new(response))
    }

    // Token fetching stays with the engine (it gets the credentials above).
    async fn fetch_token(
        &self,
        _request: Request<FetchTokenRequest>,
    ) -> Result<Response<FetchTokenResponse>, Status> {
        Err(Status::unimplemented("wharf hands out credentials only"))
    }

    async fn get_token_authority(
        &self,
        _request: Request<GetTokenAuthorityRequest>,
    ) -> Result<Response<GetTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("wharf hands out credentials only"))
    }

    async fn verify_token_authority(
        &self,
        _request: Request<VerifyTokenAuthorityRequest>,
    ) -> Result<Response<VerifyTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("wharf hands out credentials only"))
    }
}

/// `--secret` values, read before the build started.
struct SecretValues(HashMap<String, Vec<u8>>);

#[tonic::async_trait]
impl Secrets for SecretValues {
    async fn get_secret(
        &self,
        request: Request<GetSecretRequest>,
    ) -> Result<Response<GetSecretResponse>, Status> {
        let id = request.into_inner().id;
        match self.0.get(&id) {
            Some(data) => Ok(Response::new(GetSecretResponse { data: data.clone() })),
            // NotFound is how BuildKit learns that a secret is missing (an optional
            // mount is then skipped).
            None => Err(Status::not_found(format!(
                "secret {id} not found: give it with --secret id={id},src=FILE or --secret id={id},env=VAR"
            ))),
        }
    }
}

/// `--ssh` agents: sockets of ssh-agents on this machine.
struct Agents(HashMap<String, PathBuf>);

impl Agents {
    fn socket(&self, id: &str) -> Result<&PathBuf, Status> {
        let id = if id.is_empty() { SSH_DEFAULT_ID } else { id };
        self.0.get(id).ok_or_else(|| {
            Status::not_found(format!(
                "no ssh agent {id}: give one with --ssh {id} (the agent of SSH_AUTH_SOCK) or --ssh {id}=SOCKET"
            ))
        })
    }
}

#[tonic::async_trait]
impl Ssh for Agents {
    async fn check_agent(
        &self,
        request: Request<CheckAgentRequest>,
    ) -> Result<Response<CheckAgentResponse>, Status> {
        self.socket(&request.into_inner().id)?;
        Ok(Response::new(CheckAgentResponse {}))
    }

    type ForwardAgentStream = ReceiverStream<Result<BytesMessage, Status>>;

    async fn forward_agent(
        &self,
        request: Request<Streaming<BytesMessage>>,
    ) -> Result<Response<Self::ForwardAgentStream>, Status> {
        let id = request
            .metadata()
            .get(SSH_ID_KEY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(SSH_DEFAULT_ID)
            .to_string();
        let socket = self.socket(&id)?.clone();
        let agent = tokio::net::UnixStream::connect(&socket)
            .await
            .map_err(|e| {
                Status::unavailable(format!(
                    "cannot reach the ssh agent {id} at {}: {e}",
                    socket.display()
                ))
            })?;
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(relay_agent(request.into_inner(), agent, tx));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// An ssh-agent request type that a build may make: list the keys, sign with one.
/// Like the docker CLI, wharf gives builds a read-only agent: adding, removing and
/// locking keys (and extensions) are refused.
fn agent_request_allowed(kind: u8) -> bool {
    const REQUEST_IDENTITIES: u8 = 11;
    const SIGN_REQUEST: u8 = 13;
    matches!(kind, REQUEST_IDENTITIES | SIGN_REQUEST)
}

/// The agent protocol's answer to a refused request.
const AGENT_FAILURE: [u8; 5] = [0, 0, 0, 1, 5];

/// Relays agent requests from the build (`from`) to the agent, one at a time, and the
/// agent's answers back (`to`).
async fn relay_agent<S>(
    mut from: S,
    mut agent: tokio::net::UnixStream,
    to: mpsc::Sender<Result<BytesMessage, Status>>,
) where
    S: futures_util::Stream<Item = Result<BytesMessage, Status>> + Unpin,
{
    let mut pending: Vec<u8> = Vec::new();
    while let Some(message) = from.next().await {
        let Ok(message) = message else { return };
        pending.extend_from_slice(&message.data);
        while let Some((request, rest)) = split_agent_message(&pending) {
            let request = request.to_vec();
            pending = rest.to_vec();
            let answer = if request.get(4).copied().is_some_and(agent_request_allowed) {
                match agent_round_trip(&mut agent, &request).await {
                    Ok(answer) => answer,
                    Err(e) => {
                        let _ = to
                            .send(Err(Status::unavailable(format!(
                                "the ssh agent stopped answering: {e}"
                            ))))
                            .await;
                        return;
                    }
                }
            } else {
                AGENT_FAILURE.to_vec()
            };
            if to.send(Ok(BytesMessage { data: answer })).await.is_err() {
                return;
            }
        }
        if pending.len() > MAX_AGENT_MESSAGE + 4 {
            let _ = to
                .send(Err(Status::invalid_argument("ssh agent message too long")))
                .await;
            return;
        }
    }
}

/// The first whole agent message of `bytes` (length prefix included) and the rest.
fn split_agent_message(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let end = 4usize.checked_add(len)?;
    (bytes.len() >= end).then(|| bytes.split_at(end))
}

/// Sends one request to the agent and reads its one answer.
async fn agent_round_trip(
    agent: &mut tokio::net::UnixStream,
    request: &[u8],
) -> std::io::Result<Vec<u8>> {
    agent.write_all(request).await?;
    let mut len = [0u8; 4];
    agent.read_exact(&mut len).await?;
    let n = u32::from_be_bytes(len) as usize;
    if n > MAX_AGENT_MESSAGE {
        return Err(std::io::Error::other("the agent's answer is too long"));
    }
    let mut answer = vec![0u8; 4 + n];
    answer[..4].copy_from_slice(&len);
    agent.read_exact(&mut answer[4..]).await?;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_messages_are_split_by_their_length() {
        let bytes = [0, 0, 0, 1, 11, 0, 0, 0, 2, 13];
        let (first, rest) = split_agent_message(&bytes).unwrap_or_default();
        assert_eq!(first, [0, 0, 0, 1, 11]);
        assert_eq!(rest, [0, 0, 0, 2, 13]);
        assert!(split_agent_message(rest).is_none(), "incomplete");
        assert!(split_agent_message(&[0, 0]).is_none());
    }

    #[test]
    fn builds_get_a_read_only_agent() {
        assert!(agent_request_allowed(11) && agent_request_allowed(13));
        // add identity, remove all, lock, extension
        for kind in [17, 19, 22, 27] {
            assert!(!agent_request_allowed(kind), "{kind}");
        }
    }

    /// A real ssh-agent with one key, behind the relay: listing works, removing keys
    /// is refused and the key stays.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_relay_lists_keys_and_refuses_to_change_them() {
        use std::process::Command;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let socket = dir.path().join("agent.sock");
        let key = dir.path().join("key");
        let Ok(mut agent) = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(std::process::Stdio::null())
            .spawn()
        else {
            eprintln!("skipped: no ssh-agent (apt-get install openssh-client)");
            return;
        };
        for _ in 0..100 {
            if socket.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let ok = |c: &mut Command| c.output().is_ok_and(|o| o.status.success());
        assert!(ok(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)));
        assert!(ok(Command::new("ssh-add")
            .env("SSH_AUTH_SOCK", &socket)
            .arg(&key)));

        let stream = tokio::net::UnixStream::connect(&socket)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (tx, mut rx) = mpsc::channel(4);
        let list = BytesMessage {
            data: vec![0, 0, 0, 1, 11],
        };
        // Remove all identities, split across two messages; then list again.
        let requests = futures_util::stream::iter([
            Ok(list.clone()),
            Ok(BytesMessage {
                data: vec![0, 0, 0],
            }),
            Ok(BytesMessage { data: vec![1, 19] }),
            Ok(list),
        ]);
        tokio::spawn(relay_agent(requests, stream, tx));
        let mut answers = Vec::new();
        while let Some(answer) = rx.recv().await {
            answers.push(answer.map(|a| a.data).unwrap_or_default());
        }
        let _ = agent.kill();
        let _ = agent.wait();
        assert_eq!(answers.len(), 3, "{answers:?}");
        // SSH_AGENT_IDENTITIES_ANSWER with one key, both times.
        for listed in [&answers[0], &answers[2]] {
            assert_eq!(listed.get(4), Some(&12));
            assert_eq!(listed.get(5..9), Some(&[0u8, 0, 0, 1][..]));
        }
        assert_eq!(answers[1], AGENT_FAILURE);
    }

    #[test]
    fn docker_hub_is_looked_up_as_docker_io() {
        assert_eq!(lookup_host("registry-1.docker.io"), DOCKER_HUB);
        assert_eq!(lookup_host("127.0.0.1:5000"), "127.0.0.1:5000");
    }

    #[test]
    fn the_engine_is_told_every_method_served() {
        let methods = served_methods();
        assert!(methods.contains(&"/moby.buildkit.secrets.v1.Secrets/GetSecret".to_string()));
        assert!(methods.contains(&"/moby.filesync.v1.Auth/Credentials".to_string()));
        assert!(methods.contains(&"/moby.sshforward.v1.SSH/ForwardAgent".to_string()));
        assert!(methods.contains(&"/grpc.health.v1.Health/Check".to_string()));
    }
}
