//! Building run requests from what the user gave, as azure-cli's `run.py`
//! and `build.py` do (with wharf's checks first).

use base64::Engine as _;

use crate::error::{Error, Result};
use crate::model::{
    DockerBuildRequest, EncodedTaskRunRequest, FileTaskRunRequest, PlatformProperties, SetValue,
};

/// ACR's default run timeout, seconds.
pub const DEFAULT_TIMEOUT: u32 = 3600;
/// The shortest timeout ACR accepts.
pub const MIN_TIMEOUT: u32 = 300;
/// The longest timeout ACR accepts.
pub const MAX_TIMEOUT: u32 = 28800;

/// `--timeout`: 300 to 28800 seconds (3600 when not given).
pub fn timeout(secs: Option<u64>) -> Result<u32> {
    match secs {
        None => Ok(DEFAULT_TIMEOUT),
        Some(s) if (u64::from(MIN_TIMEOUT)..=u64::from(MAX_TIMEOUT)).contains(&s) => {
            Ok(u32::try_from(s).unwrap_or(DEFAULT_TIMEOUT))
        }
        Some(s) => Err(Error::Usage(format!(
            "--timeout {s}: ACR accepts {MIN_TIMEOUT} to {MAX_TIMEOUT} seconds"
        ))),
    }
}

/// `--platform os[/arch[/variant]]`, lower-cased and checked against the
/// API's enums; `linux/amd64` when not given.
pub fn platform(text: Option<&str>) -> Result<PlatformProperties> {
    let text = text
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or("linux/amd64");
    let lower = text.to_ascii_lowercase();
    let mut parts = lower.split('/');
    let bad = |why: String| Error::Usage(format!("--platform {text}: {why}"));
    let os = match parts.next() {
        Some("linux") => "Linux",
        Some("windows") => "Windows",
        other => {
            return Err(bad(format!(
                "the OS {:?} is not linux or windows",
                other.unwrap_or_default()
            )));
        }
    };
    let architecture = match parts.next() {
        None => Some("amd64".to_owned()),
        Some(a @ ("amd64" | "x86" | "386" | "arm" | "arm64")) => Some(a.to_owned()),
        Some(a) => {
            return Err(bad(format!(
                "the architecture {a:?} is not one of amd64, x86, 386, arm, arm64"
            )));
        }
    };
    let variant = match parts.next() {
        None => None,
        Some(v @ ("v6" | "v7" | "v8")) => Some(v.to_owned()),
        Some(v) => return Err(bad(format!("the variant {v:?} is not one of v6, v7, v8"))),
    };
    if parts.next().is_some() {
        return Err(bad("use os[/arch[/variant]]".into()));
    }
    Ok(PlatformProperties {
        os: os.to_owned(),
        architecture,
        variant,
    })
}

/// `--set K=V` / `--set-secret K=V` values. `flag` names the flag in errors;
/// a malformed secret is reported by position, never by its text.
pub fn set_values(items: &[String], secret: bool, flag: &str) -> Result<Vec<SetValue>> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => Ok(SetValue {
                name: name.trim().to_owned(),
                value: value.to_owned(),
                is_secret: secret,
            }),
            _ if secret => Err(Error::Usage(format!(
                "the {} {flag} is not KEY=VALUE",
                ordinal(i + 1)
            ))),
            _ => Err(Error::Usage(format!("{flag} {item:?} is not KEY=VALUE"))),
        })
        .collect()
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn b64(text: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Whether the YAML has a top-level `version:` key.
fn has_version(yaml: &str) -> bool {
    yaml.lines().any(|l| {
        let l = l.strip_prefix('\u{feff}').unwrap_or(l);
        l.starts_with("version:") || l.starts_with("version :")
    })
}

/// The task text as the newer CLI sends it: `version: v1.1.0` first, unless
/// the file names its own version (then it is sent as written).
pub fn task_text(yaml: &str) -> String {
    if has_version(yaml) {
        yaml.to_owned()
    } else {
        format!("version: v1.1.0\n{yaml}")
    }
}

/// The task `az acr run --cmd CMD` sends.
pub fn cmd_task(cmd: &str, timeout: Option<u32>) -> String {
    let quoted = serde_json::to_string(cmd).unwrap_or_else(|_| format!("{cmd:?}"));
    let mut text = format!(
        "version: v1.1.0\nsteps: \n  - cmd: {quoted}\n    disableWorkingDirectoryOverride: true\n"
    );
    if let Some(t) = timeout {
        text.push_str(&format!("    timeout: {t}\n"));
    }
    text
}

/// Common parts of every request.
#[derive(Clone, Debug)]
pub struct Common {
    /// `--set` and `--set-secret` values (or build arguments).
    pub values: Vec<SetValue>,
    /// Seconds.
    pub timeout: u32,
    /// Platform.
    pub platform: PlatformProperties,
    /// Agent pool.
    pub agent_pool_name: Option<String>,
}

/// An `EncodedTaskRunRequest` for a task without context.
pub fn encoded_task_run(
    task_yaml: &str,
    values_yaml: Option<&str>,
    common: Common,
) -> EncodedTaskRunRequest {
    EncodedTaskRunRequest {
        encoded_task_content: b64(task_text(task_yaml).as_bytes()),
        encoded_values_content: values_yaml.map(|v| b64(v.as_bytes())),
        values: common.values,
        timeout: Some(common.timeout),
        platform: common.platform,
        agent_configuration: None,
        source_location: None,
        is_archive_enabled: false,
        agent_pool_name: common.agent_pool_name,
    }
}

/// A `FileTaskRunRequest` for a task read from the uploaded source.
pub fn file_task_run(
    task_file_path: &str,
    values_file_path: Option<&str>,
    source_location: &str,
    common: Common,
) -> FileTaskRunRequest {
    FileTaskRunRequest {
        task_file_path: task_file_path.to_owned(),
        values_file_path: values_file_path.map(str::to_owned),
        values: common.values,
        timeout: Some(common.timeout),
        platform: common.platform,
        agent_configuration: None,
        source_location: Some(source_location.to_owned()),
        is_archive_enabled: false,
        agent_pool_name: common.agent_pool_name,
    }
}

/// What `wharf build --on acr://` takes (the flags of `az acr build`).
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// `-t`: image names (`repo:tag`, relative to the registry, as the CLI takes them).
    pub images: Vec<String>,
    /// `-f`: the Dockerfile path inside the source (`Dockerfile`).
    pub dockerfile: Option<String>,
    /// `--build-arg K=V`.
    pub build_args: Vec<String>,
    /// `--secret-build-arg K=V`.
    pub secret_build_args: Vec<String>,
    /// `--no-push`.
    pub no_push: bool,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--target`.
    pub target: Option<String>,
    /// `--platform`.
    pub platform: Option<String>,
    /// `--timeout`.
    pub timeout: Option<u64>,
}

/// A `DockerBuildRequest` (a quick build) for `source_location`. Checks the
/// flags: image names are required unless `--no-push`, as the CLI requires.
pub fn docker_build(options: &BuildOptions, source_location: &str) -> Result<DockerBuildRequest> {
    if options.images.is_empty() && !options.no_push {
        return Err(Error::Usage(
            "give at least one -t IMAGE, or --no-push (as az acr build requires)".into(),
        ));
    }
    for image in &options.images {
        if image.trim().is_empty() || image.chars().any(char::is_whitespace) {
            return Err(Error::Usage(format!("-t {image:?} is not an image name")));
        }
    }
    let mut arguments = set_values(&options.build_args, false, "--build-arg")?;
    arguments.extend(set_values(
        &options.secret_build_args,
        true,
        "--secret-build-arg",
    )?);
    Ok(DockerBuildRequest {
        image_names: options.images.clone(),
        is_push_enabled: !options.no_push,
        no_cache: options.no_cache,
        docker_file_path: options
            .dockerfile
            .clone()
            .unwrap_or_else(|| "Dockerfile".into()),
        target: options.target.clone(),
        arguments,
        timeout: Some(timeout(options.timeout)?),
        platform: platform(options.platform.as_deref())?,
        agent_configuration: None,
        source_location: Some(source_location.to_owned()),
        is_archive_enabled: false,
        agent_pool_name: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_are_checked_and_written_as_the_api_spells_them() {
        let p = platform(None).expect("default");
        assert_eq!(
            (p.os.as_str(), p.architecture.as_deref()),
            ("Linux", Some("amd64"))
        );
        let p = platform(Some("Linux/ARM64/v8")).expect("arm64");
        assert_eq!(p.architecture.as_deref(), Some("arm64"));
        assert_eq!(p.variant.as_deref(), Some("v8"));
        assert_eq!(platform(Some("windows")).expect("win").os, "Windows");
        assert!(platform(Some("darwin/amd64")).is_err());
        assert!(platform(Some("linux/riscv64")).is_err());
        assert!(platform(Some("linux/arm/v5")).is_err());
        assert!(platform(Some("linux/arm/v7/x")).is_err());
    }

    #[test]
    fn timeouts_are_acr_s_range() {
        assert_eq!(timeout(None).ok(), Some(3600));
        assert_eq!(timeout(Some(300)).ok(), Some(300));
        assert_eq!(timeout(Some(28800)).ok(), Some(28800));
        assert!(timeout(Some(299)).is_err());
        assert!(timeout(Some(28801)).is_err());
    }

    #[test]
    fn a_bad_secret_is_named_by_position_not_text() {
        let err = set_values(&["a=1".into(), "hunter2".into()], true, "--set-secret")
            .expect_err("malformed");
        assert_eq!(err.to_string(), "the 2nd --set-secret is not KEY=VALUE");
        let ok = set_values(&["pw=a=b".into()], true, "--set-secret").expect("ok");
        assert_eq!(
            (ok[0].name.as_str(), ok[0].value.as_str(), ok[0].is_secret),
            ("pw", "a=b", true)
        );
        assert!(!format!("{ok:?}").contains("a=b"));
    }

    #[test]
    fn the_version_line_is_added_once() {
        assert_eq!(
            task_text("steps:\n  - cmd: x\n"),
            "version: v1.1.0\nsteps:\n  - cmd: x\n"
        );
        let own = "version: v1.0.0\nsteps:\n  - cmd: x\n";
        assert_eq!(task_text(own), own);
        assert_eq!(
            cmd_task("busybox echo hi", Some(600)),
            "version: v1.1.0\nsteps: \n  - cmd: \"busybox echo hi\"\n    disableWorkingDirectoryOverride: true\n    timeout: 600\n"
        );
    }

    #[test]
    fn a_quick_build_request_carries_the_build_flags() {
        let options = BuildOptions {
            images: vec!["app:{{.Run.ID}}".into()],
            dockerfile: Some("docker/Dockerfile.prod".into()),
            build_args: vec!["MODE=prod".into()],
            secret_build_args: vec!["TOKEN=s3cr3t".into()],
            platform: Some("linux/arm64".into()),
            ..BuildOptions::default()
        };
        let request = docker_build(&options, "source/2026/x.tar.gz").expect("request");
        let json =
            serde_json::to_value(crate::RunRequest::DockerBuildRequest(request)).expect("json");
        assert_eq!(json["type"], "DockerBuildRequest");
        assert_eq!(json["imageNames"][0], "app:{{.Run.ID}}");
        assert_eq!(json["isPushEnabled"], true);
        assert_eq!(json["noCache"], false);
        assert_eq!(json["dockerFilePath"], "docker/Dockerfile.prod");
        assert_eq!(json["sourceLocation"], "source/2026/x.tar.gz");
        assert_eq!(json["platform"]["architecture"], "arm64");
        assert_eq!(json["timeout"], 3600);
        assert_eq!(json["arguments"][0]["isSecret"], false);
        assert_eq!(json["arguments"][1]["name"], "TOKEN");
        assert_eq!(json["arguments"][1]["isSecret"], true);
        let no_image = BuildOptions::default();
        assert!(docker_build(&no_image, "s").is_err());
        let no_push = BuildOptions {
            no_push: true,
            ..BuildOptions::default()
        };
        assert_eq!(
            docker_build(&no_push, "s").map(|r| r.is_push_enabled).ok(),
            Some(false)
        );
    }
}
