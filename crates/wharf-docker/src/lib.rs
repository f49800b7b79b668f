//! Runs `acb.yaml` steps against a real Docker engine through the Engine API (bollard),
//! reproducing ACR Tasks' execution model (acb-yaml-spec §5) with a few deliberate fixes.
//!
//! [`DockerExecutor`] implements [`wharf_engine::Executor`]:
//!
//! - **prepare** creates the run's networks (when the task declares none, ACR's
//!   `acb_default_network`, made per run as `acb_default_network_<run id>` so that runs
//!   side by side never share it), the workspace volume with the build context copied in through the
//!   API (or bound to it in [`WorkspaceMode::Bind`]), a home volume for `/acb/home`, one
//!   volume per secret volume, and a never-started helper container that moves files in
//!   and out of those volumes.
//! - **cmd** steps run in a container named `<run id>-<step id>` ([`step_container`]),
//!   so that two runs of one task never clash, reachable by the step id (its network
//!   alias) on the run network, with the workspace at `/workspace`, `HOME=/acb/home` and the
//!   Docker socket; output is streamed live.
//! - **build** steps send the context (read back from the workspace, so files written by
//!   earlier steps are part of it) to the engine's BuildKit, with a session that serves
//!   registry credentials, `--secret` values and `--ssh` agents, and render its progress
//!   as plain log lines; the classic builder only where BuildKit cannot build the step
//!   (`DOCKER_BUILDKIT=0`, an engine without BuildKit), which the log says.
//! - **push** steps push with wharf's own registry client: the image is exported from
//!   the engine, its layers compressed in parallel and uploaded in parallel, and a
//!   per-registry layer cache makes an unchanged re-push `HEAD` requests only
//!   (`push`, `export`).
//! - **cleanup** removes everything this executor created (its session label).
//!
//! Everything wharf creates carries [`LABEL_MANAGED`], [`LABEL_RUN`] and
//! [`LABEL_SESSION`] (a nonce made when the executor connects; step containers also
//! [`LABEL_STEP`]). A run's cleanup goes by its session, so a second run given the same
//! run id never removes the first one's objects; and a run refuses to start while
//! objects labelled with its run id exist. [`clean`] removes leftovers by run label.

mod archive;
mod build;
mod build_cache;
mod build_secrets;
mod buildkit;
mod cleanup;
mod connect;
mod container;
mod context;
mod dockerignore;
mod error;
mod exits;
mod export;
mod images;
mod labels;
mod ports;
mod prepare;
mod progress;
mod push;
mod session;
mod warm;
mod workspace;
mod workspace_files;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bollard::Docker;
use tokio_util::sync::CancellationToken;
use wharf_engine::{BoxFuture, ErrorKind, ExecError, Executor, Exit, Outcome, StepContext};
use wharf_spec::{Action, OutputValue, Outputs, Step, Task};

pub use cleanup::{CleanReport, clean};
pub use labels::{
    LABEL_HELPER, LABEL_MANAGED, LABEL_RUN, LABEL_SESSION, LABEL_STEP, step_container,
};
pub use wharf_registry::credentials::Credential;
pub use workspace::HELPER_IMAGE;

/// How the build context reaches `/workspace`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WorkspaceMode {
    /// Copied into a fresh volume through the Engine API (works with a remote engine);
    /// the context on disk is never modified. ACR's behaviour.
    #[default]
    Copy,
    /// The context directory itself is mounted: steps see and change the files on disk.
    /// The engine must run on this machine.
    Bind,
}

/// Looks up the credentials of a registry host (`myreg.azurecr.io`, `localhost:5000`,
/// `docker.io` for Docker Hub).
pub type CredentialLookup = Arc<dyn Fn(&str) -> Option<Credential> + Send + Sync>;

/// How to run a task.
#[derive(Clone)]
pub struct DockerOptions {
    /// The run id: labels, names of the run's volumes.
    pub run_id: String,
    /// The build context on this machine.
    pub context_dir: PathBuf,
    /// How the context reaches `/workspace`.
    pub workspace: WorkspaceMode,
    /// Name of the workspace volume (`RunInfo.shared_volume`, e.g. `acb_vol_<id>`).
    pub shared_volume: String,
    /// Registry host → credentials, for pulls and build base images (and pushes,
    /// when no `registry` client is given).
    pub credentials: CredentialLookup,
    /// The registry client pushes go through (its keychain, retry budget and
    /// parallelism); `None`: one made from `credentials` with default settings.
    pub registry_client: Option<wharf_registry::Client>,
    /// Where the layer cache of pushes lives ([`wharf_registry::layers`]).
    pub layer_cache: PathBuf,
    /// Mount `/var/run/docker.sock` into every step container (ACR does).
    pub mount_docker_socket: bool,
    /// The run's registry (`--registry`, `.Run.Registry`): where `cache: enabled` keeps
    /// a build's cache when none of its tags names a registry.
    pub registry: String,
    /// The task's name (`.Run.TaskName`) in `cache: enabled` cache tags; empty means
    /// `quickrun`, as for `az acr run`.
    pub task_name: String,
}

impl DockerOptions {
    /// Options for run `run_id` with context `context_dir`: copied workspace volume
    /// `acb_vol_<run_id>`, no credentials, Docker socket mounted.
    pub fn new(run_id: impl Into<String>, context_dir: impl Into<PathBuf>) -> DockerOptions {
        let run_id = run_id.into();
        DockerOptions {
            shared_volume: format!("acb_vol_{}", labels::name_part(&run_id)),
            run_id,
            context_dir: context_dir.into(),
            workspace: WorkspaceMode::Copy,
            credentials: Arc::new(|_| None),
            registry_client: None,
            layer_cache: wharf_registry::layers::default_root(),
            mount_docker_socket: true,
            registry: String::new(),
            task_name: String::new(),
        }
    }
}

impl fmt::Debug for DockerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerOptions")
            .field("run_id", &self.run_id)
            .field("context_dir", &self.context_dir)
            .field("workspace", &self.workspace)
            .field("shared_volume", &self.shared_volume)
            .field("layer_cache", &self.layer_cache)
            .field("mount_docker_socket", &self.mount_docker_socket)
            .field("registry", &self.registry)
            .field("task_name", &self.task_name)
            .finish_non_exhaustive()
    }
}

/// Runs a task's steps on a Docker engine. Create it with [`DockerExecutor::connect`]
/// and hand it to [`wharf_engine::run()`].
///
/// A clone is another handle on the same executor: same engine connection, session
/// and run state (every field is shared).
#[derive(Clone)]
pub struct DockerExecutor {
    docker: Docker,
    /// Where the engine listens (a BuildKit session opens a connection of its own).
    endpoint: Arc<connect::Endpoint>,
    /// The registry client of pushes.
    registry: wharf_registry::Client,
    task: Arc<Task>,
    options: DockerOptions,
    /// This executor's [`LABEL_SESSION`] value, made at connect.
    session: Arc<str>,
    /// Networks that existed already but were made by wharf (another run), by id:
    /// removed at cleanup when nothing uses them any more.
    shared_networks: Arc<Mutex<Vec<String>>>,
    /// Held while the run is being prepared. Preparing runs in its own task, so an
    /// interrupted run finishes the object it is creating, and cleanup waits for it
    /// before listing what to remove.
    preparing: Arc<tokio::sync::Mutex<()>>,
    /// Fired by cleanup: preparing stops at the next object.
    stop_preparing: CancellationToken,
    /// Containers of finished steps being removed in the background, by name: the next
    /// step starts without waiting for the removal, and cleanup waits for all of them.
    removals: Arc<Mutex<HashMap<String, tokio::task::JoinHandle<()>>>>,
    /// Images known to be present on the engine (present images stay present during a
    /// run), so that each step does not ask again.
    present_images: Arc<Mutex<HashSet<String>>>,
    /// Ids of the steps the engine has started.
    started: Arc<Mutex<HashSet<String>>>,
    /// Exit codes from the run's `die` events ([`exits`]).
    exits: Arc<exits::Exits>,
    /// Containers being created ahead of their steps ([`warm`]).
    warming: Arc<Mutex<HashMap<String, tokio::task::JoinHandle<Option<warm::Warm>>>>>,
    /// Whether the engine builds with BuildKit, once a build step has asked
    /// ([`buildkit`]); the reason when it does not.
    buildkit_support: Arc<Mutex<Option<Result<(), String>>>>,
}

impl fmt::Debug for DockerExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerExecutor")
            .field("options", &self.options)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl DockerExecutor {
    /// Connects to the engine named by `DOCKER_HOST` (default
    /// `unix:///var/run/docker.sock`; `tcp://`, with TLS when `DOCKER_TLS_VERIFY` is set,
    /// certificates from `DOCKER_CERT_PATH`; `https://`) and negotiates the API version.
    /// [`Engine::connect`] then [`DockerExecutor::on_engine`], for a caller that needs
    /// the engine before it has the task.
    pub async fn connect(
        task: Arc<Task>,
        options: DockerOptions,
    ) -> Result<DockerExecutor, ExecError> {
        DockerExecutor::on_engine(Engine::connect().await?, task, options)
    }

    /// An executor on an engine connection made already (the one whose platform
    /// the task was loaded with).
    pub fn on_engine(
        engine: Engine,
        task: Arc<Task>,
        options: DockerOptions,
    ) -> Result<DockerExecutor, ExecError> {
        let Engine {
            docker, endpoint, ..
        } = engine;
        let registry = match &options.registry_client {
            Some(client) => client.clone(),
            None => wharf_registry::Client::new(wharf_registry::ClientOptions {
                keychain: Arc::new(wharf_registry::Keychain::from_fn(Arc::clone(
                    &options.credentials,
                ))),
                ..wharf_registry::ClientOptions::default()
            })
            .map_err(|e| ExecError::of(ErrorKind::Other, e.to_string()))?,
        };
        Ok(DockerExecutor {
            docker,
            endpoint,
            registry,
            task,
            options,
            session: labels::new_session().into(),
            shared_networks: Arc::default(),
            preparing: Arc::default(),
            stop_preparing: CancellationToken::new(),
            removals: Arc::default(),
            present_images: Arc::default(),
            started: Arc::default(),
            exits: Arc::default(),
            warming: Arc::default(),
            buildkit_support: Arc::default(),
        })
    }

    /// The engine's OS and architecture, as Go names them (`linux`, `amd64`): the
    /// values of `.Run.OS` and `.Run.Architecture`.
    pub async fn platform(&self) -> Result<(String, String), ExecError> {
        Ok(connect::platform(&self.docker).await?)
    }

    /// The engine's name for one of the task's networks. The default network that
    /// ACR creates when a task declares none is made once per run
    /// (`acb_default_network_<run id>`), so that runs on one engine never share or
    /// race for it; steps still reach each other by step id (network aliases), and a
    /// step or build that names `acb_default_network` gets its run's network.
    /// Declared and external networks keep their names.
    pub(crate) fn engine_network(&self, name: &str) -> String {
        engine_network(&self.task, &self.options.run_id, name)
    }

    /// The options this executor runs with.
    pub fn options(&self) -> &DockerOptions {
        &self.options
    }

    /// The labels of an object this executor creates.
    pub(crate) fn labels(&self) -> HashMap<String, String> {
        labels::for_run(&self.options.run_id, &self.session)
    }
}

/// A connection to the Docker engine named by `DOCKER_HOST`, with the API version
/// negotiated and the engine's platform read: made once per process, before the
/// task is loaded (`.Run.OS` and `.Run.Architecture` need the platform), then
/// handed to [`DockerExecutor::on_engine`].
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    endpoint: Arc<connect::Endpoint>,
    os: String,
    arch: String,
    /// The engine's version (`docker version`'s server `Version`), when it said.
    version: Option<String>,
    /// The API version it speaks, when it said.
    api_version: Option<String>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("endpoint", &self.endpoint.describe())
            .field("os", &self.os)
            .field("arch", &self.arch)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Connects as [`DockerExecutor::connect`] does and reads the platform.
    pub async fn connect() -> Result<Engine, ExecError> {
        let endpoint = connect::Endpoint::from_env()?;
        let (docker, version) = connect::connect_reading_version(&endpoint).await?;
        let (server_version, api_version) = (version.version.clone(), version.api_version.clone());
        let (os, arch) = connect::platform_of(version)?;
        Ok(Engine {
            docker,
            endpoint: Arc::new(endpoint),
            os,
            arch,
            version: server_version,
            api_version,
        })
    }

    /// A client on the same connections, speaking the API version the engine
    /// negotiated: for other parts of a run that talk to the engine (plugin steps'
    /// tags and images), so they reuse its connections instead of opening their own.
    pub fn client(&self) -> Docker {
        self.docker.clone()
    }

    /// The engine's OS and architecture, as Go names them (`linux`, `amd64`).
    pub fn platform(&self) -> (&str, &str) {
        (&self.os, &self.arch)
    }

    /// The engine's version and API version, as its `/version` answered (`20.10.24`,
    /// `1.41`).
    pub fn versions(&self) -> (Option<&str>, Option<&str>) {
        (self.version.as_deref(), self.api_version.as_deref())
    }
}

/// The OS and architecture of the engine named by `DOCKER_HOST`, as Go names them
/// (`linux`, `amd64`): what `.Run.OS` and `.Run.Architecture` need before a task is
/// loaded. Connects like [`DockerExecutor::connect`]; keep the [`Engine`] instead
/// when an executor follows.
pub async fn engine_platform() -> Result<(String, String), ExecError> {
    let engine = Engine::connect().await?;
    Ok((engine.os, engine.arch))
}

/// The digest of the image `reference` names on the engine: the repository digest
/// (`sha256:...` of the manifest it was pulled or pushed as) for that repository when
/// the engine knows one, else its image id. `None` when the engine lacks the image.
pub async fn image_digest(reference: &str) -> Option<String> {
    let (repo_digest, id) = inspect_digests(reference).await?;
    repo_digest.or(id)
}

/// The manifest digest the engine knows `reference` by: its repository digest (for
/// that repository when there is one), never the image id. `None` when the engine
/// lacks the image or it was never pulled or pushed (built here, or loaded).
pub async fn manifest_digest(reference: &str) -> Option<String> {
    inspect_digests(reference).await?.0
}

/// The repository digest and the id of the image `reference` names on the engine.
async fn inspect_digests(reference: &str) -> Option<(Option<String>, Option<String>)> {
    let docker = connect::connect().await.ok()?;
    let image = docker.inspect_image(reference).await.ok()?;
    let repository = reference
        .split_once('@')
        .map_or(reference, |(r, _)| r)
        .rsplit_once(':')
        .filter(|(_, tag)| !tag.contains('/'))
        .map_or(reference, |(r, _)| r);
    let digests = image.repo_digests.unwrap_or_default();
    let repo_digest = digests
        .iter()
        .find(|d| d.split_once('@').is_some_and(|(r, _)| r == repository))
        .or(digests.first())
        .and_then(|d| d.split_once('@').map(|(_, digest)| digest.to_string()));
    Some((repo_digest, image.id))
}

impl DockerExecutor {
    async fn prepare_now(&self) -> Result<(), ExecError> {
        if self.needs_containers() {
            // Exit codes come from `die` events: a run without containers needs none.
            self.watch_exits();
        }
        let guard = Arc::clone(&self.preparing).lock_owned().await;
        let this = self.clone();
        let task = tokio::spawn(async move {
            let result = this.prepare_run().await;
            drop(guard);
            result
        });
        match task.await {
            Ok(result) => Ok(result?),
            Err(e) => Err(ExecError::of(
                ErrorKind::Engine,
                format!("preparing the run stopped: {e}"),
            )),
        }
    }

    async fn step(&self, step: &Step, cx: StepContext) -> Result<Outcome, ExecError> {
        let StepContext {
            output,
            cancel,
            masker,
            ..
        } = cx;
        self.step_started(step);
        let result = match &step.action {
            Action::Cmd { cmd, container } => self
                .run_cmd(step, cmd, container, &output, &cancel)
                .await
                .map(Outcome::new),
            Action::Build {
                build,
                tags,
                cache,
                container,
                ..
            } => self
                .run_build(build::BuildStep {
                    step,
                    build,
                    cache: *cache,
                    settings: container,
                    output: &output,
                    cancel: &cancel,
                    masker: &masker,
                })
                .await
                .map(|exit| Outcome::new(exit).with_outputs(build_outputs(tags))),
            Action::Push { push } => self
                .run_push(step, push, &output, &cancel)
                .await
                .map(|digests| Outcome::new(Exit::Done).with_outputs(push_outputs(push, digests))),
            Action::Plugin(_) | Action::Helm(_) | Action::Sign(_) => {
                Err(error::Error::msg(format!(
                    "step {}: {} steps do not run on the Docker engine",
                    step.id,
                    step.action.type_name()
                )))
            }
        };
        drop(output);
        Ok(result?)
    }

    async fn cleanup_now(&self) -> Vec<String> {
        self.stop_preparing.cancel();
        let _prepared = self.preparing.lock().await;
        self.warming_finished().await;
        // A run without containers made nothing on the engine to remove.
        let problems = if self.needs_containers() {
            self.cleanup_run().await
        } else {
            Vec::new()
        };
        self.stop_watching_exits();
        problems
    }
}

/// A build step's outputs: `image` (the first `-t`) and `tags` (every `-t`).
fn build_outputs(tags: &[String]) -> Outputs {
    let mut outputs = Outputs::new();
    if let Some(first) = tags.first() {
        outputs.insert("image".into(), OutputValue::String(first.clone()));
    }
    outputs.insert("tags".into(), OutputValue::List(tags.to_vec()));
    outputs
}

/// A push step's outputs: `refs` (the images pushed) and `digests` (their manifest
/// digests, in the same order).
fn push_outputs(images: &[String], digests: Vec<String>) -> Outputs {
    Outputs::from([
        ("refs".to_string(), OutputValue::List(images.to_vec())),
        ("digests".to_string(), OutputValue::List(digests)),
    ])
}

impl Executor for DockerExecutor {
    fn prepare(&self) -> BoxFuture<'_, Result<(), ExecError>> {
        Box::pin(self.prepare_now())
    }

    fn run_step<'a>(
        &'a self,
        step: &'a Step,
        cx: StepContext,
    ) -> BoxFuture<'a, Result<Outcome, ExecError>> {
        Box::pin(self.step(step, cx))
    }

    fn cleanup(&self) -> BoxFuture<'_, Vec<String>> {
        Box::pin(self.cleanup_now())
    }
}

/// Takes every background task out of `tasks` and waits for each to end.
pub(crate) async fn await_all<T>(tasks: &Mutex<HashMap<String, tokio::task::JoinHandle<T>>>) {
    let pending: Vec<_> = tasks
        .lock()
        .map(|mut t| t.drain().map(|(_, handle)| handle).collect())
        .unwrap_or_default();
    for handle in pending {
        let _ = handle.await;
    }
}

/// See [`DockerExecutor::engine_network`].
pub(crate) fn engine_network(task: &Task, run_id: &str, name: &str) -> String {
    let implicit_default = matches!(
        task.networks.as_slice(),
        [only] if only.name == wharf_spec::task::DEFAULT_NETWORK && !only.skip_creation
    );
    if implicit_default && name == wharf_spec::task::DEFAULT_NETWORK {
        format!("{name}_{run_id}")
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn task(yaml: &str) -> Task {
        wharf_spec::load_task(yaml).unwrap_or_else(|f| panic!("{:?}", f.diagnostics))
    }

    #[test]
    fn only_the_implicit_default_network_is_made_per_run() {
        let implicit = task("steps:\n  - cmd: x\n");
        assert_eq!(
            engine_network(&implicit, "r1", "acb_default_network"),
            "acb_default_network_r1"
        );
        assert_eq!(engine_network(&implicit, "r1", "host"), "host");
        let declared = task(
            "networks:\n  - name: acb_default_network\n    isDefault: true\n  - name: other\nsteps:\n  - cmd: x\n",
        );
        assert_eq!(
            engine_network(&declared, "r1", "acb_default_network"),
            "acb_default_network"
        );
        assert_eq!(engine_network(&declared, "r1", "other"), "other");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_exit_watcher_ends_when_cleanup_finishes() {
        wharf_e2e::require_docker!();
        wharf_e2e::busybox_image();
        let run_id = format!("exitwatch-{}", &labels::new_session()[..8]);
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let task = Arc::new(task(&format!(
            "steps:\n  - id: step-{run_id}\n    cmd: wharf-test/busybox:1 true\n"
        )));
        let executor = DockerExecutor::connect(task, DockerOptions::new(&run_id, dir.path()))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        executor.prepare().await.unwrap_or_else(|e| panic!("{e}"));
        let problems = executor.cleanup().await;
        assert!(problems.is_empty(), "{problems:?}");
        // The executor is still alive (as in `wharf run` until it exits): the event
        // stream must end with the cleanup anyway.
        tokio::time::timeout(Duration::from_secs(10), executor.exits_watcher_ended())
            .await
            .unwrap_or_else(|_| panic!("the event stream is still open after cleanup"));
        assert!(
            wharf_e2e::labelled(&format!("{LABEL_RUN}={run_id}")).is_empty(),
            "the run left objects behind"
        );
    }
}
