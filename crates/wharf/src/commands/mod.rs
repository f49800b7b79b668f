//! The commands of the binary, one per file, as cargo and skopeo lay them out. Each
//! module's `run` takes its parsed arguments and returns the process exit code.

pub mod acr;
pub mod attach;
pub mod build;
pub mod build_acr;
pub mod cert;
pub mod clean;
pub mod completions;
pub mod graph;
pub mod helm;
pub mod plan;
pub mod plugin;
pub mod registry;
pub mod run;
pub mod run_acr;
pub mod runs;
pub mod schema;
pub mod sign;
pub mod sign_step;
pub mod validate;
pub mod verify;
pub mod verify_attestation;
pub mod watch;
pub mod watch_cron;

use std::io::Write as _;
use std::process::ExitCode;

use wharf_spec::values::host_platform;
use wharf_spec::{Loaded, masked_secrets};

use crate::cli::{Command, HelmCommand, RegistryCommand, TaskArgs};
use crate::report;

/// The pipeline failed.
pub const EXIT_FAILED: u8 = 1;
/// Bad input or usage.
pub const EXIT_USAGE: u8 = 2;
/// Interrupted (Ctrl-C).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Runs a parsed command.
pub fn dispatch(command: Command) -> ExitCode {
    match command {
        Command::Run(args) => run::run(&args),
        Command::Build(args) => build::run(&args),
        Command::Runs(command) => runs::run(&command),
        Command::Watch(args) => watch::run(&args),
        Command::Clean(args) => clean::run(&args),
        Command::Registry(command) => match command {
            RegistryCommand::Serve(args) => registry::serve::run(&args),
            RegistryCommand::Ls(args) => registry::ls::run(&args),
            RegistryCommand::Tags(args) => registry::tags::run(&args),
            RegistryCommand::Inspect(args) => registry::inspect::run(&args),
            RegistryCommand::Copy(args) => registry::copy::run(&args),
            RegistryCommand::Delete(args) => registry::delete::run(&args),
            RegistryCommand::Login(args) => registry::login::run(&args),
            RegistryCommand::Logout(args) => registry::logout::run(&args),
            RegistryCommand::Referrers(args) => registry::referrers::run(&args),
            RegistryCommand::Purge(args) => registry::purge::run(&args),
        },
        Command::Helm(HelmCommand::Package(args)) => helm::package::run(&args),
        Command::Helm(HelmCommand::Push(args)) => helm::push::run(&args),
        Command::Helm(HelmCommand::Pull(args)) => helm::pull::run(&args),
        Command::Sign(args) => sign::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::VerifyAttestation(args) => verify_attestation::run(&args),
        Command::Attach(args) => attach::run(&args),
        Command::Cert(crate::cli_trust::CertCommand::GenerateTest(args)) => cert::run(&args),
        Command::Plugin(command) => plugin::run(command),
        Command::Plan(args) => plan::run(&args),
        Command::Validate(args) => validate::run(&args),
        Command::Graph(args) => graph::run(&args),
        Command::Schema => schema::run(),
        Command::Completions { shell } => completions::run(shell),
    }
}

/// A multi-threaded tokio runtime for the commands that need one.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::from(EXIT_FAILED)
        })
}

/// Loads the task for a command that needs no engine; prints problems and returns
/// the exit code on failure.
pub(crate) fn load_for_display(
    args: &TaskArgs,
    strict: bool,
) -> Result<(Loaded, wharf_spec::RunInfo), ExitCode> {
    let (loaded, run) = load_quietly(args, strict)?;
    if !loaded.warnings.is_empty() {
        eprint!(
            "{}",
            report::render(&loaded.warnings, &loaded.sources, report::stderr_color())
        );
    }
    Ok((loaded, run))
}

/// Like [`load_for_display`], but leaves the warnings of a successful load to the
/// caller.
pub(crate) fn load_quietly(
    args: &TaskArgs,
    strict: bool,
) -> Result<(Loaded, wharf_spec::RunInfo), ExitCode> {
    let (os, arch) = host_platform();
    let mut run = args.run_info(os, arch);
    // No --registry: the one `wharf run` would push to, wharf's own. An empty
    // $Registry (which ACR never has) made `oci://$Registry/charts` a wrong target.
    if run.registry.is_empty() {
        run.registry = run::LOCAL_REGISTRY.to_string();
    }
    let name = args.path().display().to_string();
    match args
        .load_options(run.clone(), strict)
        .and_then(|options| args.load(&options, &mut masked_secrets))
    {
        Ok(loaded) => Ok((loaded, run)),
        Err(e) => Err(report::input_error(
            &name,
            e,
            args.file.is_none() && args.file_flag.is_none(),
            &wharf_engine::Masker::default(),
        )),
    }
}

/// Writes to stdout; a closed pipe (`wharf plan | head`) is not an error.
pub(crate) fn print(text: &str) -> ExitCode {
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
