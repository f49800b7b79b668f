//! Which builder a `build` step uses, and what BuildKit needs besides the build
//! request: the engine's support for it, the step's ssh agents.
//!
//! wharf builds with the engine's own BuildKit (`/build?version=2` with a session, as
//! `DOCKER_BUILDKIT=1 docker build` does), which runs independent stages in parallel and
//! knows `RUN --mount`, `--secret` and `--ssh`. The classic builder is used when:
//!
//! - the step's env has `DOCKER_BUILDKIT=0` (any false value Go's `strconv.ParseBool`
//!   takes): the builder `az acr run` uses for a step without `DOCKER_BUILDKIT=1`,
//!   chosen explicitly; `cache: enabled` builds with BuildKit anyway, as ACR's buildx
//!   does;
//! - the engine has no BuildKit: a Windows engine, an API older than 1.39, or an engine
//!   that refuses the session;
//! - the step's `--network` names a network other than `host`, `none` or `default`,
//!   which the engine's BuildKit cannot run `RUN` instructions on.
//!
//! Either way the step's log says so.

use std::collections::HashMap;
use std::path::PathBuf;

use wharf_spec::{BuildCommand, Step};

use crate::DockerExecutor;
use crate::build::env_value;
use crate::build_secrets::parse_ssh;
use crate::error::Error;

/// The Engine API version that brought BuildKit (Docker 18.09).
const BUILDKIT_API: (u32, u32) = (1, 39);

/// The builder a step uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Builder {
    /// The engine's BuildKit.
    BuildKit,
    /// The classic builder, and why.
    Classic(String),
}

/// Go's `strconv.ParseBool`, which the docker CLI reads `DOCKER_BUILDKIT` with.
fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Whether `network` (a `--network` value) is one the engine's BuildKit runs `RUN` on.
fn buildkit_network(network: &str) -> bool {
    matches!(network, "" | "default" | "host" | "none")
}

/// The flags of `cmd` that only BuildKit can honour.
pub(crate) fn buildkit_only_flags(cmd: &BuildCommand) -> Vec<&'static str> {
    let mut flags = Vec::new();
    if !cmd.secrets.is_empty() {
        flags.push("--secret");
    }
    if !cmd.ssh.is_empty() {
        flags.push("--ssh");
    }
    flags
}

/// Whether an engine of this OS and API version has BuildKit; the reason when not.
fn engine_support(os: Option<&str>, api_version: Option<&str>) -> Result<(), String> {
    if os.is_some_and(|os| os.eq_ignore_ascii_case("windows")) {
        return Err(
            "the Docker engine runs Windows containers, which BuildKit does not build".into(),
        );
    }
    let version = api_version.and_then(|v| {
        let (major, minor) = v.split_once('.')?;
        Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?))
    });
    match version {
        Some(v) if v < BUILDKIT_API => Err(format!(
            "the Docker engine's API {}.{} is older than BuildKit ({}.{})",
            v.0, v.1, BUILDKIT_API.0, BUILDKIT_API.1
        )),
        _ => Ok(()),
    }
}

impl DockerExecutor {
    /// The builder for `step` (its parsed arguments `cmd`; `cache_enabled` for `cache:
    /// enabled`). Bad `DOCKER_BUILDKIT` values are the step's input error.
    pub(crate) async fn choose_builder(
        &self,
        step: &Step,
        cmd: &BuildCommand,
        cache_enabled: bool,
    ) -> Result<Builder, Error> {
        let requested = match env_value(&step.env, "DOCKER_BUILDKIT") {
            None => None,
            Some(value) => Some(parse_go_bool(&value).ok_or_else(|| {
                Error::input(format!(
                    "step {}: DOCKER_BUILDKIT={value}: the docker CLI takes a boolean (1 or 0)",
                    step.id
                ))
            })?),
        };
        if requested == Some(false) && !cache_enabled {
            return Ok(Builder::Classic(
                "DOCKER_BUILDKIT=0 in the step's env".into(),
            ));
        }
        if let Some(network) = cmd.network.as_deref().filter(|n| !buildkit_network(n)) {
            return Ok(Builder::Classic(format!(
                "--network {network}: the engine's BuildKit runs RUN instructions only on host, none or the default network"
            )));
        }
        match self.engine_buildkit().await {
            Ok(()) => Ok(Builder::BuildKit),
            Err(reason) => Ok(Builder::Classic(reason)),
        }
    }

    /// Whether the engine has BuildKit: asked once per run (its version), and
    /// remembered as missing when it refuses a session.
    async fn engine_buildkit(&self) -> Result<(), String> {
        if let Some(known) = self.buildkit_support.lock().ok().and_then(|k| k.clone()) {
            return known;
        }
        let support = match self.docker.version().await {
            Ok(v) => engine_support(v.os.as_deref(), v.api_version.as_deref()),
            // The build itself will say what is wrong with the engine.
            Err(_) => Ok(()),
        };
        if let Ok(mut known) = self.buildkit_support.lock() {
            *known = Some(support.clone());
        }
        support
    }

    /// Remembers that the engine has no BuildKit (it refused a session).
    pub(crate) fn note_no_buildkit(&self, reason: &str) {
        if let Ok(mut known) = self.buildkit_support.lock() {
            *known = Some(Err(reason.to_string()));
        }
    }
}

/// The ssh agents of a step's `--ssh` values, by id: sockets on this machine
/// (`SSH_AUTH_SOCK` for an id without a socket).
pub(crate) fn ssh_agents(step: &str, specs: &[String]) -> Result<HashMap<String, PathBuf>, Error> {
    let auth_sock = std::env::var("SSH_AUTH_SOCK").ok();
    let is_socket = |path: &str| {
        use std::os::unix::fs::FileTypeExt;
        std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
    };
    let mut agents = HashMap::new();
    for spec in specs {
        let (id, socket) = parse_ssh(spec, auth_sock.as_deref(), &is_socket)
            .map_err(|e| Error::input(format!("step {step}: {e}")))?;
        if !is_socket(&socket.to_string_lossy()) {
            return Err(Error::input(format!(
                "step {step}: --ssh {spec}: {} is not an ssh-agent socket (is the agent running?)",
                socket.display()
            )));
        }
        agents.insert(id, socket);
    }
    Ok(agents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_buildkit_is_a_go_boolean() {
        assert_eq!(parse_go_bool("0"), Some(false));
        assert_eq!(parse_go_bool("False"), Some(false));
        assert_eq!(parse_go_bool("true"), Some(true));
        assert_eq!(parse_go_bool("yes"), None);
    }

    #[test]
    fn engines_without_buildkit() {
        assert!(engine_support(Some("linux"), Some("1.41")).is_ok());
        assert!(engine_support(Some("linux"), None).is_ok());
        assert!(engine_support(Some("windows"), Some("1.41")).is_err());
        assert!(
            engine_support(Some("linux"), Some("1.38"))
                .is_err_and(|e| e.contains("older than BuildKit"))
        );
    }

    #[test]
    fn buildkit_runs_on_few_networks() {
        for n in ["host", "none", "default", ""] {
            assert!(buildkit_network(n), "{n}");
        }
        assert!(!buildkit_network("acb_default_network_r1"));
    }

    #[test]
    fn flags_only_buildkit_honours() {
        let cmd = BuildCommand {
            secrets: vec!["id=a".into()],
            ..BuildCommand::default()
        };
        assert_eq!(buildkit_only_flags(&cmd), ["--secret"]);
        assert!(buildkit_only_flags(&BuildCommand::default()).is_empty());
    }
}
