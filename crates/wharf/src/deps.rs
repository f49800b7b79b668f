//! The base images of a task's build steps, found as acr-builder finds them
//! (`scan/dependencies.go`): the Dockerfile read line by line (BOM trimmed, comments
//! skipped, `\` continuations joined), `ARG k=v` defaults and `--build-arg` values
//! expanded in `FROM` (`--build-arg` wins), `FROM x AS a` recording `a → x`. The
//! runtime dependency is the origin of the last `FROM`, or of the `--target` stage
//! (where scanning stops); every other distinct origin is a build-time dependency.

use std::collections::HashMap;
use std::path::Path;

use wharf_history::{BaseImage, BuiltImage};
use wharf_spec::{Action, BuildCommand, Task};

/// The `FROM` origins of one Dockerfile.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Dependencies {
    /// The origin of the stage that becomes the image.
    pub runtime: Option<String>,
    /// The other distinct origins, in the order they appear.
    pub buildtime: Vec<String>,
}

/// Scans a Dockerfile's text.
pub fn scan(
    text: &str,
    build_args: &HashMap<String, String>,
    target: Option<&str>,
) -> Dependencies {
    let text = text.trim_start_matches('\u{feff}');
    let mut args: HashMap<String, String> = HashMap::new();
    let mut aliases: HashMap<String, String> = HashMap::new();
    let mut origins: Vec<String> = Vec::new();
    let mut runtime = None;
    let mut line = String::new();
    for raw in text.lines() {
        let trimmed = raw.trim();
        if line.is_empty() && (trimmed.starts_with('#') || trimmed.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            line.push_str(head);
            line.push(' ');
            continue;
        }
        line.push_str(trimmed);
        let full = std::mem::take(&mut line);
        let mut words = full.split_whitespace();
        let Some(instruction) = words.next() else {
            continue;
        };
        if instruction.eq_ignore_ascii_case("ARG") {
            for word in words {
                match word.split_once('=') {
                    Some((k, v)) => {
                        args.insert(k.to_string(), v.trim_matches('"').to_string());
                    }
                    None => {
                        args.entry(word.to_string()).or_default();
                    }
                }
            }
        } else if instruction.eq_ignore_ascii_case("FROM") {
            let rest: Vec<&str> = words.filter(|w| !w.starts_with("--")).collect();
            let Some(image) = rest.first() else {
                continue;
            };
            let lookup = |name: &str| {
                build_args
                    .get(name)
                    .or_else(|| args.get(name))
                    .cloned()
                    .unwrap_or_default()
            };
            let image = expand(image, &lookup);
            let origin = aliases.get(&image).cloned().unwrap_or(image);
            let stage = (rest.len() >= 3 && rest[1].eq_ignore_ascii_case("AS")).then(|| rest[2]);
            if let Some(name) = stage {
                aliases.insert(name.to_string(), origin.clone());
            }
            if !origins.contains(&origin) {
                origins.push(origin.clone());
            }
            runtime = Some(origin);
            if stage.is_some() && stage == target {
                break;
            }
        }
    }
    let buildtime = origins
        .into_iter()
        .filter(|o| Some(o) != runtime.as_ref() && !o.eq_ignore_ascii_case("scratch"))
        .collect();
    Dependencies {
        runtime: runtime.filter(|r| !r.eq_ignore_ascii_case("scratch")),
        buildtime,
    }
}

/// `$NAME` and `${NAME}` expanded (Go's `os.Expand`: unknown names are empty).
fn expand(text: &str, lookup: &dyn Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let mut name = String::new();
        if chars.peek() == Some(&'{') {
            chars.next();
            for c in chars.by_ref() {
                if c == '}' {
                    break;
                }
                name.push(c);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    name.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
        }
        out.push_str(&lookup(&name));
    }
    out
}

/// The images each build step of `task` makes, with their base images (digests not
/// yet known). Dockerfiles are read from `context` (a step's own context relative
/// to it); a step whose Dockerfile cannot be read is listed without bases.
pub fn of_task(task: &Task, context: &Path) -> Vec<BuiltImage> {
    let mut out = Vec::new();
    for step in &task.steps {
        let Action::Build { build, tags, .. } = &step.action else {
            continue;
        };
        let Ok(cmd) = BuildCommand::parse(build) else {
            continue;
        };
        let dir = if cmd.context.contains("://") {
            None
        } else {
            Some(context.join(&cmd.context))
        };
        let dockerfile = dir.as_ref().and_then(|d| {
            std::fs::read_to_string(d.join(cmd.dockerfile.as_deref().unwrap_or("Dockerfile"))).ok()
        });
        let build_args: HashMap<String, String> = cmd
            .build_args
            .iter()
            .filter_map(|a| {
                a.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect();
        let deps = dockerfile
            .map(|text| scan(&text, &build_args, cmd.target.as_deref()))
            .unwrap_or_default();
        let base = |reference: String| BaseImage {
            reference,
            digest: None,
        };
        out.push(BuiltImage {
            step: step.id.clone(),
            tags: tags.clone(),
            runtime_dependency: deps.runtime.map(base),
            buildtime_dependencies: deps.buildtime.into_iter().map(base).collect(),
        });
    }
    out
}

/// Fills in the digests of the base images as the engine has them.
pub async fn with_engine_digests(mut images: Vec<BuiltImage>) -> Vec<BuiltImage> {
    for image in &mut images {
        for base in image
            .runtime_dependency
            .iter_mut()
            .chain(image.buildtime_dependencies.iter_mut())
        {
            base.digest = wharf_docker::image_digest(&base.reference).await;
        }
    }
    images
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(text: &str, args: &[(&str, &str)], target: Option<&str>) -> Dependencies {
        let args = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        scan(text, &args, target)
    }

    #[test]
    fn the_last_from_is_the_runtime_and_stages_resolve_to_their_origin() {
        let text = "\u{feff}# syntax\nARG BASE=alpine:3\nFROM golang:1.22 AS build\nRUN go build\nFROM build AS test\nFROM $BASE\nCOPY --from=build /x /x\n";
        assert_eq!(
            deps(text, &[], None),
            Dependencies {
                runtime: Some("alpine:3".into()),
                buildtime: vec!["golang:1.22".into()],
            }
        );
        // --build-arg wins over the ARG default.
        assert_eq!(
            deps(text, &[("BASE", "debian:12")], None)
                .runtime
                .as_deref(),
            Some("debian:12")
        );
        // --target stops at that stage, whose origin is the stage it names.
        assert_eq!(
            deps(text, &[], Some("test")),
            Dependencies {
                runtime: Some("golang:1.22".into()),
                buildtime: vec![],
            }
        );
    }

    #[test]
    fn platform_flags_continuations_and_scratch() {
        let text = "FROM --platform=$BUILDPLATFORM \\\n  reg.io/base:${TAG} AS b\nFROM scratch\n";
        assert_eq!(
            deps(text, &[("TAG", "7")], None),
            Dependencies {
                runtime: None,
                buildtime: vec!["reg.io/base:7".into()],
            }
        );
    }
}
