//! The arguments of a `build` step, parsed the way the `docker build` command line
//! parses them.

use crate::shell_words::{self, Lookup};

/// A parsed `docker build` argument string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildCommand {
    /// `-t`/`--tag`, in order.
    pub tags: Vec<String>,
    /// `-f`/`--file`.
    pub dockerfile: Option<String>,
    /// `--build-arg`, as written (`K=V`, or `K` to take the value from the environment).
    pub build_args: Vec<String>,
    /// `--target`.
    pub target: Option<String>,
    /// `--label`, as written (`K=V`).
    pub labels: Vec<String>,
    /// `--platform`.
    pub platform: Option<String>,
    /// `--network` for `RUN` instructions.
    pub network: Option<String>,
    /// `--add-host`.
    pub add_hosts: Vec<String>,
    /// `--cache-from`.
    pub cache_from: Vec<String>,
    /// `--cache-to`, as written (`type=inline`, `type=registry,ref=...`).
    pub cache_to: Vec<String>,
    /// `--secret`, as written (`id=X,src=FILE`, `id=X,env=VAR`).
    pub secrets: Vec<String>,
    /// `--ssh`, as written (`default`, `ID=SOCKET`).
    pub ssh: Vec<String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--pull`: always try to pull newer base images.
    pub pull: bool,
    /// `-q`/`--quiet`.
    pub quiet: bool,
    /// `--rm` (default true): remove intermediate containers.
    pub rm: bool,
    /// `--force-rm`.
    pub force_rm: bool,
    /// `--iidfile`: write the image id to this file.
    pub iidfile: Option<String>,
    /// `--shm-size`.
    pub shm_size: Option<String>,
    /// `-m`/`--memory`.
    pub memory: Option<String>,
    /// Flags that `docker build` knows but that have no effect here, with their values.
    pub ignored: Vec<String>,
    /// Flags wharf does not know, with their values: acr-builder passes them to
    /// `docker build` unchecked; wharf cannot honour them.
    pub unknown: Vec<String>,
    /// The build context: a directory, a Git URL or an http(s) tarball URL.
    pub context: String,
}

/// Flags that take a value and that wharf applies.
const VALUE_FLAGS: &[&str] = &[
    "-t",
    "--tag",
    "-f",
    "--file",
    "--build-arg",
    "--target",
    "--label",
    "--platform",
    "--network",
    "--add-host",
    "--cache-from",
    "--cache-to",
    "--secret",
    "--ssh",
    "--iidfile",
    "--shm-size",
    "-m",
    "--memory",
];

/// Flags that take a value that `docker build` accepts but wharf does not act on.
const IGNORED_VALUE_FLAGS: &[&str] = &[
    "--isolation",
    "--cpu-period",
    "--cpu-quota",
    "-c",
    "--cpu-shares",
    "--cpuset-cpus",
    "--cpuset-mems",
    "--memory-swap",
    "--ulimit",
    "--security-opt",
    "--cgroup-parent",
    "-o",
    "--output",
    "--progress",
    "--builder",
    "--allow",
    "--attest",
    "--sbom",
    "--provenance",
    "--metadata-file",
    "--build-context",
    "--annotation",
    "--call",
    "--no-cache-filter",
    "--label-file",
];

/// Boolean flags: they take no separate value (only `--flag=false` forms).
pub(crate) const BOOL_FLAGS: &[&str] = &[
    "--no-cache",
    "--pull",
    "-q",
    "--quiet",
    "--rm",
    "--force-rm",
    "--squash",
    "--compress",
    "--disable-content-trust",
    "--stream",
    "--load",
    "--push",
    "--check",
];

impl BuildCommand {
    /// Parses `text` without expanding `$NAME` (for plans).
    pub fn parse(text: &str) -> Result<BuildCommand, String> {
        Self::parse_with_env(text, None)
    }

    /// Parses `text`, expanding `$NAME` and `${NAME}` from `env` as `/bin/sh` would.
    pub fn parse_with_env(text: &str, env: Option<Lookup<'_>>) -> Result<BuildCommand, String> {
        let words = shell_words::split(text, env).map_err(|e| e.to_string())?;
        let mut cmd = BuildCommand {
            rm: true,
            ..BuildCommand::default()
        };
        let mut positional: Vec<String> = Vec::new();
        let mut words = words.into_iter();
        while let Some(word) = words.next() {
            if word == "--" {
                positional.extend(words.by_ref());
                break;
            }
            if !word.starts_with('-') || word == "-" {
                positional.push(word);
                continue;
            }
            let (flag, inline) = split_flag(&word);
            if BOOL_FLAGS.contains(&flag.as_str()) {
                let on = match inline.as_deref() {
                    None | Some("true") | Some("1") => true,
                    Some("false") | Some("0") => false,
                    Some(other) => {
                        return Err(format!("{flag} takes true or false, not {other:?}"));
                    }
                };
                match flag.as_str() {
                    "--no-cache" => cmd.no_cache = on,
                    "--pull" => cmd.pull = on,
                    "-q" | "--quiet" => cmd.quiet = on,
                    "--rm" => cmd.rm = on,
                    "--force-rm" => cmd.force_rm = on,
                    _ => cmd.ignored.push(word.clone()),
                }
                continue;
            }
            let takes_value = VALUE_FLAGS.contains(&flag.as_str());
            if !takes_value && !IGNORED_VALUE_FLAGS.contains(&flag.as_str()) {
                // acr-builder passes flags it does not know to docker build. A flag
                // written without `=` takes the next word as its value, unless that
                // word is the last one (the context).
                let value = match inline {
                    Some(v) => Some(v),
                    None if words.len() > 1 => words.next(),
                    None => None,
                };
                cmd.unknown.push(match value {
                    Some(v) => format!("{flag}={v}"),
                    None => flag,
                });
                continue;
            }
            let value = match inline {
                Some(v) => v,
                None => words
                    .next()
                    .ok_or_else(|| format!("{flag} needs a value"))?,
            };
            match flag.as_str() {
                "-t" | "--tag" => cmd.tags.push(value),
                "-f" | "--file" => cmd.dockerfile = Some(value),
                "--build-arg" => cmd.build_args.push(value),
                "--target" => cmd.target = Some(value),
                "--label" => cmd.labels.push(value),
                "--platform" => cmd.platform = Some(value),
                "--network" => cmd.network = Some(value),
                "--add-host" => cmd.add_hosts.push(value),
                "--cache-from" => cmd.cache_from.push(value),
                "--cache-to" => cmd.cache_to.push(value),
                "--secret" => cmd.secrets.push(value),
                "--ssh" => cmd.ssh.push(value),
                "--iidfile" => cmd.iidfile = Some(value),
                "--shm-size" => cmd.shm_size = Some(value),
                "-m" | "--memory" => cmd.memory = Some(value),
                _ => cmd.ignored.push(format!("{flag}={value}")),
            }
        }
        match positional.len() {
            0 => Err("no build context: end the build arguments with a context such as `.`".into()),
            1 => {
                cmd.context = positional.remove(0);
                Ok(cmd)
            }
            _ => Err(format!(
                "docker build takes exactly one context, found {}: {}",
                positional.len(),
                positional.join(" ")
            )),
        }
    }
}

/// Splits `--flag=value` and `-tvalue`/`-t=value` forms.
pub(crate) fn split_flag(word: &str) -> (String, Option<String>) {
    if let Some(long) = word.strip_prefix("--") {
        return match long.split_once('=') {
            Some((name, value)) => (format!("--{name}"), Some(value.to_string())),
            None => (word.to_string(), None),
        };
    }
    let mut chars = word.chars();
    chars.next();
    let Some(short) = chars.next() else {
        return (word.to_string(), None);
    };
    let rest: String = chars.collect();
    let flag = format!("-{short}");
    if rest.is_empty() {
        (flag, None)
    } else {
        (
            flag,
            Some(rest.strip_prefix('=').unwrap_or(&rest).to_string()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_flags() {
        let b = BuildCommand::parse(
            "-t reg.io/app:1 --tag=reg.io/app:latest -f ci/Dockerfile --build-arg \"MSG=hello world\" --target prod --no-cache --pull --label a=b --platform linux/amd64 .",
        );
        let Ok(b) = b else { panic!("{b:?}") };
        assert_eq!(b.tags, ["reg.io/app:1", "reg.io/app:latest"]);
        assert_eq!(b.dockerfile.as_deref(), Some("ci/Dockerfile"));
        assert_eq!(b.build_args, ["MSG=hello world"]);
        assert_eq!(b.target.as_deref(), Some("prod"));
        assert!(b.no_cache && b.pull && b.rm);
        assert_eq!(b.labels, ["a=b"]);
        assert_eq!(b.platform.as_deref(), Some("linux/amd64"));
        assert_eq!(b.context, ".");
    }

    #[test]
    fn buildkit_flags_are_kept() {
        let b = BuildCommand::parse(
            "--secret id=a,src=a.txt --secret=id=b,env=B --ssh default --cache-to type=inline --cache-from x .",
        )
        .unwrap_or_default();
        assert_eq!(b.secrets, ["id=a,src=a.txt", "id=b,env=B"]);
        assert_eq!(b.ssh, ["default"]);
        assert_eq!(b.cache_to, ["type=inline"]);
        assert_eq!(b.cache_from, ["x"]);
        assert!(b.ignored.is_empty(), "{:?}", b.ignored);
    }

    #[test]
    fn short_flags_with_attached_values() {
        let b = BuildCommand::parse("-tapp -f=Df ctx").unwrap_or_default();
        assert_eq!(b.tags, ["app"]);
        assert_eq!(b.dockerfile.as_deref(), Some("Df"));
        assert_eq!(b.context, "ctx");
    }

    #[test]
    fn context_is_required_and_single() {
        assert!(BuildCommand::parse("-t app").is_err());
        assert!(BuildCommand::parse("-t app a b").is_err());
        // Unknown flags are kept aside (acr-builder passes them on), not refused.
        assert_eq!(
            BuildCommand::parse("--frobnicate .").map(|b| (b.unknown, b.context)),
            Ok((vec!["--frobnicate".to_string()], ".".to_string()))
        );
        assert_eq!(
            BuildCommand::parse("--frob x -t a --new=1 .").map(|b| b.unknown),
            Ok(vec!["--frob=x".to_string(), "--new=1".to_string()])
        );
        assert!(BuildCommand::parse("-t").is_err());
        assert_eq!(
            BuildCommand::parse("--no-cache https://github.com/x/y.git").map(|b| b.context),
            Ok("https://github.com/x/y.git".to_string())
        );
    }

    #[test]
    fn expands_from_env_when_asked() {
        let env = |n: &str| (n == "TAG").then(|| "v2".to_string());
        let b = BuildCommand::parse_with_env("-t app:$TAG .", Some(&env)).unwrap_or_default();
        assert_eq!(b.tags, ["app:v2"]);
    }
}
