//! `wharf run --on acr://LOGIN_SERVER`: validate the task as for a local run,
//! refuse wharf-only steps, then send it to Azure Container Registry's own
//! task engine (as `az acr run` does) and bring back its log and result.
//!
//! This module turns the flags and the file into the request (exit 2 without
//! contacting Azure on any problem); [`super::acr`] sends it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use wharf_acr::model::{RunRequest, SetValue};
use wharf_acr::pack::PackOptions;
use wharf_acr::request::{self, Common};
use wharf_engine::Masker;
use wharf_spec::{Diagnostic, Diagnostics, masked_secrets};

use crate::cli::RunArgs;
use crate::report;
use crate::task_input::InputError;

use super::acr::{self, AcrTarget, Plan, usage};

/// The flags of `wharf run` that send the run to ACR.
#[derive(Debug, Args, Clone, Default)]
pub struct AcrArgs {
    /// --on and how the run is followed (shared with `wharf build`).
    #[command(flatten)]
    pub target: AcrTarget,
    /// With --on: a secret value for {{.Values.KEY}}, sent with isSecret (masked
    /// in everything wharf prints; repeatable).
    #[arg(long = "set-secret", value_name = "KEY=VALUE")]
    pub set_secret: Vec<String>,
    /// With --on: the platform to run on, os[/arch[/variant]] (linux/amd64).
    #[arg(long = "platform", value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// With --on: the run's timeout in seconds (300 to 28800; 3600).
    #[arg(long = "timeout", value_name = "SECONDS")]
    pub timeout: Option<u64>,
}

/// The local-run flags that mean nothing on ACR.
fn local_only_flags(args: &RunArgs) -> Vec<&'static str> {
    let mut out = Vec::new();
    let t = &args.task;
    for (given, flag) in [
        (t.id.is_some(), "--id (ACR names the run)"),
        (!t.env.is_empty(), "--env"),
        (t.network.is_some(), "--network"),
        (t.working_directory.is_some(), "--working-directory"),
        (!args.secret.is_empty(), "--secret (use --set-secret)"),
        (
            !args.secret_file.is_empty(),
            "--secret-file (use --set-secret)",
        ),
        (args.bind, "--bind"),
        (args.no_docker_socket, "--no-docker-socket"),
    ] {
        if given {
            out.push(flag);
        }
    }
    out
}

/// The places of wharf-only steps (plugin, helm, sign, notify), as errors.
fn extensions(loaded: &wharf_spec::Loaded) -> Diagnostics {
    let mut out = Diagnostics::new();
    let file = loaded.task_file;
    if let Some(span) = loaded.raw.notify_span {
        out.push(
            Diagnostic::error(
                "acr-wharf-only",
                "`notify:` is a wharf extension: ACR cannot run these notifications",
            )
            .at(file, span)
            .with_help("remove it for --on acr://, or run locally"),
        );
    }
    for step in &loaded.raw.steps {
        for (property, span) in &step.keys {
            if property.extension && matches!(property.key, "plugin" | "helm" | "sign") {
                out.push(
                    Diagnostic::error(
                        "acr-wharf-only",
                        format!(
                            "`{}:` steps are a wharf extension: ACR's task engine cannot run them",
                            property.key
                        ),
                    )
                    .at(file, *span)
                    .with_help("run this task locally, or move the step to a local run"),
                );
            }
        }
    }
    out
}

/// `path` relative to `context`, with `/`, when it is inside.
fn inside(context: &Path, path: &Path) -> Option<String> {
    let context = context.canonicalize().ok()?;
    let path = path.canonicalize().ok()?;
    let rel = path.strip_prefix(&context).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// What to send: `cmd` is `wharf run --cmd` (issue 11's flag; `None` until
/// the merge wires it), which sends `az acr run --cmd`'s task instead of a file.
fn plan(args: &RunArgs, target: &str, cmd: Option<&str>) -> Result<Plan, ExitCode> {
    let acr = &args.acr;
    let (login_server, subscription) = acr.target.check(target)?;
    let flags = local_only_flags(args);
    if !flags.is_empty() {
        return Err(usage(format!(
            "these flags apply to local runs only, not to --on acr://: {}",
            flags.join(", ")
        )));
    }
    let signer = acr::provenance_signer(&args.provenance, &acr.target)?;
    let timeout = request::timeout(acr.timeout).map_err(usage)?;
    let platform = request::platform(acr.platform.as_deref()).map_err(usage)?;
    let mut values: Vec<SetValue> =
        request::set_values(&args.task.set, false, "--set").map_err(usage)?;
    let secrets = request::set_values(&acr.set_secret, true, "--set-secret").map_err(usage)?;
    let secret_values: Vec<String> = secrets.iter().map(|s| s.value.clone()).collect();
    let secret_ids: Vec<String> = secrets.iter().map(|s| s.name.clone()).collect();
    let masker = Masker::new(secrets.iter().map(|s| s.value.clone()));
    values.extend(secrets);
    if args.task.values.len() > 1 {
        return Err(usage(
            "ACR takes one values file: give --values once (or merge them) for --on acr://",
        ));
    }
    let context = &args.task.context;
    let no_context = context == Path::new("/dev/null");
    if !no_context && !context.is_dir() {
        return Err(usage(format!(
            "the context {} is not a directory (use -C /dev/null to send the task without one)",
            context.display()
        )));
    }

    // The task, loaded and validated as for a local run: ACR's run variables,
    // --set and --set-secret values, Key Vault secrets left to ACR.
    let path = args.task.path();
    let default_file = cmd.is_none() && args.task.file.is_none() && args.task.file_flag.is_none();
    let name = match cmd {
        Some(_) => "--cmd".to_owned(),
        None => path.display().to_string(),
    };
    let mut task_args = args.task.clone();
    task_args.registry = Some(login_server.clone());
    task_args.set.extend(acr.set_secret.iter().cloned());
    let arch = platform
        .architecture
        .clone()
        .unwrap_or_else(|| "amd64".into());
    let run_info = task_args.run_info(&platform.os.to_ascii_lowercase(), &arch);
    let (commit, branch) = (run_info.commit.clone(), run_info.branch.clone());
    let options = task_args
        .load_options(run_info.clone(), args.strict)
        .map_err(|e| report::input_error(&name, e, default_file, &masker))?;
    let (text, loaded) = match cmd {
        Some(cmd) => {
            let text = request::cmd_task(cmd, acr.timeout.map(|_| timeout));
            let files = wharf_spec::LocalFiles {
                base: context.clone(),
            };
            let loaded = wharf_spec::load(&name, &text, &options, &files, &mut masked_secrets)
                .map_err(|e| report::input_error(&name, InputError::Invalid(e), false, &masker))?;
            (text, loaded)
        }
        None => {
            let loaded = task_args
                .load(&options, &mut masked_secrets)
                .map_err(|e| report::input_error(&name, e, default_file, &masker))?;
            let text = std::fs::read_to_string(&path).map_err(|e| usage(format!("{name}: {e}")))?;
            (text, loaded)
        }
    };
    if !loaded.warnings.is_empty() {
        let warnings = report::masked(&loaded.warnings, &masker);
        eprint!(
            "{}",
            report::render(&warnings, &loaded.sources, report::stderr_color())
        );
    }
    let refused = extensions(&loaded);
    if !refused.is_empty() {
        eprint!(
            "{}",
            report::render(&refused, &loaded.sources, report::stderr_color())
        );
        let n = refused.iter().count();
        return Err(usage(format!(
            "{name}: {n} wharf-only place{} cannot run on ACR; nothing was sent",
            if n == 1 { "" } else { "s" }
        )));
    }

    // --provenance: what the run is given, as for a local run; ACR renders the
    // task itself, and names the run.
    let provenance = match signer {
        Some(signer) if !args.dry_run => {
            let mut given = args.task.clone();
            if cmd.is_some() {
                given.inline = Some(text.clone());
            }
            let facts = crate::provenance::Facts::gather(crate::provenance::Given {
                task: &given,
                provenance: &args.provenance,
                run: &run_info,
                rendered: &loaded.rendered,
                masker: &masker,
                secret_ids,
                engine: (None, None),
            })
            .map_err(|e| usage(masker.mask(&format!("provenance: {e}"))))?
            .on_acr(&login_server);
            Some(acr::AcrProvenance {
                signer,
                facts,
                secrets: secret_values,
            })
        }
        _ => None,
    };

    let common = Common {
        values,
        timeout,
        platform,
        agent_pool_name: None,
    };
    let values_file = args.task.values.first().map(PathBuf::from);
    let outside = |what: &str, p: &Path| {
        usage(format!(
            "{what} {} is not inside the context {}: ACR reads it from the uploaded context \
             (move it in, or send the task without context: -C /dev/null)",
            p.display(),
            context.display()
        ))
    };
    // The task inline: without a context, or for --cmd (with the context
    // uploaded as its source, as az acr run --cmd CMD DIR does).
    if no_context || cmd.is_some() {
        let values_text = match &values_file {
            Some(v) => Some(
                std::fs::read_to_string(v).map_err(|e| usage(format!("{}: {e}", v.display())))?,
            ),
            None => None,
        };
        let request = RunRequest::EncodedTaskRunRequest(request::encoded_task_run(
            &text,
            values_text.as_deref(),
            common,
        ));
        return Ok(Plan {
            login_server,
            subscription,
            request,
            context: (!no_context).then(|| (context.clone(), PackOptions::default())),
            masker,
            timeout,
            target: acr.target.clone(),
            json: args.json,
            // As a local --cmd run names it in the history.
            task: if cmd.is_some() {
                "(--cmd)".into()
            } else {
                name
            },
            commit,
            branch,
            provenance,
        });
    }
    let task_file = inside(context, &path).ok_or_else(|| outside("the task file", &path))?;
    let values_path = match &values_file {
        Some(v) => Some(inside(context, v).ok_or_else(|| outside("the values file", v))?),
        None => None,
    };
    let mut keep = vec![task_file.clone()];
    keep.extend(values_path.clone());
    let request = RunRequest::FileTaskRunRequest(request::file_task_run(
        &task_file,
        values_path.as_deref(),
        "",
        common,
    ));
    Ok(Plan {
        login_server,
        subscription,
        request,
        context: Some((
            context.clone(),
            PackOptions {
                keep,
                ..PackOptions::default()
            },
        )),
        masker,
        timeout,
        target: acr.target.clone(),
        json: args.json,
        task: name,
        commit,
        branch,
        provenance,
    })
}

/// `wharf run --on acr://…`; `cmd` is `wharf run --cmd` when given.
pub fn run(args: &RunArgs, target: &str, cmd: Option<&str>) -> ExitCode {
    match plan(args, target, cmd) {
        Ok(plan) => acr::execute(plan, args.dry_run),
        Err(code) => code,
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};

    fn run_args(extra: &[&str]) -> RunArgs {
        let mut argv = vec!["wharf", "run", "--subscription", "sub-1"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).map(|c| c.command) {
            Ok(Command::Run(args)) => args,
            other => panic!("not a run: {other:?}"),
        }
    }

    #[test]
    fn a_cmd_run_sends_az_acr_run_s_task_inline() {
        let args = run_args(&[
            "--on",
            "acr://r.azurecr.io",
            "-C",
            "/dev/null",
            "--timeout",
            "900",
        ]);
        let plan = plan(
            &args,
            "acr://r.azurecr.io",
            Some("busybox echo {{.Run.Registry}}"),
        )
        .unwrap_or_else(|_| panic!("plan"));
        let RunRequest::EncodedTaskRunRequest(request) = &plan.request else {
            panic!("not encoded: {:?}", plan.request);
        };
        use base64::Engine as _;
        let task = base64::engine::general_purpose::STANDARD
            .decode(&request.encoded_task_content)
            .unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&task),
            "version: v1.1.0\nsteps: \n  - cmd: \"busybox echo {{.Run.Registry}}\"\n    \
             disableWorkingDirectoryOverride: true\n    timeout: 900\n"
        );
        assert_eq!(request.timeout, Some(900));
        assert!(request.source_location.is_none());
        assert!(plan.context.is_none());
    }

    #[test]
    fn a_cmd_run_with_a_context_uploads_it_as_the_source() {
        let dir = std::env::temp_dir();
        let dir = dir.to_string_lossy();
        let args = run_args(&["--on", "acr://r.azurecr.io", "-C", &dir]);
        let plan = plan(&args, "acr://r.azurecr.io", Some("busybox ls"))
            .unwrap_or_else(|_| panic!("plan"));
        assert!(matches!(plan.request, RunRequest::EncodedTaskRunRequest(_)));
        assert!(plan.context.is_some());
    }
}
