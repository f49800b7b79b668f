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
}

/// A secret declaration (never its value).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// Name used in `{{.Secrets.<id>}}`.
    pub id: String,
    /// Key Vault secret URL.
    pub keyvault: String,
    /// Client id of the managed identity to use, if any.
    #[serde(rename = "clientID")]
    pub client_id: Option<String>,
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

/// What a step does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Action {
    /// Build an image.
    Build {
        /// The `docker build` arguments, rendered.
        build: String,
        /// Image names from `-t`/`--tag`.
        tags: Vec<String>,
        /// `--build-arg` values.
        #[serde(rename = "buildArgs")]
        build_args: Vec<String>,
    },
    /// Run a container.
    Cmd {
        /// The image and its arguments, rendered, with image aliases expanded.
        cmd: String,
    },
    /// Push images.
    Push {
        /// Image references, normalized (`:latest` added where ACR adds it) and deduplicated.
        push: Vec<String>,
    },
}

impl Action {
    /// `build`, `cmd` or `push`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Action::Build { .. } => "build",
            Action::Cmd { .. } => "cmd",
            Action::Push { .. } => "push",
        }
    }
}

/// A resolved step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Step id (also the container name).
    pub id: String,
    /// What the step does.
    #[serde(flatten)]
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
    /// Run in the background.
    pub detach: bool,
    /// Keep the container until the end of the run.
    pub keep: bool,
    /// Environment (`K=V`): the step's entries, then the task's for keys the step lacks.
    pub env: Vec<String>,
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
    /// Registry build cache.
    pub cache: Option<Cache>,
    /// Volumes mounted into the container.
    pub volume_mounts: Vec<VolumeMount>,
    /// Parsed, never used (as in ACR).
    pub exited_with: Vec<i64>,
    /// Parsed, never used (as in ACR).
    pub exited_without: Vec<i64>,
    /// Where the step is in the task file.
    #[serde(skip)]
    pub span: Span,
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
