//! The bodies of the ARM Tasks API (`Microsoft.ContainerRegistry`,
//! `2025-03-01-preview`): run requests, the `Run` resource and its status.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A run request, discriminated by `type` as the REST spec's `RunRequest`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum RunRequest {
    /// A task file given inline (base64): `az acr run --cmd`, `az acr run -f F /dev/null`.
    EncodedTaskRunRequest(EncodedTaskRunRequest),
    /// A task file read from the uploaded source: `az acr run -f F CONTEXT`.
    FileTaskRunRequest(FileTaskRunRequest),
    /// A quick build: `az acr build`.
    DockerBuildRequest(DockerBuildRequest),
}

impl RunRequest {
    /// The `type` discriminator.
    pub fn type_name(&self) -> &'static str {
        match self {
            RunRequest::EncodedTaskRunRequest(_) => "EncodedTaskRunRequest",
            RunRequest::FileTaskRunRequest(_) => "FileTaskRunRequest",
            RunRequest::DockerBuildRequest(_) => "DockerBuildRequest",
        }
    }

    /// A copy with every `isSecret` value replaced by `***` (for showing).
    pub fn redacted(&self) -> RunRequest {
        let mut copy = self.clone();
        let list = match &mut copy {
            RunRequest::EncodedTaskRunRequest(r) => &mut r.values,
            RunRequest::FileTaskRunRequest(r) => &mut r.values,
            RunRequest::DockerBuildRequest(r) => &mut r.arguments,
        };
        for v in list.iter_mut().filter(|v| v.is_secret) {
            v.value = "***".into();
        }
        copy
    }

    /// Every value sent with `isSecret: true` (for masking).
    pub fn secret_values(&self) -> Vec<String> {
        let list = match self {
            RunRequest::EncodedTaskRunRequest(r) => &r.values,
            RunRequest::FileTaskRunRequest(r) => &r.values,
            RunRequest::DockerBuildRequest(r) => &r.arguments,
        };
        list.iter()
            .filter(|v| v.is_secret)
            .map(|v| v.value.clone())
            .collect()
    }
}

/// The OS, architecture and variant a run is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformProperties {
    /// `Linux` or `Windows`.
    pub os: String,
    /// `amd64`, `x86`, `386`, `arm`, `arm64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// `v6`, `v7`, `v8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// The agent a run gets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentProperties {
    /// CPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
}

/// A value for `{{.Values.name}}` (`SetValue`), or a build argument (`Argument`):
/// the same shape. `Debug` never shows a secret value.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetValue {
    /// The name.
    pub name: String,
    /// The value.
    pub value: String,
    /// Whether ACR keeps the value out of logs and run records.
    #[serde(default)]
    pub is_secret: bool,
}

impl fmt::Debug for SetValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetValue")
            .field("name", &self.name)
            .field("value", &if self.is_secret { "***" } else { &self.value })
            .field("is_secret", &self.is_secret)
            .finish()
    }
}

/// `EncodedTaskRunRequest`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncodedTaskRunRequest {
    /// Base64 of the task YAML.
    pub encoded_task_content: String,
    /// Base64 of a values file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoded_values_content: Option<String>,
    /// `--set` and `--set-secret` values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<SetValue>,
    /// Seconds, 300 to 28800.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// The platform.
    pub platform: PlatformProperties,
    /// The agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_configuration: Option<AgentProperties>,
    /// The source, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_location: Option<String>,
    /// Whether the run's record is archived.
    #[serde(default)]
    pub is_archive_enabled: bool,
    /// A dedicated agent pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_pool_name: Option<String>,
}

/// `FileTaskRunRequest`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileTaskRunRequest {
    /// The task file, relative to the source.
    pub task_file_path: String,
    /// A values file, relative to the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_file_path: Option<String>,
    /// `--set` and `--set-secret` values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<SetValue>,
    /// Seconds, 300 to 28800.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// The platform.
    pub platform: PlatformProperties,
    /// The agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_configuration: Option<AgentProperties>,
    /// The uploaded source (`relativePath` of `listBuildSourceUploadUrl`), or a URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_location: Option<String>,
    /// Whether the run's record is archived.
    #[serde(default)]
    pub is_archive_enabled: bool,
    /// A dedicated agent pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_pool_name: Option<String>,
}

/// `DockerBuildRequest`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerBuildRequest {
    /// Images to tag (and push).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_names: Vec<String>,
    /// Whether the images are pushed.
    #[serde(default = "yes")]
    pub is_push_enabled: bool,
    /// Build without cache.
    #[serde(default)]
    pub no_cache: bool,
    /// The Dockerfile, relative to the source.
    pub docker_file_path: String,
    /// A build stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `--build-arg` and `--secret-build-arg` values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<SetValue>,
    /// Seconds, 300 to 28800.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// The platform.
    pub platform: PlatformProperties,
    /// The agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_configuration: Option<AgentProperties>,
    /// The uploaded source, or a URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_location: Option<String>,
    /// Whether the run's record is archived.
    #[serde(default)]
    pub is_archive_enabled: bool,
    /// A dedicated agent pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_pool_name: Option<String>,
}

fn yes() -> bool {
    true
}

/// A run's status. The API's list is open (a string union): values it does
/// not name are kept as [`RunStatus::Other`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunStatus {
    /// Waiting for an agent.
    Queued,
    /// Started.
    Started,
    /// Running.
    Running,
    /// Finished well.
    Succeeded,
    /// A step failed.
    Failed,
    /// Cancelled.
    Canceled,
    /// The service failed.
    Error,
    /// The run took longer than its timeout.
    Timeout,
    /// A status this version of wharf does not know.
    Other(String),
}

impl RunStatus {
    /// The status from its wire name (case-insensitive).
    pub fn parse(text: &str) -> RunStatus {
        match text.to_ascii_lowercase().as_str() {
            "queued" => RunStatus::Queued,
            "started" => RunStatus::Started,
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            "canceled" | "cancelled" => RunStatus::Canceled,
            "error" | "internalerror" => RunStatus::Error,
            "timeout" | "timedout" => RunStatus::Timeout,
            _ => RunStatus::Other(text.to_owned()),
        }
    }

    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            RunStatus::Queued => "Queued",
            RunStatus::Started => "Started",
            RunStatus::Running => "Running",
            RunStatus::Succeeded => "Succeeded",
            RunStatus::Failed => "Failed",
            RunStatus::Canceled => "Canceled",
            RunStatus::Error => "Error",
            RunStatus::Timeout => "Timeout",
            RunStatus::Other(s) => s,
        }
    }

    /// Whether the run has ended (as azure-cli's `get_finished_run_status`).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded
                | RunStatus::Failed
                | RunStatus::Canceled
                | RunStatus::Error
                | RunStatus::Timeout
        )
    }

    /// The process exit code for a finished run: 0 for Succeeded, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        if *self == RunStatus::Succeeded { 0 } else { 1 }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RunStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RunStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(RunStatus::parse(&String::deserialize(d)?))
    }
}

/// An image a run produced (`ImageDescriptor`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageDescriptor {
    /// Login server.
    #[serde(default)]
    pub registry: Option<String>,
    /// Repository.
    #[serde(default)]
    pub repository: Option<String>,
    /// Tag.
    #[serde(default)]
    pub tag: Option<String>,
    /// Digest.
    #[serde(default)]
    pub digest: Option<String>,
}

impl fmt::Display for ImageDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let registry = self.registry.as_deref().unwrap_or_default();
        let repository = self.repository.as_deref().unwrap_or_default();
        write!(f, "{registry}/{repository}")?;
        if let Some(tag) = self.tag.as_deref().filter(|t| !t.is_empty()) {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = self.digest.as_deref().filter(|d| !d.is_empty()) {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// The `Run` resource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Resource id.
    #[serde(default)]
    pub id: Option<String>,
    /// The run id.
    #[serde(default)]
    pub name: Option<String>,
    /// `Microsoft.ContainerRegistry/registries/runs`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Its properties.
    #[serde(default)]
    pub properties: RunProperties,
}

impl Run {
    /// The run id (`properties.runId`, else `name`).
    pub fn run_id(&self) -> Option<&str> {
        self.properties
            .run_id
            .as_deref()
            .or(self.name.as_deref())
            .filter(|s| !s.is_empty())
    }

    /// The status; `Queued` when the answer has none.
    pub fn status(&self) -> RunStatus {
        self.properties.status.clone().unwrap_or(RunStatus::Queued)
    }
}

/// `RunProperties` (the fields wharf reads; others are ignored).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunProperties {
    /// The run id, e.g. `cb1`.
    #[serde(default)]
    pub run_id: Option<String>,
    /// The status.
    #[serde(default)]
    pub status: Option<RunStatus>,
    /// `QuickBuild`, `QuickRun`, `AutoBuild`, `AutoRun`.
    #[serde(default)]
    pub run_type: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub last_updated_time: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub create_time: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub start_time: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub finish_time: Option<String>,
    /// Images pushed.
    #[serde(default)]
    pub output_images: Vec<ImageDescriptor>,
    /// Why it failed, when the service says.
    #[serde(default)]
    pub run_error_message: Option<String>,
    /// ARM provisioning state.
    #[serde(default)]
    pub provisioning_state: Option<String>,
    /// The platform it ran on.
    #[serde(default)]
    pub platform: Option<PlatformProperties>,
}

/// The answer of `listBuildSourceUploadUrl`.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceUploadDefinition {
    /// Where to PUT the archive (a SAS URL: a credential).
    pub upload_url: String,
    /// What the run request's `sourceLocation` names.
    pub relative_path: String,
}

impl fmt::Debug for SourceUploadDefinition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceUploadDefinition")
            .field("upload_url", &crate::redact_sas(&self.upload_url))
            .field("relative_path", &self.relative_path)
            .finish()
    }
}

/// The answer of `runs/{id}/listLogSasUrl`.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunGetLogResult {
    /// The log's append blob (a SAS URL).
    #[serde(default)]
    pub log_link: Option<String>,
    /// The log as a registry artifact (2025-03), streamed with a plain GET.
    #[serde(default)]
    pub log_artifact_link: Option<String>,
}

impl fmt::Debug for RunGetLogResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunGetLogResult")
            .field("log_link", &self.log_link.as_deref().map(crate::redact_sas))
            .field(
                "log_artifact_link",
                &self.log_artifact_link.as_deref().map(crate::redact_sas),
            )
            .finish()
    }
}

/// A registry as `GET …/registries` lists it.
#[derive(Clone, Debug, Deserialize)]
pub struct RegistryResource {
    /// Resource id.
    pub id: String,
    /// Registry name.
    #[serde(default)]
    pub name: String,
    /// Its SKU.
    #[serde(default)]
    pub sku: Option<Sku>,
    /// Its properties.
    #[serde(default)]
    pub properties: RegistryProperties,
}

/// A registry's SKU.
#[derive(Clone, Debug, Deserialize)]
pub struct Sku {
    /// `Basic`, `Standard`, `Premium` (or the old `Classic`).
    #[serde(default)]
    pub name: String,
}

/// The registry properties wharf reads.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryProperties {
    /// `myreg.azurecr.io`.
    #[serde(default)]
    pub login_server: String,
}

/// An ARM error body, `{"error": {"code", "message"}}`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ErrorResponse {
    /// The error.
    #[serde(default)]
    pub error: ErrorDetail,
}

/// An ARM error.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ErrorDetail {
    /// Machine-readable code.
    #[serde(default)]
    pub code: String,
    /// Text.
    #[serde(default)]
    pub message: String,
}
