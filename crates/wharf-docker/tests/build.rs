//! `build` steps: the `docker build` flags wharf applies, Dockerfile location rules,
//! live output and failures.

mod common;

use common::{Images, T, assert_clean, busybox, context, docker, run_yaml};
use wharf_e2e::require_docker;
use wharf_engine::{RunStatus, StepStatus};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_flags_reach_the_image() {
    require_docker!();
    busybox();
    let t = T::new("bflags");
    let ctx = context(&[
        (
            "ci/Dockerfile.custom",
            "FROM wharf-test/busybox:1 AS base\n\
             ARG FIXED\n\
             ARG FROM_ENV\n\
             ARG UNSET=default-kept\n\
             RUN echo \"fixed=$FIXED env=$FROM_ENV unset=$UNSET\" > /args.txt\n\
             RUN echo \"hosts: $(grep -c '[.]test$' /etc/hosts) shm: $(df -k /dev/shm | tail -1 | awk '{print $2}')\"\n\
             FROM base AS final\n\
             COPY app.txt /app.txt\n\
             FROM final AS broken\n\
             RUN exit 9\n",
        ),
        ("app/app.txt", "app file\n"),
    ]);
    let repo = format!("wharf-test/bflags{}", t.suffix);
    let _images = Images(vec![format!("{repo}:one"), format!("{repo}:two")]);
    let yaml = t.yaml(&format!(
        r#"steps:
  - id: build@
    build: >-
      -f ../ci/Dockerfile.custom --target final
      -t {repo}:one --tag {repo}:two
      --build-arg FIXED="two words" --build-arg FROM_ENV --build-arg UNSET
      --label org.example.kind=test --label "org.example.note=with space"
      --add-host one.test:10.0.0.1 --add-host=two.test:10.0.0.2 --shm-size 96m
      --no-cache --pull=false .
    workingDirectory: app
    env: ["FROM_ENV=from the step env"]
  - id: run@
    cmd: {repo}:two sh -c 'cat /args.txt /app.txt'
"#
    ));
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    assert_eq!(out.report.status, RunStatus::Succeeded, "{}", out.dump());
    assert_eq!(
        out.logs(&t.id("run")),
        [
            "fixed=two words env=from the step env unset=default-kept",
            "app file"
        ]
    );
    let build_log = out.logs(&t.id("build"));
    assert!(
        build_log
            .iter()
            .any(|l| l.starts_with('#') && l.contains(" hosts: 2 shm: ")),
        "live builder output, --add-host applied: {build_log:?}"
    );
    assert!(
        !build_log.iter().any(|l| l.contains("exit 9")),
        "the target stops the build"
    );

    let labels = docker(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Labels}}",
        &format!("{repo}:one"),
    ])
    .unwrap_or_default();
    assert!(labels.contains(r#""org.example.kind":"test""#), "{labels}");
    assert!(
        labels.contains(r#""org.example.note":"with space""#),
        "{labels}"
    );
    let id_one = docker(&["image", "inspect", "-f", "{{.Id}}", &format!("{repo}:one")]);
    let id_two = docker(&["image", "inspect", "-f", "{{.Id}}", &format!("{repo}:two")]);
    assert!(
        id_one.is_some() && id_one == id_two,
        "both tags name the image"
    );
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dockerfile_and_context_follow_the_cli_rules() {
    require_docker!();
    busybox();
    let t = T::new("bctx");
    let ctx = context(&[
        (
            "lowercase/dockerfile",
            "FROM wharf-test/busybox:1\nCOPY marker /marker\n",
        ),
        ("lowercase/marker", "lowercase dockerfile\n"),
        (
            "ignored/Dockerfile",
            "FROM wharf-test/busybox:1\nCOPY . /ctx/\n",
        ),
        (
            "ignored/.dockerignore",
            "Dockerfile\n.dockerignore\n*.tmp\n",
        ),
        ("ignored/a.tmp", "tmp\n"),
        ("ignored/kept", "kept\n"),
    ]);
    let lower = format!("wharf-test/bctx-lower:{}", t.suffix);
    let ign = format!("wharf-test/bctx-ign:{}", t.suffix);
    let classic = format!("wharf-test/bctx-classic:{}", t.suffix);
    let _images = Images(vec![lower.clone(), ign.clone(), classic.clone()]);
    let yaml = t.yaml(&format!(
        r#"steps:
  - id: lower@
    build: -t {lower} lowercase
  - id: ign@
    build: -t {ign} --iidfile image-id.txt ignored
  - id: check@
    cmd: wharf-test/busybox:1 sh -c 'cat image-id.txt; echo'
  - id: runl@
    cmd: {lower} cat /marker
  - id: runi@
    cmd: {ign} ls -A /ctx
  - id: classic@
    build: -t {classic} ignored
    env: ["DOCKER_BUILDKIT=0"]
  - id: runc@
    cmd: {classic} ls -A /ctx
"#
    ));
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    assert_eq!(out.report.status, RunStatus::Succeeded, "{}", out.dump());
    assert_eq!(out.logs(&t.id("runl")), ["lowercase dockerfile"]);
    // *.tmp never goes. The excluded Dockerfile is still sent (the build works): the
    // classic builder then drops it and .dockerignore from the context, as `docker
    // build` does; BuildKit reads the context as a tarball and keeps them (the known
    // difference, documented).
    assert_eq!(out.logs(&t.id("runc")), ["kept"]);
    assert_eq!(
        out.logs(&t.id("runi")),
        [".dockerignore", "Dockerfile", "kept"]
    );
    let id = docker(&["image", "inspect", "-f", "{{.Id}}", &ign]).unwrap_or_default();
    assert_eq!(
        out.logs(&t.id("check")),
        [id.trim().to_string()],
        "--iidfile is written to the workspace"
    );
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_build_fails_the_step_with_the_builders_message() {
    require_docker!();
    busybox();
    let t = T::new("bfail");
    let dockerfile = format!(
        "FROM wharf-test/busybox:1\nRUN echo before failing{}; exit 7\n",
        t.suffix
    );
    let ctx = context(&[("Dockerfile", dockerfile.as_str())]);
    let yaml = t.yaml("steps:\n  - id: missing@\n    build: -f nope/Dockerfile .\n    ignoreErrors: true\n  - id: build@\n    build: -t wharf-test/never-built .\n");
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    assert_eq!(out.report.status, RunStatus::Failed);
    let build = out.step(&t.id("build"));
    assert_eq!(build.status, StepStatus::Failed);
    let error = build.error.unwrap_or_default();
    assert!(
        error.contains("the build failed") && error.contains("exit code: 7"),
        "{error}"
    );
    let marker = format!("before failing{}", t.suffix);
    assert!(
        out.logs(&t.id("build"))
            .iter()
            .any(|l| l.ends_with(&format!(" {marker}"))),
        "{}",
        out.dump()
    );
    // The failed instruction's intermediate container is removed too.
    let commands =
        docker(&["ps", "-a", "--no-trunc", "--format", "{{.Command}}"]).unwrap_or_default();
    assert!(
        !commands.contains(&marker),
        "an intermediate container remains: {commands}"
    );
    let missing = out.step(&t.id("missing")).error.unwrap_or_default();
    assert!(
        missing.contains("cannot find the Dockerfile /workspace/nope/Dockerfile"),
        "{missing}"
    );
    assert_clean(&t);
}

/// Serves `body` as text/plain to every request on a loopback port, for `count` requests.
fn serve(body: &'static str, count: usize) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count) {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{address}/Dockerfile")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_context_is_fetched_by_the_engine() {
    require_docker!();
    busybox();
    let t = T::new("bremote");
    let url = serve("FROM wharf-test/busybox:1\nLABEL origin=remote\n", 4);
    let image = format!("wharf-test/bremote:{}", t.suffix);
    let _images = Images(vec![image.clone()]);
    let ctx = context(&[]);
    let yaml = t.yaml(&format!(
        "steps:\n  - id: build@\n    build: -t {image} {url}\n"
    ));
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    assert_eq!(out.report.status, RunStatus::Succeeded, "{}", out.dump());
    let labels =
        docker(&["image", "inspect", "-f", "{{json .Config.Labels}}", &image]).unwrap_or_default();
    assert!(labels.contains(r#""origin":"remote""#), "{labels}");
    assert_clean(&t);
}

/// A step's container is created ahead of time while the steps before it run. When an
/// earlier step rebuilds the image the step uses, the step must still run the new
/// image, not the one its container was created from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuilt_image_is_used_even_when_the_container_was_made_ahead() {
    require_docker!();
    busybox();
    let t = T::new("rebuild");
    let repo = format!("wharf-test/rebuild{}", t.suffix);
    let _images = Images(vec![format!("{repo}:latest")]);
    // The tag exists before the run, with old content.
    let old = context(&[(
        "Dockerfile",
        "FROM wharf-test/busybox:1\nRUN echo old > /content\n",
    )]);
    docker(&[
        "build",
        "-q",
        "-t",
        &format!("{repo}:latest"),
        &old.path().display().to_string(),
    ]);
    let ctx = context(&[(
        "Dockerfile",
        "FROM wharf-test/busybox:1\nRUN echo new > /content\n",
    )]);
    let yaml = t.yaml(&format!(
        r#"steps:
  - id: slow@
    cmd: wharf-test/busybox:1 sleep 1
  - id: build@
    build: -t {repo}:latest .
  - id: read@
    cmd: {repo}:latest cat /content
"#
    ));
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    assert_eq!(out.report.status, RunStatus::Succeeded, "{}", out.dump());
    assert_eq!(out.logs(&t.id("read")), ["new"]);
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_stops_a_build_while_its_context_is_read_from_the_workspace() {
    require_docker!();
    busybox();
    let t = T::new("bslow");
    let ctx = context(&[("Dockerfile", "FROM wharf-test/busybox:1\nCOPY . /ctx/\n")]);
    let image = format!("wharf-test/bslow:{}", t.suffix);
    let _images = Images(vec![image.clone()]);
    // A large (sparse) file in the workspace makes the context slow to read back.
    let yaml = t.yaml(&format!(
        r#"steps:
  - id: big@
    cmd: wharf-test/busybox:1 truncate -s 3G big.bin
  - id: build@
    build: -t {image} .
    timeout: 1
"#
    ));
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    assert_eq!(out.report.status, RunStatus::Failed, "{}", out.dump());
    let build = out.step(&t.id("build"));
    assert_eq!(build.status, StepStatus::Failed, "{}", out.dump());
    assert!(
        build
            .error
            .as_deref()
            .is_some_and(|e| e.contains("timed out")),
        "{build:?}"
    );
    assert!(
        build.duration_ms < 2500,
        "the timeout must stop the download promptly: {build:?}"
    );
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_read_from_the_workspace_keeps_hard_links_and_a_linked_dockerfile() {
    require_docker!();
    busybox();
    let t = T::new("blinks");
    let ctx = context(&[
        (
            "ci/Dockerfile.real",
            "FROM wharf-test/busybox:1\nCOPY app /app\n",
        ),
        (".dockerignore", "a-store\n"),
    ]);
    let image = format!("wharf-test/blinks:{}", t.suffix);
    let _images = Images(vec![image.clone()]);
    // The engine sends the later names of a hard-linked file as links to the first
    // (`a-store/blob`, in name order), which .dockerignore leaves out here.
    let yaml = t.yaml(&format!(
        r#"steps:
  - id: links@
    cmd: wharf-test/busybox:1 sh -c 'mkdir a-store app && echo linked > a-store/blob && ln a-store/blob app/file && ln app/file app/again && ln -s ci/Dockerfile.real Dockerfile'
  - id: build@
    build: -t {image} .
  - id: check@
    cmd: {image} sh -c 'cat /app/file /app/again; ls /'
"#
    ));
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    assert_eq!(out.report.status, RunStatus::Succeeded, "{}", out.dump());
    let check = out.logs(&t.id("check"));
    assert_eq!(check[..2], ["linked", "linked"], "{}", out.dump());
    assert!(!check.contains(&"a-store".to_string()), "{check:?}");
    assert_clean(&t);
}
