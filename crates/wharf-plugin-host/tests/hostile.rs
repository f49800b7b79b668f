//! Hostile plugins: each ends its step with a clear error within its limits, and
//! the host runs the next call normally.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;
use wharf_plugin_host::*;

/// After any failure, the same plugin still works in the same host.
async fn still_works(plugin: &Plugin) {
    let rec = Arc::new(Recorder::default());
    let outcome = host()
        .call(plugin, tag_input(&[("mode", "ok")]), services(&rec))
        .await
        .expect("the next call works");
    assert_eq!(
        outcome.output("tags"),
        Some(&OutputValue::List(vec!["fine".into()]))
    );
}

#[tokio::test]
async fn a_well_behaved_call_gets_its_stdout_and_stderr_in_the_step_log() {
    let plugin = load("hostile-plugin");
    assert_eq!(plugin.world(), World::Tagger);
    let rec = Arc::new(Recorder::default());
    let outcome = host()
        .call(&plugin, tag_input(&[("mode", "ok")]), services(&rec))
        .await
        .expect("ok");
    assert_eq!(
        outcome.output("refs"),
        Some(&OutputValue::List(vec!["localhost:5000/app:fine".into()]))
    );
    let lines = rec.lines();
    assert!(
        lines.contains(&(LogSource::Stdout, "hello from stdout".into())),
        "{lines:?}"
    );
    assert!(
        lines.contains(&(LogSource::Stderr, "hello from stderr".into())),
        "{lines:?}"
    );
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_at_the_timeout() {
    let plugin = load("hostile-plugin");
    let rec = Arc::new(Recorder::default());
    let mut input = tag_input(&[("mode", "spin")]);
    input.limits.timeout = Duration::from_millis(300);
    let start = Instant::now();
    let err = host()
        .call(&plugin, input, services(&rec))
        .await
        .expect_err("stopped");
    let took = start.elapsed();
    assert!(matches!(err, CallError::Timeout { .. }), "{err:?}");
    assert_eq!(err.kind(), CallErrorKind::Timeout);
    assert!(
        err.to_string().contains("ran past its timeout of 300 ms"),
        "{err}"
    );
    assert!(took < Duration::from_secs(5), "stopped only after {took:?}");
    still_works(&plugin).await;
}

#[tokio::test]
async fn a_memory_bomb_hits_the_memory_cap() {
    let plugin = load("hostile-plugin");
    let rec = Arc::new(Recorder::default());
    let mut input = tag_input(&[("mode", "allocate")]);
    input.limits.memory_bytes = 32 << 20;
    let err = host()
        .call(&plugin, input, services(&rec))
        .await
        .expect_err("stopped");
    match &err {
        CallError::OutOfMemory {
            limit, requested, ..
        } => {
            assert_eq!(*limit, 32 << 20);
            assert!(*requested > 32 << 20);
        }
        other => panic!("expected out of memory, got {other:?}"),
    }
    assert!(err.to_string().contains("ran out of memory"), "{err}");
    still_works(&plugin).await;
}

#[tokio::test]
async fn runaway_recursion_is_a_crash_not_a_host_crash() {
    let plugin = load("hostile-plugin");
    let rec = Arc::new(Recorder::default());
    let err = host()
        .call(&plugin, tag_input(&[("mode", "recurse")]), services(&rec))
        .await
        .expect_err("stopped");
    assert!(
        matches!(
            err,
            CallError::StackOverflow { .. } | CallError::Trap { .. }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("stack"),
        "the message says it was the stack: {err}"
    );
    still_works(&plugin).await;
}

#[tokio::test]
async fn a_flood_of_log_lines_stops_at_the_output_limit() {
    let plugin = load("hostile-plugin");
    for (mode, what) in [("flood-log", "log lines"), ("flood-stdout", "stdout")] {
        let rec = Arc::new(Recorder::default());
        let mut input = tag_input(&[("mode", mode)]);
        input.limits.output_bytes = 64 * 1024;
        let err = host()
            .call(&plugin, input, services(&rec))
            .await
            .expect_err("stopped");
        match &err {
            CallError::OutputLimit { limit, what: w, .. } => {
                assert_eq!(*limit, 64 * 1024);
                assert_eq!(w, what);
            }
            other => panic!("{mode}: expected the output limit, got {other:?}"),
        }
        let logged: usize = rec.lines().iter().map(|(_, l)| l.len() + 1).sum();
        assert!(
            logged <= 64 * 1024,
            "{mode}: {logged} bytes reached the log"
        );
        assert!(
            logged > 0,
            "{mode}: the lines before the limit reached the log"
        );
    }
    still_works(&plugin).await;
}

#[tokio::test]
async fn a_huge_result_is_refused() {
    let plugin = load("hostile-plugin");
    let rec = Arc::new(Recorder::default());
    let err = host()
        .call(
            &plugin,
            tag_input(&[("mode", "huge-output")]),
            services(&rec),
        )
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, CallError::OutputLimit { what, .. } if what == "its result"),
        "{err:?}"
    );
    still_works(&plugin).await;
}

#[tokio::test]
async fn a_trap_and_a_panic_are_crashes_with_the_panic_message() {
    let plugin = load("hostile-plugin");
    let rec = Arc::new(Recorder::default());
    let err = host()
        .call(&plugin, tag_input(&[("mode", "trap")]), services(&rec))
        .await
        .expect_err("trap");
    assert!(matches!(err, CallError::Trap { .. }), "{err:?}");
    assert_eq!(err.kind(), CallErrorKind::Trap);

    let err = host()
        .call(&plugin, tag_input(&[("mode", "panic")]), services(&rec))
        .await
        .expect_err("panic");
    assert!(matches!(err, CallError::Trap { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("the hostile plugin panicked on purpose"),
        "the panic message is in the error: {err}"
    );
    still_works(&plugin).await;
}

#[tokio::test]
async fn a_plugin_error_is_reported_as_the_plugins() {
    let plugin = load("hostile-plugin");
    let rec = Arc::new(Recorder::default());
    let err = host()
        .call(&plugin, tag_input(&[("mode", "nonsense")]), services(&rec))
        .await
        .expect_err("error");
    match &err {
        CallError::Plugin {
            variant, message, ..
        } => {
            assert_eq!(variant, "invalid-config");
            assert!(message.contains("unknown mode \"nonsense\""), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.kind(), CallErrorKind::Config);
}

/// What one call writes to its memory is gone for the next, in whichever way the
/// host resets pool slots on this machine (`PAGEMAP_SCAN` or `madvise`), below and
/// above what it keeps resident.
#[tokio::test]
async fn a_call_never_sees_what_an_earlier_call_left_in_memory() {
    // One slot, so every call reuses the memory of the one before.
    let host = PluginHost::new(HostConfig {
        cache_dir: Some(wharf_e2e::plugins::workspace_root().join("target/plugin-cache-tests")),
        max_concurrent: 1,
        ..HostConfig::default()
    })
    .expect("host");
    let plugin = host
        .load_file(&wharf_e2e::plugins::plugin_wasm("hostile-plugin"))
        .expect("load");
    eprintln!("allocation: {}", host.allocation().describe());
    for round in 0..4 {
        let rec = Arc::new(Recorder::default());
        let outcome = host
            .call(&plugin, tag_input(&[("mode", "remember")]), services(&rec))
            .await
            .expect("remember");
        assert_eq!(
            outcome.output("tags"),
            Some(&OutputValue::List(vec!["clean".into()])),
            "call {round} saw an earlier call's memory"
        );
    }
}
