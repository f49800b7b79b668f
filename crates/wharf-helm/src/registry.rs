//! `helm push` and `helm pull` through wharf's registry client: the chart archive
//! as the OCI artifact [`crate::oci`] describes, its blobs uploaded (or found
//! already there) and the manifest tagged with the chart version.
//!
//! The only network this crate does, and only through [`wharf_registry::Client`]
//! (its keychain, retries and token cache).

use bytes::Bytes;
use wharf_registry::manifest::{Descriptor, Manifest};
use wharf_registry::{Client, Digest, ImageRef, Repository};

use crate::error::ChartError;
use crate::load::load_archive_bytes;
use crate::metadata::Metadata;
use crate::oci::{
    self, CHART_LAYER_MEDIA_TYPE, CONFIG_MEDIA_TYPE, ChartPush, LEGACY_CHART_LAYER_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE, PROV_LAYER_MEDIA_TYPE, ReferenceError,
};

/// The largest chart archive or provenance file read into memory on a pull
/// (the size helm itself accepts for a chart archive).
pub const MAX_PULLED_BLOB: u64 = crate::load::MAX_CHART_SIZE;

/// Why a chart could not be pushed or pulled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The archive to push is not a chart, or the pulled one is not.
    #[error(transparent)]
    Chart(#[from] ChartError),
    /// The `oci://` reference is wrong for this chart.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The reference is not an image reference a registry takes.
    #[error("{0}")]
    BadReference(String),
    /// The registry refused or failed us.
    #[error(transparent)]
    Registry(Box<wharf_registry::client::Error>),
    /// What the reference names is not a helm chart.
    #[error("{reference} is not a helm chart: {why}")]
    NotAChart {
        /// The reference pulled.
        reference: String,
        /// What it is instead.
        why: String,
    },
    /// No version was given and the repository has no chart versions.
    #[error(
        "{repository} has no chart versions (tags that are semantic versions): give the version with --version"
    )]
    NoVersions {
        /// The repository asked.
        repository: String,
    },
}

impl From<wharf_registry::client::Error> for RegistryError {
    fn from(e: wharf_registry::client::Error) -> RegistryError {
        RegistryError::Registry(Box::new(e))
    }
}

impl RegistryError {
    /// Whether what the user gave is at fault (exit code 2) rather than the
    /// registry or the network (exit code 1).
    pub fn is_bad_input(&self) -> bool {
        match self {
            RegistryError::Chart(e) => e.is_input(),
            RegistryError::Reference(_) | RegistryError::BadReference(_) => true,
            RegistryError::Registry(e) => e.is_bad_input(),
            RegistryError::NotAChart { .. } | RegistryError::NoVersions { .. } => false,
        }
    }
}

/// A chart pushed to a registry.
#[derive(Clone, Debug, PartialEq)]
pub struct PushedChart {
    /// `REGISTRY/NAMESPACE/NAME:VERSION`, the version as written (with any `+`),
    /// as helm prints it.
    pub reference: String,
    /// The tag it was pushed under (`+` written as `_`).
    pub tag: String,
    /// The manifest's digest.
    pub digest: Digest,
    /// The chart's metadata.
    pub metadata: Metadata,
}

impl PushedChart {
    /// The lines `helm push` prints: `Pushed: REF` and `Digest: sha256:...`.
    pub fn lines(&self) -> [String; 2] {
        [
            format!("Pushed: {}", self.reference),
            format!("Digest: {}", self.digest),
        ]
    }
}

/// Pushes the chart archive `chart_tgz` (with its provenance file `prov` when
/// there is one) to `remote` (`oci://REGISTRY/NAMESPACE`), as `helm push` does.
/// `created` is the `org.opencontainers.image.created` annotation (RFC 3339;
/// helm uses the archive's modification time); `display` names the archive in
/// errors (its path).
pub async fn push(
    client: &Client,
    display: &str,
    chart_tgz: Vec<u8>,
    prov: Option<Vec<u8>>,
    remote: &str,
    created: &str,
) -> Result<PushedChart, RegistryError> {
    let chart = load_archive_bytes(&chart_tgz, display)?;
    let metadata = chart.metadata;
    let reference = oci::push_reference(remote, &metadata)?;
    oci::check_reference(&reference, &metadata)?;
    let image = parse_reference(&oci::registry_reference(&reference))?;
    let repo = Repository::of(&image);
    let push = ChartPush::new(&metadata, chart_tgz, prov, created);
    let mut blobs = vec![wharf_registry::client::BlobPush::bytes(
        CONFIG_MEDIA_TYPE,
        push.config.clone(),
    )];
    for (descriptor, bytes) in &push.layers {
        blobs.push(wharf_registry::client::BlobPush::bytes(
            &descriptor.media_type,
            bytes.clone(),
        ));
    }
    tracing::debug!(reference = %reference, blobs = blobs.len(), "pushing chart");
    client.push_blobs(&repo, &blobs).await?;
    let pushed = client
        .push_manifest(
            &repo,
            &push.tag,
            MANIFEST_MEDIA_TYPE,
            Bytes::from(push.manifest.clone()),
        )
        .await?;
    Ok(PushedChart {
        reference,
        tag: push.tag,
        digest: pushed.digest,
        metadata,
    })
}

/// A chart pulled from a registry.
#[derive(Clone, Debug)]
pub struct PulledChart {
    /// `REGISTRY/REPOSITORY:TAG` (or `@digest`) that was pulled.
    pub reference: String,
    /// The manifest's digest.
    pub digest: Digest,
    /// The chart archive's bytes, exactly as pushed.
    pub archive: Vec<u8>,
    /// The provenance file, when the chart has one.
    pub prov: Option<Vec<u8>>,
    /// The chart's metadata, read from the archive.
    pub metadata: Metadata,
    /// Whether the chart layer had the legacy media type `application/tar+gzip`.
    pub legacy_media_type: bool,
}

impl PulledChart {
    /// helm's file name for it: `NAME-VERSION.tgz`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.tgz", self.metadata.name, self.metadata.version)
    }
}

/// Pulls the chart `reference` (`oci://REGISTRY/NAMESPACE/NAME`, with `:VERSION`
/// or `@sha256:...`, or with `version`), as `helm pull` does. With neither a tag
/// nor `version`, the newest chart version among the repository's tags is taken.
pub async fn pull(
    client: &Client,
    reference: &str,
    version: Option<&str>,
) -> Result<PulledChart, RegistryError> {
    let raw = reference
        .strip_prefix(oci::OCI_SCHEME)
        .ok_or_else(|| ReferenceError::NotOci(reference.to_string()))?;
    let has_tag = raw
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':') || last.contains('@'));
    let raw = match (has_tag, version) {
        (true, Some(_)) => {
            return Err(RegistryError::BadReference(format!(
                "{reference} already names a version or digest: leave out --version"
            )));
        }
        (true, None) => raw.to_string(),
        (false, Some(v)) => format!("{raw}:{v}"),
        (false, None) => {
            let image = parse_reference(raw)?;
            let repo = Repository::of(&image);
            let tags = client.tags(&repo).await?;
            let newest = oci::chart_versions(tags.iter().map(String::as_str))
                .into_iter()
                .next()
                .ok_or_else(|| RegistryError::NoVersions {
                    repository: repo.to_string(),
                })?;
            format!("{raw}:{newest}")
        }
    };
    let image = parse_reference(&oci::registry_reference(&raw))?;
    let repo = Repository::of(&image);
    let shown = raw.clone();
    let not_a_chart = |why: String| RegistryError::NotAChart {
        reference: shown.clone(),
        why,
    };
    let pulled = client.pull_manifest(&image).await?;
    let manifest = match pulled.parse() {
        Ok(Manifest::Image(m)) => m,
        Ok(Manifest::Index(_)) => return Err(not_a_chart("it is an image index".into())),
        Err(e) => return Err(not_a_chart(e.to_string())),
    };
    if manifest.config.media_type != CONFIG_MEDIA_TYPE {
        return Err(not_a_chart(format!(
            "its config has media type {:?}, not {CONFIG_MEDIA_TYPE:?}",
            manifest.config.media_type
        )));
    }
    let layer = |types: &[&str]| -> Option<&Descriptor> {
        manifest
            .layers
            .iter()
            .find(|l| types.contains(&l.media_type.as_str()))
    };
    let chart_layer = layer(&[CHART_LAYER_MEDIA_TYPE, LEGACY_CHART_LAYER_MEDIA_TYPE])
        .ok_or_else(|| not_a_chart(format!("it has no {CHART_LAYER_MEDIA_TYPE} layer")))?;
    let archive = client
        .pull_blob(&repo, chart_layer, MAX_PULLED_BLOB)
        .await?
        .to_vec();
    let prov = match layer(&[PROV_LAYER_MEDIA_TYPE]) {
        Some(d) => Some(client.pull_blob(&repo, d, MAX_PULLED_BLOB).await?.to_vec()),
        None => None,
    };
    let metadata = load_archive_bytes(&archive, &raw)?.metadata;
    Ok(PulledChart {
        reference: raw,
        digest: pulled.digest,
        legacy_media_type: chart_layer.media_type == LEGACY_CHART_LAYER_MEDIA_TYPE,
        archive,
        prov,
        metadata,
    })
}

fn parse_reference(text: &str) -> Result<ImageRef, RegistryError> {
    ImageRef::parse(text).map_err(|e| RegistryError::BadReference(e.to_string()))
}
