//! The command line: clap definitions only.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Run ACR Tasks pipelines (acb.yaml) locally against a real Docker engine.
#[derive(Debug, Parser)]
#[command(name = "wharf", version, about, propagate_version = true)]
pub struct Cli {
    /// Show what wharf does (registry requests, retries, authentication, engine
    /// calls) on stderr: -v for debug, -vv for trace. WHARF_LOG=<filter> (tracing's
    /// EnvFilter syntax, e.g. `wharf_registry=debug`) chooses exactly.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the task's steps on a Docker engine.
    Run(RunArgs),
    /// Build an image from a directory, git repository or tarball URL and push it,
    /// as `az acr build` does (a quick task).
    Build(crate::commands::build::BuildCommand),
    /// Run the task, then again on a base image update, a commit or a timer (ACR's
    /// triggered tasks).
    Watch(crate::commands::watch::WatchArgs),
    /// The run history: list runs, their logs, what each built and pushed.
    #[command(subcommand)]
    Runs(crate::commands::runs::RunsCommand),
    /// Remove containers, networks and volumes that wharf runs left behind.
    Clean(CleanArgs),
    /// Registries: list, inspect, copy, delete, log in; wharf's own registry.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Helm charts, handled as helm handles them.
    #[command(subcommand)]
    Helm(HelmCommand),
    /// Sign an image (Notary Project or cosign format), pushing the signature next to it.
    Sign(crate::cli_trust::SignArgs),
    /// Verify an image's signature: exit 0 only when a trusted signature covers
    /// exactly what the reference resolves to now.
    Verify(crate::cli_trust::VerifyArgs),
    /// Verify an image's SLSA provenance attestation: exit 0 only when one signed by
    /// the key covers exactly what the reference resolves to now and matches the policy.
    VerifyAttestation(crate::cli_trust::VerifyAttestationArgs),
    /// Attach files to an image as an OCI referrer artifact (as `oras attach`).
    Attach(crate::cli_trust::AttachArgs),
    /// Signing certificates.
    #[command(subcommand)]
    Cert(crate::cli_trust::CertCommand),
    /// WebAssembly plugins: push and pull them as OCI artifacts, list and inspect them.
    #[command(subcommand)]
    Plugin(crate::commands::plugin::PluginCommand),
    /// Print the resolved plan: aliases, templates and defaults applied. No Docker needed.
    Plan(PlanArgs),
    /// Check a task file and report every problem with its file:line:col.
    Validate(ValidateArgs),
    /// Draw the step graph.
    Graph(GraphArgs),
    /// Print the JSON Schema of acb.yaml, for editors (yaml-language-server).
    Schema,
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// What every command that loads a task accepts (the flags of `acb exec` / `az acr run`).
#[derive(Debug, Args, Clone)]
pub struct TaskArgs {
    /// The task file.
    #[arg(value_name = "FILE", conflicts_with = "file_flag")]
    pub file: Option<PathBuf>,
    /// The task file (as in `az acr run -f`).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file_flag: Option<PathBuf>,
    /// The build context: relative alias sources and values files are read from here,
    /// and Run.Commit/Run.Branch come from its git repository.
    #[arg(short = 'C', long = "context", value_name = "DIR", default_value = ".")]
    pub context: PathBuf,
    /// A values file for {{.Values.*}} (repeatable; later files override earlier ones).
    #[arg(long = "values", value_name = "FILE")]
    pub values: Vec<String>,
    /// Set a value: key=value (repeatable; keys are flat, values are strings, last wins).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The registry login server, for $Registry and {{.Run.Registry}}.
    #[arg(long = "registry", env = "WHARF_REGISTRY", value_name = "REGISTRY")]
    pub registry: Option<String>,
    /// The run id, for $ID and {{.Run.ID}} (default: a new short id). Letters, digits,
    /// '_', '.' and '-', starting with a letter or digit: it names Docker objects.
    #[arg(long = "id", value_name = "ID", value_parser = parse_run_id)]
    pub id: Option<String>,
    /// Default environment for every step: KEY=VALUE (repeatable; the task's own env wins).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// An existing network to use as the default network.
    #[arg(long = "network", value_name = "NAME")]
    pub network: Option<String>,
    /// Default working directory of steps, when the task sets none.
    #[arg(long = "working-directory", value_name = "DIR")]
    pub working_directory: Option<String>,
    /// The task's text when a command makes it (`wharf build`, `wharf run --cmd`);
    /// `file` is then only its name.
    #[arg(skip)]
    pub inline: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// Readable summary.
    Text,
    /// The documented JSON plan (docs/plan-json.md).
    Json,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub task: TaskArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Treat warnings as errors.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub task: TaskArgs,
    /// Treat warnings (unknown keys, ...) as errors.
    #[arg(long)]
    pub strict: bool,
    /// Also list what `az acr run` would refuse or do differently.
    #[arg(long)]
    pub acr: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Steps by stage, with what each waits for.
    Text,
    /// A Mermaid flowchart.
    Mermaid,
    /// Graphviz dot.
    Dot,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub task: TaskArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
    pub format: GraphFormat,
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub task: TaskArgs,
    /// Run this one command as the task, as `az acr run --cmd` does: "IMAGE ARGS"
    /// (aliases on, $Registry set). FILE is then the context (`/dev/null`: none).
    #[arg(long = "cmd", value_name = "COMMAND", conflicts_with = "file_flag")]
    pub cmd: Option<String>,
    /// A secret value: ID=VALUE, or ID to read the environment variable ID (repeatable).
    /// Local values win over Key Vault.
    #[arg(short = 's', long = "secret", value_name = "ID[=VALUE]")]
    pub secret: Vec<String>,
    /// A file of secrets, one ID=VALUE per line (dotenv format).
    #[arg(long = "secret-file", value_name = "FILE")]
    pub secret_file: Vec<std::path::PathBuf>,
    /// Print NDJSON events on stdout instead of logs (docs/events.md).
    #[arg(long)]
    pub json: bool,
    /// Print what would run, without running anything.
    #[arg(short = 'n', long = "dry-run")]
    pub dry_run: bool,
    /// Bind-mount the context at /workspace instead of copying it into a volume
    /// (faster; needs the engine on this machine).
    #[arg(long)]
    pub bind: bool,
    /// Do not mount the engine's /var/run/docker.sock into steps (ACR does).
    #[arg(long)]
    pub no_docker_socket: bool,
    /// Treat warnings as errors.
    #[arg(long)]
    pub strict: bool,
    /// Total time a push may spend retrying a registry that fails (seconds).
    #[arg(long, env = "WHARF_RETRY_BUDGET", value_name = "SECONDS", default_value_t = 15.0, value_parser = parse_budget)]
    pub retry_budget: f64,
    /// `--provenance` and its key.
    #[command(flatten)]
    pub provenance: ProvenanceArgs,
    /// `--on acr://REGISTRY` and its flags.
    #[command(flatten)]
    pub acr: crate::commands::run_acr::AcrArgs,
    /// What started the run (for the run history); `Manual` when unset.
    #[arg(skip)]
    pub trigger: Option<String>,
}

/// SLSA provenance for what a run pushes (docs/provenance-buildtype.md).
#[derive(Debug, Args, Clone, Default)]
pub struct ProvenanceArgs {
    /// After the pushes, attest every pushed image: a signed SLSA v1 provenance
    /// statement of this run, pushed as a referrer of the image (cosign v3's bundle
    /// layout). Needs --provenance-key.
    #[arg(long)]
    pub provenance: bool,
    /// The key attestations are signed with (PEM, EC P-256): a file, or `secret:ID`
    /// for a secret of the task or of --secret/--secret-file.
    #[arg(
        long = "provenance-key",
        value_name = "FILE|secret:ID",
        requires = "provenance"
    )]
    pub key: Option<String>,
    /// The key's certificate (PEM, leaf first), put in the bundle instead of the
    /// key's hint: a file, or `secret:ID`.
    #[arg(
        long = "provenance-cert",
        value_name = "FILE|secret:ID",
        requires = "provenance"
    )]
    pub cert: Option<String>,
    /// The task file as the statement names it, when a command makes the task
    /// (`inline:build`, `inline:cmd`).
    #[arg(skip)]
    pub task_file: Option<String>,
    /// The source as the statement names it, when the context is not where it came
    /// from (a tarball URL unpacked by `wharf build`).
    #[arg(skip)]
    pub source: Option<String>,
    /// The platform built for, when not the engine's (`wharf build --platform`).
    #[arg(skip)]
    pub platform: Option<String>,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Only what this run left behind (running containers included).
    #[arg(long = "run", value_name = "RUN_ID")]
    pub run: Option<String>,
    /// Also remove running containers (and what they use) of every run.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Serve wharf's local registry (where runs without --registry push).
    Serve(RegistryServeArgs),
    /// List a registry's repositories (its catalog).
    Ls(RegistryLsArgs),
    /// List a repository's tags.
    Tags(RegistryTagsArgs),
    /// Show an image, index or artifact: digest, media type, size, config, platforms,
    /// annotations.
    Inspect(RegistryInspectArgs),
    /// Copy an image (every platform of an index) between registries and OCI layouts.
    Copy(RegistryCopyArgs),
    /// Delete a manifest (by tag or digest).
    Delete(RegistryDeleteArgs),
    /// Log in to a registry, storing what `docker login` stores.
    Login(RegistryLoginArgs),
    /// Remove a registry's stored login, as `docker logout` does.
    Logout(RegistryLogoutArgs),
    /// List an image's referrers (signatures, SBOMs), as `oras discover`.
    Referrers(crate::cli_trust::RegistryReferrersArgs),
    /// Delete old tags and untagged manifests, as `acr purge` does.
    Purge(crate::cli_trust::RegistryPurgeArgs),
}

/// How listings and reports are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people.
    Text,
    /// JSON on stdout.
    Json,
}

/// What every registry command takes.
#[derive(Debug, Args, Clone)]
pub struct RegistryOptions {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Total time spent retrying a registry that fails (seconds).
    #[arg(long, env = "WHARF_RETRY_BUDGET", value_name = "SECONDS", default_value_t = 15.0, value_parser = parse_budget)]
    pub retry_budget: f64,
    /// Speak plain HTTP to this registry (host:port; loopback registries always are).
    #[arg(long = "plain-http", value_name = "HOST")]
    pub plain_http: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RegistryLsArgs {
    /// The registry: `myreg.azurecr.io`, `localhost:5000`.
    pub registry: String,
    #[command(flatten)]
    pub options: RegistryOptions,
}

#[derive(Debug, Args)]
pub struct RegistryTagsArgs {
    /// The repository: `myreg.azurecr.io/team/app`.
    pub repository: String,
    /// Also each tag's digest, media type, size and creation time.
    #[arg(long)]
    pub detail: bool,
    #[command(flatten)]
    pub options: RegistryOptions,
}

#[derive(Debug, Args)]
pub struct RegistryInspectArgs {
    /// The image: `REGISTRY/REPO:TAG`, `REGISTRY/REPO@sha256:...`, or `oci:PATH[:TAG]`.
    pub reference: String,
    /// Print the manifest exactly as stored.
    #[arg(long)]
    pub raw: bool,
    #[command(flatten)]
    pub options: RegistryOptions,
}

#[derive(Debug, Args)]
pub struct RegistryCopyArgs {
    /// From: an image reference (`docker://` optional) or `oci:PATH[:TAG]`.
    pub source: String,
    /// To: an image reference or `oci:PATH[:TAG]`.
    pub destination: String,
    /// Copy what refers to the image too, as `oras cp -r`: its referrers
    /// (signatures, SBOMs, attestations) and theirs, those of an index's platform
    /// manifests, and cosign's `sha256-<hex>.sig|.att|.sbom` tags. Registries only.
    #[arg(short = 'r', long = "referrers", visible_alias = "recursive")]
    pub referrers: bool,
    #[command(flatten)]
    pub options: RegistryOptions,
}

#[derive(Debug, Args)]
pub struct RegistryDeleteArgs {
    /// The manifest: `REGISTRY/REPO:TAG` or `REGISTRY/REPO@sha256:...`. On most
    /// registries this removes every tag of that manifest.
    pub reference: String,
    #[command(flatten)]
    pub options: RegistryOptions,
}

#[derive(Debug, Args)]
pub struct RegistryLoginArgs {
    /// The registry.
    pub registry: String,
    /// The user name; the password is read from stdin (--password-stdin). Without a
    /// user name, an Azure Container Registry is signed in to with Azure AD, as
    /// `az acr login` does.
    #[arg(short = 'u', long = "username", value_name = "USER")]
    pub username: Option<String>,
    /// Read the password from stdin.
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// Use the Azure AD sign-in for this registry even though its name is not
    /// `*.azurecr.io` (a custom domain).
    #[arg(long)]
    pub azure: bool,
    #[command(flatten)]
    pub options: RegistryOptions,
}

#[derive(Debug, Args)]
pub struct RegistryLogoutArgs {
    /// The registry.
    pub registry: String,
}

/// A retry budget in seconds: finite, not negative.
fn parse_budget(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=3600.0).contains(&v) => Ok(v),
        _ => Err("give a number of seconds from 0 to 3600".into()),
    }
}

#[derive(Debug, Args)]
pub struct RegistryServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = crate::commands::run::LOCAL_REGISTRY)]
    pub addr: std::net::SocketAddr,
    /// Storage directory (default: the local data directory, wharf/registry).
    #[arg(long, value_name = "DIR")]
    pub root: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum HelmCommand {
    /// Package a chart directory into NAME-VERSION.tgz, as `helm package` does
    /// (reproducible: fixed file times, or SOURCE_DATE_EPOCH when set).
    #[command(disable_version_flag = true)]
    Package(HelmPackageArgs),
    /// Push a packaged chart to an OCI registry, as `helm push` does:
    /// `wharf helm push web-1.2.3.tgz oci://REGISTRY/charts` gives
    /// REGISTRY/charts/web:1.2.3.
    Push(HelmPushArgs),
    /// Pull a chart from an OCI registry into NAME-VERSION.tgz, as `helm pull` does.
    #[command(disable_version_flag = true)]
    Pull(HelmPullArgs),
}

#[derive(Debug, Args)]
pub struct HelmPushArgs {
    /// The chart archive (NAME-VERSION.tgz); NAME-VERSION.tgz.prov beside it is pushed too.
    #[arg(value_name = "CHART")]
    pub chart: PathBuf,
    /// Where to: `oci://REGISTRY/NAMESPACE`.
    #[arg(value_name = "REMOTE")]
    pub remote: String,
    #[command(flatten)]
    pub options: RegistryOptions,
}

#[derive(Debug, Args)]
pub struct HelmPullArgs {
    /// The chart: `oci://REGISTRY/NAMESPACE/NAME`, with `:VERSION` or `@sha256:...`
    /// or `--version`; with neither, the newest chart version.
    #[arg(value_name = "CHART")]
    pub chart: String,
    /// The chart version to pull.
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,
    /// Where to write the archive (created if missing).
    #[arg(short = 'd', long, value_name = "DIR", default_value = ".")]
    pub destination: PathBuf,
    #[command(flatten)]
    pub options: RegistryOptions,
}

#[derive(Debug, Args)]
pub struct HelmPackageArgs {
    /// The chart directory (the one holding Chart.yaml).
    #[arg(value_name = "CHART")]
    pub chart: PathBuf,
    /// Set the chart's version (a semantic version) instead of Chart.yaml's.
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,
    /// Set the chart's appVersion instead of Chart.yaml's.
    #[arg(long = "app-version", value_name = "APP_VERSION")]
    pub app_version: Option<String>,
    /// Where to write the archive (created if missing).
    #[arg(short = 'd', long, value_name = "DIR", default_value = ".")]
    pub destination: PathBuf,
}

/// A run id names Docker objects (volumes, networks) and labels, so it must be a valid
/// part of a Docker name.
pub(crate) fn parse_run_id(id: &str) -> Result<String, String> {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok && id.len() <= 64 {
        Ok(id.to_string())
    } else {
        Err(
            "use up to 64 letters, digits, '_', '.' and '-', starting with a letter or digit"
                .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::parse_run_id;

    #[test]
    fn run_ids_must_be_docker_name_parts() {
        assert!(parse_run_id("cb1").is_ok());
        assert!(parse_run_id("pr-12.build_3").is_ok());
        assert!(parse_run_id("pr#12").is_err());
        assert!(parse_run_id("-x").is_err());
        assert!(parse_run_id("").is_err());
        assert!(parse_run_id(&"a".repeat(65)).is_err());
    }
}
