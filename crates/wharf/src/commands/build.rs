//! `wharf build`: a quick task, as `az acr build` runs one. The arguments become a
//! task of one build step and one push step, run like any other task (live log,
//! summary, history); the context may be a directory, a git repository or a tarball
//! URL (fetched into a temporary directory first).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::Args;

use crate::cli::{RunArgs, TaskArgs};

use super::{EXIT_USAGE, run};

/// The arguments of a quick build, as `az acr build` has them. Kept apart from the
/// clap command so that other front ends (a remote `--on acr://` run) can take the
/// same flags.
#[derive(Debug, Args, Clone)]
pub struct BuildArgs {
    /// An image name and tag (repeatable): `app:1`, pushed as `<registry>/app:1`;
    /// templates such as `{{.Run.ID}}` are rendered. Without any, the image is
    /// built and not pushed.
    #[arg(short = 't', long = "image", value_name = "IMAGE")]
    pub images: Vec<String>,
    /// The Dockerfile. For a directory context: default `<CONTEXT>/Dockerfile`, a
    /// relative path is taken from the current directory. For a git or tarball
    /// context: relative to the context (default `Dockerfile`).
    #[arg(short = 'f', long = "file", value_name = "DOCKERFILE")]
    pub file: Option<String>,
    /// A build argument: NAME=VALUE, or NAME to take the value from the environment
    /// (repeatable).
    #[arg(long = "build-arg", value_name = "NAME[=VALUE]")]
    pub build_args: Vec<String>,
    /// A build argument whose value is a secret: masked wherever wharf shows it
    /// (repeatable).
    #[arg(long = "secret-build-arg", value_name = "NAME[=VALUE]")]
    pub secret_build_args: Vec<String>,
    /// The platform to build for: os/arch[/variant].
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// The Dockerfile stage to build.
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// Build only; push nothing.
    #[arg(long = "no-push")]
    pub no_push: bool,
    /// The registry the images are pushed to (its login server); default: wharf's own.
    #[arg(
        short = 'r',
        long = "registry",
        env = "WHARF_REGISTRY",
        value_name = "REGISTRY"
    )]
    pub registry: Option<String>,
    /// The build's time limit, in seconds (as ACR: 3600).
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub timeout: u64,
    /// The source: a directory, a git repository (a path or URL, `#ref:subdir`
    /// optional) or the URL of a tarball.
    #[arg(value_name = "CONTEXT")]
    pub context: String,
}

/// `wharf build` on the command line: the quick build's flags and how to run it.
#[derive(Debug, Args)]
pub struct BuildCommand {
    #[command(flatten)]
    pub build: BuildArgs,
    /// `--on acr://REGISTRY` and how the remote build is followed.
    #[command(flatten)]
    pub acr: super::acr::AcrTarget,
    /// The run id, for $ID and {{.Run.ID}} (default: a new short id).
    #[arg(long = "id", value_name = "ID", value_parser = crate::cli::parse_run_id)]
    pub id: Option<String>,
    /// Print NDJSON events on stdout instead of logs (docs/events.md).
    #[arg(long)]
    pub json: bool,
    /// Print what would run, without running anything.
    #[arg(short = 'n', long = "dry-run")]
    pub dry_run: bool,
    /// `--provenance` and its key: attest each pushed image (taskFile `inline:build`).
    #[command(flatten)]
    pub provenance: crate::cli::ProvenanceArgs,
}

/// Where the build context comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A local directory.
    Dir(PathBuf),
    /// A git repository: URL or path, then the ref and the subdirectory of
    /// `#ref:subdir` (both may be empty).
    Git {
        url: String,
        reference: String,
        subdir: String,
    },
    /// An http(s) URL of a tar archive (gzip-compressed or not).
    Tarball(String),
}

impl Source {
    /// Classifies CONTEXT as `az acr build` does (`check_remote_source_code`): `git@`
    /// and `git://` URLs, URLs and paths ending in `.git` (before a `#`), and anything
    /// with a `#ref` fragment are git; other http(s) URLs are tarballs; the rest is a
    /// directory.
    pub fn parse(text: &str) -> Result<Source, String> {
        let (base, fragment) = match text.split_once('#') {
            Some((b, f)) => (b, Some(f)),
            None => (text, None),
        };
        let is_url = base.starts_with("http://") || base.starts_with("https://");
        let git = base.starts_with("git@")
            || base.starts_with("git://")
            || base.starts_with("ssh://")
            || base.starts_with("file://")
            || base.trim_end_matches('/').ends_with(".git")
            || fragment.is_some();
        if git {
            let (reference, subdir) = match fragment {
                Some(f) => match f.split_once(':') {
                    Some((r, s)) => (r, s),
                    None => (f, ""),
                },
                None => ("", ""),
            };
            if subdir.split('/').any(|part| part == "..") {
                return Err(format!(
                    "the subdirectory {subdir:?} of {text} leaves the repository"
                ));
            }
            return Ok(Source::Git {
                url: base.to_string(),
                reference: reference.to_string(),
                subdir: subdir.trim_matches('/').to_string(),
            });
        }
        if is_url {
            return Ok(Source::Tarball(text.to_string()));
        }
        let path = PathBuf::from(text);
        if path.is_dir() {
            Ok(Source::Dir(path))
        } else if path.exists() {
            Err(format!(
                "the context {text} is a file: give a directory, a git repository or a tarball URL"
            ))
        } else {
            Err(format!("the context {text} does not exist"))
        }
    }
}

/// `wharf build`.
pub fn run(command: &BuildCommand) -> ExitCode {
    let usage = |message: String| {
        eprintln!("error: {message}");
        ExitCode::from(EXIT_USAGE)
    };
    if let Some(target) = &command.acr.on {
        return super::build_acr::run(command, target);
    }
    // A missing or unreadable key is refused before the context is fetched.
    if let Err(e) = crate::provenance::prepare(&command.provenance) {
        return usage(e);
    }
    let source = match Source::parse(&command.build.context) {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    let fetched = match fetch(&source) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(super::EXIT_FAILED);
        }
    };
    let context = fetched.dir();
    let cwd = std::env::current_dir().unwrap_or_default();
    let dockerfile = match dockerfile(&command.build, &source, &context, &cwd) {
        Ok(d) => d,
        Err(e) => return usage(e),
    };
    let quick = match task(&command.build, &dockerfile) {
        Ok(q) => q,
        Err(e) => return usage(e),
    };
    if command.build.images.is_empty() {
        eprintln!("wharf: warning: no --image/-t given: the image is built and not pushed");
    }
    let args = RunArgs {
        task: TaskArgs {
            file: Some(PathBuf::from("(wharf build)")),
            inline: Some(quick.yaml),
            context,
            registry: command.build.registry.clone(),
            id: command.id.clone(),
            ..TaskArgs::empty()
        },
        secret: quick.secrets,
        json: command.json,
        dry_run: command.dry_run,
        provenance: crate::cli::ProvenanceArgs {
            task_file: Some("inline:build".into()),
            source: match &source {
                Source::Tarball(url) => Some(url.clone()),
                _ => None,
            },
            platform: command.build.platform.clone(),
            ..command.provenance.clone()
        },
        ..RunArgs::quick()
    };
    let code = run::run(&args);
    drop(fetched);
    code
}

/// The task a quick build runs, and the `--secret` flags that mask its secret
/// build args.
#[derive(Debug)]
pub struct QuickTask {
    /// The task file's text.
    pub yaml: String,
    /// `ID=VALUE` for each secret build arg.
    pub secrets: Vec<String>,
}

/// The task of a quick build: a build step tagging every image (prefixed with
/// `{{.Run.Registry}}`) and, unless `--no-push` or without images, a push step.
/// `dockerfile` is relative to the context.
pub fn task(args: &BuildArgs, dockerfile: &str) -> Result<QuickTask, String> {
    let images: Vec<String> = args
        .images
        .iter()
        .map(|i| prefixed(i, args.registry.as_deref()))
        .collect::<Result<_, _>>()?;
    let mut words: Vec<String> = Vec::new();
    for image in &images {
        words.push("-t".into());
        words.push(quote(image));
    }
    words.push("-f".into());
    words.push(quote(&literal(dockerfile)));
    let mut secrets = Vec::new();
    for BuildArg {
        name,
        value,
        secret,
    } in arguments(args)?
    {
        if secret {
            secrets.push(format!("build_arg_{}={value}", secrets.len()));
        }
        words.push("--build-arg".into());
        words.push(quote(&literal(&format!("{name}={value}"))));
    }
    if let Some(p) = &args.platform {
        words.push("--platform".into());
        words.push(quote(&literal(p)));
    }
    if let Some(t) = &args.target {
        words.push("--target".into());
        words.push(quote(&literal(t)));
    }
    words.push(".".into());
    let mut yaml = format!(
        "version: v1.0.0\nsteps:\n  - id: build\n    build: {}\n    timeout: {}\n",
        json(&words.join(" ")),
        args.timeout
    );
    if !args.no_push && !images.is_empty() {
        yaml.push_str(&format!(
            "  - id: push\n    push: [{}]\n    timeout: {}\n",
            images
                .iter()
                .map(|i| json(i))
                .collect::<Vec<_>>()
                .join(", "),
            args.timeout
        ));
    }
    Ok(QuickTask { yaml, secrets })
}

/// A build argument with its value.
#[derive(Clone)]
pub struct BuildArg {
    /// The name.
    pub name: String,
    /// The value (given, or from the environment).
    pub value: String,
    /// From `--secret-build-arg`: masked wherever wharf shows it.
    pub secret: bool,
}

/// `--build-arg`s, then `--secret-build-arg`s: NAME=VALUE, or NAME to take the
/// value from the environment. An error names the flag's NAME, never a value.
pub fn arguments(args: &BuildArgs) -> Result<Vec<BuildArg>, String> {
    let mut out = Vec::new();
    for (secret, arg) in args
        .build_args
        .iter()
        .map(|a| (false, a))
        .chain(args.secret_build_args.iter().map(|a| (true, a)))
    {
        let flag = if secret {
            "--secret-build-arg"
        } else {
            "--build-arg"
        };
        let (name, value) = match arg.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => match std::env::var(arg) {
                Ok(v) => (arg.clone(), v),
                Err(_) => {
                    return Err(format!(
                        "{flag} {arg}: give NAME=VALUE, or set the environment variable {arg}"
                    ));
                }
            },
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(format!("{flag} {name:?}: the name is not valid"));
        }
        out.push(BuildArg {
            name,
            value,
            secret,
        });
    }
    Ok(out)
}

/// `-t` as ACR takes it: relative to the registry. A name that already starts with
/// the given registry is kept as it is.
fn prefixed(image: &str, registry: Option<&str>) -> Result<String, String> {
    let image = image.trim();
    if image.is_empty() || image.contains(char::is_whitespace) {
        return Err(format!("--image {image:?} is not an image name"));
    }
    if let Some(r) = registry.filter(|r| !r.is_empty())
        && image
            .strip_prefix(r)
            .is_some_and(|rest| rest.starts_with('/'))
    {
        return Ok(image.to_string());
    }
    Ok(format!("{{{{.Run.Registry}}}}/{image}"))
}

/// The Dockerfile's path relative to the context, checked to be a file there (as
/// `az acr build` checks a local source before it sends it): a missing one is bad
/// input, said before any step starts rather than as a failed build in
/// `/workspace`.
pub fn dockerfile(
    args: &BuildArgs,
    source: &Source,
    context: &Path,
    cwd: &Path,
) -> Result<String, String> {
    let relative = match &args.file {
        None => "Dockerfile".to_string(),
        // Relative to the fetched source, as ACR reads it.
        Some(file) if !matches!(source, Source::Dir(_)) => file.clone(),
        // A directory context: the path is the user's, from the current directory.
        Some(file) => {
            let absolute = |p: &Path| {
                let p = if p.is_absolute() {
                    p.to_path_buf()
                } else {
                    cwd.join(p)
                };
                std::fs::canonicalize(&p)
                    .map_err(|e| format!("the Dockerfile {}: {e}", p.display()))
            };
            let file_path = absolute(Path::new(file))?;
            let context = absolute(context)?;
            match file_path.strip_prefix(&context) {
                Ok(relative) => relative.to_string_lossy().into_owned(),
                Err(_) => {
                    return Err(format!(
                        "the Dockerfile {file} is outside the context {}: wharf builds from the context, move the Dockerfile into it",
                        context.display()
                    ));
                }
            }
        }
    };
    if context.join(&relative).is_file() {
        return Ok(relative);
    }
    let hint = match (&args.file, source) {
        (None, _) => "; name another with -f FILE",
        (Some(_), Source::Dir(_)) => "",
        (Some(_), _) => " (-f is relative to the fetched source)",
    };
    let named = match (&args.file, source) {
        (Some(file), Source::Dir(_)) => file.as_str(),
        _ => relative.as_str(),
    };
    Err(format!(
        "the Dockerfile {named} is not a file in the context {}{hint}",
        args.context
    ))
}

/// A context on disk: the user's directory, or a temporary one holding what was
/// fetched.
pub enum Fetched {
    /// The user's directory.
    Dir(PathBuf),
    /// A temporary directory, removed on drop; the context is `subdir` inside it.
    Temp {
        dir: tempfile::TempDir,
        subdir: String,
    },
}

impl Fetched {
    /// The context directory.
    pub fn dir(&self) -> PathBuf {
        match self {
            Fetched::Dir(d) => d.clone(),
            Fetched::Temp { dir, subdir } => dir.path().join(subdir),
        }
    }
}

/// Brings the source onto this machine: clones a git repository (checking out the
/// ref), downloads and unpacks a tarball.
pub fn fetch(source: &Source) -> Result<Fetched, String> {
    match source {
        Source::Dir(d) => Ok(Fetched::Dir(d.clone())),
        Source::Git {
            url,
            reference,
            subdir,
        } => {
            let dir = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
            let checkout = dir.path().join("src");
            git(Command::new("git")
                .args(["clone", "--quiet", "--no-tags", "--", url])
                .arg(&checkout))?;
            if !reference.is_empty() {
                git(Command::new("git")
                    .arg("-C")
                    .arg(&checkout)
                    .args(["checkout", "--quiet", reference, "--"]))
                .map_err(|e| format!("{url}: cannot check out {reference:?}: {e}"))?;
            }
            let subdir = if subdir.is_empty() {
                "src".to_string()
            } else {
                format!("src/{subdir}")
            };
            if !dir.path().join(&subdir).is_dir() {
                return Err(format!(
                    "{url}: the repository has no directory {}",
                    subdir.trim_start_matches("src/")
                ));
            }
            Ok(Fetched::Temp { dir, subdir })
        }
        Source::Tarball(url) => {
            let dir = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
            let response = reqwest::blocking::Client::new()
                .get(url)
                .send()
                .map_err(|e| format!("cannot download {url}: {e}"))?;
            if !response.status().is_success() {
                return Err(format!("GET {url} answered {}", response.status()));
            }
            let bytes = response
                .bytes()
                .map_err(|e| format!("cannot download {url}: {e}"))?;
            let unpacked = if bytes.starts_with(&[0x1f, 0x8b]) {
                tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..])).unpack(dir.path())
            } else {
                tar::Archive::new(&bytes[..]).unpack(dir.path())
            };
            unpacked.map_err(|e| format!("{url} is not a tar archive wharf can unpack: {e}"))?;
            Ok(Fetched::Temp {
                dir,
                subdir: String::new(),
            })
        }
    }
}

/// Runs a git command; its stderr is the error.
fn git(command: &mut Command) -> Result<(), String> {
    let out = command
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// `text` as one word of a `docker build` line (single-quoted when needed).
fn quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@{}+,%".contains(c))
    {
        return text.to_string();
    }
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// `text` kept literal through template rendering.
fn literal(text: &str) -> String {
    // A raw string (backquotes): the template is rendered before the YAML is read,
    // so it must not hold characters the YAML string escapes.
    text.replace("{{", "{{`{{`}}")
}

/// A YAML double-quoted scalar (JSON strings are YAML).
fn json(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(images: &[&str], registry: Option<&str>) -> BuildArgs {
        BuildArgs {
            images: images.iter().map(|s| s.to_string()).collect(),
            file: None,
            build_args: vec!["A=1".into()],
            secret_build_args: vec!["TOKEN=s3cr3t value".into()],
            platform: None,
            target: Some("final".into()),
            no_push: false,
            registry: registry.map(str::to_string),
            timeout: 3600,
            context: ".".into(),
        }
    }

    #[test]
    fn sources_are_classified_as_az_acr_build_does() {
        assert_eq!(
            Source::parse("https://example.com/repo.git#main:app"),
            Ok(Source::Git {
                url: "https://example.com/repo.git".into(),
                reference: "main".into(),
                subdir: "app".into()
            })
        );
        assert_eq!(
            Source::parse("/srv/repo#v1"),
            Ok(Source::Git {
                url: "/srv/repo".into(),
                reference: "v1".into(),
                subdir: String::new()
            })
        );
        assert!(matches!(
            Source::parse("git@github.com:u/r.git"),
            Ok(Source::Git { .. })
        ));
        assert_eq!(
            Source::parse("http://127.0.0.1:1/src.tar.gz"),
            Ok(Source::Tarball("http://127.0.0.1:1/src.tar.gz".into()))
        );
        assert!(matches!(Source::parse("."), Ok(Source::Dir(_))));
        assert!(Source::parse("/no/such/dir").is_err());
        assert!(Source::parse("/srv/repo#main:../x").is_err());
    }

    #[test]
    fn images_get_the_registry_and_secret_args_become_secrets() {
        let quick = task(&args(&["app:1", "r.io/app:2"], Some("r.io")), "Dockerfile")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            quick
                .yaml
                .contains("-t {{.Run.Registry}}/app:1 -t r.io/app:2 -f Dockerfile"),
            "{}",
            quick.yaml
        );
        assert!(
            quick
                .yaml
                .contains("push: [\"{{.Run.Registry}}/app:1\", \"r.io/app:2\"]"),
            "{}",
            quick.yaml
        );
        assert!(quick.yaml.contains("--target final ."), "{}", quick.yaml);
        assert_eq!(quick.secrets, ["build_arg_0=s3cr3t value"]);
        let loaded = wharf_spec::load_task(&quick.yaml)
            .unwrap_or_else(|f| panic!("{:?}\n{}", f.diagnostics, quick.yaml));
        assert_eq!(loaded.steps.len(), 2);
    }

    #[test]
    fn image_names_may_use_run_variables() {
        let quick =
            task(&args(&["app:{{.Run.ID}}"], None), "Dockerfile").unwrap_or_else(|e| panic!("{e}"));
        assert!(
            quick.yaml.contains("-t {{.Run.Registry}}/app:{{.Run.ID}} "),
            "{}",
            quick.yaml
        );
    }

    #[test]
    fn no_push_and_no_images_give_a_build_only() {
        let mut a = args(&["app:1"], None);
        a.no_push = true;
        let quick = task(&a, "Dockerfile").unwrap_or_else(|e| panic!("{e}"));
        assert!(!quick.yaml.contains("push:"), "{}", quick.yaml);
        let quick = task(&args(&[], None), "Dockerfile").unwrap_or_else(|e| panic!("{e}"));
        assert!(!quick.yaml.contains("push:"), "{}", quick.yaml);
    }

    #[test]
    fn template_text_in_values_stays_literal() {
        let mut a = args(&["app:1"], None);
        a.build_args = vec!["X={{.Run.ID}} it's".into()];
        let quick = task(&a, "Dockerfile").unwrap_or_else(|e| panic!("{e}"));
        let loaded = wharf_spec::load_task(&quick.yaml)
            .unwrap_or_else(|f| panic!("{:?}\n{}", f.diagnostics, quick.yaml));
        let plan = format!("{:?}", loaded.steps[0].action);
        assert!(plan.contains("{{.Run.ID}} it's"), "{plan}");
    }
}
