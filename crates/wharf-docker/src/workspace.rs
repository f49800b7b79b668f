//! The run's volumes (workspace, home, secrets) and the helper container that moves
//! files in and out of them through the Engine API (`PUT`/`GET /containers/{id}/archive`),
//! so everything works with a remote `DOCKER_HOST` too.

use std::collections::HashMap;
use std::path::Path;

use bollard::Docker;
use bollard::container::PathStatResponse;
use bollard::models::{
    ContainerCreateBody, HostConfig, Mount, MountType, MountVolumeOptions, VolumeCreateRequest,
};
use bollard::query_parameters::{
    BuildImageOptions, BuilderVersion, ContainerArchiveInfoOptions, DownloadFromContainerOptions,
    UploadToContainerOptions,
};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::archive::{self, ChannelReader};
use crate::container::{Created, create_named};
use crate::dockerignore::Matcher;
use crate::error::{Error, describe, is_not_found};
use crate::labels;

/// The image of the helper container: `FROM scratch` plus a label, built locally once
/// (never pulled). Its containers are created but never started.
pub const HELPER_IMAGE: &str = "wharf/helper:1";

/// Where the helper container mounts the workspace.
pub(crate) const HELPER_WORKSPACE: &str = "/workspace";

/// Where the helper container mounts secret volume `name`.
pub(crate) fn helper_secret_dir(name: &str) -> String {
    format!("/wharf/secrets/{}", labels::name_part(name))
}

/// Builds [`HELPER_IMAGE`] unless the engine has it.
pub(crate) async fn ensure_helper_image(docker: &Docker) -> Result<(), Error> {
    if docker.inspect_image(HELPER_IMAGE).await.is_ok() {
        return Ok(());
    }
    let dockerfile = format!(
        "FROM scratch\nLABEL {}=true\nCMD [\"/wharf-helper-is-never-started\"]\n",
        labels::LABEL_HELPER
    );
    let context = archive::in_memory(&[("Dockerfile", dockerfile.as_bytes(), 0o644)])?;
    let options = BuildImageOptions {
        dockerfile: "Dockerfile".into(),
        t: Some(HELPER_IMAGE.into()),
        rm: true,
        forcerm: true,
        version: BuilderVersion::BuilderV1,
        ..Default::default()
    };
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(item) = stream.next().await {
        item.map_err(|e| {
            Error::docker(
                format!("cannot build wharf's helper image {HELPER_IMAGE}"),
                e,
            )
        })?;
    }
    Ok(())
}

/// Creates volume `name` with `labels` (which carry this executor's `session`). A
/// volume of that name that already exists is an error saying whose it is: its
/// contents would leak into this run.
pub(crate) async fn create_volume(
    docker: &Docker,
    name: &str,
    labels: HashMap<String, String>,
    driver_opts: Option<HashMap<String, String>>,
    purpose: &str,
) -> Result<(), Error> {
    let session = labels
        .get(labels::LABEL_SESSION)
        .cloned()
        .unwrap_or_default();
    let in_the_way = |labels: Option<&HashMap<String, String>>| {
        Error::msg(format!(
            "cannot create the {purpose} volume {name}: {}",
            labels::in_the_way(
                "volume",
                name,
                labels,
                &format!("docker volume rm {name}"),
                "give the run another `--id`",
            )
        ))
    };
    match docker.inspect_volume(name).await {
        Ok(existing) => return Err(in_the_way(Some(&existing.labels))),
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(Error::docker(format!("cannot inspect volume {name}"), e)),
    }
    let created = docker
        .create_volume(VolumeCreateRequest {
            name: Some(name.to_string()),
            driver: Some("local".into()),
            driver_opts,
            labels: Some(labels),
            ..Default::default()
        })
        .await
        .map_err(|e| Error::docker(format!("cannot create the {purpose} volume {name}"), e))?;
    // The engine answers a create of an existing volume with that volume: someone
    // made it between the look and the create.
    if !labels::belongs_to(Some(&created.labels), &session) {
        return Err(in_the_way(Some(&created.labels)));
    }
    Ok(())
}

/// A volume mount.
pub(crate) fn volume_mount(source: &str, target: &str, no_copy: bool) -> Mount {
    Mount {
        target: Some(target.to_string()),
        source: Some(source.to_string()),
        typ: Some(MountType::VOLUME),
        volume_options: no_copy.then(|| MountVolumeOptions {
            no_copy: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Creates the (never started) helper container of the run, with the workspace at
/// [`HELPER_WORKSPACE`] and each secret volume at [`helper_secret_dir`]. `labels` are
/// the executor's.
pub(crate) async fn create_helper(
    docker: &Docker,
    run_id: &str,
    labels: HashMap<String, String>,
    workspace_volume: &str,
    secret_volumes: &[(String, String)],
) -> Result<String, Error> {
    let name = labels::helper_container(run_id);
    let session = labels
        .get(labels::LABEL_SESSION)
        .cloned()
        .unwrap_or_default();
    let mut mounts = vec![volume_mount(workspace_volume, HELPER_WORKSPACE, true)];
    for (task_name, volume) in secret_volumes {
        mounts.push(volume_mount(volume, &helper_secret_dir(task_name), true));
    }
    let mut helper_labels = labels;
    helper_labels.insert(labels::LABEL_HELPER.into(), "true".into());
    let config = ContainerCreateBody {
        image: Some(HELPER_IMAGE.into()),
        labels: Some(helper_labels),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            mounts: Some(mounts),
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    create_named(
        docker,
        &name,
        config,
        &session,
        "give the run another `--id`",
    )
    .await
    .map_err(|e| match e {
        Created::Taken(message) => Error::msg(message),
        Created::Failed(e) => Error::docker("cannot create wharf's helper container", e),
    })?;
    Ok(name)
}

/// Copies the directory `dir` (honouring its `.dockerignore`) into `target` of
/// `container`.
pub(crate) async fn upload_dir(
    docker: &Docker,
    container: &str,
    dir: &Path,
    target: &str,
) -> Result<(), Error> {
    let ignore = read_dockerignore(dir)?;
    let root = dir.to_path_buf();
    let (stream, producer) = archive::stream_tar(move |b| archive::add_dir(b, &root, &ignore));
    let sent = docker
        .upload_to_container(
            container,
            Some(UploadToContainerOptions {
                path: target.to_string(),
                ..Default::default()
            }),
            bollard::body_try_stream(stream),
        )
        .await;
    let produced = producer.await.map_err(|e| {
        Error::msg(format!(
            "the archive of {} was not produced: {e}",
            dir.display()
        ))
    })?;
    match (sent, produced) {
        (Ok(()), Ok(())) => Ok(()),
        // A file that cannot be read explains a failed upload best.
        (_, Err(e)) if !e.is_broken_pipe() => Err(e),
        (Err(e), _) => Err(Error::msg(format!(
            "cannot copy {} into the workspace: {}",
            dir.display(),
            describe(&e)
        ))),
        (Ok(()), Err(e)) => Err(e),
    }
}

/// Copies in-memory files (`name`, contents) into directory `target` of `container`.
pub(crate) async fn upload_files(
    docker: &Docker,
    container: &str,
    files: &[(&str, &[u8], u32)],
    target: &str,
) -> Result<(), bollard::errors::Error> {
    let archive = archive::in_memory(files).map_err(|e| std::io::Error::other(e.to_string()))?;
    docker
        .upload_to_container(
            container,
            Some(UploadToContainerOptions {
                path: target.to_string(),
                ..Default::default()
            }),
            bollard::body_full(archive.into()),
        )
        .await
}

/// The `.dockerignore` of `dir`, or an empty matcher.
pub(crate) fn read_dockerignore(dir: &Path) -> Result<Matcher, Error> {
    let path = dir.join(".dockerignore");
    match std::fs::read_to_string(&path) {
        Ok(text) => Matcher::from_dockerignore(&text)
            .map_err(|e| Error::msg(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Matcher::default()),
        Err(e) => Err(Error::io(format!("cannot read {}", path.display()), e)),
    }
}

/// What the engine says about `path` of `container`; `None` when it does not exist.
pub(crate) async fn stat(
    docker: &Docker,
    container: &str,
    path: &str,
) -> Result<Option<PathStatResponse>, Error> {
    match docker
        .get_container_archive_info(
            container,
            Some(ContainerArchiveInfoOptions {
                path: path.to_string(),
            }),
        )
        .await
    {
        Ok(stat) => Ok(Some(stat)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(Error::docker(
            format!("cannot read {path} in the workspace"),
            e,
        )),
    }
}

/// Go's `os.ModeDir` and `os.ModeSymlink`, as the engine's path stat reports them.
const GO_MODE_DIR: u32 = 1 << 31;
const GO_MODE_SYMLINK: u32 = 1 << 27;

/// Whether a path stat is a directory.
pub(crate) fn is_dir(stat: &PathStatResponse) -> bool {
    stat.file_mode & GO_MODE_DIR != 0
}

/// The contents of the file at `path` of `container` (a symbolic link is followed);
/// `None` when there is nothing at `path`. Meant for small files (a Dockerfile, a
/// `.dockerignore`): the contents are held in memory.
pub(crate) async fn read_file(
    docker: &Docker,
    container: &str,
    path: &str,
) -> Result<Option<Vec<u8>>, Error> {
    let Some(mut found) = stat(docker, container, path).await? else {
        return Ok(None);
    };
    let mut target = path.to_string();
    // The engine resolves a link's target completely: one step is enough.
    if found.file_mode & GO_MODE_SYMLINK != 0 && !found.link_target.is_empty() {
        target = found.link_target.clone();
        match stat(docker, container, &target).await? {
            Some(s) => found = s,
            None => return Ok(None),
        }
    }
    if found.file_mode & (GO_MODE_DIR | GO_MODE_SYMLINK) != 0 {
        return Err(Error::msg(format!("{path} is not a regular file")));
    }
    let mut archive = Vec::new();
    let mut stream = docker.download_from_container(
        container,
        Some(DownloadFromContainerOptions {
            path: target.clone(),
        }),
    );
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| Error::docker(format!("cannot read {path} from the workspace"), e))?;
        archive.extend_from_slice(&chunk);
    }
    let bad = |e: std::io::Error| Error::io(format!("cannot read {path} from the workspace"), e);
    let mut tar = tar::Archive::new(archive.as_slice());
    for entry in tar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        if entry.header().entry_type().is_file() {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).map_err(bad)?;
            return Ok(Some(data));
        }
    }
    Err(Error::msg(format!("{path} is not a regular file")))
}

/// `GET /archive` of `path` in `container` as a blocking reader, for a blocking thread.
/// The download runs on `runtime` and stops when `cancel` fires (the reader then fails)
/// or when the reader is dropped.
pub(crate) fn archive_reader(
    runtime: &tokio::runtime::Handle,
    docker: Docker,
    container: String,
    path: String,
    cancel: CancellationToken,
) -> ChannelReader {
    let (tx, rx) = mpsc::channel(8);
    runtime.spawn(async move {
        let mut stream = docker.download_from_container(
            &container,
            Some(DownloadFromContainerOptions { path: path.clone() }),
        );
        let stopped = || {
            // Dropping the sender without the end mark fails the reader anyway; this
            // only says why, when there is room.
            let _ = tx.try_send(Err(std::io::Error::other(format!(
                "reading {path} from the workspace was stopped"
            ))));
        };
        loop {
            let item = tokio::select! {
                () = cancel.cancelled() => return stopped(),
                () = tx.closed() => return,
                item = stream.next() => item,
            };
            let message = match item {
                None => {
                    let _ = tx.send(Ok(Bytes::new())).await;
                    return;
                }
                Some(Ok(chunk)) if chunk.is_empty() => continue,
                Some(Ok(chunk)) => {
                    tokio::select! {
                        sent = tx.send(Ok(chunk)) => if sent.is_err() { return },
                        () = cancel.cancelled() => return stopped(),
                    }
                    continue;
                }
                Some(Err(e)) if is_not_found(&e) => {
                    format!("{path} does not exist in the workspace")
                }
                Some(Err(e)) => format!("cannot read {path} from the workspace: {}", describe(&e)),
            };
            let _ = tx.send(Err(std::io::Error::other(message))).await;
            return;
        }
    });
    ChannelReader::new(rx)
}
