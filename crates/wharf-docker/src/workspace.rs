//! The run's volumes (workspace, home, secrets) and the helper container that moves
//! files in and out of them through the Engine API (`PUT`/`GET /containers/{id}/archive`),
//! so everything works with a remote `DOCKER_HOST` too.

use std::collections::HashMap;
use std::path::Path;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, HostConfig, Mount, MountType, MountVolumeOptions, VolumeCreateRequest,
};
use bollard::query_parameters::{
    BuildImageOptions, BuilderVersion, CreateContainerOptions, DownloadFromContainerOptions,
    UploadToContainerOptions,
};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::archive;
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

/// Creates volume `name` with `labels`. A volume of that name that already exists is
/// an error: its contents would leak into this run.
pub(crate) async fn create_volume(
    docker: &Docker,
    name: &str,
    labels: HashMap<String, String>,
    driver_opts: Option<HashMap<String, String>>,
    purpose: &str,
) -> Result<(), Error> {
    if docker.inspect_volume(name).await.is_ok() {
        return Err(Error::msg(format!(
            "cannot create the {purpose} volume {name}: a Docker volume with that name already exists \
             (remove it with `docker volume rm {name}`, or `wharf clean` if an earlier wharf run left it)"
        )));
    }
    docker
        .create_volume(VolumeCreateRequest {
            name: Some(name.to_string()),
            driver: Some("local".into()),
            driver_opts,
            labels: Some(labels),
            ..Default::default()
        })
        .await
        .map_err(|e| Error::docker(format!("cannot create the {purpose} volume {name}"), e))?;
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
/// [`HELPER_WORKSPACE`] and each secret volume at [`helper_secret_dir`].
pub(crate) async fn create_helper(
    docker: &Docker,
    run_id: &str,
    workspace_volume: &str,
    secret_volumes: &[(String, String)],
) -> Result<String, Error> {
    let name = labels::helper_container(run_id);
    // A helper of the same run id (an interrupted earlier run) is replaced; anyone
    // else's container of that name is left alone.
    match docker.inspect_container(&name, None).await {
        Ok(existing) => {
            let labels = existing.config.as_ref().and_then(|c| c.labels.as_ref());
            if !labels::belongs_to(labels, run_id) {
                return Err(Error::msg(format!(
                    "a container named {name} already exists and does not belong to this run; \
                     remove it with `docker rm -f {name}`"
                )));
            }
            docker
                .remove_container(&name, Some(crate::container::force_remove()))
                .await
                .map_err(|e| {
                    Error::docker(format!("cannot remove the old helper container {name}"), e)
                })?;
        }
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(Error::docker(format!("cannot inspect container {name}"), e)),
    }
    let mut mounts = vec![volume_mount(workspace_volume, HELPER_WORKSPACE, true)];
    for (task_name, volume) in secret_volumes {
        mounts.push(volume_mount(volume, &helper_secret_dir(task_name), true));
    }
    let mut helper_labels = labels::for_run(run_id);
    helper_labels.insert(labels::LABEL_HELPER.into(), "true".into());
    docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(name.clone()),
                ..Default::default()
            }),
            ContainerCreateBody {
                image: Some(HELPER_IMAGE.into()),
                labels: Some(helper_labels),
                network_disabled: Some(true),
                host_config: Some(HostConfig {
                    mounts: Some(mounts),
                    network_mode: Some("none".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| Error::docker("cannot create wharf's helper container", e))?;
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

/// Downloads `path` of `container` (a directory) into the local directory `dest`.
pub(crate) async fn download_dir(
    docker: &Docker,
    container: &str,
    path: &str,
    dest: &Path,
) -> Result<(), Error> {
    let file = download(docker, container, path).await?;
    let tar_path = file.path().to_path_buf();
    let dest = dest.to_path_buf();
    tokio::task::spawn_blocking(move || archive::unpack_stripped(&tar_path, &dest))
        .await
        .map_err(|e| Error::msg(format!("unpacking {path} stopped: {e}")))??;
    drop(file);
    Ok(())
}

/// Downloads the regular file at `path` of `container`.
pub(crate) async fn download_file(
    docker: &Docker,
    container: &str,
    path: &str,
) -> Result<Vec<u8>, Error> {
    let file = download(docker, container, path).await?;
    let tar_path = file.path().to_path_buf();
    let wanted = path.to_string();
    tokio::task::spawn_blocking(move || -> Result<Vec<u8>, Error> {
        let f = std::fs::File::open(&tar_path)
            .map_err(|e| Error::io("cannot open the downloaded archive", e))?;
        let mut tar = tar::Archive::new(f);
        let bad =
            |e: std::io::Error| Error::io(format!("cannot read {wanted} from the workspace"), e);
        for entry in tar.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            if entry.header().entry_type().is_file() {
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut data).map_err(bad)?;
                return Ok(data);
            }
        }
        Err(Error::msg(format!("{wanted} is not a regular file")))
    })
    .await
    .map_err(|e| Error::msg(format!("reading {path} stopped: {e}")))?
}

/// Streams `GET /archive` of `path` into a temporary file.
async fn download(
    docker: &Docker,
    container: &str,
    path: &str,
) -> Result<tempfile::NamedTempFile, Error> {
    let temp = tempfile::NamedTempFile::new()
        .map_err(|e| Error::io("cannot create a temporary file", e))?;
    let std_file = temp
        .reopen()
        .map_err(|e| Error::io("cannot open a temporary file", e))?;
    let mut file = tokio::fs::File::from_std(std_file);
    let mut stream = docker.download_from_container(
        container,
        Some(DownloadFromContainerOptions {
            path: path.to_string(),
        }),
    );
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            if is_not_found(&e) {
                Error::msg(format!("{path} does not exist in the workspace"))
            } else {
                Error::docker(format!("cannot read {path} from the workspace"), e)
            }
        })?;
        file.write_all(&chunk)
            .await
            .map_err(|e| Error::io("cannot write a temporary file", e))?;
    }
    file.flush()
        .await
        .map_err(|e| Error::io("cannot write a temporary file", e))?;
    Ok(temp)
}
