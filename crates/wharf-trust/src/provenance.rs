//! SLSA v1 provenance as in-toto Statements v1, and the acb pipeline buildType
//! (`docs/provenance-buildtype.md`).
//!
//! - [`Statement`], [`ResourceDescriptor`]: in-toto `spec/v1` (`statement.md`,
//!   `resource_descriptor.md`); subjects are matched by digest only.
//! - [`Provenance`]: the SLSA Provenance v1 predicate (`build-provenance.md`); unknown
//!   fields are ignored when reading, as the spec requires of consumers.
//! - [`AcbRun`] → [`AcbRun::statement`]: what a wharf run records, one Statement per
//!   pushed manifest digest, with [`BUILD_TYPE`]. Times and the run id are inputs, so
//!   a statement is reproducible (golden tests inject them).
//! - [`Policy`]: what `wharf verify-attestation` checks in a verified statement.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use wharf_registry::Digest;

use crate::Error;

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// The SLSA Provenance v1 predicate type (all v1.x minor versions).
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// The SLSA Provenance v0.2 predicate type (cosign's `slsaprovenance`).
pub const SLSA_PROVENANCE_V02: &str = "https://slsa.dev/provenance/v0.2";
/// The buildType of acb pipelines run by wharf (`docs/provenance-buildtype.md`).
pub const BUILD_TYPE: &str = "https://wharf.dev/acb-pipeline/v1";

/// A predicate type by cosign's `--type` names (`options/predicate.go`), or a URI.
pub fn predicate_type(name: &str) -> Result<&str, Error> {
    Ok(match name {
        "slsaprovenance1" => SLSA_PROVENANCE_V1,
        "slsaprovenance" | "slsaprovenance02" => SLSA_PROVENANCE_V02,
        "slsaprovenance1.0" => SLSA_PROVENANCE_V1,
        uri if uri.contains("://") => uri,
        other => {
            return Err(Error::Input(format!(
                "--type {other:?}: use slsaprovenance1 (SLSA v1), slsaprovenance02 (v0.2) or a predicate type URI"
            )));
        }
    })
}

/// The mode a run was built in; each has its own `builder.id` (SLSA: modes with
/// different security attributes MUST differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuilderMode {
    /// `wharf run` on this machine's Docker engine (SLSA Build L1).
    Local,
    /// `wharf run --on acr://` / `wharf build --on acr://`: ACR's own task engine
    /// built and pushed; wharf sent the task and context and read the result.
    AcrTasks,
}

impl BuilderMode {
    /// The `builder.id`.
    pub fn id(self) -> &'static str {
        match self {
            BuilderMode::Local => "https://wharf.dev/builders/local",
            BuilderMode::AcrTasks => "https://wharf.dev/builders/acr-tasks",
        }
    }
}

/// An in-toto ResourceDescriptor. At least one of `uri`, `digest`, `content`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDescriptor {
    /// A producer-defined name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the resource is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Algorithm → lowercase hex (`sha256`, `gitCommit`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
    /// The content itself, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Where to download it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_location: Option<String>,
    /// Its media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Anything else.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, Value>,
}

impl ResourceDescriptor {
    fn named(name: &str, uri: Option<String>, digest: &Digest) -> ResourceDescriptor {
        ResourceDescriptor {
            name: Some(name.to_string()),
            uri,
            digest: digest_set(digest),
            ..ResourceDescriptor::default()
        }
    }
}

/// `{"sha256": "<hex>"}` of a digest.
pub fn digest_set(digest: &Digest) -> BTreeMap<String, String> {
    BTreeMap::from([(
        digest.algorithm().name().to_string(),
        digest.hex().to_string(),
    )])
}

/// An in-toto Statement v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    /// [`STATEMENT_V1`].
    #[serde(rename = "_type")]
    pub type_: String,
    /// What the statement is about.
    pub subject: Vec<ResourceDescriptor>,
    /// What the predicate is.
    pub predicate_type: String,
    /// The predicate.
    pub predicate: Value,
}

impl Statement {
    /// Parses a statement and checks what in-toto's validator checks: `_type`, at
    /// least one subject, every subject with a digest, a predicate type.
    pub fn parse(bytes: &[u8]) -> Result<Statement, Error> {
        let statement: Statement = serde_json::from_slice(bytes).map_err(|e| {
            Error::Invalid(format!("the attestation is not an in-toto Statement: {e}"))
        })?;
        if statement.type_ != STATEMENT_V1 {
            return Err(Error::Invalid(format!(
                "the statement's _type is {:?}, not {STATEMENT_V1}",
                statement.type_
            )));
        }
        if statement.subject.is_empty() {
            return Err(Error::Invalid("the statement has no subject".into()));
        }
        if statement.subject.iter().any(|s| s.digest.is_empty()) {
            return Err(Error::Invalid(
                "a subject of the statement has no digest".into(),
            ));
        }
        if statement.predicate_type.is_empty() {
            return Err(Error::Invalid("the statement has no predicateType".into()));
        }
        Ok(statement)
    }

    /// Whether some subject has exactly `digest`.
    pub fn covers(&self, digest: &Digest) -> bool {
        self.subject.iter().any(|s| {
            s.digest.get(digest.algorithm().name()).map(String::as_str) == Some(digest.hex())
        })
    }

    /// The predicate as SLSA v1 provenance.
    pub fn provenance(&self) -> Result<Provenance, Error> {
        serde_json::from_value(self.predicate.clone())
            .map_err(|e| Error::Invalid(format!("the predicate is not SLSA v1 provenance: {e}")))
    }

    /// The serialized statement (the DSSE payload).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The SLSA Provenance v1 predicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    /// The inputs.
    pub build_definition: BuildDefinition,
    /// The run.
    pub run_details: RunDetails,
}

/// `buildDefinition`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition {
    /// How to read the parameters.
    pub build_type: String,
    /// Parameters under the user's control.
    pub external_parameters: Value,
    /// Parameters the platform set.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub internal_parameters: Value,
    /// Artifacts fetched during the build.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

/// `runDetails`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunDetails {
    /// Who built.
    pub builder: Builder,
    /// The invocation.
    #[serde(default)]
    pub metadata: Metadata,
    /// Other artifacts the run made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub byproducts: Vec<ResourceDescriptor>,
}

/// `runDetails.builder`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Builder {
    /// The builder's identity.
    pub id: String,
    /// Component versions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub version: BTreeMap<String, String>,
    /// The builder's own dependencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builder_dependencies: Vec<ResourceDescriptor>,
}

/// `runDetails.metadata`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// The run id (BuildKit's documents spell it `invocationID`).
    #[serde(
        default,
        alias = "invocationID",
        skip_serializing_if = "Option::is_none"
    )]
    pub invocation_id: Option<String>,
    /// When the run started, `YYYY-MM-DDThh:mm:ssZ`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_on: Option<String>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_on: Option<String>,
}

/// The acb buildType's `externalParameters` (every field documented in
/// `docs/provenance-buildtype.md`). Unknown fields are refused when verifying, as SLSA
/// advises verifiers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AcbExternalParameters {
    /// `git+<remote>@refs/heads/<branch>` (or `@<commit>` when detached), or
    /// `file:<dir>` outside a git repository.
    pub source: String,
    /// The task file, relative to the context (`acb.yaml`), or `inline:cmd` /
    /// `inline:build` for `wharf run --cmd` and `wharf build`.
    pub task_file: String,
    /// The values files, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_files: Vec<String>,
    /// `--set` values, name → value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, String>,
    /// The ids of the secrets the run was given (never their values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// `os/arch` the run built for.
    pub platform: String,
    /// `$Registry`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub registry: String,
    /// `local`, or `acr://<login server>`.
    pub target: String,
}

/// An image a run used: a `FROM`/build base or a step image, by manifest digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageDependency {
    /// As written, resolved (`localhost:5000/base:1`).
    pub reference: String,
    /// The manifest digest it resolved to.
    pub digest: Digest,
    /// `base` (a Dockerfile `FROM`) or `step` (a cmd step's image).
    pub role: String,
    /// `os/arch`.
    pub platform: String,
}

/// A plugin a run loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginDependency {
    /// Where it came from (`oci://...` or a path).
    pub uri: String,
    /// The component's digest.
    pub digest: Digest,
}

/// The git source of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSource {
    /// `git+<remote>@<ref>`.
    pub uri: String,
    /// The commit.
    pub commit: String,
    /// Uncommitted changes; `None` when unknown.
    pub dirty: Option<bool>,
}

/// The context uploaded for a run on ACR: the packed `.tar.gz` by digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextDependency {
    /// sha256 of the archive as uploaded.
    pub digest: Digest,
    /// The `sourceLocation` ACR was given (the upload's relative path).
    pub source_location: Option<String>,
}

/// Everything the acb buildType records of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct AcbRun {
    /// The parameters.
    pub external: AcbExternalParameters,
    /// The task file's digest (before rendering).
    pub task_digest: Digest,
    /// Each values file's digest, in [`AcbExternalParameters::values_files`] order.
    pub values_digests: Vec<Digest>,
    /// The git source, when the context is in a repository.
    pub git: Option<GitSource>,
    /// Images used.
    pub images: Vec<ImageDependency>,
    /// Plugins loaded.
    pub plugins: Vec<PluginDependency>,
    /// The uploaded context (runs on ACR).
    pub context: Option<ContextDependency>,
    /// The rendered task's digest (templates and aliases applied), when wharf
    /// rendered what ran (not on ACR, which renders the task itself).
    pub rendered_task_digest: Option<Digest>,
    /// wharf's version.
    pub wharf_version: String,
    /// The engine's version (`docker version`'s server), when known.
    pub engine_version: Option<String>,
    /// The engine's API version, when known.
    pub engine_api_version: Option<String>,
    /// `$ID`.
    pub run_id: String,
    /// The mode.
    pub builder: BuilderMode,
    /// When the run started.
    pub started: jiff::Timestamp,
    /// When it finished (the push of the subject).
    pub finished: jiff::Timestamp,
}

/// `YYYY-MM-DDThh:mm:ssZ`.
pub fn seconds(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `pkg:docker/<repo>@<tag>?platform=<os>%2F<arch>` (BuildKit's purl form) of an
/// image reference.
pub fn image_purl(reference: &str, platform: &str) -> String {
    let (name, tag) = match wharf_registry::ImageRef::parse(reference) {
        Ok(r) => (
            format!("{}/{}", r.registry, r.repository),
            r.tag.unwrap_or_else(|| "latest".into()),
        ),
        Err(_) => (reference.to_string(), "latest".into()),
    };
    let platform = platform.replace('/', "%2F");
    format!("pkg:docker/{name}@{tag}?platform={platform}")
}

impl AcbRun {
    /// The statement for the pushed manifest `digest` of `name` (the repository
    /// without tag: `registry/repository`).
    pub fn statement(&self, name: &str, digest: &Digest) -> Statement {
        let source = &self.external.source;
        let mut deps = vec![ResourceDescriptor::named(
            "task",
            Some(format!("{source}#{}", self.external.task_file)),
            &self.task_digest,
        )];
        for (file, digest) in self.external.values_files.iter().zip(&self.values_digests) {
            deps.push(ResourceDescriptor::named(
                "values",
                Some(format!("{source}#{file}")),
                digest,
            ));
        }
        if let Some(git) = &self.git {
            let mut annotations = BTreeMap::new();
            if let Some(dirty) = git.dirty {
                annotations.insert("dirty".to_string(), Value::Bool(dirty));
            }
            deps.push(ResourceDescriptor {
                name: Some("source".into()),
                uri: Some(git.uri.clone()),
                digest: BTreeMap::from([("gitCommit".to_string(), git.commit.clone())]),
                annotations,
                ..ResourceDescriptor::default()
            });
        }
        for image in &self.images {
            deps.push(ResourceDescriptor {
                name: Some(image.reference.clone()),
                uri: Some(image_purl(&image.reference, &image.platform)),
                digest: digest_set(&image.digest),
                annotations: BTreeMap::from([(
                    "role".to_string(),
                    Value::String(image.role.clone()),
                )]),
                ..ResourceDescriptor::default()
            });
        }
        if let Some(context) = &self.context {
            let mut annotations = BTreeMap::new();
            if let Some(location) = &context.source_location {
                annotations.insert(
                    "sourceLocation".to_string(),
                    Value::String(location.clone()),
                );
            }
            deps.push(ResourceDescriptor {
                name: Some("context".into()),
                digest: digest_set(&context.digest),
                media_type: Some("application/gzip".into()),
                annotations,
                ..ResourceDescriptor::default()
            });
        }
        for plugin in &self.plugins {
            deps.push(ResourceDescriptor {
                name: Some("plugin".into()),
                uri: Some(plugin.uri.clone()),
                digest: digest_set(&plugin.digest),
                media_type: Some("application/wasm".into()),
                ..ResourceDescriptor::default()
            });
        }
        let mut internal = serde_json::Map::new();
        internal.insert("wharfVersion".into(), self.wharf_version.clone().into());
        if let Some(v) = &self.engine_version {
            internal.insert("engineVersion".into(), v.clone().into());
        }
        if let Some(v) = &self.engine_api_version {
            internal.insert("engineApiVersion".into(), v.clone().into());
        }
        internal.insert("runId".into(), self.run_id.clone().into());
        let provenance = Provenance {
            build_definition: BuildDefinition {
                build_type: BUILD_TYPE.into(),
                external_parameters: serde_json::to_value(&self.external).unwrap_or_default(),
                internal_parameters: Value::Object(internal),
                resolved_dependencies: deps,
            },
            run_details: RunDetails {
                builder: Builder {
                    id: self.builder.id().into(),
                    version: BTreeMap::from([("wharf".to_string(), self.wharf_version.clone())]),
                    builder_dependencies: Vec::new(),
                },
                metadata: Metadata {
                    invocation_id: Some(self.run_id.clone()),
                    started_on: Some(seconds(self.started)),
                    finished_on: Some(seconds(self.finished)),
                },
                byproducts: self
                    .rendered_task_digest
                    .iter()
                    .map(|d| ResourceDescriptor {
                        name: Some("rendered-task".into()),
                        digest: digest_set(d),
                        media_type: Some("application/yaml".into()),
                        ..ResourceDescriptor::default()
                    })
                    .collect(),
            },
        };
        Statement {
            type_: STATEMENT_V1.into(),
            subject: vec![ResourceDescriptor {
                name: Some(name.to_string()),
                digest: digest_set(digest),
                ..ResourceDescriptor::default()
            }],
            predicate_type: SLSA_PROVENANCE_V1.into(),
            predicate: serde_json::to_value(&provenance).unwrap_or_default(),
        }
    }
}

/// Replaces every occurrence of each secret in the statement's strings with `***`
/// and reports whether any was found (a secret never reaches a statement, whatever
/// a task put in a value or a file name).
pub fn scrub(statement: &mut Statement, secrets: &[String]) -> bool {
    fn walk(value: &mut Value, secrets: &[&String]) -> bool {
        match value {
            Value::String(s) => {
                let mut found = false;
                for secret in secrets {
                    if s.contains(secret.as_str()) {
                        *s = s.replace(secret.as_str(), "***");
                        found = true;
                    }
                }
                found
            }
            Value::Array(items) => items.iter_mut().fold(false, |f, v| walk(v, secrets) | f),
            Value::Object(map) => {
                let mut found = false;
                let keys: Vec<String> = map.keys().cloned().collect();
                for key in keys {
                    let mut value = map.remove(&key).unwrap_or_default();
                    found |= walk(&mut value, secrets);
                    let mut new_key = key;
                    for secret in secrets {
                        if new_key.contains(secret.as_str()) {
                            new_key = new_key.replace(secret.as_str(), "***");
                            found = true;
                        }
                    }
                    map.insert(new_key, value);
                }
                found
            }
            _ => false,
        }
    }
    let secrets: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    if secrets.is_empty() {
        return false;
    }
    let mut value = serde_json::to_value(&*statement).unwrap_or_default();
    let found = walk(&mut value, &secrets);
    if found && let Ok(s) = serde_json::from_value(value) {
        *statement = s;
    }
    found
}

/// What `wharf verify-attestation` requires of a verified statement, beyond its
/// subject and signature.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// The predicate type ([`SLSA_PROVENANCE_V1`] by default).
    pub predicate_type: String,
    /// `runDetails.builder.id` must be this.
    pub builder: Option<String>,
    /// `externalParameters.source` must be this (or the git source's URI).
    pub source: Option<String>,
}

impl Policy {
    /// Checks `statement` (already parsed and covering the subject).
    pub fn check(&self, statement: &Statement) -> Result<(), Error> {
        if statement.predicate_type != self.predicate_type {
            return Err(Error::Mismatch(format!(
                "the predicate type is {}, not {}",
                statement.predicate_type, self.predicate_type
            )));
        }
        if self.predicate_type != SLSA_PROVENANCE_V1 {
            return Ok(());
        }
        let provenance = statement.provenance()?;
        let definition = &provenance.build_definition;
        let mut source = None;
        if definition.build_type == BUILD_TYPE {
            let external: AcbExternalParameters =
                serde_json::from_value(definition.external_parameters.clone()).map_err(|e| {
                    Error::Invalid(format!(
                        "externalParameters do not follow {BUILD_TYPE}: {e}"
                    ))
                })?;
            source = Some(external.source);
        }
        if let Some(builder) = &self.builder
            && provenance.run_details.builder.id != *builder
        {
            return Err(Error::Mismatch(format!(
                "the builder is {}, not {builder}",
                provenance.run_details.builder.id
            )));
        }
        if let Some(want) = &self.source {
            let source = source.or_else(|| {
                definition.external_parameters["source"]
                    .as_str()
                    .map(str::to_string)
            });
            match source {
                Some(s) if s == *want => {}
                Some(s) => {
                    return Err(Error::Mismatch(format!("the source is {s}, not {want}")));
                }
                None => {
                    return Err(Error::Mismatch(format!(
                        "the provenance names no source (wanted {want})"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// A fixed run and statement, for tests (here and in other crates).
#[doc(hidden)]
pub mod tests_support {
    use super::*;

    /// The run of the golden statement: fixed times, run id and digests.
    pub fn fixture_run() -> AcbRun {
        let d = |s: &str| Digest::sha256(s.as_bytes());
        AcbRun {
            external: AcbExternalParameters {
                source: "git+https://github.com/contoso/web@refs/heads/main".into(),
                task_file: "acb.yaml".into(),
                values_files: vec!["values.yaml".into()],
                values: BTreeMap::from([("tag".to_string(), "v1".to_string())]),
                secrets: vec!["token".into()],
                platform: "linux/amd64".into(),
                registry: "localhost:5000".into(),
                target: "local".into(),
            },
            task_digest: d("task"),
            values_digests: vec![d("values")],
            git: Some(GitSource {
                uri: "git+https://github.com/contoso/web@refs/heads/main".into(),
                commit: "7fd1a60b01f91b314f59955a4e4d4e80d8edf11d".into(),
                dirty: Some(false),
            }),
            images: vec![ImageDependency {
                reference: "localhost:5000/base:1".into(),
                digest: d("base"),
                role: "base".into(),
                platform: "linux/amd64".into(),
            }],
            plugins: vec![PluginDependency {
                uri: "oci://localhost:5000/plugins/scan@sha256:00".into(),
                digest: d("plugin"),
            }],
            context: None,
            rendered_task_digest: Some(d("rendered")),
            wharf_version: "0.1.0".into(),
            engine_version: Some("20.10.24".into()),
            engine_api_version: Some("1.41".into()),
            run_id: "cb1".into(),
            builder: BuilderMode::Local,
            started: "2026-01-02T03:04:05.678Z".parse().unwrap_or_default(),
            finished: "2026-01-02T03:05:06Z".parse().unwrap_or_default(),
        }
    }

    /// The statement of [`fixture_run`] for `sha256("image")`.
    pub fn statement() -> Statement {
        fixture_run().statement("localhost:5000/web", &Digest::sha256(b"image"))
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::fixture_run;
    use super::*;

    #[test]
    fn the_golden_statement() {
        let run = fixture_run();
        let subject = Digest::sha256(b"image");
        let statement = run.statement("localhost:5000/web", &subject);
        let text = serde_json::to_string_pretty(&statement).unwrap_or_default();
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/golden/acb-statement.json"
        );
        if std::env::var_os("WHARF_UPDATE_GOLDEN").is_some() {
            std::fs::write(path, format!("{text}\n")).unwrap_or_else(|e| panic!("{e}"));
        }
        let golden = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(text.trim(), golden.trim(), "\n{text}");
        // It reads back, covers its subject and passes the default policy.
        let back = Statement::parse(&statement.to_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert!(back.covers(&subject));
        assert!(!back.covers(&Digest::sha256(b"other")));
        let policy = Policy {
            predicate_type: SLSA_PROVENANCE_V1.into(),
            builder: Some(BuilderMode::Local.id().into()),
            source: Some("git+https://github.com/contoso/web@refs/heads/main".into()),
        };
        policy.check(&back).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn a_run_on_acr_names_its_builder_target_and_uploaded_context() {
        let mut run = fixture_run();
        run.builder = BuilderMode::AcrTasks;
        run.external.target = "acr://myreg.azurecr.io".into();
        run.images.clear();
        run.plugins.clear();
        run.engine_version = None;
        run.engine_api_version = None;
        run.rendered_task_digest = None;
        let context = Digest::sha256(b"context.tar.gz");
        run.context = Some(ContextDependency {
            digest: context.clone(),
            source_location: Some("source/202612020000/ab.tar.gz".into()),
        });
        let statement = run.statement("myreg.azurecr.io/web", &Digest::sha256(b"i"));
        let back = Statement::parse(&statement.to_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let provenance = back.provenance().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            provenance.run_details.builder.id,
            "https://wharf.dev/builders/acr-tasks"
        );
        assert!(provenance.run_details.byproducts.is_empty());
        let dep = provenance
            .build_definition
            .resolved_dependencies
            .iter()
            .find(|d| d.name.as_deref() == Some("context"))
            .unwrap_or_else(|| panic!("no context: {:?}", back.predicate));
        assert_eq!(dep.digest, digest_set(&context));
        assert_eq!(
            dep.annotations.get("sourceLocation"),
            Some(&Value::String("source/202612020000/ab.tar.gz".into()))
        );
        let policy = Policy {
            predicate_type: SLSA_PROVENANCE_V1.into(),
            builder: Some(BuilderMode::AcrTasks.id().into()),
            source: None,
        };
        policy.check(&back).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            Policy {
                builder: Some(BuilderMode::Local.id().into()),
                ..policy
            }
            .check(&back)
            .is_err()
        );
    }

    #[test]
    fn the_policy_refuses_what_differs() {
        let run = fixture_run();
        let statement = run.statement("r/web", &Digest::sha256(b"image"));
        let base = Policy {
            predicate_type: SLSA_PROVENANCE_V1.into(),
            ..Policy::default()
        };
        base.check(&statement).unwrap_or_else(|e| panic!("{e}"));
        let wrong_builder = Policy {
            builder: Some("https://example.com/other".into()),
            ..base.clone()
        };
        let err = wrong_builder.check(&statement).err().map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("the builder is"));
        let wrong_source = Policy {
            source: Some("git+https://github.com/evil/web@refs/heads/main".into()),
            ..base.clone()
        };
        let err = wrong_source.check(&statement).err().map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("the source is"));
        let v02 = Policy {
            predicate_type: SLSA_PROVENANCE_V02.into(),
            ..base.clone()
        };
        assert!(matches!(v02.check(&statement), Err(Error::Mismatch(_))));
        // An unknown external parameter is refused (SLSA: verifiers SHOULD).
        let mut extra = statement.clone();
        extra.predicate["buildDefinition"]["externalParameters"]["surprise"] = "x".into();
        assert!(matches!(base.check(&extra), Err(Error::Invalid(_))));
    }

    #[test]
    fn statements_are_validated_as_in_toto_does() {
        let good = fixture_run().statement("r/web", &Digest::sha256(b"i"));
        let mut value = serde_json::to_value(&good).unwrap_or_default();
        value["_type"] = "https://in-toto.io/Statement/v0.1".into();
        assert!(Statement::parse(value.to_string().as_bytes()).is_err());
        let mut value = serde_json::to_value(&good).unwrap_or_default();
        value["subject"] = serde_json::json!([]);
        assert!(Statement::parse(value.to_string().as_bytes()).is_err());
        let mut value = serde_json::to_value(&good).unwrap_or_default();
        value["subject"] = serde_json::json!([{"name": "x"}]);
        assert!(Statement::parse(value.to_string().as_bytes()).is_err());
        assert!(Statement::parse(b"[]").is_err());
    }

    #[test]
    fn secrets_are_scrubbed_everywhere() {
        let mut run = fixture_run();
        run.external
            .values
            .insert("password".into(), "hunter2-long".into());
        let mut statement = run.statement("r/web", &Digest::sha256(b"i"));
        assert!(scrub(&mut statement, &["hunter2-long".into()]));
        let text = String::from_utf8_lossy(&statement.to_bytes()).to_string();
        assert!(
            !text.contains("hunter2-long") && text.contains("***"),
            "{text}"
        );
        assert!(!scrub(&mut statement, &["absent".into(), String::new()]));
    }

    #[test]
    fn predicate_type_names_are_cosigns() {
        assert_eq!(
            predicate_type("slsaprovenance1").ok(),
            Some(SLSA_PROVENANCE_V1)
        );
        assert_eq!(
            predicate_type("slsaprovenance").ok(),
            Some(SLSA_PROVENANCE_V02)
        );
        assert_eq!(
            predicate_type("https://example.com/p").ok(),
            Some("https://example.com/p")
        );
        assert!(matches!(predicate_type("slsa"), Err(Error::Input(_))));
        assert_eq!(
            image_purl("localhost:5000/team/base:1", "linux/amd64"),
            "pkg:docker/localhost:5000/team/base@1?platform=linux%2Famd64"
        );
    }
}
