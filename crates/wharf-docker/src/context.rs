//! The build context of a `build` step, as the Docker CLI would send it when run in
//! the step's working directory inside `/workspace`: read from the workspace volume
//! through the helper container (copy mode, streamed straight into the build request)
//! or from disk (bind mode), filtered by the context's `.dockerignore`, with the
//! Dockerfile located by the CLI's rules.

use std::io::Read;
use std::path::{Path, PathBuf};

use bollard::Docker;
use bytes::Bytes;
use futures_util::Stream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wharf_spec::task::WORKSPACE;

use crate::dockerignore::{Matcher, clean};
use crate::error::Error;
use crate::workspace::{self, read_dockerignore};
use crate::{DockerExecutor, WorkspaceMode, archive, labels};

/// Where a local build context is read from.
enum Source {
    /// A directory on this machine (bind mode).
    Dir(PathBuf),
    /// A directory of the workspace volume, downloaded through the helper container
    /// while the build request is sent.
    Workspace {
        docker: Docker,
        helper: String,
        /// The directory in the helper container.
        path: String,
    },
}

/// A local build context ready to be streamed.
pub(crate) struct LocalContext {
    source: Source,
    /// What the context's `.dockerignore` leaves out.
    ignore: Matcher,
    /// The Dockerfile's path inside the archive.
    pub dockerfile: String,
    /// A Dockerfile from outside the context, added under `dockerfile`.
    extra: Option<Vec<u8>>,
    /// The Dockerfile's contents (to find the registries of its base images).
    pub dockerfile_text: String,
}

impl LocalContext {
    /// The context as a tar stream, and the producer's result. A context read from the
    /// workspace stops downloading when `cancel` fires.
    pub(crate) fn into_stream(
        self,
        cancel: &CancellationToken,
    ) -> (
        impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
        JoinHandle<Result<(), Error>>,
    ) {
        let LocalContext {
            source,
            ignore,
            dockerfile,
            extra,
            ..
        } = self;
        let cancel = cancel.clone();
        archive::stream_tar(move |b| {
            match source {
                Source::Dir(dir) => archive::add_dir(b, &dir, &ignore)?,
                Source::Workspace {
                    docker,
                    helper,
                    path,
                } => {
                    // The producer runs on the runtime's blocking pool; downloads run on
                    // the runtime.
                    let runtime = tokio::runtime::Handle::try_current()
                        .map_err(|e| Error::msg(format!("cannot read the build context: {e}")))?;
                    let download = |from: &str| {
                        workspace::archive_reader(
                            &runtime,
                            docker.clone(),
                            helper.clone(),
                            from.to_string(),
                            cancel.clone(),
                        )
                    };
                    let mut fetch = |target: &Path| -> Result<Box<dyn Read>, Error> {
                        // The engine's API takes paths as text.
                        let target = target.to_str().ok_or_else(|| {
                            Error::msg(format!(
                                "cannot read {} from the workspace: the name is not UTF-8 \
                                 (a hard link to it is sent, the file itself is excluded)",
                                target.display()
                            ))
                        })?;
                        Ok(Box::new(download(&format!("{path}/{target}"))))
                    };
                    archive::repack_stripped(download(&path), b, &ignore, &mut fetch)?;
                }
            }
            if let Some(data) = &extra {
                archive::append_bytes(b, &dockerfile, data, 0o644)?;
            }
            Ok(())
        })
    }
}

/// Whether the context is remote (a Git repository or an http(s) URL), which the engine
/// fetches itself (the build API's `remote` parameter).
pub(crate) fn is_remote(context: &str) -> bool {
    context.starts_with("http://")
        || context.starts_with("https://")
        || context.starts_with("git://")
        || context.starts_with("git@")
        || context.starts_with("github.com/")
}

/// `path` joined to `dir` (when relative) and cleaned: a path in the step container.
pub(crate) fn container_path(dir: &str, path: &str) -> String {
    if path.starts_with('/') {
        clean(path)
    } else {
        clean(&format!("{dir}/{path}"))
    }
}

/// The part of a container path below `/workspace` (`""` for `/workspace` itself).
fn in_workspace<'a>(path: &'a str, what: &str, step: &str) -> Result<&'a str, Error> {
    if path == WORKSPACE {
        return Ok("");
    }
    path.strip_prefix(WORKSPACE)
        .and_then(|rest| rest.strip_prefix('/'))
        .ok_or_else(|| {
            Error::msg(format!(
                "step {step}: the {what} {path} is not inside {WORKSPACE}, where the build runs"
            ))
        })
}

impl DockerExecutor {
    /// Collects the local context `context` and Dockerfile `dockerfile` (both as
    /// written, relative to the step's working directory `workdir`). Only small files
    /// are read here (`.dockerignore`, the Dockerfile); the context itself is read while
    /// it is sent ([`LocalContext::into_stream`]).
    pub(crate) async fn local_context(
        &self,
        step: &str,
        workdir: &str,
        context: &str,
        dockerfile: Option<&str>,
    ) -> Result<LocalContext, Error> {
        let context_path = container_path(workdir, context);
        let context_rel = in_workspace(&context_path, "build context", step)?.to_string();
        let not_a_dir = |what: String| {
            Error::msg(format!(
                "step {step}: the build context {context_path}{what} is not a directory"
            ))
        };
        let source = match self.options.workspace {
            WorkspaceMode::Bind => {
                let dir = self.options.context_dir.join(&context_rel);
                if !dir.is_dir() {
                    return Err(not_a_dir(format!(" ({})", dir.display())));
                }
                Source::Dir(dir)
            }
            WorkspaceMode::Copy => {
                let helper = labels::helper_container(&self.options.run_id);
                let found = workspace::stat(&self.docker, &helper, &context_path)
                    .await
                    .map_err(|e| Error::msg(format!("step {step}: {e}")))?;
                match found {
                    None => {
                        return Err(Error::msg(format!(
                            "step {step}: the build context {context_path} does not exist in the workspace"
                        )));
                    }
                    Some(stat) if !workspace::is_dir(&stat) => {
                        return Err(not_a_dir(String::new()));
                    }
                    Some(_) => {}
                }
                Source::Workspace {
                    docker: self.docker.clone(),
                    helper,
                    path: context_path.clone(),
                }
            }
        };
        let mut ignore = match &source {
            Source::Dir(dir) => {
                read_dockerignore(dir).map_err(|e| Error::msg(format!("step {step}: {e}")))?
            }
            Source::Workspace { .. } => {
                let path = format!("{context_path}/.dockerignore");
                match self.read_file(step, &path).await? {
                    Some(data) => Matcher::from_dockerignore(&String::from_utf8_lossy(&data))
                        .map_err(|e| Error::msg(format!("step {step}: {path}: {e}")))?,
                    None => Matcher::default(),
                }
            }
        };

        // The CLI reads `-f` relative to its working directory, not to the context; a
        // Dockerfile outside the context is sent under a generated name.
        let inside = |name: &str| container_path(&context_path, name);
        let (dockerfile, extra, text) = match dockerfile {
            Some(f) => {
                let path = container_path(workdir, f);
                let rel = path
                    .strip_prefix(&context_path)
                    .and_then(|r| r.strip_prefix('/'))
                    .map(str::to_string);
                match rel {
                    Some(rel) => {
                        let text = self.context_file(step, &source, &rel, &path).await?;
                        (rel, None, text)
                    }
                    None => {
                        let data = self.read_workspace_file(step, &path).await?;
                        let name = format!(".dockerfile.{:012x}", short_hash(&data));
                        (name, Some(data.clone()), Some(data))
                    }
                }
            }
            None => {
                let upper = self
                    .context_file(step, &source, "Dockerfile", &inside("Dockerfile"))
                    .await?;
                match upper {
                    Some(text) => ("Dockerfile".to_string(), None, Some(text)),
                    None => {
                        let lower = self
                            .context_file(step, &source, "dockerfile", &inside("dockerfile"))
                            .await?;
                        match lower {
                            Some(text) => ("dockerfile".to_string(), None, Some(text)),
                            None => ("Dockerfile".to_string(), None, None),
                        }
                    }
                }
            }
        };
        let Some(text) = text else {
            return Err(Error::msg(format!(
                "step {step}: cannot find the Dockerfile {} in the build context {context_path}",
                inside(&dockerfile)
            )));
        };
        // Like the CLI: the Dockerfile and .dockerignore are sent even when excluded.
        for keep in [".dockerignore", dockerfile.as_str()] {
            if ignore.excludes(keep) {
                ignore
                    .push(&format!("!{keep}"))
                    .map_err(|e| Error::msg(format!("step {step}: {e}")))?;
            }
        }
        Ok(LocalContext {
            source,
            ignore,
            dockerfile,
            extra,
            dockerfile_text: String::from_utf8_lossy(&text).into_owned(),
        })
    }

    /// The file `rel` of the context (`path` in the step container); `None` when it
    /// does not exist.
    async fn context_file(
        &self,
        step: &str,
        source: &Source,
        rel: &str,
        path: &str,
    ) -> Result<Option<Vec<u8>>, Error> {
        match source {
            Source::Dir(dir) => match std::fs::read(dir.join(rel)) {
                Ok(data) => Ok(Some(data)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io(format!("step {step}: cannot read {path}"), e)),
            },
            Source::Workspace { .. } => self.read_file(step, path).await,
        }
    }

    /// A file of the workspace volume, through the helper container.
    async fn read_file(&self, step: &str, path: &str) -> Result<Option<Vec<u8>>, Error> {
        workspace::read_file(
            &self.docker,
            &labels::helper_container(&self.options.run_id),
            path,
        )
        .await
        .map_err(|e| Error::msg(format!("step {step}: cannot read {path}: {e}")))
    }

    /// Reads a file of the workspace (a Dockerfile outside the context).
    async fn read_workspace_file(&self, step: &str, path: &str) -> Result<Vec<u8>, Error> {
        let rel = in_workspace(path, "Dockerfile", step)?;
        let data = match self.options.workspace {
            WorkspaceMode::Bind => {
                let file = self.options.context_dir.join(rel);
                match std::fs::read(&file) {
                    Ok(data) => Some(data),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => {
                        return Err(Error::io(
                            format!("step {step}: cannot read the Dockerfile {path}"),
                            e,
                        ));
                    }
                }
            }
            WorkspaceMode::Copy => self.read_file(step, path).await?,
        };
        data.ok_or_else(|| {
            Error::msg(format!(
                "step {step}: cannot read the Dockerfile {path}: it does not exist in the workspace"
            ))
        })
    }
}

/// A short content hash for generated file names.
fn short_hash(data: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    h.finish() & 0xffff_ffff_ffff
}

/// The images named by `FROM` lines (without variables, `scratch` or earlier stages).
pub(crate) fn base_images(dockerfile: &str) -> Vec<String> {
    let mut stages: Vec<String> = Vec::new();
    let mut images = Vec::new();
    for line in dockerfile.lines() {
        let mut words = line.split_whitespace();
        if !words.next().is_some_and(|w| w.eq_ignore_ascii_case("FROM")) {
            continue;
        }
        let rest: Vec<&str> = words.filter(|w| !w.starts_with("--")).collect();
        let Some(image) = rest.first() else {
            continue;
        };
        let lower = image.to_ascii_lowercase();
        if !image.contains('$') && lower != "scratch" && !stages.contains(&lower) {
            images.push(image.to_string());
        }
        if rest.len() >= 3 && rest[1].eq_ignore_ascii_case("AS") {
            stages.push(rest[2].to_ascii_lowercase());
        }
    }
    images
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_like_a_shell_in_the_workdir() {
        assert_eq!(container_path("/workspace", "."), "/workspace");
        assert_eq!(container_path("/workspace/app", "../lib"), "/workspace/lib");
        assert_eq!(
            container_path("/workspace/app", "/workspace/x"),
            "/workspace/x"
        );
        assert_eq!(in_workspace("/workspace/a/b", "x", "s").ok(), Some("a/b"));
        assert_eq!(in_workspace("/workspace", "x", "s").ok(), Some(""));
        assert!(in_workspace("/workspacex", "x", "s").is_err());
        assert!(in_workspace("/etc", "x", "s").is_err());
    }

    #[test]
    fn remote_contexts() {
        assert!(is_remote("https://github.com/a/b.git#main:dir"));
        assert!(is_remote("git@github.com:a/b.git"));
        assert!(is_remote("github.com/a/b"));
        assert!(!is_remote("."));
        assert!(!is_remote("src"));
    }

    #[test]
    fn base_images_skip_stages_scratch_and_variables() {
        let df = "ARG V=1\nFROM --platform=linux/amd64 reg.io/base:1 AS build\nFROM build\nfrom scratch\nFROM $IMG\nFROM busybox\n";
        assert_eq!(base_images(df), ["reg.io/base:1", "busybox"]);
    }
}
