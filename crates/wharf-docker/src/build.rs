//! `build` steps through the engine's build API.
//!
//! wharf always uses the **classic builder** (`version=1` of the build API). ACR runs
//! `docker build` with `DOCKER_BUILDKIT=0` unless the step environment has
//! `DOCKER_BUILDKIT=1`; wharf does not drive BuildKit sessions, so such a step is built
//! with the classic builder too, and says so in its output.

use std::collections::HashMap;

use bollard::auth::DockerCredentials;
use bollard::query_parameters::{BuildImageOptions, BuilderVersion};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use wharf_engine::{Exit, Output, Stream};
use wharf_registry::reference::registry_host;
use wharf_spec::{BuildCommand, Container, Step};

use crate::connect::pack_query_extras;
use crate::container::HOME_DIR;
use crate::context::{base_images, container_path, is_remote};
use crate::error::{Error, describe};
use crate::images::{Progress, engine_credentials, engine_server_address};
use crate::{CredentialLookup, DockerExecutor, labels, workspace};

impl DockerExecutor {
    /// Runs one attempt of a `build` step.
    pub(crate) async fn run_build(
        &self,
        step: &Step,
        build: &str,
        settings: &Container,
        output: &Output,
        cancel: &CancellationToken,
    ) -> Result<Exit, Error> {
        let id = &step.id;
        let lookup = |name: &str| {
            env_value(&step.env, name).or_else(|| (name == "HOME").then(|| HOME_DIR.to_string()))
        };
        let cmd = BuildCommand::parse_with_env(build, Some(&lookup)).map_err(|e| {
            Error::input(format!("step {id}: cannot read the build arguments: {e}"))
        })?;
        if env_value(&step.env, "DOCKER_BUILDKIT").as_deref() == Some("1") {
            output.line(
                Stream::Stderr,
                "note: wharf builds with the classic builder; DOCKER_BUILDKIT=1 is ignored",
            );
        }
        if !cmd.rm {
            output.line(
                Stream::Stderr,
                "note: wharf removes intermediate containers; --rm=false is ignored",
            );
        }
        if !cmd.ignored.is_empty() {
            output.line(
                Stream::Stderr,
                &format!(
                    "note: wharf ignores these build flags: {}",
                    cmd.ignored.join(" ")
                ),
            );
        }

        let network = cmd.network.as_deref().map(|n| self.engine_network(n));
        let mut options = build_options(&cmd, &lookup, network)?;
        let mut registries: Vec<String> = cmd.cache_from.clone();
        let (body, producer) = if is_remote(&cmd.context) {
            options.remote = Some(cmd.context.clone());
            if let Some(f) = &cmd.dockerfile {
                options.dockerfile = f.clone();
            }
            (bollard::body_full(bytes::Bytes::new()), None)
        } else {
            let context = tokio::select! {
                context = self.local_context(
                    id,
                    &settings.working_directory,
                    &cmd.context,
                    cmd.dockerfile.as_deref(),
                ) => context?,
                () = cancel.cancelled() => {
                    return Err(Error::msg(format!("step {id}: the build was stopped")));
                }
            };
            options.dockerfile = context.dockerfile.clone();
            registries.extend(base_images(&context.dockerfile_text));
            // The context is read (from the workspace, in copy mode) while it is sent.
            let (stream, producer) = context.into_stream(cancel);
            (bollard::body_try_stream(stream), Some(producer))
        };
        let credentials = registry_config(&self.options.credentials, &registries);

        let mut stream = self.docker.build_image(options, credentials, Some(body));
        let mut progress = Progress::default();
        let mut image_id = None;
        let failure = loop {
            let item = tokio::select! {
                item = stream.next() => item,
                () = cancel.cancelled() => {
                    // Dropping the stream closes the connection, which stops the build.
                    return Err(Error::msg(format!("step {id}: the build was stopped")));
                }
            };
            match item {
                None => break None,
                Some(Ok(info)) => {
                    if let Some(text) = &info.stream {
                        output.write(Stream::Stdout, text.as_bytes());
                    }
                    if let Some(line) = progress.line(info.id.as_deref(), info.status.as_deref()) {
                        output.line(Stream::Stdout, &line);
                    }
                    if let Some(aux) = info.aux.and_then(|a| a.id) {
                        image_id = Some(aux);
                    }
                }
                Some(Err(bollard::errors::Error::DockerStreamError { error })) => {
                    output.line(Stream::Stderr, error.trim_end());
                    break Some(format!("step {id}: the build failed: {}", error.trim()));
                }
                Some(Err(e)) => {
                    break Some(format!("step {id}: the build failed: {}", describe(&e)));
                }
            }
        };
        drop(stream);
        if let Some(producer) = producer {
            // A context that could not be read explains a failed upload best.
            let produced = producer.await.map_err(|e| {
                Error::msg(format!("step {id}: sending the build context stopped: {e}"))
            })?;
            match produced {
                // Unless the engine just stopped reading (its message says why).
                Err(e) if !e.is_broken_pipe() || failure.is_none() => {
                    return Err(Error::msg(format!(
                        "step {id}: cannot send the build context: {e}"
                    )));
                }
                _ => {}
            }
        }
        if let Some(message) = failure {
            return Err(Error::msg(message));
        }
        if let (Some(iidfile), Some(image)) = (&cmd.iidfile, &image_id) {
            self.write_iidfile(step, settings, iidfile, image).await?;
        }
        Ok(Exit::Code(0))
    }

    /// `--iidfile`: the image id, written into the workspace.
    async fn write_iidfile(
        &self,
        step: &Step,
        settings: &Container,
        iidfile: &str,
        image: &str,
    ) -> Result<(), Error> {
        let path = container_path(&settings.working_directory, iidfile);
        let (dir, name) = path.rsplit_once('/').unwrap_or(("/", path.as_str()));
        let dir = if dir.is_empty() { "/" } else { dir };
        workspace::upload_files(
            &self.docker,
            &labels::helper_container(&self.options.run_id),
            &[(name, image.as_bytes(), 0o644)],
            dir,
        )
        .await
        .map_err(|e| {
            Error::docker(
                format!("step {}: cannot write --iidfile {path}", step.id),
                e,
            )
        })
    }
}

/// X-Registry-Config for the registries of the base and cache images: one entry per
/// registry the lookup has credentials for, keyed as the engine looks them up.
fn registry_config(
    lookup: &CredentialLookup,
    images: &[String],
) -> Option<HashMap<String, DockerCredentials>> {
    let mut config = HashMap::new();
    for image in images {
        let host = registry_host(image);
        let key = engine_server_address(&host);
        if config.contains_key(&key) {
            continue;
        }
        if let Some(credential) = lookup(&host) {
            config.insert(key, engine_credentials(credential, &host));
        }
    }
    (!config.is_empty()).then_some(config)
}

/// The value of `name` in a `K=V` environment list.
pub(crate) fn env_value(env: &[String], name: &str) -> Option<String> {
    env.iter().find_map(|e| {
        let (k, v) = e.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// The build API parameters of a parsed `docker build` command line; `network` is the
/// engine's name of its `--network`.
fn build_options(
    cmd: &BuildCommand,
    lookup: &dyn Fn(&str) -> Option<String>,
    network: Option<String>,
) -> Result<BuildImageOptions, Error> {
    let mut build_args = HashMap::new();
    for arg in &cmd.build_args {
        match arg.split_once('=') {
            Some((k, v)) => {
                build_args.insert(k.to_string(), v.to_string());
            }
            // A bare name takes its value from the environment, and is left out when unset.
            None => {
                if let Some(v) = lookup(arg) {
                    build_args.insert(arg.clone(), v);
                }
            }
        }
    }
    let build_labels: HashMap<String, String> = cmd
        .labels
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect();
    // Parameters bollard cannot express (repeated, or 64-bit) go through the request fix.
    let mut extras: Vec<(&str, String)> = Vec::new();
    for tag in &cmd.tags {
        extras.push(("t", tag.clone()));
    }
    for host in &cmd.add_hosts {
        extras.push(("extrahosts", host.clone()));
    }
    if let Some(m) = &cmd.memory {
        let bytes = parse_bytes(m).map_err(|e| Error::msg(format!("--memory {m}: {e}")))?;
        extras.push(("memory", bytes.to_string()));
    }
    if let Some(s) = &cmd.shm_size {
        let bytes = parse_bytes(s).map_err(|e| Error::msg(format!("--shm-size {s}: {e}")))?;
        extras.push(("shmsize", bytes.to_string()));
    }
    Ok(BuildImageOptions {
        dockerfile: cmd
            .dockerfile
            .clone()
            .unwrap_or_else(|| "Dockerfile".into()),
        extrahosts: pack_query_extras(&extras),
        q: cmd.quiet,
        nocache: cmd.no_cache,
        cachefrom: (!cmd.cache_from.is_empty()).then(|| cmd.cache_from.clone()),
        pull: cmd.pull.then(|| "1".to_string()),
        // Intermediate containers are always removed, also when the build fails
        // (docker build keeps the failed step's container: --force-rm=false): a run
        // leaves nothing behind.
        rm: true,
        forcerm: true,
        buildargs: (!build_args.is_empty()).then_some(build_args),
        labels: (!build_labels.is_empty()).then_some(build_labels),
        networkmode: network,
        platform: cmd.platform.clone().unwrap_or_default(),
        target: cmd.target.clone().unwrap_or_default(),
        version: BuilderVersion::BuilderV1,
        ..Default::default()
    })
}

/// A size such as `512m` or `2g` in bytes (Docker's `RAMInBytes`: binary units).
pub(crate) fn parse_bytes(text: &str) -> Result<i64, String> {
    let t = text.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let t = t.strip_suffix('i').unwrap_or(t);
    let (number, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], Some(c)),
        _ => (t, None),
    };
    let shift = match unit {
        None => 0,
        Some('k') => 10,
        Some('m') => 20,
        Some('g') => 30,
        Some('t') => 40,
        Some('p') => 50,
        Some(_) => return Err("unknown unit (use b, k, m, g, t or p)".into()),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| "not a size such as 512m or 2g".to_string())?;
    if !value.is_finite() || value < 0.0 {
        return Err("not a size such as 512m or 2g".into());
    }
    let bytes = value * (1u64 << shift) as f64;
    if bytes > i64::MAX as f64 {
        return Err("too large".into());
    }
    Ok(bytes as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("512m"), Ok(512 << 20));
        assert_eq!(parse_bytes("2g"), Ok(2 << 30));
        assert_eq!(parse_bytes("2GB"), Ok(2 << 30));
        assert_eq!(parse_bytes("1.5k"), Ok(1536));
        assert_eq!(parse_bytes("100"), Ok(100));
        assert_eq!(parse_bytes("8gib"), Ok(8 << 30));
        assert!(parse_bytes("x").is_err());
        assert!(parse_bytes("5q").is_err());
    }

    #[test]
    fn options_from_the_command_line() {
        let env = ["FROM_ENV=yes".to_string()];
        let lookup = |n: &str| env_value(&env, n);
        let cmd = BuildCommand::parse_with_env(
            "-t a:1 -t b:2 --build-arg X=1 --build-arg FROM_ENV --build-arg MISSING --label l --target t --add-host h:1.2.3.4 -m 4g .",
            Some(&lookup),
        )
        .unwrap_or_default();
        let o =
            build_options(&cmd, &lookup, Some("net_r1".into())).unwrap_or_else(|e| panic!("{e}"));
        let args = o.buildargs.unwrap_or_default();
        assert_eq!(args.get("X").map(String::as_str), Some("1"));
        assert_eq!(args.get("FROM_ENV").map(String::as_str), Some("yes"));
        assert!(!args.contains_key("MISSING"));
        assert_eq!(
            o.labels.unwrap_or_default().get("l").map(String::as_str),
            Some("")
        );
        assert_eq!(o.target, "t");
        let extras = o.extrahosts.unwrap_or_default();
        assert!(extras.contains("t=a%3A1&t=b%3A2"), "{extras}");
        assert!(extras.contains("memory=4294967296"), "{extras}");
        assert_eq!(o.version, BuilderVersion::BuilderV1);
        assert_eq!(o.networkmode.as_deref(), Some("net_r1"));
    }

    #[test]
    fn registry_config_has_one_entry_per_registry_with_credentials() {
        use std::sync::{Arc, Mutex};

        use crate::Credential;
        use crate::images::DOCKER_HUB_INDEX;

        let asked = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&asked);
        let lookup: CredentialLookup = Arc::new(move |host: &str| {
            seen.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(host.to_string());
            (host != "public.example").then(|| Credential::Basic {
                username: format!("user-{host}"),
                password: "p".into(),
            })
        });
        let images: Vec<String> = [
            "busybox",
            "reg.io/base:1",
            "index.docker.io/library/alpine",
            "public.example/x",
            "reg.io/other",
        ]
        .map(String::from)
        .into();
        let config = registry_config(&lookup, &images).unwrap_or_default();
        let mut keys: Vec<&str> = config.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, [DOCKER_HUB_INDEX, "reg.io"]);
        let hub = &config[DOCKER_HUB_INDEX];
        assert_eq!(hub.username.as_deref(), Some("user-docker.io"));
        assert_eq!(hub.serveraddress.as_deref(), Some(DOCKER_HUB_INDEX));
        assert_eq!(config["reg.io"].serveraddress.as_deref(), Some("reg.io"));
        // Each registry is asked once; one without credentials is left out.
        let asked = asked.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert_eq!(asked, ["docker.io", "reg.io", "public.example"]);

        let none: CredentialLookup = Arc::new(|_| None);
        assert!(registry_config(&none, &images).is_none());
    }
}
