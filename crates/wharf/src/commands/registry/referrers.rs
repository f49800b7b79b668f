//! `wharf registry referrers REF [--artifact-type T] [--output tree|json]`, as `oras
//! discover`: the referrers of the image REF resolves to (and theirs, to --depth),
//! through the referrers API or the `sha256-<hex>` fallback.

use std::process::ExitCode;

use serde_json::{Value, json};
use wharf_registry::manifest::Descriptor;
use wharf_registry::{Client, Digest, Repository};

use crate::cli::OutputFormat;
use crate::cli_trust::{DiscoverFormat, RegistryReferrersArgs};
use crate::commands::print;
use crate::commands::registry::{block_on, client, fail, print_json};
use crate::commands::sign::explicit_ref;

/// One node of the tree.
struct Node {
    descriptor: Descriptor,
    children: Vec<Node>,
}

fn children<'a>(
    client: &'a Client,
    repo: &'a Repository,
    subject: &'a Digest,
    artifact_type: Option<&'a str>,
    depth: usize,
) -> std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<Vec<Node>, wharf_registry::client::Error>>
            + Send
            + 'a,
    >,
> {
    Box::pin(async move {
        if depth == 0 {
            return Ok(Vec::new());
        }
        let listed = client.referrers(repo, subject, artifact_type).await?;
        let mut nodes = Vec::new();
        for descriptor in listed.descriptors {
            let below = children(client, repo, &descriptor.digest, None, depth - 1).await?;
            nodes.push(Node {
                descriptor,
                children: below,
            });
        }
        Ok(nodes)
    })
}

fn to_json(repo: &Repository, node: &Node) -> Value {
    let d = &node.descriptor;
    let mut value = json!({
        "reference": format!("{repo}@{}", d.digest),
        "mediaType": d.media_type,
        "digest": d.digest.as_str(),
        "size": d.size,
    });
    if let Some(t) = &d.artifact_type {
        value["artifactType"] = json!(t);
    }
    if !d.annotations.is_empty() {
        value["annotations"] = json!(d.annotations);
    }
    if !node.children.is_empty() {
        value["manifests"] = json!(
            node.children
                .iter()
                .map(|c| to_json(repo, c))
                .collect::<Vec<_>>()
        );
    }
    value
}

/// `oras discover`'s tree: referrers grouped by artifact type.
fn tree(nodes: &[Node], prefix: &str, out: &mut String) {
    let mut types: Vec<String> = Vec::new();
    for n in nodes {
        let t = n
            .descriptor
            .artifact_type
            .clone()
            .unwrap_or_else(|| n.descriptor.media_type.clone());
        if !types.contains(&t) {
            types.push(t);
        }
    }
    for (i, t) in types.iter().enumerate() {
        let last = i + 1 == types.len();
        out.push_str(&format!(
            "{prefix}{}{t}\n",
            if last { "└── " } else { "├── " }
        ));
        let inner = format!("{prefix}{}", if last { "    " } else { "│   " });
        let group: Vec<&Node> = nodes
            .iter()
            .filter(|n| {
                n.descriptor
                    .artifact_type
                    .as_ref()
                    .unwrap_or(&n.descriptor.media_type)
                    == t
            })
            .collect();
        for (j, n) in group.iter().enumerate() {
            let last = j + 1 == group.len();
            // An attestation shows what it attests (cosign's bundle annotation).
            let predicate = n
                .descriptor
                .annotations
                .get(wharf_trust::attest::ANNOTATION_PREDICATE_TYPE)
                .map(|p| format!(" (predicateType {p})"))
                .unwrap_or_default();
            out.push_str(&format!(
                "{inner}{}{}{predicate}\n",
                if last { "└── " } else { "├── " },
                n.descriptor.digest
            ));
            let deeper = format!("{inner}{}", if last { "    " } else { "│   " });
            tree(&n.children, &deeper, out);
        }
    }
}

/// `wharf registry referrers`.
pub fn run(args: &RegistryReferrersArgs) -> ExitCode {
    let image = match explicit_ref(&args.reference) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let options = args.connection.options(OutputFormat::Text);
    block_on(async {
        let client = match client(&options, Vec::new()) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let subject = match client.resolve(&image).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                eprintln!("error: {image} not found");
                return ExitCode::from(crate::commands::EXIT_FAILED);
            }
            Err(e) => return fail(&e),
        };
        let repo = Repository::of(&image);
        let nodes = match children(
            &client,
            &repo,
            &subject.digest,
            args.artifact_type.as_deref(),
            args.depth.max(1),
        )
        .await
        {
            Ok(n) => n,
            Err(e) => return fail(&e),
        };
        match args.output {
            DiscoverFormat::Json => {
                let root = Node {
                    descriptor: subject,
                    children: nodes,
                };
                let mut value = to_json(&repo, &root);
                if value.get("manifests").is_none() {
                    value["manifests"] = json!([]);
                }
                print_json(&value)
            }
            DiscoverFormat::Tree => {
                let mut out = format!("{repo}@{}\n", subject.digest);
                tree(&nodes, "", &mut out);
                print(&out)
            }
        }
    })
}
