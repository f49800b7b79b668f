//! The Docker engine as a plugin host's image source and tagger (bollard), for
//! the binary to wire: [`export_image`] saves an image to a file the host reads
//! as an [`ImageArchive`], and [`DockerTags`] applies a tagger's tags.

use std::path::Path;

use futures_util::StreamExt as _;
use tokio::io::AsyncWriteExt as _;

use crate::image_archive::ImageArchive;
use crate::model::ImageRef;
use crate::services::{BoxFuture, ImageError, TagApplier};

/// Saves `image` from the engine into `dir/image.tar` (streamed, no copy in
/// memory) and opens it. The caller removes `dir` when the step ends.
pub async fn export_image(
    docker: &bollard::Docker,
    image: &str,
    dir: &Path,
) -> Result<ImageArchive, ImageError> {
    let path = dir.join("image.tar");
    let mut file = tokio::fs::File::create(&path)
        .await
        .map_err(|e| ImageError::Other(format!("cannot create {}: {e}", path.display())))?;
    let mut stream = docker.export_image(image);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| match e {
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            } => ImageError::NotFound(format!("image {image} is not in the Docker engine")),
            other => ImageError::Other(format!("cannot export {image}: {other}")),
        })?;
        file.write_all(&chunk)
            .await
            .map_err(|e| ImageError::Other(format!("cannot write {}: {e}", path.display())))?;
    }
    file.flush()
        .await
        .map_err(|e| ImageError::Other(e.to_string()))?;
    drop(file);
    let path2 = path.clone();
    tokio::task::spawn_blocking(move || ImageArchive::open(&path2))
        .await
        .map_err(|e| ImageError::Other(e.to_string()))?
}

/// Applies tags through the Docker engine (`POST /images/{name}/tag`).
#[derive(Clone, Debug)]
pub struct DockerTags {
    /// The engine.
    pub docker: bollard::Docker,
}

impl TagApplier for DockerTags {
    fn apply<'a>(
        &'a self,
        image: &'a ImageRef,
        tags: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<String>, String>> {
        Box::pin(async move {
            let name = image.name();
            // All at once (the engine takes them concurrently); the refs in tag order.
            let requests = tags.iter().map(|tag| {
                let name = &name;
                async move {
                    let options = bollard::query_parameters::TagImageOptions {
                        repo: Some(name.clone()),
                        tag: Some(tag.clone()),
                    };
                    self.docker
                        .tag_image(&image.reference, Some(options))
                        .await
                        .map_err(|e| format!("tagging {} as {name}:{tag}: {e}", image.reference))?;
                    Ok::<String, String>(format!("{name}:{tag}"))
                }
            });
            futures_util::future::try_join_all(requests).await
        })
    }
}

/// Connects to the Docker engine the way the docker CLI does (`DOCKER_HOST`, else
/// the local socket). Connecting sends nothing; the first request does.
pub fn connect() -> Result<bollard::Docker, ImageError> {
    bollard::Docker::connect_with_defaults()
        .map_err(|e| ImageError::Other(format!("cannot connect to the Docker engine: {e}")))
}
