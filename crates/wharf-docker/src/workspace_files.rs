//! The run's `/workspace` for steps that run on this machine rather than in a
//! container (helm steps): read a directory, write a file. In copy mode the files go
//! through the run's helper container, so what earlier steps wrote is there and
//! what is written here is seen by later steps; in bind mode the workspace is the
//! context directory itself.

use std::path::{Path, PathBuf};

use wharf_engine::ExecError;
use wharf_spec::task::WORKSPACE;

use crate::context::container_path;
use crate::error::Error;
use crate::workspace::{self, is_dir};
use crate::{DockerExecutor, WorkspaceMode, archive, labels};

/// Mode of files written into the workspace: readable by steps that run as
/// another user (`user:`), like the context's files.
const FILE_MODE: u32 = 0o644;

/// `path` (relative to `/workspace`, or absolute inside it) cleaned, with the
/// part below `/workspace`; an input error when it leaves the workspace.
fn resolve(path: &str, what: &str) -> Result<(String, String), Error> {
    let full = container_path(WORKSPACE, path);
    let rel = if full == WORKSPACE {
        String::new()
    } else {
        full.strip_prefix(WORKSPACE)
            .and_then(|r| r.strip_prefix('/'))
            .map(str::to_string)
            .ok_or_else(|| {
                Error::input(format!(
                    "the {what} {path} is not inside {WORKSPACE}: give a path in the workspace"
                ))
            })?
    };
    Ok((full, rel))
}

impl DockerExecutor {
    /// The directory `path` of the workspace (relative to `/workspace`, or absolute
    /// inside it) as a directory on this machine. In copy mode it is copied into
    /// `scratch` and the copy is returned; in bind mode the context's own directory
    /// is returned (read it, do not change it). `what` names the directory in errors
    /// (`chart directory`).
    pub async fn workspace_dir(
        &self,
        path: &str,
        what: &str,
        scratch: &Path,
    ) -> Result<PathBuf, ExecError> {
        Ok(self.workspace_dir_inner(path, what, scratch).await?)
    }

    async fn workspace_dir_inner(
        &self,
        path: &str,
        what: &str,
        scratch: &Path,
    ) -> Result<PathBuf, Error> {
        let (full, rel) = resolve(path, what)?;
        let missing = || Error::input(format!("the {what} {full} does not exist in the workspace"));
        let not_dir = || Error::input(format!("the {what} {full} is not a directory"));
        match self.options.workspace {
            WorkspaceMode::Bind => {
                let dir = self.options.context_dir.join(&rel);
                match std::fs::metadata(&dir) {
                    Ok(m) if m.is_dir() => Ok(dir),
                    Ok(_) => Err(not_dir()),
                    Err(_) => Err(missing()),
                }
            }
            WorkspaceMode::Copy => {
                let helper = labels::helper_container(&self.options.run_id);
                match workspace::stat(&self.docker, &helper, &full).await? {
                    None => return Err(missing()),
                    Some(stat) if !is_dir(&stat) => return Err(not_dir()),
                    Some(_) => {}
                }
                let reader = workspace::archive_reader(
                    &tokio::runtime::Handle::current(),
                    self.docker.clone(),
                    helper,
                    full.clone(),
                    tokio_util::sync::CancellationToken::new(),
                );
                // The archive's top entry is the directory itself, by its base name.
                let top = Path::new(&full)
                    .file_name()
                    .map_or_else(|| PathBuf::from("workspace"), PathBuf::from);
                let dest = scratch.to_path_buf();
                let shown = full.clone();
                tokio::task::spawn_blocking(move || {
                    std::fs::create_dir_all(&dest)
                        .map_err(|e| Error::io(format!("cannot create {}", dest.display()), e))?;
                    tar::Archive::new(reader).unpack(&dest).map_err(|e| {
                        Error::io(format!("cannot copy {shown} out of the workspace"), e)
                    })?;
                    Ok(dest.join(top))
                })
                .await
                .map_err(|e| {
                    Error::msg(format!("copying {full} out of the workspace failed: {e}"))
                })?
            }
        }
    }

    /// Writes `data` as the file `path` of the workspace (relative to `/workspace`,
    /// or absolute inside it), making its directories, and returns its full path
    /// (`/workspace/dist/web-1.2.3.tgz`). `what` names the file in errors.
    pub async fn write_workspace_file(
        &self,
        path: &str,
        what: &str,
        data: &[u8],
    ) -> Result<String, ExecError> {
        Ok(self.write_workspace_file_inner(path, what, data).await?)
    }

    async fn write_workspace_file_inner(
        &self,
        path: &str,
        what: &str,
        data: &[u8],
    ) -> Result<String, Error> {
        let (full, rel) = resolve(path, what)?;
        if rel.is_empty() {
            return Err(Error::input(format!(
                "the {what} cannot be {WORKSPACE} itself: name a file"
            )));
        }
        match self.options.workspace {
            WorkspaceMode::Bind => {
                let file = self.options.context_dir.join(&rel);
                if let Some(parent) = file.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| Error::io(format!("cannot create {}", parent.display()), e))?;
                }
                std::fs::write(&file, data)
                    .map_err(|e| Error::io(format!("cannot write {}", file.display()), e))?;
            }
            WorkspaceMode::Copy => {
                let helper = labels::helper_container(&self.options.run_id);
                // The engine makes the directories an archive's entries need.
                let archive = archive::in_memory(&[(rel.as_str(), data, FILE_MODE)])?;
                self.docker
                    .upload_to_container(
                        &helper,
                        Some(bollard::query_parameters::UploadToContainerOptions {
                            path: WORKSPACE.to_string(),
                            ..Default::default()
                        }),
                        bollard::body_full(archive.into()),
                    )
                    .await
                    .map_err(|e| {
                        Error::docker(format!("cannot write {full} into the workspace"), e)
                    })?;
            }
        }
        Ok(full)
    }
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn paths_stay_inside_the_workspace() {
        let ok = |p: &str| resolve(p, "chart").map_err(|e| e.to_string());
        assert_eq!(
            ok("./chart"),
            Ok(("/workspace/chart".into(), "chart".into()))
        );
        assert_eq!(
            ok("/workspace/a/../b"),
            Ok(("/workspace/b".into(), "b".into()))
        );
        assert_eq!(ok("."), Ok(("/workspace".into(), String::new())));
        let e = ok("../etc").expect_err("a path above the workspace");
        assert!(e.contains("not inside /workspace"), "{e}");
        assert!(ok("/etc/passwd").is_err());
        assert!(ok("/workspacefoo").is_err());
    }
}
