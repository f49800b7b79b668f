//! `wharf registry tags REPO [--detail]`: a repository's tags, every page; with
//! `--detail`, each tag's digest, media type, size and creation time (from the image
//! config, or the manifest's `org.opencontainers.image.created` annotation).

use std::process::ExitCode;

use futures_util::stream::{self, StreamExt as _};
use serde::Serialize;
use serde_json::json;

use super::inspect::{Source, summarize};
use super::{block_on, client, fail, print_json, repository};
use crate::cli::{OutputFormat, RegistryTagsArgs};
use crate::commands::print;

/// Tags inspected at once with `--detail`.
const DETAIL_CONCURRENCY: usize = 8;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TagDetail {
    tag: String,
    digest: String,
    media_type: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<String>,
}

/// `wharf registry tags`.
pub fn run(args: &RegistryTagsArgs) -> ExitCode {
    let repo = match repository(&args.repository) {
        Ok(r) => r,
        Err(code) => return code,
    };
    block_on(async {
        let client = match client(&args.options, Vec::new()) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let tags = match client.tags(&repo).await {
            Ok(t) => t,
            Err(e) => return fail(&e),
        };
        if !args.detail {
            return match args.options.output {
                OutputFormat::Json => print_json(&json!({
                    "repository": repo.to_string(),
                    "tags": tags,
                })),
                OutputFormat::Text => {
                    print(&tags.iter().map(|t| format!("{t}\n")).collect::<String>())
                }
            };
        }
        let details: Vec<Result<TagDetail, wharf_registry::client::Error>> =
            stream::iter(tags.iter().map(|tag| {
                let client = client.clone();
                let image = wharf_registry::ImageRef {
                    registry: repo.registry.clone(),
                    repository: repo.name.clone(),
                    tag: Some(tag.clone()),
                    digest: None,
                };
                async move {
                    let name = image.to_string();
                    let (summary, _) = summarize(&Source::Registry(client, image), name).await?;
                    Ok(TagDetail {
                        tag: tag.clone(),
                        digest: summary.digest,
                        media_type: summary.media_type,
                        size: summary.size,
                        created: summary.created,
                    })
                }
            }))
            .buffered(DETAIL_CONCURRENCY)
            .collect()
            .await;
        let mut rows = Vec::with_capacity(details.len());
        for d in details {
            match d {
                Ok(d) => rows.push(d),
                Err(e) => return fail(&e),
            }
        }
        match args.options.output {
            OutputFormat::Json => print_json(&json!({
                "repository": repo.to_string(),
                "tags": rows,
            })),
            OutputFormat::Text => {
                let width = rows.iter().map(|r| r.tag.len()).max().unwrap_or(3).max(3);
                let mut out = format!(
                    "{:<width$}  {:<71}  {:<56}  {:>8}  CREATED\n",
                    "TAG", "DIGEST", "MEDIA TYPE", "SIZE"
                );
                for r in &rows {
                    out.push_str(&format!(
                        "{:<width$}  {:<71}  {:<56}  {:>8}  {}\n",
                        r.tag,
                        r.digest,
                        r.media_type,
                        r.size,
                        r.created.as_deref().unwrap_or("-")
                    ));
                }
                print(&out)
            }
        }
    })
}
