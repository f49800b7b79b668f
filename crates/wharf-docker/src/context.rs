//! The build context of a `build` step, as the Docker CLI would send it when run in
//! the step's working directory inside `/workspace`: read back from the workspace
//! volume (copy mode) or from disk (bind mode), filtered by the context's
//! `.dockerignore`, with the Dockerfile located by the CLI's rules.

use std::path::PathBuf;

use bytes::Bytes;
use futures_util::Stream;
use tokio::task::JoinHandle;
use wharf_spec::task::WORKSPACE;

use crate::dockerignore::{Matcher, clean};
use crate::error::Error;
use crate::workspace::{self, read_dockerignore};
use crate::{DockerExecutor, WorkspaceMode, archive, labels};

/// A local build context ready to be streamed.
pub(crate) struct LocalContext {
    /// The directory holding the context.
    dir: PathBuf,
    /// Keeps a downloaded context alive until it has been sent.
    temp: Option<tempfile::TempDir>,
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
    /// The context as a tar stream, and the producer's result.
    pub(crate) fn into_stream(
        self,
    ) -> (
        impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
        JoinHandle<Result<(), Error>>,
    ) {
        let LocalContext {
            dir,
            temp,
            ignore,
            dockerfile,
            extra,
            ..
        } = self;
        archive::stream_tar(move |b| {
            archive::add_dir(b, &dir, &ignore)?;
            if let Some(data) = &extra {
                archive::append_bytes(b, &dockerfile, data, 0o644)?;
            }
            drop(temp);
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
    /// written, relative to the step's working directory `workdir`).
    pub(crate) async fn local_context(
        &self,
        step: &str,
        workdir: &str,
        context: &str,
        dockerfile: Option<&str>,
    ) -> Result<LocalContext, Error> {
        let context_path = container_path(workdir, context);
        let context_rel = in_workspace(&context_path, "build context", step)?.to_string();
        let (dir, temp) = match self.options.workspace {
            WorkspaceMode::Bind => {
                let dir = self.options.context_dir.join(&context_rel);
                if !dir.is_dir() {
                    return Err(Error::msg(format!(
                        "step {step}: the build context {context_path} ({}) is not a directory",
                        dir.display()
                    )));
                }
                (dir, None)
            }
            WorkspaceMode::Copy => {
                let temp = tempfile::tempdir()
                    .map_err(|e| Error::io("cannot create a temporary directory", e))?;
                workspace::download_dir(
                    &self.docker,
                    &labels::helper_container(&self.options.run_id),
                    &context_path,
                    temp.path(),
                )
                .await
                .map_err(|e| {
                    Error::msg(format!("step {step}: cannot read the build context: {e}"))
                })?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let mut ignore =
            read_dockerignore(&dir).map_err(|e| Error::msg(format!("step {step}: {e}")))?;

        // The CLI reads `-f` relative to its working directory, not to the context; a
        // Dockerfile outside the context is sent under a generated name.
        let (dockerfile, extra) = match dockerfile {
            Some(f) => {
                let path = container_path(workdir, f);
                let inside = path
                    .strip_prefix(&context_path)
                    .and_then(|r| r.strip_prefix('/'))
                    .map(str::to_string);
                match inside {
                    Some(rel) => (rel, None),
                    None => {
                        let data = self.read_workspace_file(step, &path).await?;
                        (
                            format!(".dockerfile.{:012x}", short_hash(&data)),
                            Some(data),
                        )
                    }
                }
            }
            None => {
                let name = if !dir.join("Dockerfile").exists() && dir.join("dockerfile").exists() {
                    "dockerfile"
                } else {
                    "Dockerfile"
                };
                (name.to_string(), None)
            }
        };
        let dockerfile_text = match &extra {
            Some(data) => String::from_utf8_lossy(data).into_owned(),
            None => std::fs::read_to_string(dir.join(&dockerfile)).map_err(|_| {
                Error::msg(format!(
                    "step {step}: cannot find the Dockerfile {} in the build context {context_path}",
                    container_path(&context_path, &dockerfile)
                ))
            })?,
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
            dir,
            temp,
            ignore,
            dockerfile,
            extra,
            dockerfile_text,
        })
    }

    /// Reads a file of the workspace (a Dockerfile outside the context).
    async fn read_workspace_file(&self, step: &str, path: &str) -> Result<Vec<u8>, Error> {
        let rel = in_workspace(path, "Dockerfile", step)?;
        match self.options.workspace {
            WorkspaceMode::Bind => {
                let file = self.options.context_dir.join(rel);
                std::fs::read(&file).map_err(|e| {
                    Error::io(format!("step {step}: cannot read the Dockerfile {path}"), e)
                })
            }
            WorkspaceMode::Copy => workspace::download_file(
                &self.docker,
                &labels::helper_container(&self.options.run_id),
                path,
            )
            .await
            .map_err(|e| {
                Error::msg(format!(
                    "step {step}: cannot read the Dockerfile {path}: {e}"
                ))
            }),
        }
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
