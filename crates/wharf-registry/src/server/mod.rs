//! A local OCI registry that wharf provides itself, so that a run with no `--registry`
//! has somewhere to push.
//!
//! It speaks the parts of the OCI distribution spec that `docker push`/`docker pull`
//! (through dockerd), skopeo and other clients use: `/v2/`, blobs (HEAD/GET with
//! ranges/DELETE), uploads (monolithic, sessions with streamed or chunked PATCH,
//! cross-repository mount), manifests by tag or digest (any media type, stored byte for
//! byte), tag lists and the catalog with `n`/`last` pagination, and distribution's JSON
//! errors; tag `DELETE` (the manifest stays); the OCI 1.1 referrers API (`OCI-Subject`
//! on a `PUT` with a subject); and ACR's listings with push times (`/acr/v1/_catalog`,
//! `/acr/v1/<name>/_tags` with `lastUpdateTime` and `orderby=timedesc`,
//! `/acr/v1/<name>/_manifests`, `DELETE /acr/v1/<name>/_tags/<tag>`), so that purge and
//! `wharf registry tags --detail` behave as against ACR.
//!
//! **It has no authentication and speaks plain HTTP**: it is a developer's registry on
//! their own machine. [`LocalRegistry::start`] therefore only binds loopback addresses;
//! Docker treats `127.0.0.0/8` registries as insecure (plain HTTP) by default, so
//! `docker push 127.0.0.1:PORT/...` works without configuration.
//! [`LocalRegistry::start_exposed`] binds any address, for those who mean it.
//!
//! Content is kept on disk under a root directory (see [`default_root`]), so a later
//! process serves the same images. Only `sha256` digests are accepted. Upload sessions
//! live in the serving process: an upload interrupted by a restart starts again, and a
//! session no request has used for an hour is dropped, with its data, when a new session
//! starts.

mod acr;
mod blobs;
mod errors;
mod manifests;
pub mod notify;
mod referrers;
mod routes;
mod storage;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Why the registry could not start.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The storage directory cannot be created.
    #[error("cannot create the registry storage under {}: {source}", root.display())]
    Storage {
        /// The root directory.
        root: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// [`LocalRegistry::start`] was given an address other than loopback.
    #[error(
        "refusing to serve the local registry on {0}: it has no authentication, so it listens on loopback only"
    )]
    NotLoopback(SocketAddr),
}

/// What the running server has done, for diagnostics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegistryStats {
    /// Blobs received through an upload (monolithic or session).
    pub blobs_uploaded: u64,
    /// Blobs linked into a repository by a cross-repository mount, without upload.
    pub blobs_mounted: u64,
    /// Manifests stored.
    pub manifests_pushed: u64,
}

#[derive(Debug, Default)]
struct Counters {
    blobs_uploaded: AtomicU64,
    blobs_mounted: AtomicU64,
    manifests_pushed: AtomicU64,
}

/// What every request handler shares.
#[derive(Debug)]
struct AppState {
    storage: storage::Storage,
    uploads: blobs::Uploads,
    stats: Counters,
}

/// A running registry server. It stops when dropped or on [`LocalRegistry::shutdown`].
#[derive(Debug)]
pub struct LocalRegistry {
    /// The address it listens on (the real port when started with port 0).
    pub addr: SocketAddr,
    root: PathBuf,
    state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl LocalRegistry {
    /// Starts serving the store under `root` (created if missing) on `addr`, which must
    /// be a loopback address; port 0 picks a free port. Must be called within a Tokio
    /// runtime; the server runs on it until stopped.
    pub async fn start(root: PathBuf, addr: SocketAddr) -> Result<LocalRegistry, RegistryError> {
        if !addr.ip().is_loopback() {
            return Err(RegistryError::NotLoopback(addr));
        }
        LocalRegistry::start_exposed(root, addr).await
    }

    /// Like [`LocalRegistry::start`], on any address. Anyone who can reach the address
    /// can read, push and delete: there is no authentication.
    pub async fn start_exposed(
        root: PathBuf,
        addr: SocketAddr,
    ) -> Result<LocalRegistry, RegistryError> {
        let storage = storage::Storage::open(root.clone())
            .await
            .map_err(|source| RegistryError::Storage {
                root: root.clone(),
                source,
            })?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| RegistryError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| RegistryError::Bind { addr, source })?;
        let state = Arc::new(AppState {
            storage,
            uploads: blobs::Uploads::default(),
            stats: Counters::default(),
        });
        let app = axum::Router::new()
            .fallback(routes::handle)
            .with_state(Arc::clone(&state));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(LocalRegistry {
            addr,
            root,
            state,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `host:port` for image names: `127.0.0.1:5000`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The storage root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Counts of what this server has done since it started.
    pub fn stats(&self) -> RegistryStats {
        let counters = &self.state.stats;
        RegistryStats {
            blobs_uploaded: counters.blobs_uploaded.load(Ordering::Relaxed),
            blobs_mounted: counters.blobs_mounted.load(Ordering::Relaxed),
            manifests_pushed: counters.manifests_pushed.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting connections and waits for the requests in flight to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Where the local registry keeps its content by default:
/// `$XDG_DATA_HOME/wharf/registry`, else `~/.local/share/wharf/registry` (else, with
/// no home directory, under the system temporary directory).
pub fn default_root() -> PathBuf {
    crate::data_dir().join("registry")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_root_is_under_wharf_registry() {
        let root = default_root();
        assert!(root.ends_with("wharf/registry"), "{}", root.display());
        assert!(root.is_absolute(), "{}", root.display());
    }
}
