//! Removing what runs created: at the end of a run ([`DockerExecutor`]'s cleanup, by
//! the executor's session label) and on demand ([`clean`], `wharf clean`, by run
//! label). Both go by labels, so nothing is missed even when the process that created
//! it was killed.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerSummary, ContainerSummaryStateEnum};
use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions, ListVolumesOptions};
use futures_util::future::join_all;
use wharf_engine::ExecError;

use crate::container::force_remove;
use crate::error::{Error, describe, is_not_found, status_of};
use crate::{DockerExecutor, connect, labels};

/// What [`clean`] removed, left in place, and could not remove.
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
    /// What was left in place because a run may still be using it, as
    /// `container NAME (running)`, `network NAME (in use)`, ... (only without a run id
    /// and without `force`).
    pub skipped: Vec<String>,
    /// Objects that could not be removed, and why.
    pub errors: Vec<String>,
}

impl CleanReport {
    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.skipped.is_empty() && self.errors.is_empty()
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

    fn extend(&mut self, other: CleanReport) {
        self.removed.extend(other.removed);
        self.containers.extend(other.containers);
        self.networks.extend(other.networks);
        self.volumes.extend(other.volumes);
        self.skipped.extend(other.skipped);
        self.errors.extend(other.errors);
    }
}

/// Removes the containers, networks and volumes labelled as wharf's
/// ([`crate::LABEL_MANAGED`]), or only those of run `run_id` ([`crate::LABEL_RUN`]).
///
/// Without `run_id` and without `force`, runs that may still be going on are left
/// alone: running containers, everything else their runs created (same
/// [`crate::LABEL_SESSION`]), and the networks and volumes they use are listed in
/// [`CleanReport::skipped`]. With `run_id` or `force`, everything matching goes.
///
/// Connects like [`DockerExecutor::connect`]. Fails only when the engine cannot be
/// reached or listed; objects that cannot be removed are reported in
/// [`CleanReport::errors`].
pub async fn clean(run_id: Option<&str>, force: bool) -> Result<CleanReport, ExecError> {
    let docker = connect::connect().await?;
    let mut report = CleanReport::default();
    remove_labelled(
        &docker,
        labels::filters(run_id),
        &Mode::for_clean(run_id, force),
        &mut report,
    )
    .await?;
    Ok(report)
}

/// How [`remove_labelled`] treats objects that are still in use.
#[derive(Debug, PartialEq, Eq)]
struct Mode<'a> {
    /// Leave running containers alone, with everything of their sessions and the
    /// networks and volumes they use.
    skip_in_use: bool,
    /// `Some` in a run's own cleanup: a network of the run that other wharf runs'
    /// containers still use is theirs to remove (they share it, and remove it when
    /// they end). `None` (`wharf clean`): every network still in use is an error.
    session: Option<&'a str>,
}

impl Mode<'_> {
    fn for_clean(run_id: Option<&str>, force: bool) -> Mode<'static> {
        Mode {
            skip_in_use: run_id.is_none() && !force,
            session: None,
        }
    }
}

impl DockerExecutor {
    /// Removes everything this executor created (its session), then networks shared
    /// with other runs that nobody uses any more. Returns what could not be done.
    pub(crate) async fn cleanup_run(&self) -> Vec<String> {
        self.removals_finished().await;
        let mut report = CleanReport::default();
        let mode = Mode {
            skip_in_use: false,
            session: Some(&self.session),
        };
        let filters = labels::session_filters(&self.options.run_id, &self.session);
        if let Err(e) = remove_labelled(&self.docker, filters, &mode, &mut report).await {
            report.errors.push(e.to_string());
        }
        let shared: Vec<String> = self
            .shared_networks
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        for id in shared {
            let info = match self.docker.inspect_network(&id, None).await {
                Ok(info) => info,
                Err(e) if is_not_found(&e) => continue,
                Err(e) => {
                    report
                        .errors
                        .push(format!("cannot inspect network {id}: {}", describe(&e)));
                    continue;
                }
            };
            let name = info.name.clone().unwrap_or_else(|| id.clone());
            let managed = labels::wharf_run(info.labels.as_ref()).is_some();
            let unused = info.containers.as_ref().is_none_or(|c| c.is_empty());
            if !managed || !unused {
                continue;
            }
            match self.docker.remove_network(&id).await {
                Ok(()) => {}
                // Gone already, or another run joined it meanwhile: the last one
                // removes it.
                Err(e) if is_not_found(&e) || has_active_endpoints(&e) => {}
                Err(e) => report
                    .errors
                    .push(format!("cannot remove network {name}: {}", describe(&e))),
            }
        }
        report.errors
    }
}

/// Whether the engine refused to remove a network because containers are attached.
fn has_active_endpoints(e: &bollard::errors::Error) -> bool {
    describe(e).contains("active endpoints")
}

/// The container's name without the leading `/`, else its id.
fn container_name(c: &ContainerSummary) -> Option<(String, String)> {
    let id = c.id.clone()?;
    let name = c
        .names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_else(|| id.clone());
    Some((id, name))
}

/// What running containers keep in use (for [`Mode::skip_in_use`]).
#[derive(Debug, Default)]
struct InUse {
    /// Sessions with a running container: everything they created is left alone.
    sessions: HashSet<String>,
    /// Networks (by name) running containers are attached to.
    networks: HashSet<String>,
    /// Volumes running containers mount.
    volumes: HashSet<String>,
}

impl InUse {
    fn of(containers: &[ContainerSummary]) -> InUse {
        let mut in_use = InUse::default();
        for c in containers.iter().filter(|c| is_running(c)) {
            if let Some(session) = session_of(c.labels.as_ref()) {
                in_use.sessions.insert(session.to_string());
            }
            if let Some(networks) = c
                .network_settings
                .as_ref()
                .and_then(|n| n.networks.as_ref())
            {
                in_use.networks.extend(networks.keys().cloned());
            }
            for mount in c.mounts.iter().flatten() {
                if let Some(name) = &mount.name {
                    in_use.volumes.insert(name.clone());
                }
            }
        }
        in_use
    }

    /// Why the object named `name` with `labels` stays, if it does: it is one of
    /// `used`, or its session has a running container.
    fn keeps(
        &self,
        labels: Option<&HashMap<String, String>>,
        name: &str,
        used: Option<&HashSet<String>>,
    ) -> Option<&'static str> {
        if used.is_some_and(|u| u.contains(name)) {
            Some("in use")
        } else if session_of(labels).is_some_and(|s| self.sessions.contains(s)) {
            Some("its run is still running")
        } else {
            None
        }
    }
}

fn session_of(labels: Option<&HashMap<String, String>>) -> Option<&str> {
    labels?.get(labels::LABEL_SESSION).map(String::as_str)
}

fn is_running(c: &ContainerSummary) -> bool {
    matches!(
        c.state,
        Some(
            ContainerSummaryStateEnum::RUNNING
                | ContainerSummaryStateEnum::PAUSED
                | ContainerSummaryStateEnum::RESTARTING
        )
    )
}

/// Removes labelled containers, then networks, then volumes, as `mode` says.
async fn remove_labelled(
    docker: &Docker,
    filters: Filters,
    mode: &Mode<'_>,
    report: &mut CleanReport,
) -> Result<(), Error> {
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..Default::default()
        }))
        .await
        .map_err(|e| Error::docker("cannot list wharf's containers", e))?;
    let in_use = if mode.skip_in_use {
        InUse::of(&containers)
    } else {
        InUse::default()
    };
    let mut named: Vec<(String, String)> = Vec::new();
    for c in &containers {
        let Some((id, name)) = container_name(c) else {
            continue;
        };
        if mode.skip_in_use && is_running(c) {
            report.skipped.push(format!("container {name} (running)"));
        } else if let Some(why) = in_use.keeps(c.labels.as_ref(), &name, None) {
            report.skipped.push(format!("container {name} ({why})"));
        } else {
            named.push((id, name));
        }
    }
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
        remove_networks(docker, filters.clone(), mode, &in_use),
        remove_volumes(docker, filters, &in_use)
    );
    report.extend(networks?);
    report.extend(volumes?);
    Ok(())
}

type Filters = HashMap<String, Vec<String>>;

async fn remove_networks(
    docker: &Docker,
    filters: Filters,
    mode: &Mode<'_>,
    in_use: &InUse,
) -> Result<CleanReport, Error> {
    let mut report = CleanReport::default();
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters),
        }))
        .await
        .map_err(|e| Error::docker("cannot list wharf's networks", e))?;
    for network in networks {
        // By id: a name is not escaped in the request path (`#`, `?`, `%` would break it).
        let Some(id) = network.id else {
            continue;
        };
        let name = network.name.unwrap_or_else(|| id.clone());
        if let Some(why) = in_use.keeps(network.labels.as_ref(), &name, Some(&in_use.networks)) {
            report.skipped.push(format!("network {name} ({why})"));
            continue;
        }
        match docker.remove_network(&id).await {
            Ok(()) => report.removed_network(name),
            Err(e) if is_not_found(&e) => {}
            Err(e) if has_active_endpoints(&e) => {
                if let Some(problem) = still_used(docker, &id, &name, mode.session).await {
                    report.errors.push(problem);
                }
            }
            Err(e) => report
                .errors
                .push(format!("cannot remove network {name}: {}", describe(&e))),
        }
    }
    Ok(report)
}

/// Why network `id` could not be removed, naming the containers attached to it; `None`
/// when, in a run's cleanup (`session`), only other wharf runs' containers use it
/// (those runs share the network and remove it when they end).
async fn still_used(
    docker: &Docker,
    id: &str,
    name: &str,
    session: Option<&str>,
) -> Option<String> {
    let attached: Vec<(String, String)> = match docker.inspect_network(id, None).await {
        Ok(info) => info
            .containers
            .unwrap_or_default()
            .into_iter()
            .map(|(cid, endpoint)| {
                let cname = endpoint.name.unwrap_or_else(|| cid.clone());
                (cid, cname)
            })
            .collect(),
        // Removed meanwhile.
        Err(e) if is_not_found(&e) => return None,
        Err(_) => Vec::new(),
    };
    if let Some(session) = session {
        let mut others_only = !attached.is_empty();
        for (cid, _) in &attached {
            let labels = docker
                .inspect_container(cid, None)
                .await
                .ok()
                .and_then(|c| c.config)
                .and_then(|c| c.labels);
            let other_run = labels::wharf_run(labels.as_ref()).is_some()
                && session_of(labels.as_ref()).is_some_and(|s| s != session);
            others_only &= other_run;
        }
        if others_only {
            return None;
        }
    }
    let mut names: Vec<String> = attached.into_iter().map(|(_, n)| n).collect();
    names.sort();
    Some(if names.is_empty() {
        format!("cannot remove network {name}: containers are still attached to it")
    } else {
        format!(
            "cannot remove network {name}: still used by container{} {} (remove {} and then the network)",
            if names.len() == 1 { "" } else { "s" },
            names.join(", "),
            if names.len() == 1 { "it" } else { "them" },
        )
    })
}

async fn remove_volumes(
    docker: &Docker,
    filters: Filters,
    in_use: &InUse,
) -> Result<CleanReport, Error> {
    let mut report = CleanReport::default();
    let volumes = docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(filters),
        }))
        .await
        .map_err(|e| Error::docker("cannot list wharf's volumes", e))?
        .volumes
        .unwrap_or_default();
    let mut doomed = Vec::new();
    for volume in volumes {
        match in_use.keeps(Some(&volume.labels), &volume.name, Some(&in_use.volumes)) {
            Some(why) => report
                .skipped
                .push(format!("volume {} ({why})", volume.name)),
            None => doomed.push(volume.name),
        }
    }
    let removals = doomed.iter().map(|name| remove_volume(docker, name));
    for (result, name) in join_all(removals).await.into_iter().zip(doomed) {
        match result {
            Ok(()) => report.removed_volume(name),
            Err(e) if is_not_found(&e) => {}
            Err(e) => report
                .errors
                .push(format!("cannot remove volume {name}: {}", describe(&e))),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn only_clean_without_run_id_or_force_skips_what_is_in_use() {
        assert!(Mode::for_clean(None, false).skip_in_use);
        assert!(!Mode::for_clean(None, true).skip_in_use);
        assert!(!Mode::for_clean(Some("r"), false).skip_in_use);
        assert!(!Mode::for_clean(Some("r"), true).skip_in_use);
        assert_eq!(Mode::for_clean(None, false).session, None);
    }

    fn docker(args: &[&str]) {
        let out = Command::new("docker")
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("docker: {e}"));
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `wharf clean` without `--run` and `--force`, against the real engine (scoped to
    /// one run label here, so that it cannot touch anything else on the engine).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn objects_of_running_runs_are_skipped() {
        wharf_e2e::require_docker!();
        let busybox = wharf_e2e::busybox_image();
        let n = &labels::new_session()[..10];
        let run = format!("cleanskip-{n}");
        let label = |session: &str| {
            vec![
                "--label".to_string(),
                format!("{}=true", labels::LABEL_MANAGED),
                "--label".to_string(),
                format!("{}={run}", labels::LABEL_RUN),
                "--label".to_string(),
                format!("{}={session}", labels::LABEL_SESSION),
            ]
        };
        let create = |kind: &[&str], session: &str, name: &str, rest: &[&str]| {
            let mut args: Vec<String> = kind.iter().map(|s| s.to_string()).collect();
            args.extend(label(session));
            args.extend(rest.iter().map(|s| s.to_string()));
            args.push(name.to_string());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            docker(&args);
        };
        let (live_net, live_vol) = (format!("livenet-{n}"), format!("livevol-{n}"));
        let (live, helper) = (format!("live-{n}"), format!("helper-{n}"));
        let (dead_net, dead_vol, dead) = (
            format!("deadnet-{n}"),
            format!("deadvol-{n}"),
            format!("dead-{n}"),
        );
        // A run still going on: a running step, its never-started helper, its network
        // and volume; and a run that ended without cleaning up.
        create(&["network", "create"], "live", &live_net, &[]);
        create(&["volume", "create"], "live", &live_vol, &[]);
        create(&["network", "create"], "dead", &dead_net, &[]);
        create(&["volume", "create"], "dead", &dead_vol, &[]);
        let mount = format!("{live_vol}:/data");
        let mut args = vec![
            "run",
            "-d",
            "--name",
            &live,
            "--network",
            &live_net,
            "-v",
            &mount,
        ];
        let live_labels = label("live");
        args.extend(live_labels.iter().map(String::as_str));
        args.extend([busybox, "sleep", "300"]);
        docker(&args);
        let mut args = vec!["create", "--name", &helper];
        args.extend(live_labels.iter().map(String::as_str));
        args.extend([busybox, "true"]);
        docker(&args);
        let dead_mount = format!("{dead_vol}:/data");
        let mut args = vec![
            "create",
            "--name",
            &dead,
            "--network",
            &dead_net,
            "-v",
            &dead_mount,
        ];
        let dead_labels = label("dead");
        args.extend(dead_labels.iter().map(String::as_str));
        args.extend([busybox, "true"]);
        docker(&args);

        let engine = connect::connect().await.unwrap_or_else(|e| panic!("{e}"));
        let mut report = CleanReport::default();
        let skipping = Mode::for_clean(None, false);
        remove_labelled(&engine, labels::filters(Some(&run)), &skipping, &mut report)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut skipped = report.skipped.clone();
        skipped.sort();
        let mut expected = vec![
            format!("container {live} (running)"),
            format!("container {helper} (its run is still running)"),
            format!("network {live_net} (in use)"),
            format!("volume {live_vol} (in use)"),
        ];
        expected.sort();
        let mut removed = report.removed.clone();
        removed.sort();
        let left = wharf_e2e::labelled(&format!("{}={run}", labels::LABEL_RUN));
        // `wharf clean --run` removes the rest, running or not.
        let rest = clean(Some(&run), false)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(skipped, expected, "{report:?}");
        assert_eq!(
            removed,
            [
                format!("container {dead}"),
                format!("network {dead_net}"),
                format!("volume {dead_vol}")
            ],
            "{report:?}"
        );
        assert!(report.errors.is_empty(), "{report:?}");
        assert_eq!(left.len(), 4, "{left:?}");
        assert!(
            rest.skipped.is_empty() && rest.errors.is_empty(),
            "{rest:?}"
        );
        assert_eq!(rest.removed.len(), 4, "{rest:?}");
        assert!(wharf_e2e::labelled(&format!("{}={run}", labels::LABEL_RUN)).is_empty());
    }
}
