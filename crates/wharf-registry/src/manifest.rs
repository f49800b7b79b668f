//! Manifests, indexes and descriptors: OCI image spec 1.1 and Docker image manifest
//! schema 2, with the media types both use.
//!
//! A manifest's bytes are what its digest covers, so wharf never re-serializes one it
//! did not write: [`Manifest::parse`] reads the parts a client needs (children, blobs,
//! platforms, `artifactType`, `subject`, annotations) and the bytes travel as they are.
//! Unknown fields are kept (`extra`), so a manifest built here and serialized again
//! loses nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::digest::Digest;

/// Media types of manifests, configs and layers.
pub mod media_type {
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image index.
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// OCI image config.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// OCI layer, uncompressed tar.
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    /// OCI layer, gzip-compressed tar.
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// OCI layer, zstd-compressed tar.
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    /// The OCI empty descriptor's media type (the blob is `{}`).
    pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
    /// Docker image manifest, schema 2.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker manifest list (multi-arch), schema 2.
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Docker image config.
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// Docker layer, gzip-compressed tar.
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// Docker foreign layer (not pushed; fetched from its `urls`).
    pub const DOCKER_FOREIGN_LAYER: &str =
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    /// Docker schema 1 manifest (signed or not): refused, it has no digest-stable form.
    pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
    /// Docker schema 1 signed manifest.
    pub const DOCKER_SCHEMA1_SIGNED: &str =
        "application/vnd.docker.distribution.manifest.v1+prettyjws";

    /// The `Accept` header for manifest requests: every manifest kind wharf reads.
    pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
        application/vnd.oci.image.index.v1+json, \
        application/vnd.docker.distribution.manifest.v2+json, \
        application/vnd.docker.distribution.manifest.list.v2+json";

    /// Whether `media_type` is an index (OCI index or Docker manifest list).
    pub fn is_index(media_type: &str) -> bool {
        media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
    }

    /// Whether `media_type` is an image manifest (OCI or Docker schema 2).
    pub fn is_image_manifest(media_type: &str) -> bool {
        media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
    }

    /// Whether a descriptor of this media type points at a manifest or index.
    pub fn is_manifest(media_type: &str) -> bool {
        is_index(media_type) || is_image_manifest(media_type)
    }
}

/// The annotation naming a manifest's tag in an OCI image layout's `index.json`.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The annotation for when an image was created (RFC 3339).
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";

/// A content descriptor: what a manifest says about one blob or child manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The content's media type.
    pub media_type: String,
    /// The content's digest.
    pub digest: Digest,
    /// The content's size in bytes.
    pub size: u64,
    /// Where else the content may be fetched (foreign layers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The platform an index entry is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// The artifact type of the manifest this describes (index entries, referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The content itself, base64, for small blobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

impl Descriptor {
    /// A descriptor of `bytes` with `media_type`.
    pub fn of(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: Digest::sha256(bytes),
            size: bytes.len() as u64,
            urls: Vec::new(),
            annotations: BTreeMap::new(),
            platform: None,
            artifact_type: None,
            data: None,
        }
    }

    /// The OCI empty descriptor (`application/vnd.oci.empty.v1+json`, blob `{}`).
    pub fn empty() -> Descriptor {
        Descriptor::of(media_type::OCI_EMPTY, EMPTY_BLOB)
    }
}

/// The OCI empty blob.
pub const EMPTY_BLOB: &[u8] = b"{}";

/// A platform (`os`/`architecture`/`variant`), as an index entry names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// `amd64`, `arm64`, ...
    pub architecture: String,
    /// `linux`, `windows`, ...
    pub os: String,
    /// `v7`, `v8`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The OS version (Windows).
    #[serde(
        default,
        rename = "os.version",
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// Required OS features (Windows).
    #[serde(default, rename = "os.features", skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// An image manifest (OCI or Docker schema 2), also the shape of OCI artifacts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's own media type (required by Docker schema 2, optional in OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact type (OCI 1.1), when this is an artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers (or an artifact's blobs).
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (signatures, SBOMs, attestations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Fields this type does not model, kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// An image index (OCI) or manifest list (Docker schema 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// The index's own media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact type (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The child manifests.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Fields this type does not model, kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl ImageIndex {
    /// An empty OCI index.
    pub fn new() -> ImageIndex {
        ImageIndex {
            schema_version: 2,
            media_type: Some(media_type::OCI_INDEX.to_string()),
            artifact_type: None,
            manifests: Vec::new(),
            subject: None,
            annotations: BTreeMap::new(),
            extra: BTreeMap::new(),
        }
    }
}

impl Default for ImageIndex {
    fn default() -> Self {
        ImageIndex::new()
    }
}

/// A parsed manifest of either kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Manifest {
    /// An image manifest or artifact.
    Image(Box<ImageManifest>),
    /// An index or manifest list.
    Index(Box<ImageIndex>),
}

/// Why manifest bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// A Docker schema 1 manifest.
    #[error(
        "this is a Docker schema 1 manifest ({0}); wharf reads schema 2 and OCI only: re-push the image with a current docker or skopeo"
    )]
    Schema1(String),
    /// Not JSON of a manifest's shape.
    #[error("the manifest is not valid {kind} JSON: {problem}")]
    Invalid {
        /// What it was read as.
        kind: &'static str,
        /// What is wrong, from the JSON parser (positions, not values).
        problem: String,
    },
    /// A media type that is no manifest.
    #[error("media type {0:?} is not a manifest or index wharf reads")]
    UnknownMediaType(String),
}

impl Manifest {
    /// Parses manifest bytes. `content_type` is what the registry (or a descriptor)
    /// said; when it is missing or generic, the JSON's `mediaType`, then its shape,
    /// decides.
    pub fn parse(content_type: Option<&str>, bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let declared = content_type
            .map(|c| c.split(';').next().unwrap_or(c).trim())
            .filter(|c| !c.is_empty() && *c != "application/json" && *c != "text/plain");
        let value: Value = serde_json::from_slice(bytes).map_err(|e| ManifestError::Invalid {
            kind: "manifest",
            problem: format!(
                "{:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            )
            .to_lowercase(),
        })?;
        let inner = value.get("mediaType").and_then(Value::as_str);
        let media_type = declared.or(inner).map(str::to_string).unwrap_or_else(|| {
            if value.get("manifests").is_some() {
                media_type::OCI_INDEX.to_string()
            } else {
                media_type::OCI_MANIFEST.to_string()
            }
        });
        if media_type == media_type::DOCKER_SCHEMA1
            || media_type == media_type::DOCKER_SCHEMA1_SIGNED
            || value.get("schemaVersion").and_then(Value::as_u64) == Some(1)
        {
            return Err(ManifestError::Schema1(media_type));
        }
        let invalid = |kind: &'static str| {
            move |e: serde_json::Error| ManifestError::Invalid {
                kind,
                problem: e.to_string(),
            }
        };
        if media_type::is_index(&media_type) {
            serde_json::from_value(value)
                .map(|i| Manifest::Index(Box::new(i)))
                .map_err(invalid("index"))
        } else if media_type::is_image_manifest(&media_type) {
            serde_json::from_value(value)
                .map(|m| Manifest::Image(Box::new(m)))
                .map_err(invalid("image manifest"))
        } else {
            Err(ManifestError::UnknownMediaType(media_type))
        }
    }

    /// The manifest's own `mediaType` field, if it has one.
    pub fn media_type(&self) -> Option<&str> {
        match self {
            Manifest::Image(m) => m.media_type.as_deref(),
            Manifest::Index(i) => i.media_type.as_deref(),
        }
    }

    /// The `artifactType`, falling back to the config's media type for artifacts
    /// without one (as the referrers API does).
    pub fn artifact_type(&self) -> Option<&str> {
        match self {
            Manifest::Image(m) => m.artifact_type.as_deref().or_else(|| {
                let config = m.config.media_type.as_str();
                (config != media_type::OCI_CONFIG && config != media_type::DOCKER_CONFIG)
                    .then_some(config)
            }),
            Manifest::Index(i) => i.artifact_type.as_deref(),
        }
    }

    /// The annotations.
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        match self {
            Manifest::Image(m) => &m.annotations,
            Manifest::Index(i) => &i.annotations,
        }
    }

    /// The subject, if any.
    pub fn subject(&self) -> Option<&Descriptor> {
        match self {
            Manifest::Image(m) => m.subject.as_ref(),
            Manifest::Index(i) => i.subject.as_ref(),
        }
    }

    /// The blobs an image manifest names (config first, then layers); none for an
    /// index.
    pub fn blobs(&self) -> Vec<&Descriptor> {
        match self {
            Manifest::Image(m) => std::iter::once(&m.config).chain(&m.layers).collect(),
            Manifest::Index(_) => Vec::new(),
        }
    }

    /// The child manifests an index names; none for an image manifest.
    pub fn children(&self) -> &[Descriptor] {
        match self {
            Manifest::Image(_) => &[],
            Manifest::Index(i) => &i.manifests,
        }
    }
}

/// The OCI form of a Docker schema 2 image manifest, as skopeo writes one into an
/// OCI layout (whose `index.json` holds only OCI types): the same config and layer
/// bytes, OCI media types. `Ok(None)` when the manifest is not a Docker one. Every
/// other field is kept.
pub fn docker_to_oci(bytes: &[u8]) -> Result<Option<Vec<u8>>, ManifestError> {
    let mut value: Value = serde_json::from_slice(bytes).map_err(|e| ManifestError::Invalid {
        kind: "manifest",
        problem: e.to_string(),
    })?;
    let is_docker =
        value.get("mediaType").and_then(Value::as_str) == Some(media_type::DOCKER_MANIFEST);
    if !is_docker {
        return Ok(None);
    }
    value["mediaType"] = Value::String(media_type::OCI_MANIFEST.into());
    if value["config"]["mediaType"].as_str() == Some(media_type::DOCKER_CONFIG) {
        value["config"]["mediaType"] = Value::String(media_type::OCI_CONFIG.into());
    }
    if let Some(layers) = value.get_mut("layers").and_then(Value::as_array_mut) {
        for layer in layers {
            let converted = match layer["mediaType"].as_str() {
                Some(media_type::DOCKER_LAYER_GZIP) => media_type::OCI_LAYER_GZIP,
                Some("application/vnd.docker.image.rootfs.diff.tar") => media_type::OCI_LAYER,
                Some(media_type::DOCKER_FOREIGN_LAYER) => {
                    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
                }
                _ => continue,
            };
            layer["mediaType"] = Value::String(converted.into());
        }
    }
    serde_json::to_vec(&value)
        .map(Some)
        .map_err(|e| ManifestError::Invalid {
            kind: "manifest",
            problem: e.to_string(),
        })
}

/// An index with its `manifests` entries replaced by `children` (same order and
/// count) and its media type made OCI's; every other field is kept.
pub fn rewrite_index(bytes: &[u8], children: &[Descriptor]) -> Result<Vec<u8>, ManifestError> {
    let invalid = |e: serde_json::Error| ManifestError::Invalid {
        kind: "index",
        problem: e.to_string(),
    };
    let mut value: Value = serde_json::from_slice(bytes).map_err(invalid)?;
    value["mediaType"] = Value::String(media_type::OCI_INDEX.into());
    value["manifests"] = serde_json::to_value(children).map_err(invalid)?;
    serde_json::to_vec(&value).map_err(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_manifests_convert_to_oci_keeping_blobs() {
        let docker = docker_manifest();
        let oci = docker_to_oci(docker.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("not converted"));
        let Ok(Manifest::Image(m)) = Manifest::parse(None, &oci) else {
            panic!("not an image")
        };
        assert_eq!(m.media_type.as_deref(), Some(media_type::OCI_MANIFEST));
        assert_eq!(m.config.media_type, media_type::OCI_CONFIG);
        assert_eq!(m.layers[0].media_type, media_type::OCI_LAYER_GZIP);
        assert_eq!(m.layers[0].digest, Digest::sha256(b"c"));
        let again = docker_to_oci(&oci).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, None, "OCI manifests are left alone");
    }

    fn docker_manifest() -> String {
        let d = Digest::sha256(b"c");
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{d}","size":1}},"layers":[{{"mediaType":"{}","digest":"{d}","size":1}}]}}"#,
            media_type::DOCKER_MANIFEST,
            media_type::DOCKER_CONFIG,
            media_type::DOCKER_LAYER_GZIP
        )
    }

    #[test]
    fn image_manifests_and_indexes_are_told_apart() {
        let m = Manifest::parse(None, docker_manifest().as_bytes());
        let Ok(Manifest::Image(image)) = m else {
            panic!("{m:?}")
        };
        assert_eq!(image.layers.len(), 1);
        let index = r#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            Manifest::parse(Some("application/json"), index.as_bytes()),
            Ok(Manifest::Index(_))
        ));
    }

    #[test]
    fn artifacts_keep_their_fields() {
        let d = Digest::sha256(b"{}");
        let s = Digest::sha256(b"s");
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","artifactType":"application/x.test","config":{{"mediaType":"{}","digest":"{d}","size":2}},"layers":[],"subject":{{"mediaType":"{}","digest":"{s}","size":1}},"annotations":{{"a":"b"}},"x-extra":1}}"#,
            media_type::OCI_MANIFEST,
            media_type::OCI_EMPTY,
            media_type::OCI_MANIFEST
        );
        let parsed = Manifest::parse(None, json.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.artifact_type(), Some("application/x.test"));
        assert_eq!(parsed.subject().map(|d| d.digest.clone()), Some(s));
        assert_eq!(parsed.annotations().get("a").map(String::as_str), Some("b"));
        let Manifest::Image(image) = parsed else {
            panic!("not an image")
        };
        let again = serde_json::to_value(&image).unwrap_or_default();
        assert_eq!(again["x-extra"], 1);
    }

    #[test]
    fn schema1_and_junk_get_clear_errors() {
        let schema1 = r#"{"schemaVersion":1,"name":"x","tag":"1","fsLayers":[]}"#;
        let err = Manifest::parse(None, schema1.as_bytes()).err();
        assert!(matches!(err, Some(ManifestError::Schema1(_))), "{err:?}");
        let err = Manifest::parse(None, b"not json").err();
        assert!(
            matches!(err, Some(ManifestError::Invalid { .. })),
            "{err:?}"
        );
        let err = Manifest::parse(Some("application/x.other"), b"{}").err();
        assert!(
            matches!(err, Some(ManifestError::UnknownMediaType(_))),
            "{err:?}"
        );
    }

    #[test]
    fn the_empty_descriptor_is_the_spec_one() {
        let e = Descriptor::empty();
        assert_eq!(
            e.digest.as_str(),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(e.size, 2);
    }
}
