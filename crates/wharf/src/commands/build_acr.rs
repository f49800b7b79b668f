//! `wharf build --on acr://LOGIN_SERVER`: a quick build on Azure Container
//! Registry's own engine, sent as `az acr build` sends it: a `DockerBuildRequest`
//! (`imageNames`, `isPushEnabled`, `dockerFilePath`, `arguments` with
//! `--secret-build-arg` as `isSecret`, `target`, `platform`, `timeout`) whose
//! source is the local context packed and uploaded, or a remote git or tarball
//! URL handed to ACR as it is. The same [`BuildArgs`] as a local `wharf build`;
//! [`super::acr`] sends it, follows it and records it.

use std::path::PathBuf;
use std::process::ExitCode;

use wharf_acr::model::RunRequest;
use wharf_acr::pack::quick_build_source;
use wharf_acr::request::{self, BuildOptions};
use wharf_engine::Masker;

use super::acr::{self, Plan, usage};
use super::build::{self, BuildArgs, BuildCommand, Fetched, Source};

/// `wharf build --on acr://…`.
pub fn run(command: &BuildCommand, target: &str) -> ExitCode {
    match plan(command, target) {
        Ok((plan, fetched)) => {
            let code = acr::execute(plan, command.dry_run);
            drop(fetched);
            code
        }
        Err(code) => code,
    }
}

/// A source ACR fetches itself (as `az acr build` passes it on): a tarball URL,
/// or a git repository it can reach. A git repository on this machine (a path,
/// `file://`) is cloned here and uploaded instead.
fn remote(source: &Source, text: &str) -> Option<String> {
    match source {
        Source::Tarball(_) => Some(text.to_owned()),
        Source::Git { url, .. }
            if ["http://", "https://", "git@", "git://", "ssh://"]
                .iter()
                .any(|p| url.starts_with(p)) =>
        {
            Some(text.to_owned())
        }
        _ => None,
    }
}

/// The credentials a URL may carry (`https://user:token@host/…`): masked.
fn userinfo(url: &str) -> Vec<String> {
    let Some((_, rest)) = url.split_once("://") else {
        return Vec::new();
    };
    let authority = rest.split(['/', '#', '?']).next().unwrap_or_default();
    match authority.rsplit_once('@') {
        Some((info, _)) if !info.is_empty() => {
            let mut out = vec![info.to_owned()];
            out.extend(info.split(':').filter(|p| !p.is_empty()).map(str::to_owned));
            out
        }
        _ => Vec::new(),
    }
}

/// The flags a quick build on ACR does not take.
fn local_only_flags(command: &BuildCommand) -> Vec<&'static str> {
    let mut out = Vec::new();
    if command.id.is_some() {
        out.push("--id (ACR names the run)");
    }
    out
}

/// The request's options, and the secret values (to mask).
fn options(build: &BuildArgs) -> Result<(BuildOptions, Vec<String>), ExitCode> {
    let arguments = build::arguments(build).map_err(usage)?;
    let secrets = arguments
        .iter()
        .filter(|a| a.secret)
        .map(|a| a.value.clone())
        .collect();
    let pairs = |secret: bool| -> Vec<String> {
        arguments
            .iter()
            .filter(|a| a.secret == secret)
            .map(|a| format!("{}={}", a.name, a.value))
            .collect()
    };
    Ok((
        BuildOptions {
            images: build.images.clone(),
            dockerfile: build.file.clone(),
            build_args: pairs(false),
            secret_build_args: pairs(true),
            no_push: build.no_push,
            no_cache: false,
            target: build.target.clone(),
            platform: build.platform.clone(),
            timeout: Some(build.timeout),
        },
        secrets,
    ))
}

fn plan(command: &BuildCommand, target: &str) -> Result<(Plan, Option<Fetched>), ExitCode> {
    let build = &command.build;
    let (login_server, subscription) = command.acr.check(target)?;
    let flags = local_only_flags(command);
    if !flags.is_empty() {
        return Err(usage(format!(
            "these flags apply to local builds only, not to --on acr://: {}",
            flags.join(", ")
        )));
    }
    let signer = acr::provenance_signer(&command.provenance, &command.acr)?;
    let (mut options, mut secrets) = options(build)?;
    let masker = Masker::new(&secrets);
    // The flags first (no -t without --no-push, platform, timeout), before any
    // source is read or fetched.
    let timeout = request::timeout(options.timeout).map_err(usage)?;
    request::docker_build(&options, "").map_err(|e| usage(masker.mask(&e.to_string())))?;
    let source = Source::parse(&build.context).map_err(usage)?;
    let (context, fetched, source_location, commit, branch) = match remote(&source, &build.context)
    {
        Some(url) => {
            // -f is then relative to the source, as ACR reads it.
            secrets.extend(userinfo(&url));
            (None, None, Some(url), String::new(), String::new())
        }
        None => {
            let fetched = build::fetch(&source).map_err(|e| {
                eprintln!("error: {e}");
                ExitCode::from(super::EXIT_FAILED)
            })?;
            let dir = fetched.dir();
            let cwd = std::env::current_dir().unwrap_or_default();
            let relative = build::dockerfile(build, &source, &dir, &cwd).map_err(usage)?;
            let (pack, in_tar) =
                quick_build_source(&dir, Some(&relative)).map_err(|e| usage(e.to_string()))?;
            options.dockerfile = Some(in_tar);
            let repo = crate::git::describe(&dir);
            let context: Option<(PathBuf, _)> = Some((dir, pack));
            (context, Some(fetched), None, repo.commit, repo.branch)
        }
    };
    let masker = Masker::new(&secrets);
    let mut request =
        request::docker_build(&options, "").map_err(|e| usage(masker.mask(&e.to_string())))?;
    // --provenance: the task is the request (secret values masked, before the
    // upload names its source); the source is the context's, or the URL ACR
    // fetches (without credentials).
    let provenance = match signer {
        Some(signer) if !command.dry_run => {
            let sent = RunRequest::DockerBuildRequest(request.clone());
            let sent = masker.mask(&serde_json::to_string(&sent.redacted()).unwrap_or_default());
            let given = crate::cli::TaskArgs {
                file: Some(PathBuf::from("(wharf build)")),
                inline: Some(sent),
                context: context
                    .as_ref()
                    .map(|(dir, _)| dir.clone())
                    .unwrap_or_else(|| PathBuf::from("/dev/null")),
                registry: Some(login_server.clone()),
                ..crate::cli::TaskArgs::empty()
            };
            let run_info = given.run_info("linux", "amd64");
            let provenance = crate::cli::ProvenanceArgs {
                task_file: Some("inline:build".into()),
                source: source_location
                    .as_deref()
                    .map(crate::provenance::without_userinfo),
                platform: Some(
                    build
                        .platform
                        .clone()
                        .unwrap_or_else(|| "linux/amd64".into()),
                ),
                ..command.provenance.clone()
            };
            let facts = crate::provenance::Facts::gather(crate::provenance::Given {
                task: &given,
                provenance: &provenance,
                run: &run_info,
                rendered: "",
                masker: &masker,
                secret_ids: (0..options.secret_build_args.len())
                    .map(|i| format!("build_arg_{i}"))
                    .collect(),
                engine: (None, None),
            })
            .map_err(|e| usage(masker.mask(&format!("provenance: {e}"))))?
            .on_acr(&login_server);
            Some(acr::AcrProvenance {
                signer,
                facts,
                secrets: secrets.clone(),
            })
        }
        _ => None,
    };
    request.source_location = source_location;
    Ok((
        Plan {
            login_server,
            subscription,
            target: command.acr.clone(),
            request: RunRequest::DockerBuildRequest(request),
            context,
            masker,
            timeout,
            json: command.json,
            task: "(wharf build)".into(),
            commit,
            branch,
            provenance,
        },
        fetched,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_source_url_are_masked() {
        assert_eq!(
            userinfo("https://me:tok3n@github.com/o/r.git#main"),
            ["me:tok3n", "me", "tok3n"]
        );
        assert_eq!(
            userinfo("https://github.com/o/r.git#a@b"),
            Vec::<String>::new()
        );
        assert_eq!(userinfo("git@github.com:o/r.git"), Vec::<String>::new());
    }

    #[test]
    fn reachable_sources_go_to_acr_as_they_are() {
        let text = "https://github.com/o/r.git#main:app";
        let source = Source::parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(remote(&source, text).as_deref(), Some(text));
        let local = Source::parse("/srv/repo#v1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(remote(&local, "/srv/repo#v1"), None);
        let dir = Source::parse(".").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(remote(&dir, "."), None);
    }
}
