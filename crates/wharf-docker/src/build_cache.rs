//! Build caches: `cache: enabled` as ACR does it, `--cache-from` and `--cache-to`, in
//! the forms the Docker engine's own BuildKit can do.
//!
//! ACR builds a step with `cache: enabled` with `buildx build --load
//! --cache-to=type=registry,ref=<repo>:cache_<task>_<step id>,mode=max
//! --cache-from=type=registry,ref=<same>` (acr-builder `graph/step.go`
//! `GetCmdWithCacheFlags`): `<repo>` is the repository of the first tag with a registry
//! host, else `--registry` plus the first tag's path; `<task>` is the task's name,
//! `quickrun` for `az acr run`. The engine's BuildKit (the one the Engine API drives)
//! imports registry caches but exports only an *inline* cache, written into the image
//! itself; so wharf builds with `BUILDKIT_INLINE_CACHE=1`, tags the image with the cache
//! reference too and pushes it there. The next build imports it from that reference, as
//! on ACR; what differs is what is cached (the final stage's layers: `mode=min`).

use wharf_spec::BuildCommand;

/// The task name ACR's cache tags use when the task has none (`az acr run`).
pub(crate) const QUICKRUN: &str = "quickrun";

/// What a build does with caches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CachePlan {
    /// Images to import cache from (the build API's `cachefrom`).
    pub import: Vec<String>,
    /// Whether to write an inline cache (`BUILDKIT_INLINE_CACHE=1`).
    pub inline: bool,
    /// References to tag the image with and push after the build: the cache exports.
    pub export: Vec<String>,
    /// What the log should say about it.
    pub notes: Vec<String>,
}

/// ACR's cache image for a build step with `cache: enabled` (`GetCmdWithCacheFlags`),
/// or why there is none. `tags` are the step's `-t` values in order.
pub(crate) fn acr_cache_ref(
    tags: &[String],
    registry: &str,
    task_name: &str,
    step_id: &str,
) -> Result<Option<String>, String> {
    if tags.is_empty() {
        // ACR then builds without the cache flags.
        return Ok(None);
    }
    let mut found = None;
    let mut first_path = None;
    for tag in tags {
        let (domain, path) = split_domain(tag);
        first_path.get_or_insert(path);
        if let Some(domain) = domain {
            found = Some((domain, path));
            break;
        }
    }
    let (domain, path) = match found {
        Some(found) => found,
        None if !registry.is_empty() => (registry, first_path.unwrap_or_default()),
        None => {
            return Err(
                "no tag names a registry and the run has none (--registry), so there is nowhere to keep the cache"
                    .to_string(),
            );
        }
    };
    let task = if task_name.is_empty() {
        QUICKRUN
    } else {
        task_name
    };
    let reference = format!("{domain}/{path}:cache_{task}_{step_id}");
    wharf_registry::reference::ImageRef::parse(&reference)
        .map(|_| Some(reference))
        .map_err(|e| e.to_string())
}

/// The registry host of a reference as written (docker's rule: the first component,
/// when it has a `.` or a `:` or is `localhost`) and the repository path without tag
/// or digest.
fn split_domain(reference: &str) -> (Option<&str>, &str) {
    let name = reference.split('@').next().unwrap_or(reference);
    let name = match name.rfind(':') {
        Some(colon) if !name[colon..].contains('/') => &name[..colon],
        _ => name,
    };
    match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

/// The fields of a `--cache-from`/`--cache-to` value in buildx's CSV form
/// (`type=registry,ref=...`), or `None` for a plain image reference.
fn cache_fields(value: &str) -> Option<Vec<(&str, &str)>> {
    if !value.contains('=') {
        return None;
    }
    Some(
        value
            .split(',')
            .map(|field| field.split_once('=').unwrap_or((field, "")))
            .collect(),
    )
}

fn field<'a>(fields: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// The caches of a BuildKit build of `cmd` by step `step_id`; `acr_cache` is the
/// reference `cache: enabled` names ([`acr_cache_ref`]), if the step has it.
pub(crate) fn buildkit_plan(cmd: &BuildCommand, acr_cache: Option<&str>) -> CachePlan {
    let mut plan = CachePlan::default();
    if let Some(reference) = acr_cache {
        plan.import.push(reference.to_string());
        plan.inline = true;
        plan.export.push(reference.to_string());
        plan.notes.push(format!(
            "note: cache: enabled: az acr run exports a registry cache to {reference} (buildx, mode=max); \
             the Docker engine's own BuildKit cannot export one, so wharf writes an inline cache \
             (BUILDKIT_INLINE_CACHE=1: the final stage's layers) and pushes the image there"
        ));
    }
    for value in &cmd.cache_from {
        match cache_fields(value) {
            None => plan.import.push(value.clone()),
            Some(fields) => match (field(&fields, "type"), field(&fields, "ref")) {
                (None | Some("registry"), Some(reference)) => {
                    plan.import.push(reference.to_string());
                }
                (kind, _) => plan.notes.push(format!(
                    "note: --cache-from {value} is ignored: the Docker engine's BuildKit imports {} only from images (type=registry,ref=IMAGE)",
                    kind.map_or("caches".to_string(), |k| format!("no {k} caches,")),
                )),
            },
        }
    }
    for value in &cmd.cache_to {
        let fields = cache_fields(value).unwrap_or_default();
        match field(&fields, "type") {
            Some("inline") => plan.inline = true,
            Some("registry") if field(&fields, "ref").is_some() => {
                let reference = field(&fields, "ref").unwrap_or_default().to_string();
                plan.inline = true;
                plan.notes.push(format!(
                    "note: --cache-to {value}: the Docker engine's BuildKit cannot export a registry cache; \
                     wharf writes an inline cache (BUILDKIT_INLINE_CACHE=1{}) and pushes the image to {reference}",
                    if field(&fields, "mode") == Some("max") {
                        ", mode=min: mode=max needs a registry cache"
                    } else {
                        ""
                    }
                ));
                plan.export.push(reference);
            }
            _ => plan.notes.push(format!(
                "note: --cache-to {value} is ignored: the Docker engine's BuildKit exports type=inline and (as wharf does it) type=registry,ref=IMAGE only"
            )),
        }
    }
    plan.import.dedup();
    plan.export.dedup();
    plan
}

/// The caches of a classic build: `--cache-from` images as they are; nothing is
/// exported.
pub(crate) fn classic_plan(cmd: &BuildCommand, cache_enabled: bool) -> CachePlan {
    let mut plan = CachePlan::default();
    for value in &cmd.cache_from {
        match cache_fields(value) {
            None => plan.import.push(value.clone()),
            Some(fields) => match field(&fields, "ref") {
                Some(reference) if field(&fields, "type").is_none_or(|t| t == "registry") => {
                    plan.import.push(reference.to_string());
                }
                _ => plan.notes.push(format!(
                    "note: --cache-from {value} is ignored: the classic builder takes images"
                )),
            },
        }
    }
    for value in &cmd.cache_to {
        plan.notes.push(format!(
            "note: --cache-to {value} is ignored: the classic builder exports no cache"
        ));
    }
    if cache_enabled {
        plan.notes
            .push("note: cache: enabled is ignored: the registry cache needs BuildKit".to_string());
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn acr_names_the_cache_after_the_first_tag_with_a_registry() {
        let r = |t: &[&str], registry: &str| acr_cache_ref(&tags(t), registry, "", "build");
        assert_eq!(
            r(&["myreg.azurecr.io/app:v1", "other.io/x:1"], "ignored.io"),
            Ok(Some("myreg.azurecr.io/app:cache_quickrun_build".into()))
        );
        // The first tag with a registry wins, with its own path.
        assert_eq!(
            r(&["app:v1", "localhost:5000/team/app:v1"], ""),
            Ok(Some("localhost:5000/team/app:cache_quickrun_build".into()))
        );
        // No tag names a registry: --registry plus the first tag's path.
        assert_eq!(
            r(&["team/app:v1", "app2"], "127.0.0.1:5000"),
            Ok(Some("127.0.0.1:5000/team/app:cache_quickrun_build".into()))
        );
        assert_eq!(r(&[], "myreg.io"), Ok(None));
        assert!(r(&["app:v1"], "").is_err());
        assert_eq!(
            acr_cache_ref(&tags(&["r.io/a:1"]), "", "nightly", "s1"),
            Ok(Some("r.io/a:cache_nightly_s1".into()))
        );
        // As reference.WithName refuses it on ACR.
        assert!(r(&["r.io/App:1"], "").is_err());
    }

    #[test]
    fn cache_from_and_to_in_the_forms_the_engine_takes() {
        let cmd = BuildCommand {
            cache_from: tags(&["plain:1", "type=registry,ref=r.io/c:1", "type=local,src=d"]),
            cache_to: tags(&["type=registry,ref=r.io/c:1,mode=max", "type=gha"]),
            ..BuildCommand::default()
        };
        let plan = buildkit_plan(&cmd, None);
        assert_eq!(plan.import, ["plain:1", "r.io/c:1"]);
        assert!(plan.inline);
        assert_eq!(plan.export, ["r.io/c:1"]);
        assert_eq!(plan.notes.len(), 3, "{:?}", plan.notes);
        assert!(plan.notes.iter().any(|n| n.contains("mode=min")));

        let plan = buildkit_plan(&BuildCommand::default(), Some("r.io/a:cache_quickrun_b"));
        assert_eq!(plan.import, ["r.io/a:cache_quickrun_b"]);
        assert_eq!(plan.export, ["r.io/a:cache_quickrun_b"]);
        assert!(plan.inline);
        assert!(plan.notes[0].contains("inline cache"));

        let classic = classic_plan(&cmd, true);
        assert_eq!(classic.import, ["plain:1", "r.io/c:1"]);
        assert!(classic.export.is_empty() && !classic.inline);
        assert_eq!(classic.notes.len(), 4, "{:?}", classic.notes);
    }
}
