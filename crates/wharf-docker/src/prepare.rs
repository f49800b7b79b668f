//! What a run needs before its first step: networks, the workspace, home and secret
//! volumes, and the helper container.

use std::collections::HashMap;

use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::ListNetworksOptions;

use crate::error::{Error, is_conflict, is_not_found};
use crate::workspace::{self, HELPER_WORKSPACE};
use crate::{DockerExecutor, WorkspaceMode, labels};

/// Mode of the secret files in their volume: readable by steps that run as another
/// user (`user:`), like the workspace files.
const SECRET_FILE_MODE: u32 = 0o644;

impl DockerExecutor {
    /// Creates everything the run needs, recording it as it goes so that cleanup can
    /// remove it however far this got.
    pub(crate) async fn prepare_run(&self) -> Result<(), Error> {
        let context = &self.options.context_dir;
        if !context.is_dir() {
            return Err(Error::msg(format!(
                "the build context {} is not a directory",
                context.display()
            )));
        }
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
                labels::for_run(run),
                driver_opts,
                "workspace",
            )
            .await?;
            self.check_stopped()?;
            workspace::create_volume(
                &self.docker,
                &labels::home_volume(run),
                labels::for_run(run),
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
                    labels::for_run(run),
                    None,
                    &format!("secret ({})", volume.name),
                )
                .await?;
                secret_volumes.push((volume.name.clone(), docker_name));
            }

            self.check_stopped()?;
            let helper =
                workspace::create_helper(&self.docker, run, workspace_volume, &secret_volumes)
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
            match self.docker.inspect_network(name, None).await {
                Ok(existing) => {
                    if existing
                        .labels
                        .as_ref()
                        .is_some_and(|l| l.contains_key(labels::LABEL_MANAGED))
                    {
                        self.note_shared_network(name);
                    }
                    continue;
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    return Err(Error::docker(format!("cannot inspect network {name}"), e));
                }
            }
            let request = NetworkCreateRequest {
                name: name.clone(),
                driver: Some(network.driver.clone()),
                enable_ipv6: network.ipv6.then_some(true),
                labels: Some(labels::for_run(&self.options.run_id)),
                ..Default::default()
            };
            let created = match self.docker.create_network(request).await {
                Ok(created) => created.id,
                // Another run created it at the same moment: share it.
                Err(e) if is_conflict(&e) => {
                    self.note_shared_network(name);
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

    /// When another process created a network of the same name at the same time, every
    /// creator keeps the one with the smallest id and removes its own if it is not that one.
    async fn settle_duplicate_network(&self, name: &str, created: &str) -> Result<(), Error> {
        let filters = HashMap::from([("name".to_string(), vec![name.to_string()])]);
        let same_name = self
            .docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(filters),
            }))
            .await
            .map_err(|e| Error::docker("cannot list networks", e))?;
        let keep = same_name
            .iter()
            .filter(|n| n.name.as_deref() == Some(name))
            .filter_map(|n| n.id.clone())
            .min();
        if keep.is_some_and(|k| k != created) {
            let _ = self.docker.remove_network(created).await;
            self.note_shared_network(name);
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

    fn note_shared_network(&self, name: &str) {
        if let Ok(mut shared) = self.shared_networks.lock() {
            shared.push(name.to_string());
        }
    }
}
