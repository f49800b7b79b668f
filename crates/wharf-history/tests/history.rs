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
        ..NewRun::default()
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

#[test]
fn a_run_sent_to_acr_keeps_its_target_acr_id_and_acr_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let history = History::open(&dir.path().join("h.sqlite"), 0).expect("open");
    let mut rec = history
        .start(&NewRun {
            target: Some("acr://my-reg.azurecr.io".into()),
            acr_run_id: Some("cb7".into()),
            ..new_run("cb7")
        })
        .expect("start");
    rec.acr_status("Timeout");
    rec.finish(Status::Failed, &[], &[]).expect("finish");
    let local = history.start(&new_run("l1")).expect("start");
    local.finish(Status::Succeeded, &[], &[]).expect("finish");
    let queued = history
        .start(&NewRun {
            target: Some("acr://my-reg.azurecr.io".into()),
            acr_run_id: Some("cb8".into()),
            ..new_run("cb8")
        })
        .expect("start");
    queued.finish(Status::Queued, &[], &[]).expect("finish");

    let runs = history.list(0).expect("list");
    let by_id = |id: &str| runs.iter().find(|r| r.run_id == id).expect("recorded");
    let remote = by_id("cb7");
    assert_eq!(remote.target.as_deref(), Some("acr://my-reg.azurecr.io"));
    assert_eq!(remote.acr_run_id.as_deref(), Some("cb7"));
    assert_eq!(remote.acr_status.as_deref(), Some("Timeout"));
    assert_eq!(remote.status, Status::Failed);
    let local = by_id("l1");
    assert_eq!(
        (local.target.as_ref(), local.acr_run_id.as_ref()),
        (None, None)
    );
    // Left queued by --no-wait: not taken for a killed run once its process is gone.
    let queued = by_id("cb8");
    assert_eq!(queued.status, Status::Queued);
    assert_eq!(queued.duration_ms, None);
    let json = serde_json::to_value(remote).expect("json");
    assert_eq!(json["target"], "acr://my-reg.azurecr.io");
    assert_eq!(json["acrRunId"], "cb7");
    assert_eq!(json["acrStatus"], "Timeout");
}

/// A database written before runs could go to ACR (no `user_version`, no target
/// columns) opens with its runs, and takes new ones.
#[test]
fn a_database_from_before_the_migration_keeps_its_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch(
            "CREATE TABLE runs (
                key INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, task TEXT NOT NULL,
                trigger TEXT NOT NULL, status TEXT NOT NULL, started_ms INTEGER NOT NULL,
                duration_ms INTEGER, commit_sha TEXT NOT NULL DEFAULT '', branch TEXT NOT NULL DEFAULT '',
                pushed TEXT NOT NULL DEFAULT '[]', images TEXT NOT NULL DEFAULT '[]',
                note TEXT NOT NULL DEFAULT '', pid INTEGER NOT NULL, pid_start TEXT NOT NULL);
             CREATE TABLE events (run_key INTEGER NOT NULL REFERENCES runs(key) ON DELETE CASCADE,
                seq INTEGER NOT NULL, json TEXT NOT NULL, PRIMARY KEY (run_key, seq));
             CREATE TABLE logs (run_key INTEGER NOT NULL REFERENCES runs(key) ON DELETE CASCADE,
                seq INTEGER NOT NULL, text TEXT NOT NULL, PRIMARY KEY (run_key, seq));
             INSERT INTO runs (run_id, task, trigger, status, started_ms, duration_ms, pid, pid_start)
                VALUES ('old1', 'acb.yaml', 'Manual', 'Succeeded', 1000, 5000, 1, 'x');
             INSERT INTO logs VALUES (1, 1, 'old log\n');",
        )
        .expect("old schema");
    }
    // Opened twice: the second open finds it migrated.
    for _ in 0..2 {
        let history = History::open(&path, 0).expect("open old");
        let old = history.get("old1").expect("get").expect("kept");
        assert_eq!(old.status, Status::Succeeded);
        assert_eq!(old.duration_ms, Some(5000));
        assert_eq!(old.target, None);
        assert_eq!(history.logs(old.key).expect("logs"), "old log\n");
    }
    let history = History::open(&path, 0).expect("open");
    let rec = history
        .start(&NewRun {
            target: Some("acr://r.azurecr.io".into()),
            acr_run_id: Some("cb2".into()),
            ..new_run("cb2")
        })
        .expect("start");
    rec.finish(Status::Succeeded, &[], &[]).expect("finish");
    assert_eq!(
        history
            .get("cb2")
            .expect("get")
            .and_then(|r| r.acr_run_id)
            .as_deref(),
        Some("cb2")
    );
    let conn = rusqlite::Connection::open(&path).expect("open");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("version");
    assert_eq!(version, wharf_history::MIGRATIONS.len() as i64);
}
