//! The history on a real SQLite file: what a run records, runs recorded side by side
//! from many connections, a run whose process died, and the retention limit.

use std::process::Command;

use wharf_history::{BaseImage, BuiltImage, History, NewRun, Status, Trigger};

fn new_run(id: &str) -> NewRun {
    NewRun {
        run_id: id.into(),
        task: "acb.yaml".into(),
        trigger: Some(Trigger::Commit),
        commit: "abc123".into(),
        branch: "main".into(),
    }
}

#[test]
fn a_run_is_recorded_with_its_events_logs_pushes_and_images() {
    let dir = tempfile::tempdir().expect("tempdir");
    let history = History::open(&dir.path().join("h.sqlite"), 0).expect("open");
    let mut rec = history.start(&new_run("r1")).expect("start");
    rec.event(&serde_json::json!({"event": "run.started", "runId": "r1"}));
    rec.log("build | Step 1/2\n");
    rec.flush().expect("flush");
    // Seen as running by another reader meanwhile.
    let running = history.get("r1").expect("get").expect("there");
    assert_eq!(running.status, Status::Running);
    rec.event(&serde_json::json!({"event": "run.finished", "status": "succeeded"}));
    rec.log("build | done\n");
    let image = BuiltImage {
        step: "build".into(),
        tags: vec!["r.io/app:1".into()],
        runtime_dependency: Some(BaseImage {
            reference: "r.io/base:1".into(),
            digest: Some("sha256:aa".into()),
        }),
        buildtime_dependencies: vec![],
    };
    rec.finish(
        Status::Succeeded,
        &["r.io/app:1@sha256:bb".into()],
        std::slice::from_ref(&image),
    )
    .expect("finish");

    let run = history.get("r1").expect("get").expect("there");
    assert_eq!(run.status, Status::Succeeded);
    assert_eq!(run.trigger, Trigger::Commit);
    assert_eq!(run.commit, "abc123");
    assert!(run.duration_ms.is_some());
    assert_eq!(run.pushed, ["r.io/app:1@sha256:bb"]);
    assert_eq!(run.images, [image]);
    let events = history.events(run.key).expect("events");
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["event"], "run.finished");
    assert_eq!(
        history.logs(run.key).expect("logs"),
        "build | Step 1/2\nbuild | done\n"
    );
}

#[test]
fn runs_recorded_side_by_side_are_all_kept_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("h.sqlite");
    // No one creates the database first: every writer may be the one.
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let path = path.clone();
            std::thread::spawn(move || {
                let history = History::open(&path, 0).expect("open");
                let mut rec = history.start(&new_run(&format!("c{i}"))).expect("start");
                for n in 0..200 {
                    rec.event(&serde_json::json!({"event": "log", "n": n}));
                    rec.log(&format!("line {n}\n"));
                    if n % 10 == 0 {
                        rec.flush().expect("flush");
                    }
                }
                rec.finish(Status::Succeeded, &[], &[]).expect("finish");
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let history = History::open(&path, 0).expect("open");
    let runs = history.list(0).expect("list");
    assert_eq!(runs.len(), 8);
    for run in runs {
        assert_eq!(run.status, Status::Succeeded, "{run:?}");
        let events = history.events(run.key).expect("events");
        let ns: Vec<i64> = events.iter().filter_map(|e| e["n"].as_i64()).collect();
        assert_eq!(ns, (0..200).collect::<Vec<_>>(), "{}", run.run_id);
        assert_eq!(history.logs(run.key).expect("logs").lines().count(), 200);
    }
}

#[test]
fn a_run_whose_process_died_shows_as_interrupted_with_what_it_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("h.sqlite");
    let history = History::open(&path, 0).expect("open");
    let mut rec = history.start(&new_run("killed")).expect("start");
    rec.log("step | before the kill\n");
    rec.flush().expect("flush");
    // The record now claims a process that has ended (as a killed wharf would
    // leave it): a child that has exited.
    let mut child = Command::new("true").spawn().expect("spawn");
    let pid = child.id();
    child.wait().expect("wait");
    let conn = rusqlite::Connection::open(&path).expect("conn");
    conn.execute(
        "UPDATE runs SET pid = ?1 WHERE run_id = 'killed'",
        rusqlite::params![pid],
    )
    .expect("update");
    std::mem::forget(rec); // no destructor runs in a killed process

    let run = history.get("killed").expect("get").expect("kept");
    assert_eq!(run.status, Status::Interrupted);
    assert!(run.note.contains("killed or crashed"), "{}", run.note);
    assert_eq!(
        history.logs(run.key).expect("logs"),
        "step | before the kill\n"
    );
}

#[test]
fn a_recorder_dropped_unfinished_marks_the_run_interrupted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let history = History::open(&dir.path().join("h.sqlite"), 0).expect("open");
    drop(history.start(&new_run("dropped")).expect("start"));
    let run = history.get("dropped").expect("get").expect("kept");
    assert_eq!(run.status, Status::Interrupted);
}

#[test]
fn only_the_newest_runs_are_kept_with_their_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let history = History::open(&dir.path().join("h.sqlite"), 3).expect("open");
    let mut first_key = 0;
    for i in 0..5 {
        let mut rec = history.start(&new_run(&format!("k{i}"))).expect("start");
        rec.event(&serde_json::json!({"i": i}));
        if i == 0 {
            first_key = rec.key();
        }
        rec.finish(Status::Failed, &[], &[]).expect("finish");
    }
    let ids: Vec<String> = history
        .list(0)
        .expect("list")
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    assert_eq!(ids, ["k4", "k3", "k2"]);
    assert!(history.events(first_key).expect("events").is_empty());
    assert_eq!(history.list(2).expect("list").len(), 2);
}
