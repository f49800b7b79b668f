//! The command line of content trust and image lifecycle: `cert`, `sign`, `verify`,
//! `verify-attestation`, `attach`, `registry referrers`, `registry purge` (clap
//! definitions only).

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::cli::{OutputFormat, RegistryOptions};

/// Connection settings of the trust commands (as [`RegistryOptions`], without its
/// `--output`, which these commands define themselves).
#[derive(Debug, Args, Clone)]
pub struct Connection {
    /// Total time spent retrying a registry that fails (seconds).
    #[arg(
        long,
        env = "WHARF_RETRY_BUDGET",
        value_name = "SECONDS",
        default_value_t = 15.0
    )]
    pub retry_budget: f64,
    /// Speak plain HTTP to this registry (host:port; loopback registries always are).
    #[arg(long = "plain-http", value_name = "HOST")]
    pub plain_http: Vec<String>,
}

impl Connection {
    /// As the registry commands' options.
    pub fn options(&self, output: OutputFormat) -> RegistryOptions {
        RegistryOptions {
            output,
            retry_budget: self.retry_budget.clamp(0.0, 3600.0),
            plain_http: self.plain_http.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Write NAME.key (PKCS#8 EC P-256) and NAME.crt (a self-signed code-signing
    /// certificate, as `notation cert generate-test` makes them).
    GenerateTest(CertGenerateTestArgs),
}

#[derive(Debug, Args)]
pub struct CertGenerateTestArgs {
    /// The certificate's common name, and the files' base name.
    pub name: String,
    /// Days the certificate is valid (notation's test certificates: 1).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub days: u32,
    /// Where to write the files.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

/// A signature format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SignatureFormat {
    /// Notary Project (notation), JWS envelope, stored as an OCI referrer.
    Notation,
    /// cosign's keyed format (the sha256-<hex>.sig tag).
    Cosign,
}

/// Where a referrer is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReferrersModeArg {
    /// The referrers API when the registry has it, else the sha256-<hex> tag index.
    Auto,
    /// The referrers API only.
    Api,
    /// Always the sha256-<hex> tag index too (notation 1.x's behaviour).
    Tag,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The image: REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:... (the digest it
    /// resolves to now is signed).
    pub reference: String,
    /// The private key (PEM, EC P-256).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The certificate chain (PEM, leaf first) for a notation signature.
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// The signature format.
    #[arg(long, value_enum, default_value_t = SignatureFormat::Notation)]
    pub format: SignatureFormat,
    /// Where the notation signature is recorded.
    #[arg(long = "referrers-mode", value_enum, default_value_t = ReferrersModeArg::Auto)]
    pub referrers_mode: ReferrersModeArg,
    /// How long a notation signature is valid (`24h`, `30d`); none by default.
    #[arg(long, value_name = "DURATION")]
    pub expiry: Option<String>,
    /// A key=value put in the signed payload (notation -m).
    #[arg(short = 'm', long = "metadata", value_name = "KEY=VALUE")]
    pub metadata: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The image: REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:...
    pub reference: String,
    /// Trust notation signatures by this certificate (PEM: the signer's or a CA's).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["trust_policy", "key"])]
    pub cert: Option<PathBuf>,
    /// A notation trust policy (trustpolicy.json).
    #[arg(
        long = "trust-policy",
        value_name = "FILE",
        requires = "trust_store",
        conflicts_with = "key"
    )]
    pub trust_policy: Option<PathBuf>,
    /// The trust store directory of the policy (holding x509/ca/<name>/...).
    #[arg(long = "trust-store", value_name = "DIR", requires = "trust_policy")]
    pub trust_store: Option<PathBuf>,
    /// A cosign public key (PEM); with --format cosign.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// The signature format.
    #[arg(long, value_enum, default_value_t = SignatureFormat::Notation)]
    pub format: SignatureFormat,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Debug, Args)]
pub struct VerifyAttestationArgs {
    /// The image: REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:...
    pub reference: String,
    /// The public key the attestation must be signed by (PEM, EC P-256).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The predicate type: slsaprovenance1 (SLSA v1, the default), slsaprovenance02
    /// (v0.2), or a URI (cosign's --type names).
    #[arg(long = "type", value_name = "TYPE", default_value = "slsaprovenance1")]
    pub predicate_type: String,
    /// Require this runDetails.builder.id.
    #[arg(long, value_name = "ID")]
    pub builder: Option<String>,
    /// Require this source (externalParameters.source, e.g.
    /// git+https://github.com/org/repo@refs/heads/main).
    #[arg(long, value_name = "URI")]
    pub source: Option<String>,
    /// Output format (json: the verified statement too).
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The image to attach to: REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:...
    pub reference: String,
    /// The artifact's type (`application/vnd.cyclonedx+json`).
    #[arg(long = "artifact-type", value_name = "TYPE")]
    pub artifact_type: String,
    /// Files to attach, each `PATH` or `PATH:MEDIA_TYPE` (as oras attach).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// A manifest annotation KEY=VALUE.
    #[arg(short = 'a', long = "annotation", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,
    /// Where the referrer is recorded.
    #[arg(long = "referrers-mode", value_enum, default_value_t = ReferrersModeArg::Auto)]
    pub referrers_mode: ReferrersModeArg,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub connection: Connection,
}

/// How `registry referrers` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiscoverFormat {
    /// A tree by artifact type, as `oras discover`.
    Tree,
    /// JSON.
    Json,
}

#[derive(Debug, Args)]
pub struct RegistryReferrersArgs {
    /// The image: REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:...
    pub reference: String,
    /// Only referrers of this artifact type.
    #[arg(long = "artifact-type", value_name = "TYPE")]
    pub artifact_type: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = DiscoverFormat::Tree)]
    pub output: DiscoverFormat,
    /// How deep to follow referrers of referrers.
    #[arg(long, default_value_t = 4)]
    pub depth: usize,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Debug, Args)]
pub struct RegistryPurgeArgs {
    /// The registry: `myreg.azurecr.io`, `localhost:5000`.
    #[arg(short = 'r', long)]
    pub registry: String,
    /// REPOSITORY:TAG_REGEX (repeatable). The repository part must match a whole
    /// name; the tag regex matches anywhere in a tag; lookaround works.
    #[arg(
        short = 'f',
        long = "filter",
        value_name = "REPO:REGEX",
        required = true
    )]
    pub filters: Vec<String>,
    /// Only what was last pushed before this long ago: [N]d[go-duration], e.g. 2d3h6m,
    /// 15m, 0m (capped at 150 years).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub ago: String,
    /// Keep the N most recent of the tags (and untagged manifests) that would be deleted.
    #[arg(long, default_value_t = 0)]
    pub keep: usize,
    /// Also delete untagged manifests of the matched repositories.
    #[arg(long)]
    pub untagged: bool,
    /// Print what would be deleted; delete nothing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Deletes at once (1 to 32; 0 or less: the number of CPUs).
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub concurrency: i64,
    #[command(flatten)]
    pub connection: Connection,
}
