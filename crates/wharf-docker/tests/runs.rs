//! Runs side by side: a run id used twice, what each run's cleanup may remove, and the
//! networks runs create or share.

mod common;

use std::time::{Duration, Instant};

use common::{T, assert_clean, busybox, context, docker, run_yaml, running};
use wharf_e2e::require_docker;
use wharf_engine::{RunStatus, StepStatus};

/// Waits (up to a minute) until container `name` runs.
async fn until_running(name: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !running(name) {
        assert!(Instant::now() < deadline, "{name} never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_with_the_same_id_refuses_to_start_and_leaves_the_first_alone() {
    require_docker!();
    busybox();
    let t = T::new("sameid");
    let ctx = context(&[]);
    let first = t.yaml("steps:\n  - id: long@\n    cmd: wharf-test/busybox:1 sleep 6\n");
    let long = t.container("long");
    let options = t.options(ctx.path());
    let run_a = tokio::spawn(async move { run_yaml(&first, options).await });
    until_running(&long).await;

    // Same run id, another step.
    let second = t.yaml("steps:\n  - id: other@\n    cmd: wharf-test/busybox:1 true\n");
    let out_b = run_yaml(&second, t.options(ctx.path())).await;
    assert_eq!(out_b.report.status, RunStatus::Failed, "{}", out_b.dump());
    assert_eq!(out_b.status(&t.id("other")), StepStatus::Skipped);
    let why = out_b.run_lines().join("\n");
    assert!(
        why.contains(&format!("wharf run {}", t.run_id))
            && why.contains(&format!("`wharf clean --run {}`", t.run_id))
            && why.contains("--id"),
        "{why}"
    );
    assert!(
        out_b.report.cleanup_errors.is_empty(),
        "{:?}",
        out_b.report.cleanup_errors
    );
    assert!(running(&long), "the first run's step must keep running");

    let out_a = run_a.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out_a.report.status,
        RunStatus::Succeeded,
        "{}",
        out_a.dump()
    );
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_removes_only_what_this_run_created() {
    require_docker!();
    busybox();
    let t = T::new("ownonly");
    let ctx = context(&[]);
    let yaml = t.yaml("steps:\n  - id: wait@\n    cmd: wharf-test/busybox:1 sleep 3\n");
    let wait = t.container("wait");
    // While the run goes on, something else labelled with the same run id appears (as
    // another run with that id would make it).
    let other = format!("wharf_other_{}", t.suffix);
    let run_label = format!("dev.wharf.run={}", t.run_id);
    let (name, label) = (other.clone(), run_label.clone());
    let intruder = tokio::spawn(async move {
        until_running(&wait).await;
        docker(&[
            "volume",
            "create",
            "--label",
            "dev.wharf.managed=true",
            "--label",
            &label,
            "--label",
            "dev.wharf.session=another",
            &name,
        ])
    });
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    let created = intruder.await.unwrap_or_else(|e| panic!("{e}"));
    assert!(created.is_some(), "volume create");
    assert_eq!(out.report.status, RunStatus::Succeeded, "{}", out.dump());
    let left = wharf_e2e::labelled(&run_label);
    docker(&["volume", "rm", &other]);
    assert_eq!(
        left,
        [format!("volume {other}")],
        "the run's cleanup must not remove another session's objects"
    );
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_whose_name_has_url_characters_is_removed() {
    require_docker!();
    busybox();
    let t = T::new("hashnet");
    let ctx = context(&[]);
    let network = format!("wharf_test_net#{}?x=1", t.suffix);
    let yaml = format!(
        "version: v1.1.0\nnetworks:\n  - name: \"{network}\"\n    isDefault: true\nsteps:\n  - id: hello{}\n    cmd: wharf-test/busybox:1 echo on the network\n",
        t.suffix
    );
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    let left = wharf_e2e::labelled(&format!("dev.wharf.run={}", t.run_id));
    docker(&["network", "rm", &network]);
    assert_eq!(out.report.status, RunStatus::Succeeded, "{}", out.dump());
    assert_eq!(out.logs(&t.id("hello")), ["on the network"]);
    assert!(
        out.report.cleanup_errors.is_empty(),
        "{:?}",
        out.report.cleanup_errors
    );
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_of_the_run_still_in_use_is_a_cleanup_error_naming_its_users() {
    require_docker!();
    busybox();
    let t = T::new("usednet");
    let ctx = context(&[]);
    let network = t.network();
    let foreign = format!("foreign{}", t.suffix);
    let yaml = t.yaml("steps:\n  - id: wait@\n    cmd: wharf-test/busybox:1 sleep 3\n");
    let wait = t.container("wait");
    let (net, name) = (network.clone(), foreign.clone());
    // A container the run did not make (as a step might start through the Docker
    // socket) joins the run's network and outlives the run.
    let joiner = tokio::spawn(async move {
        until_running(&wait).await;
        docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            &net,
            busybox(),
            "sleep",
            "120",
        ])
    });
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    let joined = joiner.await.unwrap_or_else(|e| panic!("{e}"));
    docker(&["rm", "-f", &foreign]);
    let network_left = docker(&["network", "inspect", &network]).is_some();
    docker(&["network", "rm", &network]);
    assert!(joined.is_some(), "docker run");
    assert_eq!(out.report.status, RunStatus::Succeeded, "{}", out.dump());
    assert!(network_left, "the network could not be removed");
    let errors = out.report.cleanup_errors.join("\n");
    assert!(
        errors.contains(&format!("network {network}")) && errors.contains(&foreign),
        "the cleanup must say which network stays and who uses it: {errors:?}"
    );
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_shared_with_a_later_run_is_removed_by_the_last_one() {
    require_docker!();
    busybox();
    let a = T::new("sharea");
    let b = T::new("shareb");
    let ctx = context(&[]);
    // Both runs declare the same network; run A creates it and ends first.
    let network = a.network();
    let declare = format!("version: v1.1.0\nnetworks:\n  - name: {network}\n    isDefault: true\n");
    let yaml_a = format!(
        "{declare}steps:\n  - id: short{}\n    cmd: wharf-test/busybox:1 sleep 2\n",
        a.suffix
    );
    let yaml_b = format!(
        "{declare}steps:\n  - id: long{}\n    cmd: wharf-test/busybox:1 sleep 6\n",
        b.suffix
    );
    let short = a.container("short");
    let options_a = a.options(ctx.path());
    let run_a = tokio::spawn(async move { run_yaml(&yaml_a, options_a).await });
    until_running(&short).await;
    let options_b = b.options(ctx.path());
    let run_b = tokio::spawn(async move { run_yaml(&yaml_b, options_b).await });
    let out_a = run_a.await.unwrap_or_else(|e| panic!("{e}"));
    let out_b = run_b.await.unwrap_or_else(|e| panic!("{e}"));
    let network_left = docker(&["network", "inspect", &network]).is_some();
    docker(&["network", "rm", &network]);
    assert_eq!(
        out_a.report.status,
        RunStatus::Succeeded,
        "{}",
        out_a.dump()
    );
    assert_eq!(
        out_b.report.status,
        RunStatus::Succeeded,
        "{}",
        out_b.dump()
    );
    assert!(
        out_a.report.cleanup_errors.is_empty(),
        "another run still using the network is no error: {:?}",
        out_a.report.cleanup_errors
    );
    assert!(
        out_b.report.cleanup_errors.is_empty(),
        "{:?}",
        out_b.report.cleanup_errors
    );
    assert!(!network_left, "the last run using the network removes it");
    assert_clean(&a);
    assert_clean(&b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_ids_that_cannot_name_a_container_fail_before_any_step_runs() {
    require_docker!();
    busybox();
    let t = T::new("badid");
    let ctx = context(&[]);
    let yaml = t.yaml(
        "steps:\n  - id: first@\n    cmd: wharf-test/busybox:1 echo ran\n  - id: x\n    cmd: wharf-test/busybox:1 true\n  - id: web/api@\n    cmd: wharf-test/busybox:1 true\n  - id: built@\n    build: .\n",
    );
    let out = run_yaml(&yaml, t.options(ctx.path())).await;
    assert_eq!(out.report.status, RunStatus::Failed, "{}", out.dump());
    assert_eq!(
        out.status(&t.id("first")),
        StepStatus::Skipped,
        "no step may run: {}",
        out.dump()
    );
    let why = out.run_lines().join("\n");
    assert!(
        why.contains("step id \"x\"") && why.contains(&format!("step id \"web/api{}\"", t.suffix)),
        "{why}"
    );
    assert!(why.contains("network alias (as in ACR)"), "{why}");
    assert!(
        !why.contains("built"),
        "build steps need no container name: {why}"
    );
    assert_clean(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_of_one_pipeline_at_once_each_reach_their_own_service_by_step_id() {
    require_docker!();
    busybox();
    // The same file twice: the step ids are the same in both runs.
    let pipeline = "steps:\n  - id: web\n    cmd: wharf-test/busybox:1 httpd -f -p 8080 -h /workspace\n    detach: true\n  - id: probe\n    cmd: wharf-test/busybox:1 sh -c 'for i in $(seq 1 100); do wget -qO- http://web:8080/index.html && break; sleep 0.1; done; while [ ! -e /workspace/go ]; do sleep 0.1; done'\n";
    let (a, b) = (T::new("twinsa"), T::new("twinsb"));
    let yaml = a.yaml_default_network(pipeline);
    let (ctx_a, ctx_b) = (
        context(&[("index.html", "served in run A\n")]),
        context(&[("index.html", "served in run B\n")]),
    );
    let start = |t: &T, ctx: &tempfile::TempDir| {
        // Bound, so that the test can let both probes finish once both run.
        let mut options = t.options(ctx.path());
        options.workspace = wharf_docker::WorkspaceMode::Bind;
        let yaml = yaml.clone();
        tokio::spawn(async move { run_yaml(&yaml, options).await })
    };
    let (run_a, run_b) = (start(&a, &ctx_a), start(&b, &ctx_b));

    // Both probes run at the same time, each next to its own run's `web`.
    let (probe_a, probe_b) = (
        wharf_docker::step_container(&a.run_id, "probe"),
        wharf_docker::step_container(&b.run_id, "probe"),
    );
    until_running(&probe_a).await;
    until_running(&probe_b).await;
    for t in [&a, &b] {
        let web = wharf_docker::step_container(&t.run_id, "web");
        assert!(running(&web), "{web} runs while both probes do");
        let aliases = docker(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{json .Aliases}}{{end}}",
            &web,
        ])
        .unwrap_or_default();
        assert!(
            aliases.contains("\"web\""),
            "the step id is the alias: {aliases}"
        );
    }
    for ctx in [&ctx_a, &ctx_b] {
        std::fs::write(ctx.path().join("go"), "").unwrap_or_else(|e| panic!("{e}"));
    }

    let out_a = run_a.await.unwrap_or_else(|e| panic!("{e}"));
    let out_b = run_b.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out_a.report.status,
        RunStatus::Succeeded,
        "{}",
        out_a.dump()
    );
    assert_eq!(
        out_b.report.status,
        RunStatus::Succeeded,
        "{}",
        out_b.dump()
    );
    assert_eq!(out_a.logs("probe"), ["served in run A"], "{}", out_a.dump());
    assert_eq!(out_b.logs("probe"), ["served in run B"], "{}", out_b.dump());
    assert_clean(&a);
    assert_clean(&b);
}
