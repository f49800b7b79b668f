//! Removing what runs created: at the end of a run ([`DockerExecutor`]'s cleanup) and on
//! demand ([`clean`], `wharf clean`). Both go by labels, so nothing is missed even when
//! the process that created it was killed.

use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions, ListVolumesOptions};
use futures_util::future::join_all;
use wharf_engine::ExecError;

use crate::container::force_remove;
use crate::error::{Error, describe, is_not_found, status_of};
use crate::{DockerExecutor, connect, labels};

/// What [`clean`] removed, and what it could not remove.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CleanReport {
    /// Everything removed, in order, as `container NAME`, `network NAME`, `volume NAME`.
    pub removed: Vec<String>,
    /// Names of the removed containers.
    pub containers: Vec<String>,
    /// Names of the removed networks.
    pub networks: Vec<String>,
    /// Names of the removed volumes.
    pub volumes: Vec<String>,
    /// Objects that could not be removed, and why.
    pub errors: Vec<String>,
}

impl CleanReport {
    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.errors.is_empty()
    }

    fn removed_container(&mut self, name: String) {
        self.removed.push(format!("container {name}"));
        self.containers.push(name);
    }

    fn removed_network(&mut self, name: String) {
        self.removed.push(format!("network {name}"));
        self.networks.push(name);
    }

    fn removed_volume(&mut self, name: String) {
        self.removed.push(format!("volume {name}"));
        self.volumes.push(name);
    }
}

/// Removes every container, network and volume labelled as wharf's
/// ([`crate::LABEL_MANAGED`]), or only those of run `run_id` ([`crate::LABEL_RUN`]).
/// Connects like [`DockerExecutor::connect`]. Fails only when the engine cannot be
/// reached or listed; objects that cannot be removed are reported in
/// [`CleanReport::errors`].
pub async fn clean(run_id: Option<&str>) -> Result<CleanReport, ExecError> {
    let docker = connect::connect().await?;
    let mut report = CleanReport::default();
    remove_labelled(&docker, run_id, &mut report, true).await?;
    Ok(report)
}

impl DockerExecutor {
    /// Removes everything labelled with this run, then networks shared with other runs
    /// that nobody uses any more. Returns what could not be done.
    pub(crate) async fn cleanup_run(&self) -> Vec<String> {
        self.removals_finished().await;
        let mut report = CleanReport::default();
        if let Err(e) =
            remove_labelled(&self.docker, Some(&self.options.run_id), &mut report, false).await
        {
            report.errors.push(e.to_string());
        }
        let shared: Vec<String> = self
            .shared_networks
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        for name in shared {
            if let Ok(info) = self.docker.inspect_network(&name, None).await {
                let managed = info
                    .labels
                    .as_ref()
                    .is_some_and(|l| l.contains_key(labels::LABEL_MANAGED));
                let unused = info.containers.as_ref().is_none_or(|c| c.is_empty());
                if managed && unused {
                    let _ = self.docker.remove_network(&name).await;
                }
            }
        }
        report.errors
    }
}

/// Removes labelled containers, then networks, then volumes. With `strict`, a network
/// still used by someone else's containers is an error; otherwise it is left to the
/// last run using it.
async fn remove_labelled(
    docker: &Docker,
    run_id: Option<&str>,
    report: &mut CleanReport,
    strict: bool,
) -> Result<(), Error> {
    let filters = labels::filters(run_id);

    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..Default::default()
        }))
        .await
        .map_err(|e| Error::docker("cannot list wharf's containers", e))?;
    let named: Vec<(String, String)> = containers
        .iter()
        .filter_map(|c| {
            let id = c.id.clone()?;
            let name = c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_else(|| id.clone());
            Some((id, name))
        })
        .collect();
    let removals = named
        .iter()
        .map(|(id, _)| docker.remove_container(id, Some(force_remove())));
    for (result, (_, name)) in join_all(removals).await.into_iter().zip(named.iter()) {
        match result {
            Ok(()) => report.removed_container(name.clone()),
            // Gone already, or being removed by the engine (`--rm`).
            Err(e) if is_not_found(&e) || status_of(&e) == Some(409) => {}
            Err(e) => report
                .errors
                .push(format!("cannot remove container {name}: {}", describe(&e))),
        }
    }

    // Networks and volumes are independent once the containers are gone: removing a
    // network is slow (the engine tears down its bridge), so both go at once.
    let (networks, volumes) = tokio::join!(
        remove_networks(docker, filters.clone(), strict),
        remove_volumes(docker, filters)
    );
    for part in [networks?, volumes?] {
        report.removed.extend(part.removed);
        report.networks.extend(part.networks);
        report.volumes.extend(part.volumes);
        report.errors.extend(part.errors);
    }
    Ok(())
}

type Filters = std::collections::HashMap<String, Vec<String>>;

async fn remove_networks(
    docker: &Docker,
    filters: Filters,
    strict: bool,
) -> Result<CleanReport, Error> {
    let mut report = CleanReport::default();
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters),
        }))
        .await
        .map_err(|e| Error::docker("cannot list wharf's networks", e))?;
    for network in networks {
        let Some(name) = network.name.or(network.id) else {
            continue;
        };
        match docker.remove_network(&name).await {
            Ok(()) => report.removed_network(name),
            Err(e) if is_not_found(&e) => {}
            Err(e) if !strict && describe(&e).contains("active endpoints") => {}
            Err(e) => report
                .errors
                .push(format!("cannot remove network {name}: {}", describe(&e))),
        }
    }
    Ok(report)
}

async fn remove_volumes(docker: &Docker, filters: Filters) -> Result<CleanReport, Error> {
    let mut report = CleanReport::default();
    let volumes = docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(filters),
        }))
        .await
        .map_err(|e| Error::docker("cannot list wharf's volumes", e))?
        .volumes
        .unwrap_or_default();
    let removals = volumes.iter().map(|v| remove_volume(docker, &v.name));
    for (result, volume) in join_all(removals).await.into_iter().zip(volumes.iter()) {
        match result {
            Ok(()) => report.removed_volume(volume.name.clone()),
            Err(e) if is_not_found(&e) => {}
            Err(e) => report.errors.push(format!(
                "cannot remove volume {}: {}",
                volume.name,
                describe(&e)
            )),
        }
    }
    Ok(report)
}

/// Removes a volume, waiting a little while a container the engine is still removing
/// holds it.
async fn remove_volume(docker: &Docker, name: &str) -> Result<(), bollard::errors::Error> {
    let mut tries = 0;
    loop {
        match docker
            .remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>)
            .await
        {
            Err(e) if status_of(&e) == Some(409) && tries < 20 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            other => return other,
        }
    }
}
