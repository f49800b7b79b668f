//! `build` steps through the engine's build API: with the engine's BuildKit (a
//! session serves credentials, `--secret` and `--ssh`; the solve status is rendered as
//! plain progress lines), or with the classic builder where BuildKit cannot build the
//! step ([`crate::buildkit`] decides). The context is streamed from the workspace in
//! both cases.

use std::collections::HashMap;

use bollard::auth::DockerCredentials;
use bollard::models::BuildInfoAux;
use bollard::query_parameters::{BuildImageOptions, BuilderVersion, RemoveImageOptions};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use wharf_engine::{Exit, Masker, Output, Stream};
use wharf_registry::reference::registry_host;
use wharf_spec::{BuildCommand, Cache, Container, Step};

use crate::build_cache::{CachePlan, acr_cache_ref, buildkit_plan, classic_plan};
use crate::buildkit::{Builder, buildkit_only_flags, ssh_agents};
use crate::connect::pack_query_extras;
use crate::container::HOME_DIR;
use crate::context::{base_images, container_path, is_remote};
use crate::error::{Error, describe};
use crate::images::{Progress, engine_credentials, engine_server_address};
use crate::progress::SolveProgress;
use crate::session::{self, Session, SessionError, SessionProviders};
use crate::{CredentialLookup, DockerExecutor, labels, workspace};

/// What a build step was given besides its arguments.
pub(crate) struct BuildStep<'a> {
    pub step: &'a Step,
    /// The `docker build` arguments.
    pub build: &'a str,
    /// `cache:`.
    pub cache: Option<Cache>,
    pub settings: &'a Container,
    pub output: &'a Output,
    pub cancel: &'a CancellationToken,
    /// The run's masker, which learns the step's `--secret` values.
    pub masker: &'a Masker,
}

impl DockerExecutor {
    /// Runs one attempt of a `build` step.
    pub(crate) async fn run_build(&self, b: BuildStep<'_>) -> Result<Exit, Error> {
        let BuildStep {
            step,
            build,
            cache,
            settings,
            output,
            cancel,
            masker,
        } = b;
        let id = &step.id;
        let lookup = |name: &str| {
            env_value(&step.env, name).or_else(|| (name == "HOME").then(|| HOME_DIR.to_string()))
        };
        let cmd = BuildCommand::parse_with_env(build, Some(&lookup)).map_err(|e| {
            Error::input(format!("step {id}: cannot read the build arguments: {e}"))
        })?;
        let note = |text: &str| output.line(Stream::Stderr, text);
        if !cmd.rm {
            note("note: wharf removes intermediate containers; --rm=false is ignored");
        }
        if !cmd.ignored.is_empty() {
            note(&format!(
                "note: wharf ignores these build flags: {}",
                cmd.ignored.join(" ")
            ));
        }

        let cache_enabled = cache == Some(Cache::Enabled);
        let mut builder = self.choose_builder(step, &cmd, cache_enabled).await?;
        // The session opens while the Dockerfile and .dockerignore are read.
        let remote = is_remote(&cmd.context);
        let opening = async {
            match builder {
                Builder::BuildKit => Some(self.open_session(step, settings, &cmd, masker).await),
                Builder::Classic(_) => None,
            }
        };
        let reading = async {
            if remote {
                return None;
            }
            let read = self
                .local_context(
                    id,
                    &settings.working_directory,
                    &cmd.context,
                    cmd.dockerfile.as_deref(),
                )
                .await;
            Some(read)
        };
        let (opened, context) = tokio::select! {
            both = async { tokio::join!(opening, reading) } => both,
            () = cancel.cancelled() => {
                return Err(Error::msg(format!("step {id}: the build was stopped")));
            }
        };
        let mut session = None;
        match opened.transpose()? {
            Some(Ok(opened)) => session = Some(opened),
            Some(Err(refused)) => {
                self.note_no_buildkit(&refused);
                builder = Builder::Classic(refused);
            }
            None => {}
        }
        let context = context.transpose()?;
        let plan = match &builder {
            Builder::BuildKit => {
                if cache_enabled
                    && env_value(&step.env, "DOCKER_BUILDKIT").is_some_and(|v| v != "1")
                {
                    note(
                        "note: cache: enabled builds with BuildKit (buildx on ACR) whatever DOCKER_BUILDKIT says",
                    );
                }
                if cmd.memory.is_some() || cmd.shm_size.is_some() {
                    note(
                        "note: BuildKit does not apply --memory and --shm-size (DOCKER_BUILDKIT=0 in the step's env selects the classic builder, which does)",
                    );
                }
                let acr_cache = if cache_enabled {
                    acr_cache_ref(
                        &cmd.tags,
                        &self.options.registry,
                        &self.options.task_name,
                        id,
                    )
                    .unwrap_or_else(|why| {
                        note(&format!(
                            "note: cache: enabled: {why}; building without a cache, as az acr run does"
                        ));
                        None
                    })
                } else {
                    None
                };
                buildkit_plan(&cmd, acr_cache.as_deref())
            }
            Builder::Classic(reason) => {
                let needs = buildkit_only_flags(&cmd);
                if !needs.is_empty() {
                    return Err(Error::input(format!(
                        "step {id}: {} need{} BuildKit, and this step builds with the classic builder: {reason}",
                        needs.join(" and "),
                        if needs.len() == 1 { "s" } else { "" }
                    )));
                }
                note(&format!(
                    "note: building with the classic builder: {reason}"
                ));
                classic_plan(&cmd, cache_enabled)
            }
        };
        for text in &plan.notes {
            note(text);
        }

        let network = cmd.network.as_deref().map(|n| match &builder {
            Builder::BuildKit => n.to_string(),
            Builder::Classic(_) => self.engine_network(n),
        });
        let mut extras: Vec<(&str, String)> = Vec::new();
        if let Some(session) = &session {
            extras.push(("version", "2".into()));
            extras.push(("session", session.id().to_string()));
        }
        let mut options = build_options(&cmd, &lookup, network, &plan, &extras)?;
        let mut registries: Vec<String> = plan.import.clone();
        let (body, producer) = match context {
            None => {
                options.remote = Some(cmd.context.clone());
                if let Some(f) = &cmd.dockerfile {
                    options.dockerfile = f.clone();
                }
                (bollard::body_full(bytes::Bytes::new()), None)
            }
            Some(context) => {
                options.dockerfile = context.dockerfile.clone();
                registries.extend(base_images(&context.dockerfile_text));
                // The context is read (from the workspace, in copy mode) while it is sent.
                let (stream, producer) = context.into_stream(cancel);
                (bollard::body_try_stream(stream), Some(producer))
            }
        };
        // The classic builder takes registry credentials with the request; BuildKit asks
        // the session.
        let credentials = match session {
            Some(_) => None,
            None => registry_config(&self.options.credentials, &registries),
        };

        tracing::debug!(step = %step.id, registries = ?registries, "starting a build");
        let mut stream = self.docker.build_image(options, credentials, Some(body));
        let mut progress = Progress::default();
        let mut solve = SolveProgress::default();
        let quiet = cmd.quiet;
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
                    match info.aux {
                        Some(BuildInfoAux::BuildKit(status)) if !quiet => {
                            for line in solve.lines(&status) {
                                output.line(Stream::Stdout, &line);
                            }
                        }
                        Some(BuildInfoAux::BuildKit(_)) => {}
                        Some(BuildInfoAux::Default(image)) => {
                            if let Some(found) = image.id {
                                image_id = Some(found);
                            }
                        }
                        None => {}
                    }
                }
                Some(Err(bollard::errors::Error::DockerStreamError { error })) => {
                    for line in solve.finish() {
                        output.line(Stream::Stdout, &line);
                    }
                    output.line(Stream::Stderr, error.trim_end());
                    let at = solve
                        .failed_step()
                        .map(|(name, _)| format!(" at {name}"))
                        .unwrap_or_default();
                    break Some(format!("step {id}: the build failed{at}: {}", error.trim()));
                }
                Some(Err(e)) => {
                    break Some(format!("step {id}: the build failed: {}", describe(&e)));
                }
            }
        };
        drop(stream);
        drop(session);
        for line in solve.finish() {
            output.line(Stream::Stdout, &line);
        }
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
        if let Some(image) = &image_id {
            if quiet && matches!(builder, Builder::BuildKit) {
                output.line(Stream::Stdout, image);
            }
            if let Some(iidfile) = &cmd.iidfile {
                self.write_iidfile(step, settings, iidfile, image).await?;
            }
        }
        self.export_caches(step, &cmd.tags, &plan, output, cancel)
            .await?;
        Ok(Exit::Code(0))
    }

    /// Opens the BuildKit session of a step: its `--secret` values (added to the run's
    /// masker first), its `--ssh` agents, the run's registry credentials. The inner
    /// error says why the engine refused a session (it then has no BuildKit).
    async fn open_session(
        &self,
        step: &Step,
        settings: &Container,
        cmd: &BuildCommand,
        masker: &Masker,
    ) -> Result<Result<Session, String>, Error> {
        let secrets = self.secret_values(step, settings, &cmd.secrets).await?;
        masker.add(
            secrets
                .values()
                .map(|v| String::from_utf8_lossy(v).into_owned()),
        );
        let ssh = ssh_agents(&step.id, &cmd.ssh)?;
        let providers = SessionProviders {
            secrets,
            ssh,
            credentials: self.options.credentials.clone(),
        };
        let api = self.docker.client_version().to_string();
        match session::open(&self.endpoint, &api, providers).await {
            Ok(opened) => Ok(Ok(opened)),
            Err(SessionError::Refused(why)) => Ok(Err(why)),
            Err(SessionError::Failed(why)) => Err(Error::msg(format!("step {}: {why}", step.id))),
        }
    }

    /// Pushes the image under each cache reference of `plan` (the engine tagged it so),
    /// then removes that tag again unless it is one of the step's own `tags`: the cache
    /// lives in the registry.
    async fn export_caches(
        &self,
        step: &Step,
        tags: &[String],
        plan: &CachePlan,
        output: &Output,
        cancel: &CancellationToken,
    ) -> Result<(), Error> {
        for reference in &plan.export {
            output.line(
                Stream::Stderr,
                &format!("exporting the build cache to {reference}"),
            );
            let pushed = self
                .run_push(step, std::slice::from_ref(reference), output, cancel)
                .await;
            let untag = RemoveImageOptions {
                noprune: true,
                ..Default::default()
            };
            if !tags.contains(reference) {
                let _ = self.docker.remove_image(reference, Some(untag), None).await;
            }
            pushed.map_err(|e| {
                Error::registry(format!(
                    "step {}: cannot export the build cache to {reference}: {e}",
                    step.id
                ))
            })?;
        }
        Ok(())
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
/// engine's name of its `--network`, `plan` its caches, `extras` more parameters
/// (they replace bollard's of the same name: `version` and `session` for BuildKit).
fn build_options(
    cmd: &BuildCommand,
    lookup: &dyn Fn(&str) -> Option<String>,
    network: Option<String>,
    plan: &CachePlan,
    extras: &[(&str, String)],
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
    if plan.inline {
        build_args.insert("BUILDKIT_INLINE_CACHE".into(), "1".into());
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
    let mut packed: Vec<(&str, String)> = extras.to_vec();
    for tag in cmd.tags.iter().chain(&plan.export) {
        packed.push(("t", tag.clone()));
    }
    for host in &cmd.add_hosts {
        packed.push(("extrahosts", host.clone()));
    }
    if let Some(m) = &cmd.memory {
        let bytes = parse_bytes(m).map_err(|e| Error::msg(format!("--memory {m}: {e}")))?;
        packed.push(("memory", bytes.to_string()));
    }
    if let Some(s) = &cmd.shm_size {
        let bytes = parse_bytes(s).map_err(|e| Error::msg(format!("--shm-size {s}: {e}")))?;
        packed.push(("shmsize", bytes.to_string()));
    }
    Ok(BuildImageOptions {
        dockerfile: cmd
            .dockerfile
            .clone()
            .unwrap_or_else(|| "Dockerfile".into()),
        extrahosts: pack_query_extras(&packed),
        q: cmd.quiet,
        nocache: cmd.no_cache,
        cachefrom: (!plan.import.is_empty()).then(|| plan.import.clone()),
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
        // BuildKit is asked for through `extras`: bollard would open a session of
        // its own, without secrets.
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
        let plan = CachePlan {
            import: vec!["r.io/c:1".into()],
            inline: true,
            export: vec!["r.io/c:1".into()],
            notes: Vec::new(),
        };
        let o = build_options(
            &cmd,
            &lookup,
            Some("net_r1".into()),
            &plan,
            &[("version", "2".into())],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let args = o.buildargs.unwrap_or_default();
        assert_eq!(args.get("X").map(String::as_str), Some("1"));
        assert_eq!(args.get("FROM_ENV").map(String::as_str), Some("yes"));
        assert_eq!(
            args.get("BUILDKIT_INLINE_CACHE").map(String::as_str),
            Some("1")
        );
        assert!(!args.contains_key("MISSING"));
        assert_eq!(
            o.labels.unwrap_or_default().get("l").map(String::as_str),
            Some("")
        );
        assert_eq!(o.target, "t");
        let extras = o.extrahosts.unwrap_or_default();
        assert!(
            extras.contains("version=2&t=a%3A1&t=b%3A2&t=r.io%2Fc%3A1"),
            "{extras}"
        );
        assert_eq!(o.cachefrom, Some(vec!["r.io/c:1".to_string()]));
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
