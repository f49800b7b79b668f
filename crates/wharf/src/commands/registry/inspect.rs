//! `wharf registry inspect REF`: what a manifest says — digest, media type, size,
//! config (with the platform and creation time the image config gives), layers, the
//! platforms of an index, annotations, subject. `--raw` prints the manifest exactly
//! as stored. Works on registries and on OCI layouts (`oci:PATH[:TAG]`).

use std::collections::BTreeMap;
use std::process::ExitCode;

use bytes::Bytes;
use serde::Serialize;
use wharf_registry::client::Error;
use wharf_registry::copy::Location;
use wharf_registry::layout::Layout;
use wharf_registry::manifest::{Descriptor, Manifest, media_type};
use wharf_registry::{Client, Repository};

use super::{block_on, client, fail, human_size, print_json, usage};
use crate::cli::{OutputFormat, RegistryInspectArgs};
use crate::commands::print;

/// The largest config read to show its platform and creation time.
const MAX_CONFIG: u64 = 4 << 20;

/// What is shown.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Summary {
    pub name: String,
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<Descriptor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<Descriptor>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<Descriptor>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
}

/// Where the manifest is read from.
pub(crate) enum Source {
    Registry(Client, wharf_registry::ImageRef),
    Layout(Layout, Option<String>),
}

impl Source {
    async fn manifest(&self) -> Result<(Descriptor, Bytes), Error> {
        match self {
            Source::Registry(client, image) => {
                let pulled = client.pull_manifest(image).await?;
                Ok((pulled.descriptor(), pulled.bytes))
            }
            Source::Layout(layout, tag) => {
                let descriptor = layout.resolve(tag.as_deref())?;
                let bytes = layout.read_blob(&descriptor)?;
                Ok((descriptor, bytes))
            }
        }
    }

    async fn blob(&self, descriptor: &Descriptor) -> Result<Bytes, Error> {
        match self {
            Source::Registry(client, image) => {
                client
                    .pull_blob(&Repository::of(image), descriptor, MAX_CONFIG)
                    .await
            }
            Source::Layout(layout, _) => layout.read_blob(descriptor),
        }
    }
}

/// The summary of the manifest `source` names (`name` is how to call it).
pub(crate) async fn summarize(source: &Source, name: String) -> Result<(Summary, Bytes), Error> {
    let (descriptor, bytes) = source.manifest().await?;
    let manifest =
        Manifest::parse(Some(&descriptor.media_type), &bytes).map_err(|e| Error::Manifest {
            registry: name.clone(),
            what: format!("manifest {}", descriptor.digest),
            source: e,
        })?;
    let mut summary = Summary {
        name,
        digest: descriptor.digest.to_string(),
        media_type: descriptor.media_type.clone(),
        size: bytes.len() as u64,
        artifact_type: manifest.artifact_type().map(str::to_string),
        config: None,
        platform: None,
        created: manifest
            .annotations()
            .get(wharf_registry::manifest::ANNOTATION_CREATED)
            .cloned(),
        layers: Vec::new(),
        manifests: manifest.children().to_vec(),
        annotations: manifest.annotations().clone(),
        subject: manifest.subject().cloned(),
    };
    if let Manifest::Image(image) = &manifest {
        summary.config = Some(image.config.clone());
        summary.layers = image.layers.clone();
        let config_type = image.config.media_type.as_str();
        if (config_type == media_type::OCI_CONFIG || config_type == media_type::DOCKER_CONFIG)
            && image.config.size <= MAX_CONFIG
        {
            let config = source.blob(&image.config).await?;
            let value: serde_json::Value = serde_json::from_slice(&config).unwrap_or_default();
            let text = |k: &str| value.get(k).and_then(|v| v.as_str()).map(str::to_string);
            if let (Some(os), Some(arch)) = (text("os"), text("architecture")) {
                summary.platform = Some(match text("variant") {
                    Some(v) => format!("{os}/{arch}/{v}"),
                    None => format!("{os}/{arch}"),
                });
            }
            if summary.created.is_none() {
                summary.created = text("created");
            }
        }
    }
    Ok((summary, bytes))
}

/// `wharf registry inspect`.
pub fn run(args: &RegistryInspectArgs) -> ExitCode {
    let location = match Location::parse(&args.reference) {
        Ok(l) => l,
        Err(e) => return usage(e),
    };
    block_on(async {
        let source = match &location {
            Location::Registry(image) => match client(&args.options, Vec::new()) {
                Ok(c) => Source::Registry(c, image.clone()),
                Err(code) => return code,
            },
            Location::Layout { path, tag } => match Layout::open(path) {
                Ok(layout) => Source::Layout(layout, tag.clone()),
                Err(e) => return fail(&e),
            },
        };
        let (summary, bytes) = match summarize(&source, location.to_string()).await {
            Ok(s) => s,
            Err(e) => return fail(&e),
        };
        if args.raw {
            let mut stdout = std::io::stdout().lock();
            return match std::io::Write::write_all(&mut stdout, &bytes) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: cannot write output: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        match args.options.output {
            OutputFormat::Json => print_json(&summary),
            OutputFormat::Text => print(&text(&summary)),
        }
    })
}

fn text(s: &Summary) -> String {
    let mut out = String::new();
    let mut row = |k: &str, v: &str| out.push_str(&format!("{k:<13} {v}\n"));
    row("Name:", &s.name);
    row("Digest:", &s.digest);
    row("MediaType:", &s.media_type);
    row("Size:", &s.size.to_string());
    if let Some(a) = &s.artifact_type {
        row("ArtifactType:", a);
    }
    if let Some(c) = &s.config {
        row(
            "Config:",
            &format!("{} ({}, {} bytes)", c.digest, c.media_type, c.size),
        );
    }
    if let Some(p) = &s.platform {
        row("Platform:", p);
    }
    if let Some(c) = &s.created {
        row("Created:", c);
    }
    if !s.layers.is_empty() {
        let total: u64 = s.layers.iter().map(|l| l.size).sum();
        row(
            "Layers:",
            &format!("{} ({})", s.layers.len(), human_size(total)),
        );
        for l in &s.layers {
            row("", &format!("{} {}", l.digest, human_size(l.size)));
        }
    }
    if !s.manifests.is_empty() {
        row("Manifests:", &s.manifests.len().to_string());
        for m in &s.manifests {
            let platform = m
                .platform
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_else(|| "-".into());
            row("", &format!("{platform:<16} {} {}", m.digest, m.media_type));
        }
    }
    for (k, v) in &s.annotations {
        row("Annotation:", &format!("{k}={v}"));
    }
    if let Some(subject) = &s.subject {
        row(
            "Subject:",
            &format!("{} ({})", subject.digest, subject.media_type),
        );
    }
    out
}
