//! What a run needs before its first step: networks, the workspace, home and secret
//! volumes, and the helper container — after checking that the step ids can name
//! containers and that no objects of the run id exist already.

use std::collections::HashMap;

use bollard::models::{Network, NetworkCreateRequest};
use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions, ListVolumesOptions};
use wharf_spec::Action;

use crate::error::{Error, is_conflict};
use crate::workspace::{self, HELPER_WORKSPACE};
use crate::{DockerExecutor, WorkspaceMode, labels};

/// How many of the objects found by [`DockerExecutor::refuse_existing_run`] are named.
const NAMED_LEFTOVERS: usize = 5;

/// Mode of the secret files in their volume: readable by steps that run as another
/// user (`user:`), like the workspace files.
const SECRET_FILE_MODE: u32 = 0o644;

impl DockerExecutor {
    /// Whether any step (or notification) this executor may run needs containers,
    /// networks or the workspace: everything but a push does.
    pub(crate) fn needs_containers(&self) -> bool {
        self.task
            .steps
            .iter()
            .chain(self.task.notify.iter().map(|n| &n.step))
            .any(|s| !matches!(s.action, Action::Push { .. } | Action::Plugin(_)))
    }

    /// Creates everything the run needs, recording it as it goes so that cleanup can
    /// remove it however far this got.
    pub(crate) async fn prepare_run(&self) -> Result<(), Error> {
        self.check_step_ids()?;
        if !self.needs_containers() {
            // Pushes talk to the registry only: no network, volume or helper to make.
            return Ok(());
        }
        let context = &self.options.context_dir;
        if !context.is_dir() {
            return Err(Error::msg(format!(
                "the build context {} is not a directory",
                context.display()
            )));
        }
        self.unless_stopped(self.refuse_existing_run()).await?;
        self.unless_stopped(workspace::ensure_helper_image(&self.docker))
            .await?;
        // Networks and storage do not depend on each other: prepare them at once.
        let storage = async {
            let run = &self.options.run_id;
            let workspace_volume = &self.options.shared_volume;
            let driver_opts = match self.options.workspace {
                WorkspaceMode::Copy => None,
                WorkspaceMode::Bind => {
                    // A local volume bound to the context directory: steps (and anything they
                    // start through the Docker socket) mount it by name like in copy mode.
                    let dir = context.canonicalize().map_err(|e| {
                        Error::io(format!("cannot resolve {}", context.display()), e)
                    })?;
                    let device = dir.to_str().ok_or_else(|| {
                        Error::msg(format!("{} is not a UTF-8 path", dir.display()))
                    })?;
                    Some(HashMap::from([
                        ("type".to_string(), "none".to_string()),
                        ("o".to_string(), "bind".to_string()),
                        ("device".to_string(), device.to_string()),
                    ]))
                }
            };
            self.check_stopped()?;
            workspace::create_volume(
                &self.docker,
                workspace_volume,
                self.labels(),
                driver_opts,
                "workspace",
            )
            .await?;
            self.check_stopped()?;
            workspace::create_volume(
                &self.docker,
                &labels::home_volume(run),
                self.labels(),
                None,
                "home (/acb/home)",
            )
            .await?;
            let mut secret_volumes = Vec::new();
            for volume in &self.task.volumes {
                let docker_name = labels::secret_volume(run, &volume.name);
                self.check_stopped()?;
                workspace::create_volume(
                    &self.docker,
                    &docker_name,
                    self.labels(),
                    None,
                    &format!("secret ({})", volume.name),
                )
                .await?;
                secret_volumes.push((volume.name.clone(), docker_name));
            }

            self.check_stopped()?;
            let helper = workspace::create_helper(
                &self.docker,
                run,
                self.labels(),
                workspace_volume,
                &secret_volumes,
            )
            .await?;
            if self.options.workspace == WorkspaceMode::Copy {
                self.unless_stopped(workspace::upload_dir(
                    &self.docker,
                    &helper,
                    context,
                    HELPER_WORKSPACE,
                ))
                .await?;
            }
            for volume in &self.task.volumes {
                let files: Vec<(&str, &[u8], u32)> = volume
                    .files
                    .iter()
                    .map(|(name, data)| (name.as_str(), data.as_slice(), SECRET_FILE_MODE))
                    .collect();
                workspace::upload_files(
                    &self.docker,
                    &helper,
                    &files,
                    &workspace::helper_secret_dir(&volume.name),
                )
                .await
                .map_err(|e| {
                    Error::docker(
                        format!("cannot copy the files of secret volume {}", volume.name),
                        e,
                    )
                })?;
            }
            Ok::<(), Error>(())
        };
        // Both run to completion, even when one fails: a creation dropped half way would
        // still finish at the engine after cleanup has looked for what to remove.
        let (networks, storage) = tokio::join!(self.create_networks(), storage);
        networks.and(storage)?;
        Ok(())
    }

    /// Refuses step ids that cannot be a container's network alias and part of its
    /// name (`<run id>-<step id>`); the engine would refuse them only when the step
    /// starts. (`wharf run` refuses them at load, with their place in the file:
    /// [`wharf_spec::compat::docker_refuses`]; this is for tasks made otherwise.)
    fn check_step_ids(&self) -> Result<(), Error> {
        let bad: Vec<String> = self
            .task
            .steps
            .iter()
            .filter(|s| matches!(s.action, Action::Cmd { .. }))
            .filter(|s| !wharf_spec::compat::is_container_name(&s.id))
            .map(|s| {
                format!(
                    "step id {:?} (for example `id: {}`)",
                    s.id,
                    wharf_spec::compat::container_name_like(&s.id)
                )
            })
            .collect();
        if bad.is_empty() {
            return Ok(());
        }
        Err(Error::msg(format!(
            "{} cannot name a container: a cmd step's id is its container's network alias (as in ACR) \
             and part of its name, and must have at least two characters, only letters, digits, `_`, `.` and `-`, \
             and start with a letter or digit; rename the step: {}",
            if bad.len() == 1 {
                "a step id"
            } else {
                "some step ids"
            },
            bad.join(", ")
        )))
    }

    /// Refuses to start while objects labelled with this run id exist: another run with
    /// the same id is in progress, or one ended without cleaning up.
    async fn refuse_existing_run(&self) -> Result<(), Error> {
        let run = &self.options.run_id;
        let filters = labels::filters(Some(run));
        let (containers, networks, volumes) = tokio::join!(
            self.docker.list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters.clone()),
                ..Default::default()
            })),
            self.docker.list_networks(Some(ListNetworksOptions {
                filters: Some(filters.clone()),
            })),
            self.docker.list_volumes(Some(ListVolumesOptions {
                filters: Some(filters),
            })),
        );
        let cannot = |e| Error::docker(format!("cannot look for objects of wharf run {run}"), e);
        let mut found: Vec<String> = Vec::new();
        for c in containers.map_err(cannot)? {
            let name = c.names.and_then(|n| n.into_iter().next()).or(c.id);
            found.extend(name.map(|n| format!("container {}", n.trim_start_matches('/'))));
        }
        for n in networks.map_err(cannot)? {
            found.extend(n.name.or(n.id).map(|n| format!("network {n}")));
        }
        for v in volumes.map_err(cannot)?.volumes.unwrap_or_default() {
            found.push(format!("volume {}", v.name));
        }
        if found.is_empty() {
            return Ok(());
        }
        let more = found.len().saturating_sub(NAMED_LEFTOVERS);
        found.truncate(NAMED_LEFTOVERS);
        let mut list = found.join(", ");
        if more > 0 {
            list.push_str(&format!(" and {more} more"));
        }
        Err(Error::msg(format!(
            "objects of wharf run {run} already exist ({list}): another run with this id is in progress, \
             or an earlier one ended without cleaning up. If none is running, `wharf clean --run {run}` \
             removes them; or give this run another `--id`"
        )))
    }

    /// Creates the task's networks. One that already exists is used as it is and left
    /// in place at cleanup (unless wharf made it for another run and nobody uses it
    /// any more by then).
    async fn create_networks(&self) -> Result<(), Error> {
        // Engines before API 1.44 do not refuse a second network of the same name:
        // serialize creation in this process, and settle races between processes below.
        static CREATING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _creating = CREATING.lock().await;
        for network in self.task.networks.iter().filter(|n| !n.skip_creation) {
            self.check_stopped()?;
            let name = &self.engine_network(&network.name);
            if let Some(existing) = self.find_network(name).await?.into_iter().next() {
                if labels::wharf_run(existing.labels.as_ref()).is_some() {
                    self.note_shared_network(existing.id);
                }
                continue;
            }
            let request = NetworkCreateRequest {
                name: name.clone(),
                driver: Some(network.driver.clone()),
                enable_ipv6: network.ipv6.then_some(true),
                labels: Some(self.labels()),
                ..Default::default()
            };
            tracing::debug!(network = %name, "creating a network");
            let created = match self.docker.create_network(request).await {
                Ok(created) => created.id,
                // Another run created it at the same moment: share it.
                Err(e) if is_conflict(&e) => {
                    let existing = self.find_network(name).await?.into_iter().next();
                    self.note_shared_network(existing.and_then(|n| n.id));
                    continue;
                }
                Err(e) => {
                    return Err(Error::docker(
                        format!("cannot create network {name} (driver {})", network.driver),
                        e,
                    ));
                }
            };
            self.settle_duplicate_network(name, &created).await?;
        }
        Ok(())
    }

    /// The networks named exactly `name`, by id (smallest first). Looked up by
    /// listing: a name is not escaped in a request path (`#`, `?`, `%` would break it).
    async fn find_network(&self, name: &str) -> Result<Vec<Network>, Error> {
        let filters = HashMap::from([("name".to_string(), vec![name.to_string()])]);
        let mut same_name: Vec<Network> = self
            .docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(filters),
            }))
            .await
            .map_err(|e| Error::docker(format!("cannot look for network {name}"), e))?
            .into_iter()
            .filter(|n| n.name.as_deref() == Some(name) && n.id.is_some())
            .collect();
        same_name.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(same_name)
    }

    /// When another process created a network of the same name at the same time, every
    /// creator keeps the one with the smallest id and removes its own if it is not that one.
    async fn settle_duplicate_network(&self, name: &str, created: &str) -> Result<(), Error> {
        let keep = self.find_network(name).await?.into_iter().next();
        if let Some(keep) = keep.and_then(|n| n.id).filter(|k| k != created) {
            let _ = self.docker.remove_network(created).await;
            self.note_shared_network(Some(keep));
        }
        Ok(())
    }

    /// Fails once cleanup has started (the run was interrupted while being prepared).
    fn check_stopped(&self) -> Result<(), Error> {
        if self.stop_preparing.is_cancelled() {
            Err(Error::msg(
                "the run was stopped while it was being prepared",
            ))
        } else {
            Ok(())
        }
    }

    /// Runs `work` (which creates nothing that cleanup must see) unless cleanup starts.
    async fn unless_stopped<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        tokio::select! {
            result = work => result,
            () = self.stop_preparing.cancelled() => {
                Err(Error::msg("the run was stopped while it was being prepared"))
            }
        }
    }

    /// Records a network (by id) that another run made and this one uses.
    fn note_shared_network(&self, id: Option<String>) {
        if let (Some(id), Ok(mut shared)) = (id, self.shared_networks.lock()) {
            shared.push(id);
        }
    }
}
