//! Pushes and pulls against a real registry with htpasswd auth, `clean`, and the
//! engine platform.

mod common;

use std::process::Command;
use std::sync::Arc;

use common::{Images, T, assert_clean, busybox, context, docker, run_yaml};
use wharf_docker::{Credential, DockerExecutor, DockerOptions, clean};
use wharf_e2e::{Registry, require_docker, sh};
use wharf_engine::{RunStatus, StepStatus};

/// The password of the brief: its base64 in the auth JSON has `+` or `/`, which
/// dockerd refuses unless it is re-encoded as URL-safe base64.
const PASSWORD: &str = "abc>>>def";

fn credentials_for(registry: &Registry, password: &str) -> wharf_docker::CredentialLookup {
    let host = registry.host.clone();
    let password = password.to_string();
    Arc::new(move |h: &str| {
        (h == host).then(|| Credential::Basic {
            username: "tester".into(),
            password: password.clone(),
        })
    })
}

/// The lines of a push step that name layers (`<id>: <status>`).
fn layer_lines(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| {
            l.split_once(": ")
                .is_some_and(|(id, _)| id.len() == 12 && id.chars().all(|c| c.is_ascii_hexdigit()))
        })
        .cloned()
        .collect()
}

/// The digest of a push step's closing line `<tag>: digest: sha256:... size: N`.
fn closing_digest(lines: &[String], tag: &str) -> String {
    lines
        .iter()
        .find_map(|l| {
            l.strip_prefix(&format!("{tag}: digest: "))
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no closing digest line in {lines:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_push_docker_pulls_it_a_repush_only_asks_and_a_wrong_password_is_clear() {
    require_docker!();
    busybox();
    let registry = Registry::start_with_auth("tester", PASSWORD);
    let t = T::new("push");
    let ctx = context(&[(
        "Dockerfile",
        "FROM wharf-test/busybox:1\nRUN echo first > /first\nRUN head -c 200000 /dev/urandom > /random\nLABEL pushed=yes\n",
    )]);
    let image = format!("{}/wharf/push:{}", registry.host, t.suffix);
    let _images = Images(vec![image.clone()]);
    let cache = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let yaml = t.yaml(&format!(
        "steps:\n  - id: build@\n    build: -t {image} .\n  - id: push@\n    push: [\"{image}\"]\n"
    ));
    let mut options = t.options(ctx.path());
    options.credentials = credentials_for(&registry, PASSWORD);
    options.layer_cache = cache.path().to_path_buf();
    let out = run_yaml(&yaml, options).await;
    assert_eq!(
        out.report.status,
        RunStatus::Succeeded,
        "{}\n{}",
        out.dump(),
        registry.log()
    );
    assert!(
        registry.tags("wharf/push").contains(&t.suffix),
        "{}",
        registry.log()
    );
    let lines = out.logs(&t.id("push"));
    assert_eq!(
        lines.first().map(String::as_str),
        Some(
            format!(
                "The push refers to repository [{}/wharf/push]",
                registry.host
            )
            .as_str()
        )
    );
    let layers = layer_lines(&lines);
    assert!(layers.iter().any(|l| l.ends_with(": Pushed")), "{lines:?}");
    let digest = closing_digest(&lines, &t.suffix);
    let step = out.step(&t.id("push"));
    assert_eq!(step.exit_code, None, "a push has no exit code");
    assert_eq!(
        step.outputs.get("digests"),
        Some(&wharf_spec::OutputValue::List(vec![digest.clone()]))
    );
    assert_clean(&t);

    // docker pulls what wharf pushed, and runs it.
    let config = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = registry.docker_config(config.path());
    docker(&["rmi", &image]).unwrap_or_else(|| panic!("rmi"));
    let pulled = Command::new("docker")
        .arg("--config")
        .arg(&config)
        .args(["pull", &image])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        pulled.status.success(),
        "{}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    let ran = docker(&["run", "--rm", &image, "cat", "/first"]).unwrap_or_default();
    assert_eq!(ran.trim(), "first");

    // Pushing the unchanged image again only asks: no layer is prepared or sent.
    let t2 = T::new("repush");
    let yaml = t2.yaml(&format!("steps:\n  - id: push@\n    push: [\"{image}\"]\n"));
    let mut options = t2.options(ctx.path());
    options.credentials = credentials_for(&registry, PASSWORD);
    options.layer_cache = cache.path().to_path_buf();
    let out = run_yaml(&yaml, options).await;
    assert_eq!(out.report.status, RunStatus::Succeeded, "{}", out.dump());
    let lines = out.logs(&t2.id("push"));
    let layers = layer_lines(&lines);
    assert!(!layers.is_empty());
    assert!(
        layers.iter().all(|l| l.ends_with(": Layer already exists")),
        "{lines:?}"
    );
    assert_eq!(
        closing_digest(&lines, &t.suffix),
        digest,
        "the same manifest"
    );

    // A layer always compresses to the same bytes: a fresh cache and another
    // registry give the same manifest digest.
    let other = Registry::start();
    let again = format!("{}/wharf/push:{}", other.host, t.suffix);
    let _more = Images(vec![again.clone()]);
    docker(&["tag", &image, &again]).unwrap_or_else(|| panic!("tag"));
    let t3 = T::new("pushelsewhere");
    let yaml = t3.yaml(&format!("steps:\n  - id: push@\n    push: [\"{again}\"]\n"));
    let fresh = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut options = t3.options(ctx.path());
    options.layer_cache = fresh.path().to_path_buf();
    let out = run_yaml(&yaml, options).await;
    assert_eq!(out.report.status, RunStatus::Succeeded, "{}", out.dump());
    assert_eq!(closing_digest(&out.logs(&t3.id("push")), &t.suffix), digest);

    // Streamed or spooled, a layer compresses to the same bytes. With its base pushed
    // first, only the image's own layers are wanted: they are spooled (the legacy
    // export names layers by v1 id, so a wanted one is known only once read), the
    // base is mounted, and the manifest is the same.
    let third = Registry::start();
    let base = format!("{}/wharf/base:1", third.host);
    let app = format!("{}/wharf/push:{}", third.host, t.suffix);
    let _third = Images(vec![base.clone(), app.clone()]);
    docker(&["tag", "wharf-test/busybox:1", &base]).unwrap_or_else(|| panic!("tag"));
    docker(&["tag", &image, &app]).unwrap_or_else(|| panic!("tag"));
    let t5 = T::new("pushbase");
    let yaml = t5.yaml(&format!(
        "steps:\n  - id: base@\n    push: [\"{base}\"]\n  - id: app@\n    push: [\"{app}\"]\n"
    ));
    let fresh = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut options = t5.options(ctx.path());
    options.layer_cache = fresh.path().to_path_buf();
    let out = run_yaml(&yaml, options).await;
    assert_eq!(out.report.status, RunStatus::Succeeded, "{}", out.dump());
    let lines = out.logs(&t5.id("app"));
    let layers = layer_lines(&lines);
    assert!(
        layers
            .iter()
            .any(|l| l.ends_with(": Mounted from wharf/base")),
        "{lines:?}"
    );
    assert!(layers.iter().any(|l| l.ends_with(": Pushed")), "{lines:?}");
    assert_eq!(closing_digest(&lines, &t.suffix), digest);

    // A wrong password: a clear error at once, not retried.
    let t4 = T::new("pushbad");
    let yaml = t4.yaml(&format!("steps:\n  - id: push@\n    push: [\"{image}\"]\n"));
    let mut options = t4.options(ctx.path());
    options.credentials = credentials_for(&registry, "wrong password");
    options.layer_cache = cache.path().to_path_buf();
    let out = run_yaml(&yaml, options).await;
    assert_eq!(out.report.status, RunStatus::Failed);
    let push = out.step(&t4.id("push"));
    assert_eq!(push.status, StepStatus::Failed);
    let error = push.error.unwrap_or_default();
    assert!(
        error.starts_with(&format!("failed to push images successfully: {image}: ")),
        "{error}"
    );
    assert!(
        error.contains(&registry.host) && error.contains("credentials were refused"),
        "{error}"
    );
    assert!(!error.contains("wrong password"), "{error}");
    assert!(
        !out.logs(&t4.id("push"))
            .iter()
            .any(|l| l.contains("retrying")),
        "{}",
        out.dump()
    );
    assert_clean(&t4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_registry_fails_the_push_within_the_retry_budget() {
    require_docker!();
    busybox();
    let registry = Registry::start();
    let host = registry.host.clone();
    drop(registry);
    let t = T::new("deadreg");
    let image = format!("{host}/wharf/dead:{}", t.suffix);
    let _images = Images(vec![image.clone()]);
    docker(&["tag", busybox(), &image]).unwrap_or_else(|| panic!("tag"));
    let ctx = context(&[]);
    let yaml = t.yaml(&format!("steps:\n  - id: push@\n    push: [\"{image}\"]\n"));
    let cache = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut options = t.options(ctx.path());
    options.layer_cache = cache.path().to_path_buf();
    options.registry_client = Some(
        wharf_registry::Client::new(wharf_registry::ClientOptions {
            keychain: Arc::new(wharf_registry::Keychain::anonymous()),
            retry: wharf_registry::client::RetryPolicy {
                budget: std::time::Duration::from_secs(2),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}")),
    );
    let started = std::time::Instant::now();
    let out = run_yaml(&yaml, options).await;
    let elapsed = started.elapsed();
    assert_eq!(out.report.status, RunStatus::Failed);
    assert!(elapsed < std::time::Duration::from_secs(15), "{elapsed:?}");
    let push = out.step(&t.id("push"));
    let error = push.error.unwrap_or_default();
    assert!(error.contains(&format!("{host}: gave up after")), "{error}");
    assert!(
        error.contains(&format!("Check that {host} is running")),
        "{error}"
    );
    let retries: Vec<String> = out
        .logs(&t.id("push"))
        .into_iter()
        .filter(|l| l.contains("retrying in"))
        .collect();
    assert!(!retries.is_empty(), "{}", out.dump());
    assert!(
        retries.iter().all(|l| l.starts_with(&format!("{host}: "))),
        "{retries:?}"
    );
    assert!(
        !out.logs(&t.id("push"))
            .iter()
            .any(|l| l.contains("Retrying in")),
        "no countdown lines"
    );
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_images_are_pulled_with_credentials() {
    require_docker!();
    busybox();
    let registry = Registry::start_with_auth("tester", PASSWORD);
    let t = T::new("pull");
    let image = format!("{}/wharf/pulled:{}", registry.host, t.suffix);
    let _images = Images(vec![image.clone()]);
    sh(Command::new("skopeo").args([
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &format!("tester:{PASSWORD}"),
        &format!("docker-daemon:{}", busybox()),
        &format!("docker://{image}"),
    ]));
    let absent = format!("{}/wharf/absent:1", registry.host);
    let ctx = context(&[]);
    let yaml = t.yaml(&format!(
        "steps:\n  - id: run@\n    cmd: {image} echo pulled and ran\n  - id: again@\n    cmd: {image} true\n    pull: true\n  - id: absent@\n    cmd: {absent} true\n    cmdDownloadRetries: 1\n    cmdDownloadRetryDelay: 1\n"
    ));
    let mut options = t.options(ctx.path());
    options.credentials = credentials_for(&registry, PASSWORD);
    let out = run_yaml(&yaml, options).await;
    assert_eq!(
        out.status(&t.id("run")),
        StepStatus::Succeeded,
        "{}",
        out.dump()
    );
    assert!(
        out.logs(&t.id("run"))
            .contains(&"pulled and ran".to_string())
    );
    let again = out.logs(&t.id("again"));
    assert!(
        again.iter().any(|l| l.contains("Image is up to date")),
        "pull: true pulls a present image again: {again:?}"
    );
    let retried = out.logs(&t.id("absent"));
    assert!(
        retried.iter().any(|l| l.contains("retrying in 1s")),
        "{retried:?}"
    );
    let error = out.step(&t.id("absent")).error.unwrap_or_default();
    assert!(
        error.contains(&format!(
            "image {absent} is not present locally and cannot be pulled"
        )),
        "{error}"
    );
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_removes_what_a_run_left_behind() {
    require_docker!();
    busybox();
    let run = format!("leftover-{}", T::new("clean").suffix);
    let labels = [
        "--label",
        "dev.wharf.managed=true",
        "--label",
        &format!("dev.wharf.run={run}"),
    ];
    let name = format!("wharf_clean_{run}");
    let mut args = vec!["volume", "create"];
    args.extend(labels);
    args.push(&name);
    docker(&args).unwrap_or_else(|| panic!("volume create"));
    let mut args = vec!["network", "create"];
    args.extend(labels);
    args.push(&name);
    docker(&args).unwrap_or_else(|| panic!("network create"));
    let mut args = vec!["run", "-d", "--name", &name];
    args.extend(labels);
    let mount = format!("{name}:/data");
    args.extend(["-v", &mount, "--network", &name, busybox(), "sleep", "300"]);
    docker(&args).unwrap_or_else(|| panic!("docker run"));

    // With a run id, everything of the run goes, running or not.
    let report = clean(Some(&run), false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(report.skipped.is_empty(), "{report:?}");
    assert_eq!(report.containers, vec![name.clone()]);
    assert_eq!(report.networks, vec![name.clone()]);
    assert_eq!(report.volumes, vec![name.clone()]);
    assert_eq!(
        report.removed,
        [
            format!("container {name}"),
            format!("network {name}"),
            format!("volume {name}")
        ]
    );
    assert!(report.errors.is_empty(), "{report:?}");
    assert!(wharf_e2e::labelled(&format!("dev.wharf.run={run}")).is_empty());
    let again = clean(Some(&run), false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(again.is_empty(), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_platform_uses_go_names() {
    require_docker!();
    let task = Arc::new(common::task("steps: []\n"));
    let executor = DockerExecutor::connect(task, DockerOptions::new("platform", "."))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (os, arch) = executor.platform().await.unwrap_or_else(|e| panic!("{e}"));
    let engine = wharf_docker::engine_platform()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(engine, (os.clone(), arch.clone()));
    assert_eq!(os, "linux");
    let expected = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    assert_eq!(arch, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_reference_is_refused_without_asking_for_credentials() {
    require_docker!();
    busybox();
    let t = T::new("badref");
    let ctx = context(&[]);
    let yaml = t.yaml(
        r#"steps:
  - id: pull@
    cmd: wharf-test/Busybox:1 true
    ignoreErrors: true
  - id: push@
    push: ["wharf-test/Busybox:1"]
    ignoreErrors: true
"#,
    ) + &format!(
        // After the `@` substitution: the digest keeps its `@`.
        "  - id: digest{}\n    push: [\"wharf-test/busybox@sha256:{}\"]\n    ignoreErrors: true\n",
        t.suffix,
        "0123456789abcdef".repeat(4)
    );
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&asked);
    let mut options = t.options(ctx.path());
    options.credentials = Arc::new(move |h: &str| {
        seen.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(h.to_string());
        None
    });
    let out = run_yaml(&yaml, options).await;
    assert_eq!(out.report.status, RunStatus::Succeeded, "{}", out.dump());
    for id in ["pull", "push"] {
        let step = out.step(&t.id(id));
        assert_eq!(step.status, StepStatus::Ignored, "{}", out.dump());
        let error = step.error.unwrap_or_default();
        assert!(
            error.contains(r#"invalid image reference "wharf-test/Busybox:1""#)
                && error.contains("lowercase"),
            "{error}"
        );
    }
    // Refused once, before any attempt.
    for id in ["push", "digest"] {
        assert!(
            !out.logs(&t.id(id)).iter().any(|l| l.contains("attempt")),
            "{}",
            out.dump()
        );
    }
    let digest = out.step(&t.id("digest"));
    assert_eq!(digest.status, StepStatus::Ignored, "{}", out.dump());
    assert!(
        digest
            .error
            .as_deref()
            .is_some_and(|e| e.contains("with a digest cannot be pushed")),
        "{digest:?}"
    );
    assert!(
        asked.lock().unwrap_or_else(|e| e.into_inner()).is_empty(),
        "no credentials are looked up for an invalid reference"
    );
    assert_clean(&t);
}
