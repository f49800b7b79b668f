//! `wharf`: run ACR Tasks pipelines (acb.yaml) locally.
//!
//! Exit codes: 0 success, 1 the pipeline failed, 2 bad input or usage, 130 interrupted.

mod cli;
mod git;
mod output;
mod render;
mod report;
mod run_command;
mod task_input;

use std::io::Write as _;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use wharf_spec::values::host_platform;
use wharf_spec::{Loaded, masked_secrets};

use crate::cli::{Cli, Command, GraphFormat, PlanFormat, RegistryCommand, TaskArgs};

/// The pipeline failed.
const EXIT_FAILED: u8 = 1;
/// Bad input or usage.
const EXIT_USAGE: u8 = 2;
/// Interrupted (Ctrl-C).
const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    match cli.command {
        Command::Run(args) => run_command::run(&args),
        Command::Clean(args) => run_command::clean(&args),
        Command::Registry(RegistryCommand::Serve(args)) => run_command::registry_serve(&args),
        Command::Plan(args) => plan(&args.task, args.format, args.strict),
        Command::Validate(args) => validate(&args.task, args.strict, args.acr),
        Command::Graph(args) => graph(&args.task, args.format),
        Command::Schema => print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&wharf_spec::schema::json_schema()).unwrap_or_default()
        )),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "wharf", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
    }
}

/// Loads the task for a command that needs no engine; prints problems and returns
/// the exit code on failure.
fn load_for_display(
    args: &TaskArgs,
    strict: bool,
) -> Result<(Loaded, wharf_spec::RunInfo), ExitCode> {
    let (os, arch) = host_platform();
    let run = args.run_info(os, arch);
    let name = args.path().display().to_string();
    match args
        .load_options(run.clone(), strict)
        .and_then(|options| args.load(&options, &mut masked_secrets))
    {
        Ok(loaded) => {
            if !loaded.warnings.is_empty() {
                eprint!(
                    "{}",
                    report::render(&loaded.warnings, &loaded.sources, report::stderr_color())
                );
            }
            Ok((loaded, run))
        }
        Err(e) => Err(report::input_error(
            &name,
            e,
            args.file.is_none() && args.file_flag.is_none(),
            &wharf_engine::Masker::default(),
        )),
    }
}

fn plan(args: &TaskArgs, format: PlanFormat, strict: bool) -> ExitCode {
    let (loaded, run) = match load_for_display(args, strict) {
        Ok(l) => l,
        Err(code) => return code,
    };
    match format {
        PlanFormat::Json => match serde_json::to_string_pretty(&loaded.task) {
            Ok(json) => print(&format!("{json}\n")),
            Err(e) => {
                eprintln!("error: cannot serialize the plan: {e}");
                ExitCode::FAILURE
            }
        },
        PlanFormat::Text => {
            let name = args.path().display().to_string();
            print(&render::plan_text(&loaded.task, &name, &run))
        }
    }
}

fn validate(args: &TaskArgs, strict: bool, acr: bool) -> ExitCode {
    let name = args.path().display().to_string();
    let (loaded, _) = match load_for_display(args, strict) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let mut code = ExitCode::SUCCESS;
    if acr {
        let compat = wharf_spec::compat::acr_compatibility(&loaded);
        if compat.is_empty() {
            eprintln!("{name}: az acr run should behave the same");
        } else {
            eprint!(
                "{}",
                report::render(&compat, &loaded.sources, report::stderr_color())
            );
            eprintln!(
                "{name}: {} place{} where az acr run would refuse or behave differently",
                compat.iter().count(),
                if compat.iter().count() == 1 { "" } else { "s" }
            );
            if strict {
                code = ExitCode::from(EXIT_USAGE);
            }
        }
    }
    eprintln!("{}", report::summary(&name, &loaded.warnings));
    code
}

fn graph(args: &TaskArgs, format: GraphFormat) -> ExitCode {
    let (loaded, _) = match load_for_display(args, false) {
        Ok(l) => l,
        Err(code) => return code,
    };
    print(&match format {
        GraphFormat::Text => render::graph_text(&loaded.task),
        GraphFormat::Mermaid => render::graph_mermaid(&loaded.task),
        GraphFormat::Dot => render::graph_dot(&loaded.task),
    })
}

/// Writes to stdout; a closed pipe (`wharf plan | head`) is not an error.
fn print(text: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write output: {e}");
            ExitCode::FAILURE
        }
    }
}
