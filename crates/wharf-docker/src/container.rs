//! `cmd` steps: one container per attempt, named `<run id>-<step id>`, with ACR's
//! mounts, environment and the step id as network alias; output streamed live.

use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, HostConfigIsolationEnum, NetworkingConfig,
};
use bollard::query_parameters::{
    AttachContainerOptions, CreateContainerOptions, KillContainerOptions, RemoveContainerOptions,
    WaitContainerOptions,
};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use wharf_engine::{Exit, Output, Stream};
use wharf_spec::{Container, Step, shell_words};

use crate::error::{Error, describe, is_conflict, is_not_found};
use crate::ports::Ports;
use crate::workspace::volume_mount;
use crate::{DockerExecutor, WorkspaceMode, images, labels};

/// Where ACR mounts the per-run home volume, and the `HOME` it sets.
pub(crate) const HOME_DIR: &str = "/acb/home";
/// The Docker socket, mounted into steps when enabled.
const DOCKER_SOCKET: &str = "/var/run/docker.sock";
/// How long output may keep arriving after the container has exited.
const DRAIN: Duration = Duration::from_secs(5);
/// The exit code reported for a container killed because the step was stopped.
const KILLED: i64 = 137;

impl DockerExecutor {
    /// Runs one attempt of a `cmd` step.
    pub(crate) async fn run_cmd(
        &self,
        step: &Step,
        cmd: &str,
        settings: &Container,
        output: &Output,
        cancel: &CancellationToken,
    ) -> Result<Exit, Error> {
        let id = &step.id;
        let words = shell_words::split(cmd, None)
            .map_err(|e| Error::input(format!("step {id}: cannot split the cmd {cmd:?}: {e}")))?;
        let Some((image, args)) = words.split_first() else {
            return Err(Error::input(format!("step {id}: the cmd is empty")));
        };
        self.ensure_image(step, settings, image, output, cancel)
            .await?;
        if cancel.is_cancelled() {
            return Err(Error::msg(format!(
                "step {id} was stopped before it started"
            )));
        }
        let name = self.container_name(id);
        let container = match self.take_warm(step, image).await {
            Some(container) => container,
            None => {
                let config = self.container_config(step, settings, image, args)?;
                self.create_container(id, image, config).await?
            }
        };

        if settings.detach {
            if let Err(e) = self.docker.start_container(&name, None).await {
                self.remove_container(&name).await;
                return Err(Error::docker(
                    format!("step {id}: cannot start the container of image {image}"),
                    e,
                ));
            }
            return Ok(Exit::Detached);
        }

        let result = self
            .attach_and_wait(step, &container, image, output, cancel)
            .await;
        if !settings.keep {
            self.remove_in_background(&name);
        }
        result
    }

    /// The name of step `step_id`'s container in this run (see
    /// [`labels::step_container`]).
    pub(crate) fn container_name(&self, step_id: &str) -> String {
        labels::step_container(&self.options.run_id, step_id)
    }

    /// Creates the container of step `step_id` (see [`create_named`]).
    pub(crate) async fn create_container(
        &self,
        step_id: &str,
        image: &str,
        config: ContainerCreateBody,
    ) -> Result<String, Error> {
        let name = self.container_name(step_id);
        self.removal_finished(&name).await;
        tracing::debug!(container = name, image, "creating the step's container");
        create_named(
            &self.docker,
            &name,
            config,
            &self.session,
            "change the step id",
        )
        .await
        .map_err(|e| match e {
            Created::Taken(message) => Error::msg(message),
            Created::Failed(e) => Error::docker(
                format!("step {step_id}: cannot create a container from image {image}"),
                e,
            ),
        })
    }

    /// Removes a finished step's container without making the run wait for it.
    fn remove_in_background(&self, name: &str) {
        let docker = self.docker.clone();
        let owned = name.to_string();
        let handle = tokio::spawn(async move {
            let _ = docker.remove_container(&owned, Some(force_remove())).await;
        });
        if let Ok(mut removals) = self.removals.lock() {
            removals.insert(name.to_string(), handle);
        }
    }

    /// Waits for the background removal of `name`, if one is under way.
    async fn removal_finished(&self, name: &str) {
        let pending = self.removals.lock().ok().and_then(|mut r| r.remove(name));
        if let Some(handle) = pending {
            let _ = handle.await;
        }
    }

    /// Waits for every background removal.
    pub(crate) async fn removals_finished(&self) {
        crate::await_all(&self.removals).await;
    }

    /// Attaches, starts, streams the output and waits for the exit code (or kills the
    /// container when `cancel` fires).
    async fn attach_and_wait(
        &self,
        step: &Step,
        container: &str,
        image: &str,
        output: &Output,
        cancel: &CancellationToken,
    ) -> Result<Exit, Error> {
        let id = &step.id;
        let name = self.container_name(id);
        // Attached before start: no line is lost, none is repeated.
        let attached = self
            .docker
            .attach_container(
                &name,
                Some(AttachContainerOptions {
                    stream: true,
                    stdout: true,
                    stderr: true,
                    ..Default::default()
                }),
            )
            .await
            .map_err(|e| Error::docker(format!("step {id}: cannot attach to its container"), e))?;
        let mut logs = attached.output;
        self.docker
            .start_container(&name, None)
            .await
            .map_err(|e| {
                Error::docker(
                    format!("step {id}: cannot start the container of image {image}"),
                    e,
                )
            })?;
        let mut wait = self.docker.wait_container(
            &name,
            Some(WaitContainerOptions {
                condition: "not-running".into(),
            }),
        );

        let mut exit: Option<i64> = None;
        let mut logs_done = false;
        let mut drain: Option<Pin<Box<tokio::time::Sleep>>> = None;
        while exit.is_none() || !logs_done {
            tokio::select! {
                biased;
                () = cancel.cancelled() => {
                    self.kill(&name).await;
                    return Ok(Exit::Code(KILLED));
                }
                item = logs.next(), if !logs_done => match item {
                    // Waits while the run's output is behind: the container's own
                    // writes then wait too, and memory stays flat.
                    Some(Ok(chunk)) => write_log(output, chunk).await,
                    Some(Err(_)) | None => logs_done = true,
                },
                waited = wait.next(), if exit.is_none() => {
                    exit = Some(exit_code(id, waited)?);
                    drain = Some(Box::pin(tokio::time::sleep(DRAIN)));
                }
                code = self.exit_event(container), if exit.is_none() => {
                    exit = Some(code);
                    drain = Some(Box::pin(tokio::time::sleep(DRAIN)));
                }
                () = async { if let Some(d) = drain.as_mut() { d.await } }, if drain.is_some() && !logs_done => {
                    logs_done = true;
                }
            }
        }
        Ok(Exit::Code(exit.unwrap_or(KILLED)))
    }

    /// The image is used as it is when present (unless the step says `pull`), else pulled.
    async fn ensure_image(
        &self,
        step: &Step,
        settings: &Container,
        image: &str,
        output: &Output,
        cancel: &CancellationToken,
    ) -> Result<(), Error> {
        if !settings.pull {
            let known = self
                .present_images
                .lock()
                .is_ok_and(|present| present.contains(image));
            if known || images::is_present(&self.docker, image).await {
                if let Ok(mut present) = self.present_images.lock() {
                    present.insert(image.to_string());
                }
                return Ok(());
            }
        }
        images::pull(
            &self.docker,
            image,
            &self.options.credentials,
            settings.cmd_download_retries,
            Duration::from_secs(settings.cmd_download_retry_delay),
            output,
            cancel,
        )
        .await
        .map_err(|e| Error::msg(format!("step {}: {e}", step.id)))
    }

    /// The container of a `cmd` step, as ACR's `docker run` line builds it (§5).
    pub(crate) fn container_config(
        &self,
        step: &Step,
        settings: &Container,
        image: &str,
        args: &[String],
    ) -> Result<ContainerCreateBody, Error> {
        let id = &step.id;
        let run = &self.options.run_id;
        let ports = Ports::parse(&settings.ports, &settings.expose)
            .map_err(|e| Error::msg(format!("step {id}: {e}")))?;
        let mut mounts = vec![
            volume_mount(
                &self.options.shared_volume,
                wharf_spec::task::WORKSPACE,
                self.options.workspace == WorkspaceMode::Bind,
            ),
            volume_mount(&labels::home_volume(run), HOME_DIR, false),
        ];
        for m in &settings.volume_mounts {
            mounts.push(volume_mount(
                &labels::secret_volume(run, &m.name),
                &m.mount_path,
                true,
            ));
        }
        let binds = self
            .options
            .mount_docker_socket
            .then(|| vec![format!("{DOCKER_SOCKET}:{DOCKER_SOCKET}")]);
        let mut env = vec![format!("HOME={HOME_DIR}")];
        env.extend(step.env.iter().cloned());
        let nano_cpus = settings
            .cpus
            .as_deref()
            .map(|c| parse_cpus(c).map_err(|e| Error::input(format!("step {id}: {e}"))))
            .transpose()?;
        let isolation = settings
            .isolation
            .as_deref()
            .map(|i| {
                HostConfigIsolationEnum::from_str(i).map_err(|_| {
                    Error::msg(format!(
                        "step {id}: isolation must be default, process or hyperv, not {i:?}"
                    ))
                })
            })
            .transpose()?;
        let network = settings.network.as_deref().map(|n| self.engine_network(n));
        let networking_config =
            network
                .as_deref()
                .filter(|n| supports_aliases(n))
                .map(|n| NetworkingConfig {
                    endpoints_config: Some(
                        [(
                            n.to_string(),
                            EndpointSettings {
                                aliases: Some(vec![id.clone()]),
                                ..Default::default()
                            },
                        )]
                        .into(),
                    ),
                });
        let port_bindings = (!ports.bindings.is_empty()).then(|| {
            ports
                .bindings
                .into_iter()
                .map(|(k, v)| (k, Some(v)))
                .collect()
        });
        Ok(ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: (!args.is_empty()).then(|| args.to_vec()),
            entrypoint: settings.entry_point.as_ref().map(|e| vec![e.clone()]),
            env: Some(env),
            working_dir: (!settings.disable_working_directory_override)
                .then(|| settings.working_directory.clone()),
            user: settings.user.clone(),
            labels: Some(labels::for_step(run, &self.session, id)),
            exposed_ports: (!ports.exposed.is_empty()).then_some(ports.exposed),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(false),
            open_stdin: Some(false),
            host_config: Some(HostConfig {
                mounts: Some(mounts),
                binds,
                network_mode: network.clone(),
                port_bindings,
                privileged: settings.privileged.then_some(true),
                nano_cpus,
                isolation,
                auto_remove: (settings.detach && !settings.keep).then_some(true),
                ..Default::default()
            }),
            networking_config,
            ..Default::default()
        })
    }

    /// Kills a container; it may already be gone.
    pub(crate) async fn kill(&self, name: &str) {
        let _ = self
            .docker
            .kill_container(
                name,
                Some(KillContainerOptions {
                    signal: "SIGKILL".into(),
                }),
            )
            .await;
    }

    /// Removes a container (and its anonymous volumes, as `docker run --rm` does); it may
    /// already be gone.
    pub(crate) async fn remove_container(&self, name: &str) {
        tracing::debug!(container = name, "removing a container");
        let _ = self
            .docker
            .remove_container(name, Some(force_remove()))
            .await;
    }
}

/// Forced removal with anonymous volumes.
pub(crate) fn force_remove() -> RemoveContainerOptions {
    RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    }
}

/// Why [`create_named`] failed.
pub(crate) enum Created {
    /// The name is someone else's: what to tell the user.
    Taken(String),
    /// The engine refused for another reason.
    Failed(bollard::errors::Error),
}

/// Creates the container `name` from `config`. When the name is taken by a container of
/// this executor's `session` (an earlier attempt, one kept with `keep`, one made ahead
/// of time), that one is removed first; anyone else's is an error that says whose it is
/// (`rename` says how to choose another name). The first try asks nothing beforehand:
/// a free name is the common case.
pub(crate) async fn create_named(
    docker: &Docker,
    name: &str,
    config: ContainerCreateBody,
    session: &str,
    rename: &str,
) -> Result<String, Created> {
    let options = || {
        Some(CreateContainerOptions {
            name: Some(name.to_string()),
            ..Default::default()
        })
    };
    let mut freed = false;
    loop {
        match docker.create_container(options(), config.clone()).await {
            Ok(created) => return Ok(created.id),
            Err(e) if is_conflict(&e) => {}
            Err(e) => return Err(Created::Failed(e)),
        }
        let existing = match docker.inspect_container(name, None).await {
            Ok(existing) => existing,
            // Removed meanwhile: try again.
            Err(e) if is_not_found(&e) && !freed => {
                freed = true;
                continue;
            }
            Err(e) => return Err(Created::Failed(e)),
        };
        let labels = existing.config.as_ref().and_then(|c| c.labels.as_ref());
        if freed || !labels::belongs_to(labels, session) {
            return Err(Created::Taken(labels::in_the_way(
                "container",
                name,
                labels,
                &format!("docker rm -f {name}"),
                rename,
            )));
        }
        match docker.remove_container(name, Some(force_remove())).await {
            Ok(()) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(Created::Failed(e)),
        }
        freed = true;
    }
}

/// Networks on which a container can have an alias (user-defined ones).
fn supports_aliases(network: &str) -> bool {
    !matches!(network, "host" | "none" | "bridge" | "default") && !network.starts_with("container:")
}

async fn write_log(output: &Output, chunk: LogOutput) {
    match chunk {
        LogOutput::StdOut { message } | LogOutput::Console { message } => {
            output.send(Stream::Stdout, &message).await;
        }
        LogOutput::StdErr { message } => output.send(Stream::Stderr, &message).await,
        LogOutput::StdIn { .. } => {}
    }
}

/// The exit code out of a wait answer (bollard reports non-zero codes as errors).
fn exit_code(
    id: &str,
    waited: Option<Result<bollard::models::ContainerWaitResponse, bollard::errors::Error>>,
) -> Result<i64, Error> {
    match waited {
        Some(Ok(r)) => Ok(r.status_code),
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(Error::msg(format!(
            "step {id}: lost track of its container: {}",
            describe(&e)
        ))),
        None => Err(Error::msg(format!(
            "step {id}: the engine stopped reporting on its container before it exited"
        ))),
    }
}

/// `--cpus` (`1.5`) in billionths of a CPU.
pub(crate) fn parse_cpus(text: &str) -> Result<i64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("cpus must be a number of CPUs such as 1.5, not {text:?}"))?;
    if !value.is_finite() || value <= 0.0 || value > 1e6 {
        return Err(format!(
            "cpus must be a positive number of CPUs, not {text:?}"
        ));
    }
    Ok((value * 1e9).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus_are_nano_cpus() {
        assert_eq!(parse_cpus("1.5"), Ok(1_500_000_000));
        assert_eq!(parse_cpus("0.25"), Ok(250_000_000));
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("many").is_err());
    }

    #[test]
    fn aliases_only_on_user_networks() {
        assert!(supports_aliases("acb_default_network"));
        assert!(!supports_aliases("host"));
        assert!(!supports_aliases("bridge"));
        assert!(!supports_aliases("container:x"));
    }
}
