//! `push` steps, pushed by wharf's own registry client rather than dockerd's pusher.
//!
//! For each image: the engine is asked for the image's config digest and diff ids
//! (`inspect`); the layer cache ([`wharf_registry::layers`]) says what each layer
//! compresses to and which repositories have it. Known layers are checked with
//! `HEAD` (and mounted from another repository of the registry when possible); the
//! image is exported from the engine only when a layer or the config must be
//! uploaded, and then only the layers needed are compressed (in parallel) and
//! uploaded (in parallel, while the others compress); the config goes beside them
//! as soon as the export gives it. Then the manifest (Docker schema 2, as `docker
//! push` writes it); a manifest the registry already has under the tag (resolved
//! while the layers go) is not sent again. So pushing an unchanged image again
//! is `HEAD` requests only.
//!
//! The log keeps `docker push`'s lines (`The push refers to repository [...]`,
//! `<layer>: Pushed`, `Layer already exists`, `Mounted from ...`, and ACR's closing
//! `<tag>: digest: sha256:... size: N`). Retries come from the client's policy: one
//! line per retry, within its total time budget; the step's error names the
//! registry and what to check.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt as _};
use tokio_util::sync::CancellationToken;
use wharf_engine::{Output, Progress, Stream};
use wharf_registry::client::{
    BlobOutcome, BlobPush, PushedBlob, RetryNotice, RetryPolicy, StreamedUpload,
};
use wharf_registry::layers::{CompressedLayer, LayerCache};
use wharf_registry::manifest::{Descriptor, ImageManifest, media_type};
use wharf_registry::reference::ImageRef;
use wharf_registry::{Client, Digest, Repository};
use wharf_spec::Step;

use crate::DockerExecutor;
use crate::error::{Error, describe};
use crate::export::{self, Exported, Wanted};

/// One image's push, as the step's outputs and log need it.
struct Pushed {
    digest: Digest,
    size: u64,
}

/// What became of one unique layer.
#[derive(Clone)]
struct Done {
    layer: CompressedLayer,
}

impl DockerExecutor {
    /// Pushes every image of a `push` step, in order. Returns the manifest digest of
    /// each, in the same order.
    pub(crate) async fn run_push(
        &self,
        step: &Step,
        images: &[String],
        output: &Output,
        cancel: &CancellationToken,
    ) -> Result<Vec<String>, Error> {
        let mut digests = Vec::with_capacity(images.len());
        for image in images {
            // An invalid reference, or one with a digest, is refused before anything.
            let reference = ImageRef::parse(image)
                .map_err(|e| Error::input(format!("step {}: cannot push: {e}", step.id)))?;
            if reference.digest.is_some() {
                return Err(Error::input(format!(
                    "step {}: cannot push {image}: an image reference with a digest cannot be pushed; push a tag",
                    step.id
                )));
            }
            let pushed = tokio::select! {
                pushed = self.push_image(image, &reference, output) => pushed,
                () = cancel.cancelled() => {
                    return Err(Error::msg(format!("step {}: pushing {image} was stopped", step.id)));
                }
            };
            match pushed {
                Ok(pushed) => {
                    output.line(
                        Stream::Stdout,
                        &format!(
                            "{}: digest: {} size: {}",
                            reference.tag.as_deref().unwrap_or("latest"),
                            pushed.digest,
                            pushed.size
                        ),
                    );
                    digests.push(pushed.digest.to_string());
                }
                Err(PushError::Input(message)) => {
                    return Err(Error::input(format!(
                        "step {}: cannot push {image}: {message}",
                        step.id
                    )));
                }
                Err(PushError::Registry(message)) => {
                    return Err(Error::registry(format!(
                        "failed to push images successfully: {image}: {message}"
                    )));
                }
            }
        }
        Ok(digests)
    }

    /// The client for one push: the executor's, with retry lines in the step's log.
    fn push_client(&self, output: &Output) -> Client {
        let base = self.registry.retry().clone();
        let out = output.clone();
        let previous = base.on_retry.clone();
        self.registry.with_retry(RetryPolicy {
            on_retry: Some(Arc::new(move |notice: &RetryNotice| {
                out.line(Stream::Stderr, &notice.to_string());
                if let Some(previous) = &previous {
                    previous(notice);
                }
            })),
            ..base
        })
    }

    async fn push_image(
        &self,
        image: &str,
        reference: &ImageRef,
        output: &Output,
    ) -> Result<Pushed, PushError> {
        let client = self.push_client(output);
        let repo = Repository::of(reference);
        let tag = reference.tag.as_deref().unwrap_or("latest").to_string();
        // What the tag points at now, asked while the layers are checked and sent: a
        // manifest the registry has under the tag already is not sent again.
        let current = {
            let client = client.clone();
            let tagged = reference.with_tag(&tag);
            tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
                client.resolve(&tagged).await
            }))
        };
        // The engine's name for the image, tag included, as the step wrote it.
        let name = image;
        output.line(
            Stream::Stdout,
            &format!("The push refers to repository [{}]", reference.name()),
        );
        let inspect = self.docker.inspect_image(name).await.map_err(|e| {
            PushError::Input(format!("the engine has no image {name} ({})", describe(&e)))
        })?;
        let image_id = inspect
            .id
            .as_deref()
            .and_then(|id| Digest::parse(id).ok())
            .ok_or_else(|| {
                PushError::Registry(format!("the engine gave no usable id for {name}"))
            })?;
        let diff_ids: Vec<Digest> = inspect
            .root_fs
            .and_then(|r| r.layers)
            .unwrap_or_default()
            .iter()
            .map(|d| Digest::parse(d))
            .collect::<Result<_, _>>()
            .map_err(|e| {
                PushError::Registry(format!("the engine gave a bad diff id for {name}: {e}"))
            })?;
        let cache = LayerCache::open(&self.options.layer_cache, &reference.registry);
        let mut unique: Vec<Digest> = Vec::new();
        for d in &diff_ids {
            if !unique.contains(d) {
                unique.push(d.clone());
            }
        }

        // Layers the cache knows: the registry may have them, or another repository.
        let mut done: HashMap<Digest, Done> = HashMap::new();
        let mut checks = FuturesUnordered::new();
        for diff_id in &unique {
            if let Some(layer) = cache.get(diff_id) {
                let client = client.clone();
                let repo = repo.clone();
                let diff_id = diff_id.clone();
                checks.push(async move {
                    let outcome = known_layer(&client, &repo, &layer).await;
                    (diff_id, layer, outcome)
                });
            }
        }
        while let Some((diff_id, layer, outcome)) = checks.next().await {
            match outcome.map_err(registry_error)? {
                Some(outcome) => {
                    self.layer_line(output, &diff_id, &outcome);
                    cache_layer(&cache, &diff_id, &layer, &repo.name);
                    done.insert(diff_id, Done { layer });
                }
                None => {
                    tracing::debug!(diff_id = %diff_id, "known layer missing in the registry; it is uploaded again")
                }
            }
        }
        drop(checks);

        let mut config = cache.config(&image_id);
        let mut config_sent = false;
        let config_present = match &config {
            Some(_) => client
                .blob_exists(&repo, &image_id)
                .await
                .map_err(registry_error)?
                .is_some(),
            None => false,
        };
        let missing: HashSet<Digest> = unique
            .iter()
            .filter(|d| !done.contains_key(*d))
            .cloned()
            .collect();
        if !missing.is_empty() || config.is_none() {
            let dir = tempfile::Builder::new()
                .prefix("wharf-push-")
                .tempdir()
                .map_err(|e| {
                    PushError::Registry(format!("cannot create a temporary directory: {e}"))
                })?;
            for d in &missing {
                output.line(Stream::Stdout, &format!("{}: Preparing", short(d)));
            }
            let mut exported = export::start(
                &self.docker,
                name,
                Wanted {
                    image_id: image_id.clone(),
                    config: config.is_none(),
                    layers: missing.clone(),
                    all_layers: missing.len() == unique.len(),
                    diff_ids: diff_ids.clone(),
                },
                dir.path(),
            );
            // Uploads of finished layer files and streamed uploads of layers being
            // compressed, each kind at most `limit` at once (a streamed layer waiting
            // for its turn is read from the start of its file later; the export does
            // not wait for it), and the commits of streamed ones.
            let mut uploads: FuturesUnordered<futures_util::future::BoxFuture<'static, Uploaded>> =
                FuturesUnordered::new();
            let mut files = 0;
            let mut sending = 0;
            let mut waiting: std::collections::VecDeque<(
                usize,
                export::GrowingFile,
                wharf_registry::client::ProgressFn,
            )> = std::collections::VecDeque::new();
            let limit = client.options().max_concurrent_blobs.max(1);
            let mut queued: Vec<(Digest, CompressedLayer, std::path::PathBuf)> = Vec::new();
            let mut streams: HashMap<usize, Streamed> = HashMap::new();
            let mut progressed: HashMap<usize, wharf_registry::client::ProgressFn> = HashMap::new();
            let mut export_open = true;
            if let Some(bytes) = &config
                && !config_present
            {
                uploads.push(Box::pin(upload_config(
                    client.clone(),
                    repo.clone(),
                    image_id.clone(),
                    bytes.clone(),
                )));
            }
            while export_open || !uploads.is_empty() || !queued.is_empty() || !waiting.is_empty() {
                while sending < limit
                    && let Some((stream, body, progress)) = waiting.pop_front()
                {
                    sending += 1;
                    uploads.push(Box::pin(stream_layer(
                        client.clone(),
                        repo.clone(),
                        stream,
                        body,
                        progress,
                    )));
                }
                while files < limit
                    && let Some((diff_id, layer, path)) = queued.pop()
                {
                    let blob = self.blob_push(output, &diff_id, &layer, path);
                    files += 1;
                    uploads.push(Box::pin(upload_file(
                        client.clone(),
                        repo.clone(),
                        diff_id,
                        layer,
                        blob,
                        None,
                    )));
                }
                tokio::select! {
                    item = exported.recv(), if export_open => match item {
                        Some(Ok(Exported::Config(bytes))) => {
                            // Sent at once, beside the layers.
                            if !config_present {
                                uploads.push(Box::pin(upload_config(client.clone(), repo.clone(), image_id.clone(), bytes.clone())));
                            }
                            config = Some(bytes);
                        }
                        Some(Ok(Exported::Stream { stream, body, item, size, read })) => {
                            streams.insert(stream, Streamed::Sending);
                            let progress = stream_progress(output, item, size, read);
                            waiting.push_back((stream, body, progress.clone()));
                            progressed.insert(stream, progress);
                        }
                        Some(Ok(Exported::Layer { diff_id, layer, path, stream: None })) => queued.push((diff_id, layer, path)),
                        Some(Ok(Exported::Layer { diff_id, layer, path, stream: Some(stream) })) => {
                            // Read whole: its progress completes.
                            if let Some(progress) = progressed.remove(&stream) {
                                progress(0);
                            }
                            let blob = self.blob_push(output, &diff_id, &layer, path);
                            match streams.remove(&stream) {
                                Some(Streamed::Sent(sent)) => {
                                    files += 1;
                                    uploads.push(Box::pin(upload_file(client.clone(), repo.clone(), diff_id, layer, blob, Some(sent))));
                                }
                                _ => {
                                    streams.insert(stream, Streamed::Compressed(Box::new((diff_id, layer, blob))));
                                }
                            }
                        }
                        Some(Ok(Exported::Dropped { stream })) => {
                            waiting.retain(|(s, _, _)| *s != stream);
                            streams.insert(stream, Streamed::Dropped);
                        }
                        Some(Err(message)) => return Err(PushError::Registry(message)),
                        None => export_open = false,
                    },
                    Some(uploaded) = uploads.next(), if !uploads.is_empty() => match uploaded {
                        Uploaded::Blob(diff_id, layer, pushed) => {
                            files -= 1;
                            let pushed = pushed.map_err(registry_error)?;
                            self.layer_line(output, &diff_id, &pushed.outcome);
                            cache_layer(&cache, &diff_id, &layer, &repo.name);
                            done.insert(diff_id, Done { layer });
                        }
                        Uploaded::Config(pushed) => {
                            pushed.map_err(registry_error)?;
                            config_sent = true;
                        }
                        Uploaded::Cancelled => {}
                        Uploaded::Stream(stream, sent) => {
                            sending -= 1;
                            match streams.remove(&stream) {
                            Some(Streamed::Compressed(compressed)) => {
                                let (diff_id, layer, blob) = *compressed;
                                files += 1;
                                uploads.push(Box::pin(upload_file(client.clone(), repo.clone(), diff_id, layer, blob, Some(sent))));
                            }
                            Some(Streamed::Dropped) => {
                                // Not needed after all: the registry drops what it got.
                                if let Ok(sent) = sent {
                                    uploads.push(Box::pin(cancel_stream(client.clone(), repo.clone(), sent)));
                                }
                            }
                            _ => {
                                streams.insert(stream, Streamed::Sent(sent));
                            }
                        }},
                    }
                }
            }
        }
        let config = config.ok_or_else(|| {
            PushError::Registry(format!("the engine did not export the config of {name}"))
        })?;
        if let Err(e) = cache.put_config(&config) {
            tracing::debug!(error = %e, "cannot keep the image config in the layer cache");
        }
        if !config_present && !config_sent {
            push_config(&client, &repo, &image_id, config.clone())
                .await
                .map_err(registry_error)?;
        }

        // The manifest, as docker push writes it.
        let mut layers = Vec::with_capacity(diff_ids.len());
        for d in &diff_ids {
            let entry = done
                .get(d)
                .ok_or_else(|| PushError::Registry(format!("layer {d} was not pushed")))?;
            let mut descriptor = Descriptor::of(&entry.layer.media_type, b"");
            descriptor.digest = entry.layer.digest.clone();
            descriptor.size = entry.layer.size;
            layers.push(descriptor);
        }
        let mut config_descriptor = Descriptor::of(media_type::DOCKER_CONFIG, &config);
        config_descriptor.digest = image_id.clone();
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(media_type::DOCKER_MANIFEST.to_string()),
            artifact_type: None,
            config: config_descriptor,
            layers,
            subject: None,
            annotations: Default::default(),
            extra: Default::default(),
        };
        let bytes = Bytes::from(
            serde_json::to_vec(&manifest)
                .map_err(|e| PushError::Registry(format!("cannot write the manifest: {e}")))?,
        );
        let digest = Digest::sha256(&bytes);
        let current = current
            .await
            .map_err(|e| PushError::Registry(format!("checking the tag {tag} failed: {e}")))?
            .map_err(registry_error)?;
        if current.is_some_and(|d| d.digest == digest) {
            tracing::debug!(image, digest = %digest, "the registry has this manifest under the tag already");
        } else {
            client
                .push_manifest(&repo, &tag, media_type::DOCKER_MANIFEST, bytes.clone())
                .await
                .map_err(registry_error)?;
        }
        Ok(Pushed {
            digest,
            size: bytes.len() as u64,
        })
    }

    /// A compressed layer file to upload, with its progress reported.
    fn blob_push(
        &self,
        output: &Output,
        diff_id: &Digest,
        layer: &CompressedLayer,
        path: std::path::PathBuf,
    ) -> BlobPush {
        let mut descriptor = Descriptor::of(&layer.media_type, b"");
        descriptor.digest = layer.digest.clone();
        descriptor.size = layer.size;
        let mut blob = BlobPush::file(path, descriptor);
        let out = output.clone();
        let id = short(diff_id);
        let total = layer.size;
        let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
        blob.progress = Some(Arc::new(move |n| {
            let now = sent.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
            out.progress(Progress {
                item: id.clone(),
                action: "push".into(),
                current: now,
                total: Some(total),
            });
        }));
        blob
    }

    /// `docker push`'s line for a layer, named (as docker does) by its diff id.
    fn layer_line(&self, output: &Output, diff_id: &Digest, outcome: &BlobOutcome) {
        let text = match outcome {
            BlobOutcome::Existed => "Layer already exists".to_string(),
            BlobOutcome::Mounted { from } => format!("Mounted from {from}"),
            _ => "Pushed".to_string(),
        };
        output.line(Stream::Stdout, &format!("{}: {text}", short(diff_id)));
    }
}

/// What an upload future ended with.
enum Uploaded {
    /// A layer is in the registry (or failed to get there).
    Blob(
        Digest,
        CompressedLayer,
        Result<PushedBlob, wharf_registry::client::Error>,
    ),
    /// A streamed layer's bytes were sent (or the stream failed).
    Stream(usize, Result<StreamedUpload, wharf_registry::client::Error>),
    /// The image's config is in the registry (or failed to get there).
    Config(Result<PushedBlob, wharf_registry::client::Error>),
    /// A streamed upload not needed was abandoned.
    Cancelled,
}

/// Puts the image's config in the registry (`HEAD` first, retried).
async fn push_config(
    client: &Client,
    repo: &Repository,
    image_id: &Digest,
    config: Bytes,
) -> Result<PushedBlob, wharf_registry::client::Error> {
    let mut blob = BlobPush::bytes(media_type::DOCKER_CONFIG, config);
    blob.descriptor.digest = image_id.clone();
    client.push_blob(repo, &blob).await
}

/// [`push_config`], as an upload beside the layers'.
async fn upload_config(
    client: Client,
    repo: Repository,
    image_id: Digest,
    config: Bytes,
) -> Uploaded {
    Uploaded::Config(push_config(&client, &repo, &image_id, config).await)
}

/// Where a streamed layer is: its bytes sent and its compression done arrive in
/// either order, and both are needed to commit it.
enum Streamed {
    Sending,
    Sent(Result<StreamedUpload, wharf_registry::client::Error>),
    Compressed(Box<(Digest, CompressedLayer, BlobPush)>),
    Dropped,
}

/// Progress of a streamed layer, told whenever a piece is sent: how much of the
/// layer the export has read (its compressed size is not known until its end).
fn stream_progress(
    output: &Output,
    item: String,
    size: u64,
    read: Arc<std::sync::atomic::AtomicU64>,
) -> wharf_registry::client::ProgressFn {
    let out = output.clone();
    Arc::new(move |_| {
        out.progress(Progress {
            item: item.clone(),
            action: "push".into(),
            current: read.load(std::sync::atomic::Ordering::Relaxed).min(size),
            total: Some(size),
        });
    })
}

/// Sends a layer's compressed bytes as the export makes them.
async fn stream_layer(
    client: Client,
    repo: Repository,
    stream: usize,
    body: export::GrowingFile,
    progress: wharf_registry::client::ProgressFn,
) -> Uploaded {
    let pieces = body.stream().inspect(move |piece| {
        if let Ok(piece) = piece {
            progress(piece.len() as u64);
        }
    });
    Uploaded::Stream(stream, client.stream_blob(&repo, pieces).await)
}

/// Abandons a streamed upload whose layer is not needed.
async fn cancel_stream(client: Client, repo: Repository, sent: StreamedUpload) -> Uploaded {
    client.cancel_streamed_blob(&repo, sent).await;
    Uploaded::Cancelled
}

/// Puts a compressed layer in the registry: commits its streamed upload when there
/// is one that went well, else uploads the file (`HEAD` first, retried). The file
/// is removed after.
async fn upload_file(
    client: Client,
    repo: Repository,
    diff_id: Digest,
    layer: CompressedLayer,
    blob: BlobPush,
    streamed: Option<Result<StreamedUpload, wharf_registry::client::Error>>,
) -> Uploaded {
    let committed = match streamed {
        Some(Ok(sent)) => match client
            .finish_streamed_blob(&repo, &sent, &blob.descriptor)
            .await
        {
            Ok(pushed) => Some(pushed),
            Err(e) => {
                tracing::debug!(diff_id = %diff_id, error = %e, "the streamed layer was not committed; uploading the file");
                client.cancel_streamed_blob(&repo, sent).await;
                None
            }
        },
        Some(Err(e)) => {
            tracing::debug!(diff_id = %diff_id, error = %e, "the layer's stream failed; uploading the file");
            None
        }
        None => None,
    };
    let pushed = match committed {
        Some(pushed) => Ok(pushed),
        None => client.push_blob(&repo, &blob).await,
    };
    if let wharf_registry::client::BlobSource::File(path) = &blob.source {
        let _ = tokio::fs::remove_file(path).await;
    }
    Uploaded::Blob(diff_id, layer, pushed)
}

/// Whether the registry has a known layer: `HEAD`, then a mount from a repository
/// that had it. `None` when it must be uploaded.
async fn known_layer(
    client: &Client,
    repo: &Repository,
    layer: &CompressedLayer,
) -> Result<Option<BlobOutcome>, wharf_registry::client::Error> {
    if client.blob_exists(repo, &layer.digest).await?.is_some() {
        return Ok(Some(BlobOutcome::Existed));
    }
    for from in layer.repositories.iter().filter(|r| **r != repo.name) {
        if client.mount_blob(repo, &layer.digest, from).await? {
            return Ok(Some(BlobOutcome::Mounted { from: from.clone() }));
        }
    }
    Ok(None)
}

fn cache_layer(cache: &LayerCache, diff_id: &Digest, layer: &CompressedLayer, repository: &str) {
    if let Err(e) = cache.put(diff_id, layer, repository) {
        tracing::debug!(error = %e, "cannot record the layer in the layer cache");
    }
}

/// The first 12 hex digits of a digest, as docker shows layers.
fn short(digest: &Digest) -> String {
    digest.hex()[..12].to_string()
}

enum PushError {
    /// The step asks for something that cannot be (no such image).
    Input(String),
    /// The registry or the engine failed.
    Registry(String),
}

fn registry_error(e: wharf_registry::client::Error) -> PushError {
    if e.is_bad_input() {
        PushError::Input(e.to_string())
    } else {
        PushError::Registry(e.to_string())
    }
}
