//! `build` steps with the engine's BuildKit: progress lines, parallel stages, cache and
//! secret mounts, `--secret` values that never reach the log, the events or the image,
//! `--ssh`, the classic builder where asked for, `cache: enabled` against a real
//! registry, and failures.

mod common;

use std::process::Command;
use std::sync::Arc;

use common::{Images, T, assert_clean, busybox, context, docker, run_yaml};
use wharf_docker::Credential;
use wharf_e2e::{Registry, require_docker, sh};
use wharf_engine::{RunStatus, StepStatus};

/// The `#N` of the first log line that ends with `text`, and the line.
fn numbered<'a>(lines: &'a [String], text: &str) -> Option<(&'a str, &'a String)> {
    lines
        .iter()
        .find(|l| l.ends_with(text))
        .and_then(|l| Some((l.split_whitespace().next()?, l)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_plain_lines_and_independent_stages_overlap() {
    require_docker!();
    busybox();
    let t = T::new("bkprog");
    let dockerfile = format!(
        "FROM wharf-test/busybox:1 AS one\n\
         RUN echo first-{s} && sleep 2 && echo one > /one\n\
         FROM wharf-test/busybox:1 AS two\n\
         RUN echo second-{s} && sleep 2 && echo two > /two\n\
         FROM wharf-test/busybox:1\n\
         COPY --from=one /one /one\n\
         COPY --from=two /two /two\n",
        s = t.suffix
    );
    let ctx = context(&[("Dockerfile", dockerfile.as_str())]);
    let image = format!("wharf-test/bkprog:{}", t.suffix);
    let _images = Images(vec![image.clone()]);
    let yaml = t.yaml(&format!(
        "steps:\n  - id: build@\n    build: -t {image} --no-cache .\n  - id: run@\n    cmd: {image} cat /one /two\n"
    ));
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    assert_eq!(out.report.status, RunStatus::Succeeded, "{}", out.dump());
    assert_eq!(out.logs(&t.id("run")), ["one", "two"]);

    let log = out.stdout(&t.id("build"));
    assert!(
        log.iter()
            .all(|l| l.starts_with('#') || l.starts_with("Successfully tagged ")),
        "every progress line is numbered, none is JSON: {log:#?}"
    );
    let run_one = format!(
        "[one 2/2] RUN echo first-{} && sleep 2 && echo one > /one",
        t.suffix
    );
    let (one, _) = numbered(&log, &run_one).unwrap_or_else(|| panic!("{log:#?}"));
    let (two, _) = numbered(&log, "&& echo two > /two").unwrap_or_else(|| panic!("{log:#?}"));
    // The step's own output, with the seconds since it started.
    let printed = log
        .iter()
        .find(|l| l.starts_with(&format!("{one} ")) && l.ends_with(&format!(" first-{}", t.suffix)))
        .unwrap_or_else(|| panic!("{log:#?}"));
    let seconds = printed.split_whitespace().nth(1).unwrap_or_default();
    assert!(seconds.parse::<f64>().is_ok(), "{printed}");
    let position = |line: &str| log.iter().position(|l| l == line);
    let one_done = position(&format!("{one} DONE"))
        .or_else(|| {
            log.iter()
                .position(|l| l.starts_with(&format!("{one} DONE ")))
        })
        .unwrap_or_else(|| panic!("{log:#?}"));
    let two_started = log
        .iter()
        .position(|l| l.starts_with(&format!("{two} [two 2/2] RUN")))
        .unwrap_or_else(|| panic!("{log:#?}"));
    assert!(
        two_started < one_done,
        "stage two starts before stage one finishes: BuildKit builds them at once: {log:#?}"
    );
    assert!(
        log.iter().any(|l| l.ends_with("exporting to image")),
        "{log:#?}"
    );
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_mount_is_kept_for_the_next_build() {
    require_docker!();
    busybox();
    let t = T::new("bkcache");
    let dockerfile = format!(
        "FROM wharf-test/busybox:1\n\
         ARG ROUND\n\
         RUN --mount=type=cache,id=wharf-test-{s},target=/cache \
             echo \"round $ROUND found: $(cat /cache/seen 2>/dev/null || echo nothing)\" && echo \"$ROUND\" > /cache/seen\n",
        s = t.suffix
    );
    let ctx = context(&[("Dockerfile", dockerfile.as_str())]);
    let image = format!("wharf-test/bkcache:{}", t.suffix);
    let _images = Images(vec![image.clone()]);
    let yaml = t.yaml(&format!(
        "steps:\n  - id: first@\n    build: -t {image} --build-arg ROUND=1 .\n  - id: second@\n    build: -t {image} --build-arg ROUND=2 .\n"
    ));
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    assert_eq!(out.report.status, RunStatus::Succeeded, "{}", out.dump());
    let found = |step: &str| {
        out.stdout(&t.id(step))
            .iter()
            .filter(|l| !l.contains(" RUN "))
            .find_map(|l| l.split_once(" found: ").map(|(_, f)| f.to_string()))
            .unwrap_or_else(|| panic!("{}", out.dump()))
    };
    assert_eq!(found("first"), "nothing");
    assert_eq!(
        found("second"),
        "1",
        "the second build sees the first one's cache"
    );
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_from_a_file_and_from_env_reach_the_run_and_nothing_else() {
    require_docker!();
    busybox();
    let t = T::new("bksecret");
    let file_secret = format!("file-secret-{}-Xq7", t.suffix);
    let env_secret = format!("env-secret-{}-Zr9", t.suffix);
    let dockerfile = "FROM wharf-test/busybox:1\n\
         RUN --mount=type=secret,id=fromfile --mount=type=secret,id=fromenv,required=true \
             echo \"file: $(cat /run/secrets/fromfile)\" && echo \"env: $(cat /run/secrets/fromenv)\" \
             && cat /run/secrets/fromfile > /dev/null && echo mounted\n\
         RUN ls -A /run/secrets 2>&1 | wc -l > /secrets-left\n";
    let ctx = context(&[
        ("app/Dockerfile", dockerfile),
        ("creds/token.txt", &format!("{file_secret}\n")),
    ]);
    let image = format!("wharf-test/bksecret:{}", t.suffix);
    let _images = Images(vec![image.clone()]);
    let yaml = t.yaml(&format!(
        r#"steps:
  - id: build@
    build: -t {image} --no-cache --secret id=fromfile,src=../creds/token.txt --secret id=fromenv,env=API_TOKEN .
    workingDirectory: app
    env: ["API_TOKEN={env_secret}"]
  - id: check@
    cmd: {image} cat /secrets-left
"#
    ));
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    assert_eq!(out.report.status, RunStatus::Succeeded, "{}", out.dump());
    let log = out.logs(&t.id("build"));
    assert!(log.iter().any(|l| l.ends_with(" file: ***")), "{log:#?}");
    assert!(log.iter().any(|l| l.ends_with(" env: ***")), "{log:#?}");
    assert!(log.iter().any(|l| l.ends_with(" mounted")), "{log:#?}");
    let events = format!("{:?}", out.events);
    for secret in [&file_secret, &env_secret] {
        assert!(!events.contains(secret.as_str()), "{secret} in the events");
    }
    // Nothing of the secrets is in the image: its layers, config and history.
    let saved = Command::new("docker")
        .args(["save", &image])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(saved.status.success());
    assert!(saved.stdout.len() > 1000);
    for secret in [&file_secret, &env_secret] {
        assert!(
            !saved
                .stdout
                .windows(secret.len())
                .any(|w| w == secret.as_bytes()),
            "{secret} is in the saved image"
        );
    }
    assert_eq!(
        out.logs(&t.id("check")),
        ["0"],
        "no secret file stays mounted"
    );
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_secrets_fail_with_the_flag_named() {
    require_docker!();
    busybox();
    let t = T::new("bksecbad");
    let ctx = context(&[(
        "Dockerfile",
        "FROM wharf-test/busybox:1\nRUN --mount=type=secret,id=s,required=true cat /run/secrets/s\n",
    )]);
    let yaml = t.yaml(
        r#"steps:
  - id: nofile@
    build: --secret id=s,src=missing.txt .
    ignoreErrors: true
  - id: noenv@
    build: --secret id=s,env=NOT_SET .
    ignoreErrors: true
  - id: outside@
    build: --secret id=s,src=/etc/passwd .
    ignoreErrors: true
  - id: notgiven@
    build: .
    ignoreErrors: true
  - id: classic@
    build: --secret id=s,env=HOME .
    env: ["DOCKER_BUILDKIT=0"]
"#,
    );
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    let error = |id: &str| out.step(&t.id(id)).error.unwrap_or_default();
    assert!(
        error("nofile")
            .contains("--secret id=s,src=missing.txt: /workspace/missing.txt does not exist"),
        "{}",
        error("nofile")
    );
    assert!(
        error("noenv").contains("--secret id=s,env=NOT_SET: NOT_SET is not set in the step's env"),
        "{}",
        error("noenv")
    );
    assert!(
        error("outside").contains("/etc/passwd is outside /workspace"),
        "{}",
        error("outside")
    );
    assert!(
        error("notgiven").contains("the build failed"),
        "{}",
        error("notgiven")
    );
    assert!(
        error("classic").contains("--secret needs BuildKit")
            && error("classic").contains("DOCKER_BUILDKIT=0"),
        "{}",
        error("classic")
    );
    assert_eq!(out.step(&t.id("classic")).attempts, 1);
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_buildkit_0_selects_the_classic_builder_and_says_so() {
    require_docker!();
    busybox();
    let t = T::new("bkclassic");
    let ctx = context(&[
        (
            "plain/Dockerfile",
            "FROM wharf-test/busybox:1\nRUN echo classic-run\n",
        ),
        (
            "mount/Dockerfile",
            "FROM wharf-test/busybox:1\nRUN --mount=type=cache,target=/c true\n",
        ),
    ]);
    let image = format!("wharf-test/bkclassic:{}", t.suffix);
    let _images = Images(vec![image.clone()]);
    let yaml = t.yaml(&format!(
        r#"steps:
  - id: plain@
    build: -t {image} --no-cache plain
    env: ["DOCKER_BUILDKIT=0"]
  - id: mount@
    build: mount
    env: ["DOCKER_BUILDKIT=false"]
    ignoreErrors: true
"#
    ));
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    assert_eq!(
        out.status(&t.id("plain")),
        StepStatus::Succeeded,
        "{}",
        out.dump()
    );
    let log = out.logs(&t.id("plain"));
    assert!(
        log.contains(
            &"note: building with the classic builder: DOCKER_BUILDKIT=0 in the step's env"
                .to_string()
        ),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("Step 2/2 : RUN echo classic-run")),
        "{log:#?}"
    );
    assert!(log.contains(&"classic-run".to_string()), "{log:#?}");
    // The classic builder refuses BuildKit's Dockerfile syntax, clearly.
    let mount = out.step(&t.id("mount"));
    assert_eq!(mount.status, StepStatus::Ignored);
    assert!(
        mount
            .error
            .as_deref()
            .is_some_and(|e| e.contains("--mount") && e.contains("BuildKit")),
        "{mount:?}"
    );
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_run_names_the_instruction_and_its_exit_code() {
    require_docker!();
    busybox();
    let t = T::new("bkfail");
    let ctx = context(&[(
        "Dockerfile",
        "FROM wharf-test/busybox:1\nRUN echo about-to-fail && exit 3\n",
    )]);
    let yaml = t.yaml("steps:\n  - id: build@\n    build: --no-cache .\n");
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    assert_eq!(out.report.status, RunStatus::Failed);
    let build = out.step(&t.id("build"));
    let error = build.error.unwrap_or_default();
    assert!(
        error.starts_with(&format!(
            "step {}: the build failed at [2/2] RUN echo about-to-fail && exit 3: ",
            t.id("build")
        )) && error.contains("exit code: 3"),
        "{error}"
    );
    let log = out.logs(&t.id("build"));
    assert!(
        log.iter().any(|l| l.ends_with(" about-to-fail")),
        "{log:#?}"
    );
    assert!(log.iter().any(|l| l.contains(" ERROR: ")), "{log:#?}");
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_forwards_the_agent_socket() {
    require_docker!();
    busybox();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let socket = dir.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start ssh-agent (apt-get install openssh-client): {e}"));
    for _ in 0..100 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let t = T::new("bkssh");
    let ctx = context(&[(
        "Dockerfile",
        "FROM wharf-test/busybox:1\nRUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && echo agent-forwarded\n",
    )]);
    let yaml = t.yaml(&format!(
        "steps:\n  - id: build@\n    build: --no-cache --ssh default={} .\n  - id: nokey@\n    build: --ssh default=/nonexistent/id_ed25519 .\n    ignoreErrors: true\n",
        socket.display()
    ));
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    let _ = agent.kill();
    let _ = agent.wait();
    assert_eq!(
        out.status(&t.id("build")),
        StepStatus::Succeeded,
        "{}",
        out.dump()
    );
    assert!(
        out.logs(&t.id("build"))
            .iter()
            .any(|l| l.ends_with(" agent-forwarded")),
        "{}",
        out.dump()
    );
    let nokey = out.step(&t.id("nokey")).error.unwrap_or_default();
    assert!(
        nokey.contains("--ssh default=/nonexistent/id_ed25519") && nokey.contains("ssh-add"),
        "{nokey}"
    );
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_enabled_keeps_an_inline_cache_in_the_registry_as_acr_names_it() {
    require_docker!();
    busybox();
    let registry = Registry::start_with_auth("cacher", "s3cret>>pw");
    let t = T::new("bkregcache");
    let ctx = context(&[(
        "Dockerfile",
        "FROM wharf-test/busybox:1\nARG NOTE\nRUN echo cached-layer > /layer\n",
    )]);
    let repo = format!("{}/wharf/regcache", registry.host);
    let image = format!("{repo}:{}", t.suffix);
    let step = t.id("build");
    let cache_ref = format!("{repo}:cache_quickrun_{step}");
    let _images = Images(vec![image.clone(), cache_ref.clone()]);
    let yaml = t.yaml(&format!(
        "steps:\n  - id: build@\n    build: -t {image} .\n    cache: enabled\n"
    ));
    let host = registry.host.clone();
    let credentials: wharf_docker::CredentialLookup = Arc::new(move |h: &str| {
        (h == host).then(|| Credential::Basic {
            username: "cacher".into(),
            password: "s3cret>>pw".into(),
        })
    });
    let mut options = t.options(ctx.path());
    options.credentials = Arc::clone(&credentials);
    let first = run_yaml(&yaml, options).await;
    assert_eq!(
        first.report.status,
        RunStatus::Succeeded,
        "{}\n{}",
        first.dump(),
        registry.log()
    );
    let log = first.logs(&step);
    assert!(
        log.iter()
            .any(|l| l.contains("inline cache") && l.contains(&cache_ref)),
        "the log says how the cache is kept: {log:#?}"
    );
    let tags = registry.tags("wharf/regcache");
    assert!(
        tags.contains(&format!("cache_quickrun_{step}")),
        "{tags:?}\n{}",
        registry.log()
    );
    // The cache image carries BuildKit's inline cache.
    let config = sh(Command::new("skopeo").args([
        "inspect",
        "--config",
        "--raw",
        "--tls-verify=false",
        "--creds",
        "cacher:s3cret>>pw",
        &format!("docker://{cache_ref}"),
    ]));
    assert!(config.contains("moby.buildkit.cache.v0"), "{config}");
    assert!(
        docker(&["image", "inspect", &cache_ref]).is_none(),
        "the cache tag is not left in the engine"
    );

    // The next run imports it from there.
    let mut options = t.options(ctx.path());
    options.run_id = format!("{}-2", t.run_id);
    options.credentials = credentials;
    let second = run_yaml(&yaml, options).await;
    assert_eq!(
        second.report.status,
        RunStatus::Succeeded,
        "{}",
        second.dump()
    );
    let log = second.logs(&step);
    assert!(
        log.iter()
            .any(|l| l.contains("importing cache manifest from") && l.contains(&cache_ref)),
        "{log:#?}"
    );
    assert_clean(&t);
}
