//! semver-tagger: gives an image tags from a semantic version, in the manner of
//! docker/metadata-action. See plugins/semver-tagger/README.md for its `with:` keys.

pub mod rules;

use wharf_plugin_sdk::tagger::{
    Guest, ImageRef, PluginError, TagResult, config, log, outputs, versions,
};

use rules::{Inputs, Latest};

struct SemverTagger;

/// Where the version comes from: `with: version`, the git tag at the commit, or a
/// Cargo package (read by the host).
fn version(source: &str, run_tag: Option<&str>) -> Result<(String, &'static str), PluginError> {
    let explicit = config::get("version").filter(|v| !v.trim().is_empty());
    let git = run_tag
        .filter(|t| rules::parse_version(t).is_ok())
        .map(str::to_string);
    let cargo = || {
        let manifest = config::get("manifest").unwrap_or_else(|| "Cargo.toml".into());
        let package = config::get("package");
        versions::cargo_package_version(&manifest, package.as_deref())
    };
    match source {
        "with" => explicit.map(|v| (v, "with: version")).ok_or_else(|| {
            PluginError::InvalidConfig("`with: version` is required with source: with".into())
        }),
        "git-tag" => git.map(|v| (v, "the git tag")).ok_or_else(|| {
            PluginError::Failed("the commit has no git tag that is a semantic version".into())
        }),
        "cargo" => cargo().map(|v| (v, "Cargo.toml")),
        "auto" => {
            if let Some(v) = explicit {
                return Ok((v, "with: version"));
            }
            if let Some(v) = git {
                return Ok((v, "the git tag"));
            }
            cargo().map(|v| (v, "Cargo.toml")).map_err(|e| {
                PluginError::InvalidConfig(format!(
                    "no version: set `with: version`, tag the commit (v1.2.3), or have a Cargo.toml in the context ({e})"
                ))
            })
        }
        other => Err(PluginError::InvalidConfig(format!(
            "`with: source` is auto, with, git-tag or cargo, not {other:?}"
        ))),
    }
}

impl Guest for SemverTagger {
    fn tag(_image: ImageRef) -> Result<TagResult, PluginError> {
        let run = config::run();
        let source = config::get("source").unwrap_or_else(|| "auto".into());
        let (raw, from) = version(&source, run.git_tag.as_deref())?;
        let latest = match config::get("latest").as_deref() {
            None | Some("auto") | Some("true") => Some(Latest::Auto),
            Some("false") => Some(Latest::Never),
            Some(other) => {
                return Err(PluginError::InvalidConfig(format!(
                    "`with: latest` is auto, true or false, not {other:?}"
                )));
            }
        };
        let sha_length = match config::json::<usize>("sha-length")? {
            Some(n) if (1..=40).contains(&n) => n,
            Some(n) => {
                return Err(PluginError::InvalidConfig(format!(
                    "`with: sha-length` is 1 to 40, not {n}"
                )));
            }
            None => 7,
        };
        let rules = config::list("tags");
        let inputs = Inputs {
            raw: raw.clone(),
            rules: (!rules.is_empty()).then_some(rules),
            prefix: config::get("prefix").unwrap_or_default(),
            suffix: config::get("suffix").unwrap_or_default(),
            latest,
            commit: run.commit,
            branch: run.branch,
            date: run.date,
            run_id: run.id,
            git_tag: run.git_tag.unwrap_or_default(),
            sha_length,
            zero_major: config::flag("zero-major", false)?,
        };
        let tags = rules::tags(&inputs).map_err(PluginError::InvalidConfig)?;
        log::info(&format!("version {raw} (from {from}): {}", tags.join(", ")));
        Ok(TagResult {
            tags,
            outputs: vec![outputs::text("version", raw)],
        })
    }
}

wharf_plugin_sdk::export_tagger!(SemverTagger);
