//! What `helm push` puts in an OCI registry, computed without one: the media
//! types, the config blob (the chart metadata as JSON), the manifest and its
//! annotations, the `+`→`_` tag mapping, and the reference rules
//! (helm `pkg/registry`, `pkg/pusher/ocipusher.go`).

use std::collections::BTreeMap;

use crate::go_format::{has_non_space, json_string};
use crate::metadata::Metadata;

/// The URL scheme of OCI chart references.
pub const OCI_SCHEME: &str = "oci://";
/// The manifest's media type.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The config blob's media type: the chart metadata as JSON.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";
/// The chart layer's media type: the `.tgz` bytes.
pub const CHART_LAYER_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// The provenance layer's media type: the `.tgz.prov` file, when there is one.
pub const PROV_LAYER_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";
/// The chart layer media type of charts pushed by early helm 3 versions, which
/// helm still pulls (with a warning).
pub const LEGACY_CHART_LAYER_MEDIA_TYPE: &str = "application/tar+gzip";

/// `org.opencontainers.image.title`: the chart name.
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
/// `org.opencontainers.image.version`: the chart version.
pub const ANNOTATION_VERSION: &str = "org.opencontainers.image.version";
/// `org.opencontainers.image.description`.
pub const ANNOTATION_DESCRIPTION: &str = "org.opencontainers.image.description";
/// `org.opencontainers.image.url`: the chart's `home`.
pub const ANNOTATION_URL: &str = "org.opencontainers.image.url";
/// `org.opencontainers.image.created`.
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
/// `org.opencontainers.image.source`: the chart's first `sources` entry.
pub const ANNOTATION_SOURCE: &str = "org.opencontainers.image.source";
/// `org.opencontainers.image.authors`: the maintainers.
pub const ANNOTATION_AUTHORS: &str = "org.opencontainers.image.authors";

/// The config blob helm pushes: `json.Marshal` of the chart metadata.
pub fn config_json(meta: &Metadata) -> Vec<u8> {
    meta.to_json().into_bytes()
}

/// The manifest annotations helm sets (`generateOCIAnnotations`): description,
/// title, version, url (home), created, source (the first of `sources`) and
/// authors (`Name (email), ...`), each only when not blank; then the chart's own
/// annotations, which may replace any of those but title and version.
///
/// `created` is an RFC 3339 time; helm uses the archive file's modification time
/// ([`rfc3339`]). When it is empty helm takes the current time: pass one.
pub fn annotations(meta: &Metadata, created: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut add = |key: &str, value: &str| {
        if has_non_space(value) {
            out.insert(key.to_string(), value.to_string());
        }
    };
    add(ANNOTATION_DESCRIPTION, &meta.description);
    add(ANNOTATION_TITLE, &meta.name);
    add(ANNOTATION_VERSION, &meta.version);
    add(ANNOTATION_URL, &meta.home);
    add(ANNOTATION_CREATED, created);
    if let Some(source) = meta.sources.first() {
        add(ANNOTATION_SOURCE, source);
    }
    if !meta.maintainers.is_empty() {
        let authors: Vec<String> = meta
            .maintainers
            .iter()
            .map(|m| {
                let Some(m) = m else { return String::new() };
                let mut s = m.name.clone();
                if !m.email.is_empty() {
                    s.push_str(&format!(" ({})", m.email));
                }
                s
            })
            .collect();
        add(ANNOTATION_AUTHORS, &authors.join(", "));
    }
    for (k, v) in &meta.annotations {
        if k != ANNOTATION_VERSION && k != ANNOTATION_TITLE {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// Seconds since the Unix epoch as an RFC 3339 UTC time (`2024-01-31T12:00:00Z`).
pub fn rfc3339(seconds: i64) -> Option<String> {
    let t = jiff::Timestamp::from_second(seconds).ok()?;
    Some(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

pub use wharf_registry::manifest::Descriptor;

/// A descriptor as Go's `json.Marshal` writes oras-go's: media type, digest, size.
fn write_descriptor(out: &mut String, d: &Descriptor) {
    out.push_str("{\"mediaType\":");
    json_string(out, &d.media_type);
    out.push_str(",\"digest\":");
    json_string(out, d.digest.as_str());
    out.push_str(&format!(",\"size\":{}}}", d.size));
}

/// Everything `helm push` uploads for one chart, built in memory: push the
/// blobs (`config` and each of `layers`), then `manifest` under [`ChartPush::tag`].
#[derive(Clone, Debug)]
pub struct ChartPush {
    /// The config blob.
    pub config: Vec<u8>,
    /// Its descriptor.
    pub config_descriptor: Descriptor,
    /// The layer blobs with their descriptors, sorted by digest as helm sorts them.
    pub layers: Vec<(Descriptor, Vec<u8>)>,
    /// The manifest bytes, as helm's `json.Marshal` writes them.
    pub manifest: Vec<u8>,
    /// The manifest's descriptor (its digest is what a push reports).
    pub manifest_descriptor: Descriptor,
    /// The tag: the chart version with `+` written as `_`.
    pub tag: String,
}

impl ChartPush {
    /// Builds the push of the chart archive `chart_tgz` whose metadata is `meta`
    /// (load it with [`crate::load_archive_bytes`]), with its provenance file
    /// when there is one, and `created` for the annotation.
    pub fn new(
        meta: &Metadata,
        chart_tgz: Vec<u8>,
        prov: Option<Vec<u8>>,
        created: &str,
    ) -> ChartPush {
        let config = config_json(meta);
        let config_descriptor = Descriptor::of(CONFIG_MEDIA_TYPE, &config);
        let mut layers = vec![(
            Descriptor::of(CHART_LAYER_MEDIA_TYPE, &chart_tgz),
            chart_tgz,
        )];
        if let Some(prov) = prov {
            layers.push((Descriptor::of(PROV_LAYER_MEDIA_TYPE, &prov), prov));
        }
        layers.sort_by(|a, b| a.0.digest.cmp(&b.0.digest));
        let annotations = annotations(meta, created);
        let mut m = String::from("{\"schemaVersion\":2,\"config\":");
        write_descriptor(&mut m, &config_descriptor);
        m.push_str(",\"layers\":[");
        for (i, (d, _)) in layers.iter().enumerate() {
            if i > 0 {
                m.push(',');
            }
            write_descriptor(&mut m, d);
        }
        m.push(']');
        if !annotations.is_empty() {
            m.push_str(",\"annotations\":{");
            for (i, (k, v)) in annotations.iter().enumerate() {
                if i > 0 {
                    m.push(',');
                }
                json_string(&mut m, k);
                m.push(':');
                json_string(&mut m, v);
            }
            m.push('}');
        }
        m.push('}');
        let manifest = m.into_bytes();
        let manifest_descriptor = Descriptor::of(MANIFEST_MEDIA_TYPE, &manifest);
        ChartPush {
            config,
            config_descriptor,
            layers,
            manifest,
            manifest_descriptor,
            tag: tag_for_version(&meta.version),
        }
    }
}

/// The OCI tag for a chart version: `+` (not allowed in tags) written as `_`.
pub fn tag_for_version(version: &str) -> String {
    version.replace('+', "_")
}

/// The chart version a tag stands for: `_` read back as `+`.
pub fn version_for_tag(tag: &str) -> String {
    tag.replace('_', "+")
}

/// helm's `Tags()`: of a repository's tags, the chart versions — each tag with
/// `_` read as `+`, kept when it is a strict semantic version, sorted newest first.
pub fn chart_versions<'a>(tags: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut versions: Vec<semver::Version> = tags
        .into_iter()
        .filter_map(|t| semver::Version::parse(&version_for_tag(t)).ok())
        .collect();
    versions.sort_by(|a, b| b.cmp_precedence(a));
    versions.iter().map(ToString::to_string).collect()
}

/// Why a reference cannot take a chart.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    /// Not an `oci://` URL.
    #[error("{0:?} is not an OCI reference: use oci://REGISTRY/NAMESPACE")]
    NotOci(String),
    /// helm's strict mode: the reference must end in `/<name>:<version>`.
    #[error(
        "{reference:?} does not end in /{name}:{version}: the reference's last path element and tag must be the chart's name and version"
    )]
    Mismatch {
        /// The reference.
        reference: String,
        /// The chart name.
        name: String,
        /// The chart version.
        version: String,
    },
}

/// The reference `helm push CHART.tgz oci://REGISTRY/NAMESPACE` pushes to:
/// `REGISTRY/NAMESPACE/<name>:<version>` (the namespace cleaned as Go's
/// `path.Join` does), without the scheme and with the version as written.
pub fn push_reference(remote: &str, meta: &Metadata) -> Result<String, ReferenceError> {
    let Some(rest) = remote.strip_prefix(OCI_SCHEME) else {
        return Err(ReferenceError::NotOci(remote.to_string()));
    };
    let joined = wharf_template::go::clean_path(&format!("{rest}/{}", meta.name));
    Ok(format!("{joined}:{}", meta.version))
}

/// helm's strict-mode check: `reference` ends in `/<name>:<version>`.
pub fn check_reference(reference: &str, meta: &Metadata) -> Result<(), ReferenceError> {
    let suffix = format!("/{}:{}", meta.name, meta.version);
    if reference.ends_with(&suffix) {
        Ok(())
    } else {
        Err(ReferenceError::Mismatch {
            reference: reference.to_string(),
            name: meta.name.clone(),
            version: meta.version.clone(),
        })
    }
}

/// The reference as helm sends it to the registry (`newReference`): the `oci://`
/// scheme removed, and in the tag — the part after the last `:` when it holds no
/// `/`, before any `@digest` — `+` written as `_`.
pub fn registry_reference(reference: &str) -> String {
    let raw = reference.strip_prefix(OCI_SCHEME).unwrap_or(reference);
    let (raw, digest) = match raw.rfind('@') {
        Some(i) => (&raw[..i], Some(&raw[i..])),
        None => (raw, None),
    };
    let mut out = match raw.rfind(':') {
        Some(i) if !raw[i + 1..].contains('/') && i + 1 < raw.len() => {
            format!("{}:{}", &raw[..i], tag_for_version(&raw[i + 1..]))
        }
        _ => raw.to_string(),
    };
    if let Some(d) = digest {
        out.push_str(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::Maintainer;

    fn meta() -> Metadata {
        let mut m = Metadata {
            api_version: "v2".into(),
            name: "web".into(),
            version: "1.2.3+build.7".into(),
            description: "A web app".into(),
            home: "https://example.com".into(),
            sources: vec!["https://git.example.com/web".into(), "https://other".into()],
            ..Metadata::default()
        };
        m.maintainers = vec![
            Some(Maintainer {
                name: "Ann".into(),
                email: "ann@x".into(),
                url: String::new(),
            }),
            Some(Maintainer {
                name: "Bo".into(),
                email: String::new(),
                url: String::new(),
            }),
        ];
        m
    }

    #[test]
    fn annotations_are_helms() {
        let mut m = meta();
        m.annotations
            .insert(ANNOTATION_TITLE.into(), "not the title".into());
        m.annotations
            .insert(ANNOTATION_DESCRIPTION.into(), "overridden".into());
        m.annotations.insert("category".into(), "web".into());
        let a = annotations(&m, "2024-01-31T12:00:00Z");
        let expected: BTreeMap<String, String> = [
            (ANNOTATION_AUTHORS, "Ann (ann@x), Bo"),
            (ANNOTATION_CREATED, "2024-01-31T12:00:00Z"),
            (ANNOTATION_DESCRIPTION, "overridden"),
            (ANNOTATION_SOURCE, "https://git.example.com/web"),
            (ANNOTATION_TITLE, "web"),
            (ANNOTATION_URL, "https://example.com"),
            (ANNOTATION_VERSION, "1.2.3+build.7"),
            ("category", "web"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(a, expected);
        let mut bare = Metadata {
            name: "x".into(),
            version: "1.0.0".into(),
            description: "  ".into(),
            ..Metadata::default()
        };
        bare.api_version = "v2".into();
        assert!(!annotations(&bare, "").contains_key(ANNOTATION_DESCRIPTION));
        assert!(!annotations(&bare, "").contains_key(ANNOTATION_CREATED));
    }

    #[test]
    fn tags_map_plus_to_underscore_and_back() {
        assert_eq!(tag_for_version("1.2.3+build.7"), "1.2.3_build.7");
        assert_eq!(version_for_tag("1.2.3_build.7"), "1.2.3+build.7");
        assert_eq!(
            chart_versions([
                "0.9.0",
                "1.0.0_b1",
                "latest",
                "v1.0.0",
                "1.0.0-rc.1",
                "1.10.0",
                "1.2"
            ]),
            ["1.10.0", "1.0.0+b1", "1.0.0-rc.1", "0.9.0"]
        );
    }

    #[test]
    fn references_follow_helms_rules() {
        let m = meta();
        assert_eq!(
            push_reference("oci://localhost:5000/charts/", &m).as_deref(),
            Ok("localhost:5000/charts/web:1.2.3+build.7")
        );
        assert!(matches!(
            push_reference("https://x", &m),
            Err(ReferenceError::NotOci(_))
        ));
        assert!(check_reference("localhost:5000/charts/web:1.2.3+build.7", &m).is_ok());
        assert!(check_reference("localhost:5000/charts/webapp:1.2.3+build.7", &m).is_err());
        assert!(check_reference("localhost:5000/charts/web:1.2.3", &m).is_err());
        assert_eq!(
            registry_reference("oci://localhost:5000/charts/web:1.2.3+build.7"),
            "localhost:5000/charts/web:1.2.3_build.7"
        );
        assert_eq!(
            registry_reference("localhost:5000/charts/web"),
            "localhost:5000/charts/web"
        );
        assert_eq!(
            registry_reference("localhost:5000/c/web:1.0.0+a@sha256:ab"),
            "localhost:5000/c/web:1.0.0_a@sha256:ab"
        );
    }

    #[test]
    fn the_manifest_is_what_helm_marshals() {
        let m = meta();
        let push = ChartPush::new(
            &m,
            b"tgz".to_vec(),
            Some(b"prov".to_vec()),
            "2024-01-31T12:00:00Z",
        );
        assert_eq!(push.tag, "1.2.3_build.7");
        assert_eq!(push.config, m.to_json().into_bytes());
        assert!(
            push.layers
                .windows(2)
                .all(|w| w[0].0.digest < w[1].0.digest)
        );
        let text = String::from_utf8(push.manifest.clone()).unwrap_or_default();
        assert!(text.starts_with(&format!(
            "{{\"schemaVersion\":2,\"config\":{{\"mediaType\":\"{CONFIG_MEDIA_TYPE}\",\"digest\":\"{}\",\"size\":{}}},\"layers\":[",
            push.config_descriptor.digest,
            push.config.len()
        )));
        assert!(text.contains(&format!("\"mediaType\":\"{PROV_LAYER_MEDIA_TYPE}\"")));
        assert!(text.ends_with("\"org.opencontainers.image.version\":\"1.2.3+build.7\"}}"));
        let value: serde_json::Value = serde_json::from_slice(&push.manifest).unwrap_or_default();
        assert_eq!(value["layers"].as_array().map(Vec::len), Some(2));
        assert_eq!(push.manifest_descriptor.size, push.manifest.len() as u64);
    }
}
