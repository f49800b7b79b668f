//! `cmd` steps: the container options ACR's `docker run` line sets, exit codes,
//! detached servers reached by step id, keep and retries, timeouts and interruption.

mod common;

use std::time::Duration;

use common::{T, assert_clean, busybox, context, docker, run_yaml, run_yaml_with, running};
use tokio_util::sync::CancellationToken;
use wharf_e2e::{free_port, require_docker};
use wharf_engine::{RunStatus, StepStatus};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_options_reach_the_container() {
    require_docker!();
    busybox();
    let t = T::new("opts");
    let ctx = context(&[("sub/file.txt", "in sub\n")]);
    let yaml = t.yaml(
        r#"env: ["TASK_VAR=from the task"]
steps:
  - id: env@
    cmd: wharf-test/busybox:1 sh -c 'echo "[$GREETING]"; echo "[$TASK_VAR]"; echo "[$EMPTY]"'
    env: ["GREETING=hello   big world", "EMPTY="]
  - id: wd@
    cmd: wharf-test/busybox:1 sh -c 'pwd; cat file.txt'
    workingDirectory: sub
  - id: nowd@
    cmd: wharf-test/busybox:1 pwd
    workingDirectory: sub
    disableWorkingDirectoryOverride: true
  - id: user@
    cmd: wharf-test/busybox:1 id -u
    user: "1234:1234"
  - id: ep@
    cmd: wharf-test/busybox:1 from the entrypoint
    entryPoint: echo
  - id: quoted@
    cmd: wharf-test/busybox:1 echo 'single  quoted' "double  quoted" plain
  - id: socket@
    cmd: wharf-test/busybox:1 test -S /var/run/docker.sock
  - id: cpus@
    cmd: wharf-test/busybox:1 echo limited
    cpus: "0.5"
"#,
    );
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    assert_eq!(out.report.status, RunStatus::Succeeded, "{}", out.dump());
    assert_eq!(
        out.logs(&t.id("env")),
        ["[hello   big world]", "[from the task]", "[]"],
        "env values are passed exactly"
    );
    assert_eq!(out.logs(&t.id("wd")), ["/workspace/sub", "in sub"]);
    assert_eq!(
        out.logs(&t.id("nowd")),
        ["/"],
        "the image's WORKDIR applies"
    );
    assert_eq!(out.logs(&t.id("user")), ["1234"]);
    assert_eq!(out.logs(&t.id("ep")), ["from the entrypoint"]);
    assert_eq!(
        out.logs(&t.id("quoted")),
        ["single  quoted double  quoted plain"]
    );
    assert_eq!(out.logs(&t.id("cpus")), ["limited"]);
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_command_reports_its_exit_code_and_output() {
    require_docker!();
    busybox();
    let t = T::new("fail");
    let ctx = context(&[]);
    let yaml = t.yaml(
        r#"steps:
  - id: fail@
    cmd: wharf-test/busybox:1 sh -c 'echo to stdout; echo to stderr >&2; exit 3'
  - id: never@
    cmd: wharf-test/busybox:1 true
"#,
    );
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    assert_eq!(out.report.status, RunStatus::Failed);
    let failed = out.step(&t.id("fail"));
    assert_eq!(failed.status, StepStatus::Failed);
    assert_eq!(failed.exit_code, Some(3));
    assert_eq!(out.stdout(&t.id("fail")), ["to stdout"]);
    assert!(out.logs(&t.id("fail")).contains(&"to stderr".to_string()));
    assert_eq!(out.status(&t.id("never")), StepStatus::Skipped);
    assert!(
        docker(&["inspect", &t.container("fail")]).is_none(),
        "the container is removed"
    );
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_lines_arrive_in_order_without_loss_or_repeats() {
    require_docker!();
    busybox();
    let t = T::new("lines");
    let ctx = context(&[]);
    let yaml = t.yaml(
        r#"steps:
  - id: count@
    cmd: wharf-test/busybox:1 seq 1 2000
"#,
    );
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    assert_eq!(out.report.status, RunStatus::Succeeded, "{}", out.dump());
    let expected: Vec<String> = (1..=2000).map(|i| i.to_string()).collect();
    assert_eq!(out.stdout(&t.id("count")), expected);
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_server_is_reachable_by_step_id_and_through_its_published_port() {
    require_docker!();
    busybox();
    let t = T::new("detach");
    let port = free_port();
    let ctx = context(&[("www/index.html", "served by the detached step\n")]);
    let yaml = t.yaml(&format!(
        r#"steps:
  - id: srv@
    cmd: wharf-test/busybox:1 httpd -f -p 8080 -h /workspace/www
    detach: true
    ports: ["127.0.0.1:{port}:8080"]
    expose: ["9090"]
  - id: client@
    cmd: wharf-test/busybox:1 sh -c 'for i in $(seq 1 50); do wget -qO- http://srv@:8080/index.html && exit 0; sleep 0.2; done; exit 1'
  - id: host@
    cmd: wharf-test/busybox:1 sh -c 'for i in $(seq 1 50); do wget -qO- http://127.0.0.1:{port}/index.html && exit 0; sleep 0.2; done; exit 1'
    network: host
"#
    ));
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    assert_eq!(out.report.status, RunStatus::Succeeded, "{}", out.dump());
    assert_eq!(
        out.step(&t.id("srv")).exit_code,
        None,
        "a detached step has no exit code"
    );
    assert_eq!(out.logs(&t.id("client")), ["served by the detached step"]);
    assert_eq!(out.logs(&t.id("host")), ["served by the detached step"]);
    assert!(
        !running(&t.container("srv")),
        "the detached container is removed at cleanup"
    );
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_network_connects_steps_by_id() {
    require_docker!();
    busybox();
    let t = T::new("defnet");
    let ctx = context(&[("index.html", "default network\n")]);
    let yaml = t.yaml_default_network(
        r#"steps:
  - id: web@
    cmd: wharf-test/busybox:1 httpd -f -p 80 -h /workspace
    detach: true
  - id: get@
    cmd: wharf-test/busybox:1 sh -c 'for i in $(seq 1 50); do wget -qO- http://web@/ && exit 0; sleep 0.2; done; exit 1'
"#,
    );
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    assert_eq!(out.report.status, RunStatus::Succeeded, "{}", out.dump());
    assert_eq!(out.logs(&t.id("get")), ["default network"]);
    // The default network is the run's own, removed with everything else.
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_and_retries_do_not_collide_on_the_container_name() {
    require_docker!();
    busybox();
    let t = T::new("keep");
    let ctx = context(&[]);
    let yaml = t.yaml(
        r#"steps:
  - id: flaky@
    cmd: wharf-test/busybox:1 sh -c 'if [ -f marker ]; then echo second attempt; else touch marker; exit 1; fi'
    keep: true
    retries: 1
    retryDelay: 1
  - id: repeated@
    cmd: wharf-test/busybox:1 echo again
    keep: true
    repeat: 1
"#,
    );
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    assert_eq!(out.report.status, RunStatus::Succeeded, "{}", out.dump());
    let flaky = out.step(&t.id("flaky"));
    assert_eq!(flaky.attempts, 2);
    assert_eq!(out.logs(&t.id("flaky")), ["second attempt"]);
    assert_eq!(out.logs(&t.id("repeated")), ["again", "again"]);
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_container_stays_until_cleanup() {
    require_docker!();
    busybox();
    let t = T::new("kept");
    let ctx = context(&[]);
    let kept = t.container("kept");
    let waiting = t.container("wait");
    let yaml = t.yaml(
        r#"steps:
  - id: kept@
    cmd: wharf-test/busybox:1 echo kept
    keep: true
  - id: gone@
    cmd: wharf-test/busybox:1 echo gone
  - id: wait@
    cmd: wharf-test/busybox:1 sleep 5
"#,
    );
    // While the last step runs, the kept container exists and the other one does not.
    let (k, g) = (kept.clone(), t.container("gone"));
    let watcher = tokio::spawn(async move {
        while !running(&waiting) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (
            docker(&["inspect", &k]).is_some(),
            docker(&["inspect", &g]).is_some(),
        )
    });
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    assert_eq!(out.report.status, RunStatus::Succeeded, "{}", out.dump());
    let (kept_seen, gone_seen) = watcher.await.unwrap_or((false, true));
    assert!(kept_seen, "a kept container exists until cleanup");
    assert!(!gone_seen, "other containers are removed when they exit");
    assert!(
        docker(&["inspect", &kept]).is_none(),
        "the kept container is removed at cleanup"
    );
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_kills_the_container() {
    require_docker!();
    busybox();
    let t = T::new("timeout");
    let ctx = context(&[]);
    let yaml = t.yaml(
        r#"steps:
  - id: slow@
    cmd: wharf-test/busybox:1 sleep 300
    timeout: 2
"#,
    );
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    assert_eq!(out.report.status, RunStatus::Failed);
    let slow = out.step(&t.id("slow"));
    assert_eq!(slow.status, StepStatus::Failed);
    assert!(
        slow.error
            .as_deref()
            .is_some_and(|e| e.contains("timed out")),
        "{slow:?}"
    );
    assert!(docker(&["inspect", &t.container("slow")]).is_none());
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupting_the_run_kills_running_and_detached_containers() {
    require_docker!();
    busybox();
    let t = T::new("cancel");
    let ctx = context(&[]);
    let slow = t.container("slow");
    let yaml = t.yaml(
        r#"steps:
  - id: bg@
    cmd: wharf-test/busybox:1 sleep 300
    detach: true
  - id: slow@
    cmd: wharf-test/busybox:1 sleep 300
"#,
    );
    let interrupt = CancellationToken::new();
    let stop = interrupt.clone();
    let watcher = tokio::spawn(async move {
        while !running(&slow) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stop.cancel();
    });
    let out = run_yaml_with(&yaml, t.options(ctx.path()), interrupt).await;
    watcher.abort();
    assert_eq!(out.report.status, RunStatus::Interrupted, "{}", out.dump());
    assert_eq!(out.status(&t.id("slow")), StepStatus::Cancelled);
    assert!(!running(&t.container("bg")));
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_name_taken_by_someone_else_is_a_clear_error() {
    require_docker!();
    busybox();
    let t = T::new("taken");
    let ctx = context(&[]);
    let id = t.id("taken");
    let name = t.container("taken");
    docker(&["create", "--name", &name, busybox(), "true"])
        .unwrap_or_else(|| panic!("docker create"));
    let yaml = t.yaml("steps:\n  - id: taken@\n    cmd: wharf-test/busybox:1 true\n");
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    docker(&["rm", "-f", &name]);
    assert_eq!(out.report.status, RunStatus::Failed);
    let error = out.step(&id).error.unwrap_or_default();
    assert!(
        error.contains(&format!("a container named {name} already exists")),
        "{error}"
    );
    assert!(
        error.contains("is not wharf's") && error.contains(&format!("docker rm -f {name}")),
        "{error}"
    );
    assert!(
        !error.contains("wharf clean"),
        "wharf clean would not remove it: {error}"
    );
    assert!(error.contains("change the step id"), "{error}");
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_name_taken_by_another_wharf_run_names_that_run() {
    require_docker!();
    busybox();
    let t = T::new("takenrun");
    let ctx = context(&[]);
    let id = t.id("taken");
    let name = t.container("taken");
    let other_run = format!("other-{}", t.suffix);
    docker(&[
        "create",
        "--name",
        &name,
        "--label",
        "dev.wharf.managed=true",
        "--label",
        &format!("dev.wharf.run={other_run}"),
        busybox(),
        "true",
    ])
    .unwrap_or_else(|| panic!("docker create"));
    let yaml = t.yaml("steps:\n  - id: taken@\n    cmd: wharf-test/busybox:1 true\n");
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    docker(&["rm", "-f", &name]);
    assert_eq!(out.report.status, RunStatus::Failed);
    let error = out.step(&id).error.unwrap_or_default();
    assert!(
        error.contains(&format!(
            "belongs to wharf run {other_run}, which may still be running"
        )) && error.contains(&format!("`wharf clean --run {other_run}` removes it")),
        "{error}"
    );
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_port_or_cmd_is_a_clear_error() {
    require_docker!();
    busybox();
    let t = T::new("badargs");
    let ctx = context(&[]);
    let yaml = t.yaml(
        r#"steps:
  - id: port@
    cmd: wharf-test/busybox:1 true
    ports: ["80:90:100:110"]
    ignoreErrors: true
  - id: quote@
    cmd: wharf-test/busybox:1 echo 'unterminated
    ignoreErrors: true
  - id: missing@
    cmd: wharf-test/busybox:1 /no/such/program
    ignoreErrors: true
"#,
    );
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    assert_eq!(out.report.status, RunStatus::Succeeded, "{}", out.dump());
    let error = |id: &str| out.step(&t.id(id)).error.unwrap_or_default();
    assert!(
        error("port").contains("invalid port mapping \"80:90:100:110\""),
        "{}",
        error("port")
    );
    assert!(
        error("quote").contains("quote ' is never closed"),
        "{}",
        error("quote")
    );
    assert!(
        error("missing").contains("cannot start the container of image wharf-test/busybox:1"),
        "{}",
        error("missing")
    );
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_floods_its_output_waits_for_the_reader_with_bounded_buffers() {
    require_docker!();
    busybox();
    let t = T::new("flood");
    let ctx = context(&[]);
    const LINES: usize = 300_000;
    let yaml = t.yaml(&format!(
        "steps:\n  - id: loud@\n    cmd: wharf-test/busybox:1 sh -c 'yes 0123456789012345678901234567890123456789012345678 | head -n {LINES}'\n"
    ));
    let task = std::sync::Arc::new(common::task(&yaml));
    let executor =
        wharf_docker::DockerExecutor::connect(std::sync::Arc::clone(&task), t.options(ctx.path()))
            .await
            .unwrap_or_else(|e| panic!("cannot connect: {e}"));
    let (tx, mut rx) = wharf_engine::event_channel();
    let run = tokio::spawn(async move {
        wharf_engine::run(
            &task,
            std::sync::Arc::new(executor),
            wharf_engine::RunOptions::default(),
            tx,
            CancellationToken::new(),
        )
        .await
    });
    // A reader that falls behind (a slow terminal): it looks away, then reads.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut lines = 0;
    while let Some(event) = rx.recv().await {
        if let wharf_engine::Event::Log { step, line, .. } = &event
            && step == &t.id("loud")
        {
            assert_eq!(line.len(), 49, "{line:?}");
            lines += 1;
        }
    }
    let report = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .unwrap_or_else(|_| panic!("the run hung"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(lines, LINES, "every line arrives");
    // 15 MB went through; the engine held at most its budget of it at once.
    let slack = wharf_engine::OUTPUT_BUDGET + (256 << 10);
    assert!(
        report.buffers.peak_output_bytes <= slack,
        "{:?}",
        report.buffers
    );
    assert!(report.buffers.peak_queued_events <= wharf_engine::EVENT_QUEUE);
    assert_clean(&t);
}
