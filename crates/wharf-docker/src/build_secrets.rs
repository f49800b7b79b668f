//! `--secret` and `--ssh` of a build step: what BuildKit mounts into `RUN
//! --mount=type=secret` and `RUN --mount=type=ssh`, served by the build's session
//! ([`crate::session`]).
//!
//! A secret is read where ACR's builder container would read it: a `src` file relative
//! to the step's working directory in the workspace (or in a secret volume the step
//! mounts), an `env` variable from the step's environment (where a task secret gets
//! in with `env: ["TOKEN={{.Secrets.token}}"]`). Every value is added to the run's
//! masker before the build starts, so it never reaches the log, events or errors.

use std::collections::HashMap;
use std::path::PathBuf;

use wharf_spec::task::WORKSPACE;
use wharf_spec::{Container, Step};

use crate::build::env_value;
use crate::context::container_path;
use crate::error::Error;
use crate::session::SSH_DEFAULT_ID;
use crate::{DockerExecutor, labels, workspace};

/// BuildKit's limit on a secret's size.
const MAX_SECRET_SIZE: usize = 500 * 1024;

/// Where a `--secret` value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SecretSource {
    /// A file, as written (relative to the step's working directory).
    File(String),
    /// A variable of the step's environment.
    Env(String),
}

/// One `--secret`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SecretSpec {
    /// The id `RUN --mount=type=secret,id=...` names.
    pub id: String,
    /// Where its value comes from.
    pub source: SecretSource,
}

/// Parses a `--secret` value as the docker CLI does: comma-separated `key=value`
/// fields `id`, `src`/`source`, `env` and `type` (`file` or `env`). Without `src` and
/// `env`, the value is the variable named by the id when the step's environment has
/// it, else the file named by the id. `env_has` says whether the step's environment
/// has a variable.
pub(crate) fn parse_secret(
    spec: &str,
    env_has: &dyn Fn(&str) -> bool,
) -> Result<SecretSpec, String> {
    let mut id = None;
    let mut file = None;
    let mut env = None;
    let mut kind = None;
    for field in spec.split(',') {
        let Some((key, value)) = field.split_once('=') else {
            return Err(format!(
                "invalid field '{field}': it must be a key=value pair"
            ));
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "type" if value == "file" || value == "env" => kind = Some(value.to_string()),
            "type" => {
                return Err(format!(
                    "unsupported secret type {value:?} (use file or env)"
                ));
            }
            "id" => id = Some(value.to_string()),
            "src" | "source" => file = Some(value.to_string()),
            "env" => env = Some(value.to_string()),
            other => {
                return Err(format!(
                    "unexpected key '{other}' in '{field}' (use id, src, env or type)"
                ));
            }
        }
    }
    if kind.as_deref() == Some("env") && env.is_none() {
        env = file.take();
    }
    let id = id
        .filter(|i| !i.is_empty())
        .ok_or_else(|| "the secret has no id: write id=NAME".to_string())?;
    let source = match (file, env) {
        (Some(_), Some(_)) => {
            return Err("give either src or env, not both".to_string());
        }
        (Some(f), None) => SecretSource::File(f),
        (None, Some(e)) => SecretSource::Env(e),
        (None, None) if env_has(&id) => SecretSource::Env(id.clone()),
        (None, None) => SecretSource::File(id.clone()),
    };
    Ok(SecretSpec { id, source })
}

/// Parses a `--ssh` value (`default`, `ID`, `ID=SOCKET[,SOCKET]`) into the agent id and
/// the socket of the ssh-agent to forward. `ID` alone means the agent of
/// `SSH_AUTH_SOCK` (`auth_sock`). Key files, which the docker CLI loads into an agent
/// of its own, are refused with a way out.
pub(crate) fn parse_ssh(
    spec: &str,
    auth_sock: Option<&str>,
    is_socket: &dyn Fn(&str) -> bool,
) -> Result<(String, PathBuf), String> {
    let (id, paths) = match spec.split_once('=') {
        Some((id, paths)) => (id.trim(), Some(paths)),
        None => (spec.trim(), None),
    };
    let id = if id.is_empty() { SSH_DEFAULT_ID } else { id };
    let socket = match paths {
        None => auth_sock.filter(|s| !s.is_empty()).ok_or_else(|| {
            format!(
                "--ssh {spec}: SSH_AUTH_SOCK is not set, so there is no ssh-agent to forward \
                 (start one with `eval $(ssh-agent)` and `ssh-add`, or give its socket: --ssh {id}=SOCKET)"
            )
        })?,
        Some(paths) => {
            let paths: Vec<&str> = paths.split(',').collect();
            match paths.as_slice() {
                [one] if is_socket(one) => *one,
                _ => {
                    return Err(format!(
                        "--ssh {spec}: wharf forwards ssh-agent sockets, and {} is not one; \
                         load the key into an agent (`ssh-add KEY`) and use --ssh {id}",
                        paths.join(",")
                    ));
                }
            }
        }
    };
    Ok((id.to_string(), PathBuf::from(socket)))
}

impl DockerExecutor {
    /// The values of a build step's `--secret`s, by id, read from the workspace and the
    /// step's environment.
    pub(crate) async fn secret_values(
        &self,
        step: &Step,
        settings: &Container,
        specs: &[String],
    ) -> Result<HashMap<String, Vec<u8>>, Error> {
        let id = &step.id;
        let env_has = |name: &str| env_value(&step.env, name).is_some();
        let mut values = HashMap::new();
        for spec in specs {
            let bad = |why: String| Error::input(format!("step {id}: --secret {spec}: {why}"));
            let parsed = parse_secret(spec, &env_has).map_err(bad)?;
            let value = match &parsed.source {
                SecretSource::Env(name) => env_value(&step.env, name)
                    .ok_or_else(|| {
                        bad(format!(
                            "{name} is not set in the step's env (add it to `env:`, e.g. \
                             \"{name}={{{{.Secrets.<id>}}}}\")"
                        ))
                    })?
                    .into_bytes(),
                SecretSource::File(file) => {
                    self.secret_file(settings, file)
                        .await
                        .map_err(|e| match e {
                            Error::Message(_, message) => bad(message),
                            other => other,
                        })?
                }
            };
            if value.len() > MAX_SECRET_SIZE {
                return Err(bad(format!(
                    "the secret is {} bytes; BuildKit takes at most {MAX_SECRET_SIZE}",
                    value.len()
                )));
            }
            values.insert(parsed.id, value);
        }
        Ok(values)
    }

    /// A `--secret` file: in the workspace, or in a secret volume the step mounts.
    async fn secret_file(&self, settings: &Container, file: &str) -> Result<Vec<u8>, Error> {
        let path = container_path(&settings.working_directory, file);
        let in_dir = |dir: &str| {
            path.strip_prefix(dir)
                .filter(|rest| rest.is_empty() || rest.starts_with('/'))
                .map(str::to_string)
        };
        let helper_path = if in_dir(WORKSPACE).is_some() {
            // The helper mounts the workspace where the steps do.
            path.clone()
        } else if let Some((mount, rest)) = settings
            .volume_mounts
            .iter()
            .find_map(|m| in_dir(&m.mount_path).map(|rest| (m, rest)))
        {
            format!("{}{rest}", workspace::helper_secret_dir(&mount.name))
        } else {
            return Err(Error::input(format!(
                "{path} is outside {WORKSPACE} and the volumes this step mounts, which is all a build step's files are"
            )));
        };
        let helper = labels::helper_container(&self.options.run_id);
        match workspace::read_file(&self.docker, &helper, &helper_path).await {
            Ok(Some(data)) => Ok(data),
            Ok(None) => Err(Error::input(format!("{path} does not exist"))),
            Err(e) => Err(Error::input(format!("cannot read {path}: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(spec: &str) -> Result<SecretSpec, String> {
        parse_secret(spec, &|name| name == "IN_ENV")
    }

    #[test]
    fn secrets_as_the_docker_cli_reads_them() {
        let file = |id: &str, f: &str| SecretSpec {
            id: id.into(),
            source: SecretSource::File(f.into()),
        };
        let env = |id: &str, e: &str| SecretSpec {
            id: id.into(),
            source: SecretSource::Env(e.into()),
        };
        assert_eq!(secret("id=a,src=a.txt"), Ok(file("a", "a.txt")));
        assert_eq!(secret("id=a,source=../a"), Ok(file("a", "../a")));
        assert_eq!(secret("id=t,env=TOKEN"), Ok(env("t", "TOKEN")));
        assert_eq!(secret("type=env,id=t,src=TOKEN"), Ok(env("t", "TOKEN")));
        assert_eq!(secret("id=IN_ENV"), Ok(env("IN_ENV", "IN_ENV")));
        assert_eq!(secret("id=other"), Ok(file("other", "other")));
        assert!(secret("src=a.txt").is_err_and(|e| e.contains("no id")));
        assert!(secret("id=a,path=x").is_err_and(|e| e.contains("unexpected key 'path'")));
        assert!(secret("id=a,type=ssh").is_err_and(|e| e.contains("unsupported")));
        assert!(secret("id").is_err_and(|e| e.contains("key=value")));
        assert!(secret("id=a,src=f,env=E").is_err());
    }

    #[test]
    fn ssh_forwards_agent_sockets() {
        let socket = |p: &str| p.ends_with(".sock");
        assert_eq!(
            parse_ssh("default", Some("/tmp/agent.sock"), &socket),
            Ok(("default".to_string(), PathBuf::from("/tmp/agent.sock")))
        );
        assert_eq!(
            parse_ssh("git=/run/a.sock", None, &socket),
            Ok(("git".to_string(), PathBuf::from("/run/a.sock")))
        );
        assert!(parse_ssh("default", None, &socket).is_err_and(|e| e.contains("SSH_AUTH_SOCK")));
        assert!(
            parse_ssh("default=/home/me/.ssh/id_ed25519", None, &socket)
                .is_err_and(|e| e.contains("ssh-add"))
        );
    }
}
