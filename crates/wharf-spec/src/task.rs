//! The resolved task: every alias substituted, every template rendered, every
//! default applied and every rule checked. This is what `wharf plan --format json`
//! prints (see docs/plan-json.md) and what the engine runs.

use serde::Serialize;

use crate::source::Span;

/// The default step timeout, in seconds.
pub const DEFAULT_STEP_TIMEOUT: u64 = 600;
/// The default (and minimum effective) retry delay, in seconds.
pub const DEFAULT_RETRY_DELAY: u64 = 5;
/// The task version when the file has none.
pub const DEFAULT_VERSION: &str = "v1.0.0";
/// Versions ACR accepts (compared case-insensitively).
pub const VALID_VERSIONS: &[&str] = &["1.0-preview-1", "v1.0.0", "v1.1.0"];
/// The network steps share when the task declares none.
pub const DEFAULT_NETWORK: &str = "acb_default_network";
/// Where the run's shared workspace is mounted in every step container.
pub const WORKSPACE: &str = "/workspace";
/// The id ACR reserves for the root of the step graph.
pub const ROOT_ID: &str = "acb_root";
/// The `when` entry that starts a step at once.
pub const IMMEDIATE: &str = "-";

/// A resolved task.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// The task format version.
    pub version: String,
    /// The default step timeout, in seconds.
    pub step_timeout: u64,
    /// The default working directory of steps.
    pub working_directory: String,
    /// Task environment (`K=V`), after the command line's defaults were merged in.
    pub env: Vec<String>,
    /// Secrets to resolve before the run.
    pub secrets: Vec<Secret>,
    /// Networks the run creates or uses.
    pub networks: Vec<Network>,
    /// Secret volumes the run creates.
    pub volumes: Vec<Volume>,
    /// The steps, in file order.
    pub steps: Vec<Step>,
    /// Notifier plugins that run after the steps (a wharf extension).
    pub notify: Vec<Notify>,
}

/// A secret declaration (never its value).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// Name used in `{{.Secrets.<id>}}`.
    pub id: String,
    /// Key Vault secret URL (empty for a token secret).
    pub keyvault: String,
    /// Client id of the managed identity to use, if any.
    #[serde(rename = "clientID")]
    pub client_id: Option<String>,
    /// For a token secret (acr-builder's `aadresourceid`): the resource whose Azure
    /// AD access token is the secret's value.
    pub aad_resource_id: Option<String>,
}

/// A network of the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    /// Network name.
    pub name: String,
    /// Driver (`bridge` when unset).
    pub driver: String,
    /// IPv6 enabled.
    pub ipv6: bool,
    /// Use an existing network instead of creating (and removing) one.
    pub skip_creation: bool,
    /// Steps without a network use this one.
    pub is_default: bool,
}

/// A volume made of secret files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// Volume name.
    pub name: String,
    /// The files, each with its decoded content (never serialized: only names are shown).
    #[serde(serialize_with = "serialize_file_names")]
    pub files: Vec<(String, Vec<u8>)>,
}

fn serialize_file_names<S: serde::Serializer>(
    files: &[(String, Vec<u8>)],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(files.iter().map(|(name, _)| name))
}

/// A volume mounted into a step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    /// Name of a task volume.
    pub name: String,
    /// Path in the container.
    pub mount_path: String,
}

/// The registry build cache setting of a build step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cache {
    /// Build with `buildx` and a registry cache.
    Enabled,
    /// Plain build.
    Disabled,
}

pub use crate::kinds::StepKind;

/// What a step does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Build an image.
    Build {
        /// The `docker build` arguments, rendered.
        build: String,
        /// Image names from `-t`/`--tag`.
        tags: Vec<String>,
        /// `--build-arg` values.
        build_args: Vec<String>,
        /// Registry build cache.
        cache: Option<Cache>,
        /// How the build's container runs.
        container: Container,
    },
    /// Run a container.
    Cmd {
        /// The image and its arguments, rendered, with image aliases expanded.
        cmd: String,
        /// How the container runs.
        container: Container,
    },
    /// Push images.
    Push {
        /// Image references, normalized (`:latest` added where ACR adds it) and deduplicated.
        push: Vec<String>,
    },
    /// Call a WebAssembly plugin (a wharf extension).
    Plugin(PluginCall),
    /// Package, and push, a Helm chart (a wharf extension).
    Helm(HelmCall),
    /// Sign images (a wharf extension).
    Sign(SignCall),
}

impl Action {
    /// The kind of step this action makes.
    pub fn kind(&self) -> StepKind {
        match self {
            Action::Build { .. } => StepKind::Build,
            Action::Cmd { .. } => StepKind::Cmd,
            Action::Push { .. } => StepKind::Push,
            Action::Plugin(_) => StepKind::Plugin,
            Action::Helm(_) => StepKind::Helm,
            Action::Sign(_) => StepKind::Sign,
        }
    }

    /// `build`, `cmd`, `push` or `plugin`.
    pub fn type_name(&self) -> &'static str {
        self.kind().key()
    }

    /// The container settings, for the kinds that run a container.
    pub fn container(&self) -> Option<&Container> {
        match self {
            Action::Build { container, .. } | Action::Cmd { container, .. } => Some(container),
            Action::Push { .. } | Action::Plugin(_) | Action::Helm(_) | Action::Sign(_) => None,
        }
    }
}

/// How a step's container runs: the settings of `cmd` steps, and of the container a
/// `build` step runs in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// Run in the background.
    pub detach: bool,
    /// Keep the container until the end of the run.
    pub keep: bool,
    /// Network to attach to, if any.
    pub network: Option<String>,
    /// Absolute working directory in the container.
    pub working_directory: String,
    /// Keep the image's WORKDIR.
    pub disable_working_directory_override: bool,
    /// Entrypoint override.
    pub entry_point: Option<String>,
    /// User to run as.
    pub user: Option<String>,
    /// Run privileged.
    pub privileged: bool,
    /// Windows isolation.
    pub isolation: Option<String>,
    /// Published ports (`docker run -p`).
    pub ports: Vec<String>,
    /// Exposed ports.
    pub expose: Vec<String>,
    /// CPU limit (`docker run --cpus`).
    pub cpus: Option<String>,
    /// Pull the image first.
    pub pull: bool,
    /// Extra pull attempts.
    pub cmd_download_retries: u64,
    /// Seconds between pull attempts.
    pub cmd_download_retry_delay: u64,
    /// Volumes mounted into the container.
    pub volume_mounts: Vec<VolumeMount>,
    /// Parsed, never used (as in ACR).
    pub exited_with: Vec<i64>,
    /// Parsed, never used (as in ACR).
    pub exited_without: Vec<i64>,
}

impl Default for Container {
    fn default() -> Container {
        Container {
            detach: false,
            keep: false,
            network: None,
            working_directory: WORKSPACE.to_string(),
            disable_working_directory_override: false,
            entry_point: None,
            user: None,
            privileged: false,
            isolation: None,
            ports: Vec::new(),
            expose: Vec::new(),
            cpus: None,
            pull: false,
            cmd_download_retries: 0,
            cmd_download_retry_delay: 0,
            volume_mounts: Vec::new(),
            exited_with: Vec::new(),
            exited_without: Vec::new(),
        }
    }
}

/// A `plugin:` step or `notify:` entry: which component to call, with what, and what
/// it may touch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginCall {
    /// Where the component comes from, as written.
    pub plugin: String,
    /// The same, parsed.
    #[serde(skip)]
    pub source: PluginSource,
    /// The `with:` values, rendered like the rest of the file.
    pub with: serde_json::Map<String, serde_json::Value>,
    /// What the plugin may reach beyond its inputs (`allow:`); nothing by default.
    pub allow: Grants,
}

/// A `helm:` step: `package CHART [--version V] [--app-version A] [-d DIR]
/// [--push oci://REGISTRY/NAMESPACE]`, as `helm package` and `helm push` take them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmCall {
    /// The arguments, rendered, as written.
    pub helm: String,
    /// The chart directory, relative to the context.
    pub chart: String,
    /// `--version`: the chart version to package (else Chart.yaml's).
    pub version: Option<String>,
    /// `--app-version`: the appVersion to write into Chart.yaml.
    pub app_version: Option<String>,
    /// `-d`/`--destination`: where the .tgz goes, relative to the context (else the
    /// context itself).
    pub destination: Option<String>,
    /// `--push`: where the chart is pushed, `oci://REGISTRY/NAMESPACE`.
    pub push: Option<String>,
}

/// A `sign:` step: the images to sign, and where the key material is. Only where:
/// key material is a secret and never appears in the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignCall {
    /// The images, as written (rendered).
    pub sign: Vec<String>,
    /// The private key.
    pub key: KeySource,
    /// The certificate chain (notation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<KeySource>,
    /// `notation` or `cosign`.
    pub format: String,
}

/// Where a sign step's key or certificate comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum KeySource {
    /// A secret of the task, by id.
    Secret(String),
    /// A file in the context, by path relative to it.
    File(String),
}

/// Where a plugin's component comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginSource {
    /// A plugin bundled with wharf or installed by name (`semver-tagger`).
    Name(String),
    /// A `.wasm` file; relative paths are relative to the context.
    Path(String),
    /// An OCI artifact: `oci://REGISTRY/REPO:TAG` or `oci://REGISTRY/REPO@sha256:...`,
    /// kept without the `oci://`.
    Oci(String),
}

/// What a plugin may reach: nothing unless granted here.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Grants {
    /// Hosts it may send HTTP requests to, as `host:port`.
    pub http: Vec<String>,
    /// Environment variables it may read (from the step's env, then wharf's own).
    pub env: Vec<String>,
    /// Paths it may read, relative to the context.
    pub read: Vec<String>,
    /// Task secrets it may use, by id, as opaque handles.
    pub secrets: Vec<String>,
}

/// When a `notify:` entry runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyOn {
    /// After a run that succeeded.
    Success,
    /// After a run that failed or was interrupted.
    Failure,
}

/// A `notify:` entry: a notifier plugin that runs after the run, however it ended,
/// and cannot change its outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notify {
    /// When it runs.
    pub on: Vec<NotifyOn>,
    /// The call, as a step (kind `plugin`; id `notify_<index>` unless given).
    #[serde(flatten)]
    pub step: Step,
}

/// A resolved step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Step id (also the container name).
    pub id: String,
    /// What the step does.
    pub action: Action,
    /// Ids of the steps this one waits for; empty means it starts at once.
    pub depends_on: Vec<String>,
    /// Seconds before the step is stopped.
    pub timeout: u64,
    /// Seconds to wait before starting.
    pub start_delay: u64,
    /// Extra attempts after a failure.
    pub retries: u64,
    /// Seconds between attempts.
    pub retry_delay: u64,
    /// Retry only if the output contains one of these (empty: always retry).
    pub retry_on_errors: Vec<String>,
    /// Extra runs after the first.
    pub repeat: u64,
    /// A failure counts as success.
    pub ignore_errors: bool,
    /// Environment (`K=V`): the step's entries, then the task's for keys the step lacks.
    pub env: Vec<String>,
    /// Where the step is in the task file.
    pub span: Span,
}

impl Step {
    /// The container settings, for the kinds that run a container.
    pub fn container(&self) -> Option<&Container> {
        self.action.container()
    }

    /// Whether the step runs in the background (a detached container).
    pub fn detach(&self) -> bool {
        self.container().is_some_and(|c| c.detach)
    }
}

/// The plan JSON of a step (docs/plan-json.md): every field on every step, so a
/// consumer never needs to know a default. Container settings of the kinds that run
/// no container (push, plugin) are shown with their defaults.
impl Serialize for Step {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct View<'a> {
            id: &'a str,
            #[serde(rename = "type")]
            kind: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            build: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            tags: Option<&'a [String]>,
            #[serde(skip_serializing_if = "Option::is_none")]
            build_args: Option<&'a [String]>,
            #[serde(skip_serializing_if = "Option::is_none")]
            cmd: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            push: Option<&'a [String]>,
            #[serde(skip_serializing_if = "Option::is_none", flatten)]
            plugin: Option<&'a PluginCall>,
            #[serde(skip_serializing_if = "Option::is_none", flatten)]
            helm: Option<&'a HelmCall>,
            #[serde(skip_serializing_if = "Option::is_none", flatten)]
            sign: Option<&'a SignCall>,
            depends_on: &'a [String],
            timeout: u64,
            start_delay: u64,
            retries: u64,
            retry_delay: u64,
            retry_on_errors: &'a [String],
            repeat: u64,
            ignore_errors: bool,
            env: &'a [String],
            #[serde(flatten)]
            container: &'a Container,
            cache: Option<Cache>,
        }
        let none = Container::default();
        let mut view = View {
            id: &self.id,
            kind: self.action.type_name(),
            build: None,
            tags: None,
            build_args: None,
            cmd: None,
            push: None,
            plugin: None,
            helm: None,
            sign: None,
            depends_on: &self.depends_on,
            timeout: self.timeout,
            start_delay: self.start_delay,
            retries: self.retries,
            retry_delay: self.retry_delay,
            retry_on_errors: &self.retry_on_errors,
            repeat: self.repeat,
            ignore_errors: self.ignore_errors,
            env: &self.env,
            container: self.container().unwrap_or(&none),
            cache: None,
        };
        match &self.action {
            Action::Build {
                build,
                tags,
                build_args,
                cache,
                ..
            } => {
                view.build = Some(build);
                view.tags = Some(tags);
                view.build_args = Some(build_args);
                view.cache = *cache;
            }
            Action::Cmd { cmd, .. } => view.cmd = Some(cmd),
            Action::Push { push } => view.push = Some(push),
            Action::Plugin(call) => view.plugin = Some(call),
            Action::Helm(call) => view.helm = Some(call),
            Action::Sign(call) => view.sign = Some(call),
        }
        view.serialize(s)
    }
}

impl Task {
    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// The network steps use when they name none.
    pub fn default_network(&self) -> Option<&Network> {
        default_network(&self.networks)
    }
}

/// The network steps use when they name none: the last one marked `isDefault`, as
/// ACR takes it.
pub fn default_network(networks: &[Network]) -> Option<&Network> {
    networks.iter().rev().find(|n| n.is_default)
}
