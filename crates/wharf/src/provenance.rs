//! `--provenance` for `wharf run` and `wharf build`: the facts of a real run turned
//! into an [`AcbRun`] (docs/provenance-buildtype.md), one signed statement per pushed
//! manifest digest, pushed as a referrer of the image through
//! [`wharf_trust::attest::push`] (the referrers API, or the `sha256-<hex>` fallback).
//!
//! - [`prepare`]: before anything runs, the key and certificate are read and checked
//!   (a file), or their secret id noted (`secret:ID`, looked up in [`Pending::resolve`]
//!   once the task's secrets are resolved).
//! - [`source_of`]: the context's git remote, ref, commit and dirty flag, through the
//!   `git` CLI (`file:<dir>` outside a repository).
//! - [`Facts`]: what the run was given; [`dependencies`]: the images and plugins it
//!   used, by digest; [`pushed`]: what its push steps pushed; [`attest`]: the rest.
//!
//! Every string of a statement is scrubbed of the run's secret values before signing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use wharf_engine::{RunReport, StepStatus};
use wharf_registry::referrers::ReferrersMode;
use wharf_registry::{Client, Digest, ImageRef, Repository};
use wharf_spec::{Action, OutputValue, Task, shell_words};
use wharf_trust::keys::SigningKey;
use wharf_trust::provenance::{
    AcbExternalParameters, AcbRun, BuilderMode, ContextDependency, GitSource, ImageDependency,
    PluginDependency, scrub,
};

use crate::cli::ProvenanceArgs;

/// Key material: a file, or the id of a secret (`secret:ID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Material {
    /// A file, relative to the current directory.
    File(PathBuf),
    /// A secret of the run.
    Secret(String),
}

impl Material {
    /// `secret:ID`, else a path.
    pub fn parse(text: &str) -> Material {
        match text.strip_prefix("secret:") {
            Some(id) => Material::Secret(id.to_string()),
            None => Material::File(PathBuf::from(text)),
        }
    }
}

/// A key or certificate read already, or a secret to read once secrets are resolved.
enum Ready<T> {
    Now(T),
    Secret(String),
}

/// The signer as far as it is known before the task loads.
pub struct Pending {
    key: Ready<SigningKey>,
    cert: Option<Ready<Vec<u8>>>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending(<redacted>)")
    }
}

/// The key attestations are signed with, and its certificate (DER) when given.
pub struct Signer {
    key: SigningKey,
    cert: Option<Vec<u8>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(<redacted>)")
    }
}

fn read_key(text: &str, what: &str) -> Result<SigningKey, String> {
    SigningKey::from_pem(text, what).map_err(|e| format!("--provenance-key: {e}"))
}

fn read_cert(text: &str, what: &str) -> Result<Vec<u8>, String> {
    let chain = wharf_trust::certs::parse_certificates(text.as_bytes(), what)
        .map_err(|e| format!("--provenance-cert: {e}"))?;
    chain
        .into_iter()
        .next()
        .ok_or_else(|| format!("--provenance-cert: {what} holds no certificate"))
}

fn read_file(path: &Path, flag: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("{flag}: cannot read {}: {e}", path.display()))
}

/// Checks the provenance flags before anything runs: `None` without `--provenance`;
/// an error (a usage error, exit 2) when the key is missing or a key or certificate
/// file cannot be read or is not one.
pub fn prepare(args: &ProvenanceArgs) -> Result<Option<Pending>, String> {
    if !args.provenance {
        return Ok(None);
    }
    let Some(key) = &args.key else {
        return Err(
            "--provenance needs --provenance-key FILE|secret:ID: the EC P-256 key (PEM) the attestations are signed with (`wharf cert generate-test NAME` makes one)"
                .into(),
        );
    };
    let key = match Material::parse(key) {
        Material::File(path) => {
            let text = read_file(&path, "--provenance-key")?;
            Ready::Now(read_key(&text, &path.display().to_string())?)
        }
        Material::Secret(id) if id.is_empty() => {
            return Err("--provenance-key secret:ID: the secret id is empty".into());
        }
        Material::Secret(id) => Ready::Secret(id),
    };
    let cert = match args.cert.as_deref().map(Material::parse) {
        None => None,
        Some(Material::File(path)) => {
            let text = read_file(&path, "--provenance-cert")?;
            Some(Ready::Now(read_cert(&text, &path.display().to_string())?))
        }
        Some(Material::Secret(id)) if id.is_empty() => {
            return Err("--provenance-cert secret:ID: the secret id is empty".into());
        }
        Some(Material::Secret(id)) => Some(Ready::Secret(id)),
    };
    Ok(Some(Pending { key, cert }))
}

impl Pending {
    /// Whether the key or certificate is a `secret:ID` (a secret of a local run).
    pub fn names_a_secret(&self) -> bool {
        matches!(self.key, Ready::Secret(_)) || matches!(self.cert, Some(Ready::Secret(_)))
    }

    /// The signer, with `secret:ID` material looked up in the run's secrets (the
    /// task's and those given with --secret/--secret-file). A usage error when a
    /// secret is missing or not a key.
    pub fn resolve(self, secrets: &HashMap<String, String>) -> Result<Signer, String> {
        let lookup = |id: &str, flag: &str| {
            secrets.get(id).ok_or_else(|| {
                format!(
                    "{flag} secret:{id}: the run has no secret {id} (give it with --secret {id}=... or --secret-file, or declare it in the task's secrets)"
                )
            })
        };
        let key = match self.key {
            Ready::Now(key) => key,
            Ready::Secret(id) => read_key(
                lookup(&id, "--provenance-key")?,
                &format!("the provenance key (secret {id})"),
            )?,
        };
        let cert = match self.cert {
            None => None,
            Some(Ready::Now(der)) => Some(der),
            Some(Ready::Secret(id)) => Some(read_cert(
                lookup(&id, "--provenance-cert")?,
                &format!("the provenance certificate (secret {id})"),
            )?),
        };
        // A certificate of another key would make every attestation fail to verify
        // against it: refused before anything runs.
        if let Some(der) = &cert
            && !wharf_trust::certs::is_certificate_of(der, &key)
                .map_err(|e| format!("--provenance-cert: {e}"))?
        {
            return Err(
                "--provenance-cert: the certificate is not --provenance-key's: its public key differs (give the certificate issued for this key)"
                    .into(),
            );
        }
        Ok(Signer { key, cert })
    }
}

/// Where a run's sources came from: `externalParameters.source`, and the git
/// dependency when the context is in a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    /// `git+<remote>@<ref>`, or `file:<dir>`.
    pub source: String,
    /// The commit and dirty flag.
    pub git: Option<GitSource>,
}

/// `user:password@` taken out of a URL (a remote may carry a token).
pub(crate) fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// The git source of `context` through the `git` CLI: the `origin` remote (else
/// `file://<top level>`), `refs/heads/<branch>` (the commit when detached), the
/// commit, and whether `git status` shows changes (untracked files count: a build
/// may copy them). Without `git`, what `.git` says, with the dirty flag unknown.
/// Outside a repository (or before its first commit), `file:<dir>`.
pub fn source_of(context: &Path) -> SourceInfo {
    let dir = std::fs::canonicalize(context).unwrap_or_else(|_| context.to_path_buf());
    let file = SourceInfo {
        source: format!("file:{}", dir.display()),
        git: None,
    };
    let git = |args: &[&str]| -> Result<Option<String>, std::io::Error> {
        let out = Command::new("git")
            .arg("-C")
            .arg(&dir)
            .args(args)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .output()?;
        Ok(out
            .status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_string()))
    };
    let top = match git(&["rev-parse", "--show-toplevel"]) {
        Ok(Some(top)) => top,
        Ok(None) => return file,
        Err(_) => {
            // No git CLI: read .git as the run variables do.
            let repo = crate::git::describe(&dir);
            if repo.commit.is_empty() {
                return file;
            }
            let remote = if repo.remote.is_empty() {
                format!("file://{}", dir.display())
            } else {
                without_userinfo(&repo.remote)
            };
            let reference = if repo.branch.is_empty() {
                repo.commit.clone()
            } else {
                format!("refs/heads/{}", repo.branch)
            };
            let uri = format!("git+{remote}@{reference}");
            return SourceInfo {
                source: uri.clone(),
                git: Some(GitSource {
                    uri,
                    commit: repo.commit,
                    dirty: None,
                }),
            };
        }
    };
    let Ok(Some(commit)) = git(&["rev-parse", "--verify", "-q", "HEAD"]) else {
        return file;
    };
    let reference = git(&["symbolic-ref", "-q", "HEAD"])
        .ok()
        .flatten()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| commit.clone());
    let remote = git(&["remote", "get-url", "origin"])
        .ok()
        .flatten()
        .filter(|r| !r.is_empty())
        .map(|r| without_userinfo(&r))
        .unwrap_or_else(|| format!("file://{top}"));
    let dirty = git(&["status", "--porcelain"])
        .ok()
        .flatten()
        .map(|s| !s.trim().is_empty());
    let uri = format!("git+{remote}@{reference}");
    SourceInfo {
        source: uri.clone(),
        git: Some(GitSource { uri, commit, dirty }),
    }
}

/// What a run was given, known before its steps run.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The parameters, secrets by id only.
    pub external: AcbExternalParameters,
    /// The task file's digest (its bytes as read, or the text a command made).
    pub task_digest: Digest,
    /// Each values file's digest.
    pub values_digests: Vec<Digest>,
    /// The git source.
    pub git: Option<GitSource>,
    /// The rendered task's digest (`None` when ACR renders the task).
    pub rendered_task_digest: Option<Digest>,
    /// The engine's version and API version.
    pub engine: (Option<String>, Option<String>),
    /// The uploaded context (runs on ACR, once it is packed).
    pub context: Option<ContextDependency>,
    /// Which builder ran it.
    pub builder: BuilderMode,
    /// `$ID`.
    pub run_id: String,
    /// When the run started (`.Run.Date`).
    pub started: jiff::Timestamp,
}

/// What [`Facts::gather`] reads.
#[derive(Debug)]
pub struct Given<'a> {
    /// The task flags.
    pub task: &'a crate::cli::TaskArgs,
    /// The provenance flags (overrides of what commands make).
    pub provenance: &'a ProvenanceArgs,
    /// The run variables.
    pub run: &'a wharf_spec::RunInfo,
    /// The rendered task text.
    pub rendered: &'a str,
    /// The run's secret values: an inline task and the rendered task are hashed
    /// with them masked (`***`), so a digest never lets a guess of a secret be
    /// checked.
    pub masker: &'a wharf_engine::Masker,
    /// The ids of every secret the run was given.
    pub secret_ids: Vec<String>,
    /// The engine's version and API version.
    pub engine: (Option<String>, Option<String>),
}

impl Facts {
    /// For a run on ACR's engine at `login_server`: its target and builder, and no
    /// rendered task (ACR renders the task itself, so wharf's render is not what ran).
    pub fn on_acr(mut self, login_server: &str) -> Facts {
        self.external.target = format!("acr://{login_server}");
        self.builder = wharf_trust::provenance::BuilderMode::AcrTasks;
        self.rendered_task_digest = None;
        self
    }

    /// Reads the task and values files (their digests) and the context's source.
    pub fn gather(given: Given<'_>) -> Result<Facts, String> {
        let Given {
            task,
            provenance,
            run,
            rendered,
            masker,
            secret_ids,
            engine,
        } = given;
        let source = source_of(&task.context);
        let (task_file, task_digest) = match &task.inline {
            Some(text) => (
                provenance
                    .task_file
                    .clone()
                    .unwrap_or_else(|| "inline:cmd".into()),
                Digest::sha256(masker.mask(text).as_bytes()),
            ),
            None => {
                let path = task.path();
                let bytes = std::fs::read(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                (relative_to(&path, &task.context), Digest::sha256(&bytes))
            }
        };
        let mut values_digests = Vec::new();
        let mut values_files = Vec::new();
        for file in &task.values {
            let bytes = std::fs::read(file).map_err(|e| format!("cannot read {file}: {e}"))?;
            values_digests.push(Digest::sha256(&bytes));
            values_files.push(relative_to(Path::new(file), &task.context));
        }
        let values: BTreeMap<String, String> = task
            .set
            .iter()
            .filter_map(|s| s.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let secrets: BTreeSet<String> = secret_ids.into_iter().collect();
        let platform = provenance
            .platform
            .clone()
            .unwrap_or_else(|| format!("{}/{}", run.os, run.architecture));
        Ok(Facts {
            external: AcbExternalParameters {
                source: provenance.source.clone().unwrap_or(source.source),
                task_file,
                values_files,
                values,
                secrets: secrets.into_iter().collect(),
                platform,
                registry: run.registry.clone(),
                target: "local".into(),
            },
            task_digest,
            values_digests,
            git: source.git,
            rendered_task_digest: Some(Digest::sha256(masker.mask(rendered).as_bytes())),
            engine,
            context: None,
            builder: BuilderMode::Local,
            run_id: run.id.clone(),
            started: run.date,
        })
    }
}

/// `path` relative to `context` when inside it, else as given.
fn relative_to(path: &Path, context: &Path) -> String {
    let full = std::fs::canonicalize(path).ok();
    let base = std::fs::canonicalize(context).ok();
    if let (Some(full), Some(base)) = (full, base)
        && let Ok(rel) = full.strip_prefix(&base)
    {
        return rel.display().to_string();
    }
    path.to_string_lossy().trim_start_matches("./").to_string()
}

/// One image a push step pushed: its reference pinned to the pushed digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedImage {
    /// `registry/repository@digest` (the tag kept for display).
    pub image: ImageRef,
    /// The manifest digest pushed.
    pub digest: Digest,
}

/// What the run's push steps pushed (only steps that succeeded: a failed push
/// attests nothing), one entry per repository and digest, in step order.
pub fn pushed(task: &Task, report: &RunReport) -> Vec<PushedImage> {
    let mut out: Vec<PushedImage> = Vec::new();
    for result in &report.steps {
        if result.status != StepStatus::Succeeded {
            continue;
        }
        let is_push = task
            .steps
            .iter()
            .any(|s| s.id == result.step && matches!(s.action, Action::Push { .. }));
        if !is_push {
            continue;
        }
        let list = |name: &str| {
            result
                .outputs
                .get(name)
                .map(OutputValue::items)
                .unwrap_or_default()
        };
        let digests = list("digests");
        for (reference, digest) in list("refs").iter().zip(&digests) {
            let (Ok(image), Ok(digest)) = (ImageRef::parse(reference), Digest::parse(digest))
            else {
                continue;
            };
            let entry = PushedImage {
                image: image.with_digest(digest.clone()),
                digest,
            };
            if !out
                .iter()
                .any(|p| p.image.name() == entry.image.name() && p.digest == entry.digest)
            {
                out.push(entry);
            }
        }
    }
    out
}

/// The images a run on ACR reports in `outputImages`, by manifest digest, and
/// warnings for those that cannot be attested (no repository or digest). A
/// descriptor without a registry, or with the registry's bare name
/// (`myreg` for `myreg.azurecr.io`), is in the run's own registry.
pub fn output_images(
    images: &[wharf_acr::model::ImageDescriptor],
    login_server: &str,
) -> (Vec<PushedImage>, Vec<String>) {
    let mut out: Vec<PushedImage> = Vec::new();
    let mut warnings = Vec::new();
    for described in images {
        let registry = match described.registry.as_deref().map(str::trim) {
            None | Some("") => login_server.to_string(),
            Some(r) if login_server.starts_with(&format!("{}.", r.to_ascii_lowercase())) => {
                login_server.to_string()
            }
            Some(r) => r.to_string(),
        };
        let repository = described.repository.as_deref().unwrap_or_default();
        let parsed = described
            .digest
            .as_deref()
            .and_then(|d| Digest::parse(d).ok())
            .and_then(|digest| {
                let image = ImageRef::parse(&format!("{registry}/{repository}")).ok()?;
                Some(PushedImage {
                    image: image.with_digest(digest.clone()),
                    digest,
                })
            });
        match parsed {
            Some(p) if !repository.is_empty() => {
                if !out
                    .iter()
                    .any(|o| o.image.name() == p.image.name() && o.digest == p.digest)
                {
                    out.push(p);
                }
            }
            _ => warnings.push(format!(
                "the output image {described} has no repository or manifest digest: it is not attested"
            )),
        }
    }
    (out, warnings)
}

/// The registry client attestations are pushed with: the user's Docker
/// credentials, the ACR token exchange for `*.azurecr.io`, else anonymous.
pub fn client() -> Result<Client, String> {
    Client::new(wharf_registry::ClientOptions {
        keychain: crate::commands::registry::keychain(),
        ..wharf_registry::ClientOptions::default()
    })
    .map_err(|e| e.to_string())
}

/// The images a run used, by manifest digest, and warnings for those whose digest
/// cannot be known:
///
/// - base images (`FROM` of each build step, as [`crate::deps::of_task`] finds them):
///   the digest their registry gives for the reference right after the run (what
///   BuildKit resolved while building), else the engine's repository digest;
/// - step images (the image of each `cmd` step): the engine's repository digest (the
///   engine runs the copy it has). Images the run built itself are outputs, not
///   dependencies, and are left out.
pub async fn dependencies(
    task: &Task,
    context: &Path,
    client: &Client,
    platform: &str,
) -> (Vec<ImageDependency>, Vec<String>) {
    let built: BTreeSet<String> = task
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::Build { tags, .. } => Some(tags.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    let mut wanted: Vec<(String, &str)> = Vec::new();
    for image in crate::deps::of_task(task, context) {
        for base in image
            .runtime_dependency
            .iter()
            .chain(image.buildtime_dependencies.iter())
        {
            if !wanted.iter().any(|(r, _)| *r == base.reference) {
                wanted.push((base.reference.clone(), "base"));
            }
        }
    }
    for step in &task.steps {
        let Action::Cmd { cmd, .. } = &step.action else {
            continue;
        };
        let Some(image) = shell_words::split(cmd, None)
            .ok()
            .and_then(|w| w.into_iter().next())
        else {
            continue;
        };
        if image.contains("$(") || built.contains(&image) {
            continue;
        }
        if !wanted
            .iter()
            .any(|(r, role)| *r == image && *role == "step")
        {
            wanted.push((image, "step"));
        }
    }
    let mut images = Vec::new();
    let mut warnings = Vec::new();
    for (reference, role) in wanted {
        let from_registry = || async {
            let image = ImageRef::parse(&reference).ok()?;
            client.resolve(&image).await.ok()?.map(|d| d.digest)
        };
        let from_engine = || async {
            wharf_docker::manifest_digest(&reference)
                .await
                .and_then(|d| Digest::parse(&d).ok())
        };
        let digest = if role == "base" {
            match from_registry().await {
                Some(d) => Some(d),
                None => from_engine().await,
            }
        } else {
            from_engine().await
        };
        match digest {
            Some(digest) => images.push(ImageDependency {
                reference,
                digest,
                role: role.into(),
                platform: platform.into(),
            }),
            None => warnings.push(format!(
                "the {role} image {reference} has no registry digest (built or loaded on this engine, or its registry did not answer): the provenance does not name it"
            )),
        }
    }
    (images, warnings)
}

/// One pushed attestation, for the run's output.
#[derive(Debug, Clone)]
pub struct AttestedLine {
    /// `registry/repository@digest`.
    pub subject: String,
    /// The attestation manifest's digest.
    pub attestation: Digest,
    /// Through the referrers API (else the `sha256-<hex>` tag index).
    pub api: bool,
}

impl std::fmt::Display for AttestedLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "provenance: {} -> attestation {} ({})",
            self.subject,
            self.attestation,
            if self.api {
                "referrers API"
            } else {
                "sha256-<hex> tag index"
            }
        )
    }
}

/// Everything [`attest`] needs besides the registry client.
#[derive(Debug)]
pub struct Attest<'a> {
    /// What the run was given.
    pub facts: Facts,
    /// The images it used.
    pub images: Vec<ImageDependency>,
    /// The plugins it loaded.
    pub plugins: Vec<PluginDependency>,
    /// What it pushed.
    pub pushed: Vec<PushedImage>,
    /// Every secret value of the run (scrubbed from each statement).
    pub secrets: &'a [String],
    /// The signer.
    pub signer: &'a Signer,
    /// When the run finished.
    pub finished: jiff::Timestamp,
}

/// Signs and pushes one attestation per pushed image; the lines to print, or the
/// first failure (after trying every image).
pub async fn attest(client: &Client, a: Attest<'_>) -> (Vec<AttestedLine>, Vec<String>) {
    let run = AcbRun {
        external: a.facts.external,
        task_digest: a.facts.task_digest,
        values_digests: a.facts.values_digests,
        git: a.facts.git,
        images: a.images,
        plugins: a.plugins,
        context: a.facts.context,
        rendered_task_digest: a.facts.rendered_task_digest,
        wharf_version: env!("CARGO_PKG_VERSION").into(),
        engine_version: a.facts.engine.0,
        engine_api_version: a.facts.engine.1,
        run_id: a.facts.run_id,
        builder: a.facts.builder,
        started: a.facts.started,
        finished: a.finished,
    };
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    for pushed in &a.pushed {
        let name = pushed.image.name();
        let subject = format!("{name}@{}", pushed.digest);
        let descriptor = match client.resolve(&pushed.image).await {
            Ok(Some(d)) => d,
            Ok(None) => {
                errors.push(format!(
                    "cannot attest {subject}: the registry no longer has it"
                ));
                continue;
            }
            Err(e) => {
                errors.push(format!("cannot attest {subject}: {e}"));
                continue;
            }
        };
        let mut statement = run.statement(&name, &pushed.digest);
        scrub(&mut statement, a.secrets);
        match wharf_trust::attest::push(
            client,
            &Repository::of(&pushed.image),
            &descriptor,
            &statement,
            &a.signer.key,
            a.signer.cert.as_deref(),
            ReferrersMode::Auto,
        )
        .await
        {
            Ok(attested) => lines.push(AttestedLine {
                subject,
                attestation: attested.digest,
                api: attested.api,
            }),
            Err(e) => errors.push(format!("cannot attest {subject}: {e}")),
        }
    }
    (lines, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_images_are_pinned_in_the_run_s_registry() {
        use wharf_acr::model::ImageDescriptor;
        let d = Digest::sha256(b"image");
        let image = |registry: Option<&str>, digest: Option<String>| ImageDescriptor {
            registry: registry.map(str::to_string),
            repository: Some("team/app".into()),
            tag: Some("v1".into()),
            digest,
        };
        let (pushed, warnings) = output_images(
            &[
                image(Some("myreg"), Some(d.to_string())),
                image(None, Some(d.to_string())),
                image(Some("127.0.0.1:5000"), Some(d.to_string())),
                image(Some("myreg.azurecr.io"), None),
            ],
            "myreg.azurecr.io",
        );
        let names: Vec<String> = pushed.iter().map(|p| p.image.name()).collect();
        assert_eq!(
            names,
            ["myreg.azurecr.io/team/app", "127.0.0.1:5000/team/app"]
        );
        assert!(pushed.iter().all(|p| p.digest == d));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("no repository or manifest digest"));
    }

    #[test]
    fn key_material_is_a_file_or_a_secret() {
        assert_eq!(
            Material::parse("secret:signing"),
            Material::Secret("signing".into())
        );
        assert_eq!(
            Material::parse("keys/k.pem"),
            Material::File("keys/k.pem".into())
        );
    }

    #[test]
    fn remotes_lose_their_credentials() {
        assert_eq!(
            without_userinfo("https://user:tok3n@github.com/org/r.git"),
            "https://github.com/org/r.git"
        );
        assert_eq!(
            without_userinfo("git@github.com:org/r.git"),
            "git@github.com:org/r.git"
        );
        assert_eq!(
            without_userinfo("https://github.com/a@b/r"),
            "https://github.com/a@b/r"
        );
    }

    #[test]
    fn an_inline_task_and_the_rendered_task_are_hashed_without_secret_values() {
        // `wharf build --secret-build-arg` writes the value into its inline task, and
        // a task's `{{.Secrets.…}}` renders it: a digest of either with the value in
        // it would confirm a guess of the secret.
        let text = "steps:\n  - build: -t app:1 --build-arg TOKEN=hunter2 .\n";
        let masked = "steps:\n  - build: -t app:1 --build-arg TOKEN=*** .\n";
        let task = crate::cli::TaskArgs {
            inline: Some(text.into()),
            ..crate::cli::TaskArgs::empty()
        };
        let masker = wharf_engine::Masker::new(["hunter2"]);
        let facts = Facts::gather(Given {
            task: &task,
            provenance: &ProvenanceArgs::default(),
            run: &wharf_spec::RunInfo::default(),
            rendered: text,
            masker: &masker,
            secret_ids: vec!["build_arg_0".into()],
            engine: (None, None),
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(facts.task_digest, Digest::sha256(masked.as_bytes()));
        assert_eq!(
            facts.rendered_task_digest,
            Some(Digest::sha256(masked.as_bytes()))
        );
        assert_ne!(facts.task_digest, Digest::sha256(text.as_bytes()));
    }

    #[test]
    fn provenance_without_a_key_is_refused() {
        let args = ProvenanceArgs {
            provenance: true,
            ..ProvenanceArgs::default()
        };
        let err = prepare(&args).err().unwrap_or_default();
        assert!(err.contains("--provenance needs --provenance-key"), "{err}");
        assert!(prepare(&ProvenanceArgs::default()).ok().flatten().is_none());
    }

    #[test]
    fn a_secret_key_must_be_a_secret_of_the_run() -> Result<(), String> {
        let args = ProvenanceArgs {
            provenance: true,
            key: Some("secret:signing".into()),
            ..ProvenanceArgs::default()
        };
        let pending = prepare(&args)?.ok_or("pending")?;
        let err = pending.resolve(&HashMap::new()).err().unwrap_or_default();
        assert!(err.contains("the run has no secret signing"), "{err}");
        let made = wharf_trust::certs::generate_test("p", 1, jiff::Timestamp::now())
            .map_err(|e| e.to_string())?;
        let pending = prepare(&args)?.ok_or("pending")?;
        let secrets = HashMap::from([("signing".to_string(), made.key_pem.clone())]);
        pending.resolve(&secrets)?;
        let pending = prepare(&args)?.ok_or("pending")?;
        let secrets = HashMap::from([("signing".to_string(), "not a key".to_string())]);
        let err = pending.resolve(&secrets).err().unwrap_or_default();
        assert!(
            err.contains("secret signing") && !err.contains("not a key"),
            "{err}"
        );
        Ok(())
    }

    #[test]
    fn a_certificate_of_another_key_is_refused() -> Result<(), String> {
        let now = jiff::Timestamp::now();
        let mine = wharf_trust::certs::generate_test("mine", 1, now).map_err(|e| e.to_string())?;
        let other =
            wharf_trust::certs::generate_test("other", 1, now).map_err(|e| e.to_string())?;
        let args = ProvenanceArgs {
            provenance: true,
            key: Some("secret:key".into()),
            cert: Some("secret:cert".into()),
            ..ProvenanceArgs::default()
        };
        let given = |cert: &str| {
            HashMap::from([
                ("key".to_string(), mine.key_pem.clone()),
                ("cert".to_string(), cert.to_string()),
            ])
        };
        let pending = prepare(&args)?.ok_or("pending")?;
        let err = pending
            .resolve(&given(&other.cert_pem))
            .err()
            .unwrap_or_default();
        assert!(
            err.contains("the certificate is not --provenance-key's"),
            "{err}"
        );
        let pending = prepare(&args)?.ok_or("pending")?;
        pending.resolve(&given(&mine.cert_pem))?;
        Ok(())
    }
}
