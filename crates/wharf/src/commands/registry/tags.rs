//! `wharf registry tags REPO [--detail]`: a repository's tags, every page; with
//! `--detail`, each tag's digest, media type, size and creation time (from the image
//! config, or the manifest's `org.opencontainers.image.created` annotation) and, where
//! the registry serves ACR's `/acr/v1/<repo>/_tags` (ACR, wharf's own registry), when
//! it was last pushed, newest first as ACR lists them.

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
    #[serde(skip_serializing_if = "Option::is_none")]
    last_pushed: Option<String>,
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
        // Where the registry knows push times, list newest first as ACR does.
        let pushed = match client.acr_tags(&repo).await {
            Ok(p) => p,
            Err(e) => return fail(&e),
        };
        let mut tags = tags;
        let mut last_pushed = std::collections::HashMap::new();
        if let Some(pushed) = &pushed {
            let order: Vec<String> = pushed.iter().map(|t| t.name.clone()).collect();
            tags.sort_by_key(|t| order.iter().position(|o| o == t).unwrap_or(usize::MAX));
            for t in pushed {
                if let Some(time) = &t.last_update_time {
                    last_pushed.insert(t.name.clone(), time.clone());
                }
            }
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
                        last_pushed: None,
                    })
                }
            }))
            .buffered(DETAIL_CONCURRENCY)
            .collect()
            .await;
        let mut rows = Vec::with_capacity(details.len());
        for d in details {
            match d {
                Ok(mut d) => {
                    d.last_pushed = last_pushed.get(&d.tag).cloned();
                    rows.push(d)
                }
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
                let pushed = pushed.is_some();
                let mut out = format!(
                    "{:<width$}  {:<71}  {:<56}  {:>8}  {:<20}{}\n",
                    "TAG",
                    "DIGEST",
                    "MEDIA TYPE",
                    "SIZE",
                    "CREATED",
                    if pushed { "  LAST PUSHED" } else { "" }
                );
                for r in &rows {
                    let last = if pushed {
                        format!("  {}", r.last_pushed.as_deref().unwrap_or("-"))
                    } else {
                        String::new()
                    };
                    out.push_str(&format!(
                        "{:<width$}  {:<71}  {:<56}  {:>8}  {:<20}{last}\n",
                        r.tag,
                        r.digest,
                        r.media_type,
                        r.size,
                        r.created.as_deref().unwrap_or("-")
                    ));
                }
                let out = out
                    .lines()
                    .map(|l| format!("{}\n", l.trim_end()))
                    .collect::<String>();
                print(&out)
            }
        }
    })
}
