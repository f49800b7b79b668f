//! The run history: every run wharf makes (`wharf run`, `wharf build`, `wharf watch`)
//! with its id, task, trigger, status, start time, duration, the digests it pushed,
//! the images it built with their base images, the git commit, the logs as they
//! were shown and the whole event stream — all masked before they get here.
//!
//! Stored in SQLite (bundled, WAL mode, a busy timeout), so several wharf processes
//! record side by side and readers never block writers. A run is a row written when
//! it starts (status `Running`, with the recording process's id and start time) and
//! updated when it ends; its events and log text are appended in transactions as
//! they come. A process killed mid-run leaves a `Running` row whose process is gone:
//! readers report it, and store it, as `Interrupted`, with what was recorded up to
//! then. At most [`History::limit`] runs are kept; older ones are removed (with their
//! events) when a new run starts.
//!
//! A run sent to another engine (`wharf run --on acr://…`, `wharf build --on …`) is
//! recorded too, under the remote run id, with its target and the remote engine's
//! own final status ([`Run::target`], [`Run::acr_run_id`], [`Run::acr_status`]).
//!
//! The schema is versioned with SQLite's `user_version`: [`MIGRATIONS`] bring an
//! older database up to date when it is opened, keeping its runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// How many runs are kept unless told otherwise.
pub const DEFAULT_LIMIT: usize = 1000;

/// What can go wrong with the history.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database could not be opened, read or written.
    #[error("the run history at {path}: {source}")]
    Db {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// Its directory could not be made.
    #[error("cannot create {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What started a run, as `az acr task list-runs` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Trigger {
    /// Started by hand (`wharf run`, `wharf build`, the first run of `wharf watch`).
    Manual,
    /// A commit on the watched branch.
    Commit,
    /// A base image's digest changed.
    #[serde(rename = "Image Update")]
    ImageUpdate,
    /// A `--schedule` timer.
    Timer,
}

impl Trigger {
    /// The name shown in listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "Manual",
            Trigger::Commit => "Commit",
            Trigger::ImageUpdate => "Image Update",
            Trigger::Timer => "Timer",
        }
    }

    /// The trigger named `text` (as [`Trigger::as_str`] gives it).
    pub fn parse(text: &str) -> Option<Trigger> {
        [
            Trigger::Manual,
            Trigger::Commit,
            Trigger::ImageUpdate,
            Trigger::Timer,
        ]
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(text))
    }
}

/// How a run ended (or that it has not).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Status {
    /// Still going.
    Running,
    /// Every step succeeded.
    Succeeded,
    /// A step failed, or the run could not start.
    Failed,
    /// Stopped by Ctrl-C, or the recording process ended without finishing (killed).
    Interrupted,
    /// Queued on a remote engine and not followed (`--no-wait`): how it ends is
    /// known there, not here.
    Queued,
}

impl Status {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "Running",
            Status::Succeeded => "Succeeded",
            Status::Failed => "Failed",
            Status::Interrupted => "Interrupted",
            Status::Queued => "Queued",
        }
    }

    fn parse(text: &str) -> Status {
        match text {
            "Running" => Status::Running,
            "Succeeded" => Status::Succeeded,
            "Interrupted" => Status::Interrupted,
            "Queued" => Status::Queued,
            _ => Status::Failed,
        }
    }
}

/// An image a run built: its reference, digest, and the base images it came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct BuiltImage {
    /// The step that built it.
    pub step: String,
    /// The tags it was given.
    pub tags: Vec<String>,
    /// The runtime base (the origin of the last `FROM`, or of `--target`), with its
    /// digest when known.
    pub runtime_dependency: Option<BaseImage>,
    /// The other distinct `FROM` origins.
    pub buildtime_dependencies: Vec<BaseImage>,
}

/// A base image and its digest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct BaseImage {
    /// As written after `FROM`, build args expanded.
    pub reference: String,
    /// The manifest digest (or, for an image only on the engine, its image id).
    pub digest: Option<String>,
}

/// A run as the history holds it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// The history's own key (increasing).
    pub key: i64,
    /// The run id.
    pub run_id: String,
    /// The task file (or what made the task: `(wharf build)`, `(--cmd)`).
    pub task: String,
    /// What started it.
    pub trigger: Trigger,
    /// How it ended.
    pub status: Status,
    /// Milliseconds since the Unix epoch.
    pub started_ms: i64,
    /// How long it took; `None` while it runs or when it was killed.
    pub duration_ms: Option<i64>,
    /// The git commit of the context, when it is a repository.
    pub commit: String,
    /// The git branch of the context.
    pub branch: String,
    /// `repo:tag@digest` of every image pushed.
    pub pushed: Vec<String>,
    /// The images built.
    pub images: Vec<BuiltImage>,
    /// Why it is `Interrupted` when the process was killed.
    pub note: String,
    /// Where it ran: `None` on the local engine, else the target (`acr://LOGIN_SERVER`).
    pub target: Option<String>,
    /// The run id Azure Container Registry gave it (a run sent with `--on acr://`).
    pub acr_run_id: Option<String>,
    /// ACR's final status, as ACR names it (`Succeeded`, `Failed`, `Error`,
    /// `Timeout`, `Canceled`, or a status wharf does not know).
    pub acr_status: Option<String>,
}

/// What is known when a run starts.
#[derive(Clone, Debug, Default)]
pub struct NewRun {
    /// The run id.
    pub run_id: String,
    /// The task file or its stand-in.
    pub task: String,
    /// What started it.
    pub trigger: Option<Trigger>,
    /// The git commit of the context.
    pub commit: String,
    /// The git branch of the context.
    pub branch: String,
    /// The remote target (`acr://LOGIN_SERVER`); `None` for the local engine.
    pub target: Option<String>,
    /// The run id the remote engine gave it.
    pub acr_run_id: Option<String>,
}

/// The history database.
#[derive(Clone, Debug)]
pub struct History {
    path: PathBuf,
    limit: usize,
}

impl History {
    /// The default place: `<wharf's data dir>/history.sqlite`. `data_dir` is
    /// wharf's data directory (`$XDG_DATA_HOME/wharf`).
    pub fn default_path(data_dir: &Path) -> PathBuf {
        data_dir.join("history.sqlite")
    }

    /// Opens (creating when missing) the history at `path`, keeping at most `limit`
    /// runs (0: [`DEFAULT_LIMIT`]).
    pub fn open(path: &Path, limit: usize) -> Result<History, Error> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| Error::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let history = History {
            path: path.to_path_buf(),
            limit: if limit == 0 { DEFAULT_LIMIT } else { limit },
        };
        // Several processes may open a new database at once: creating it and
        // switching it to WAL take locks the busy timeout does not always wait for.
        let mut tries = 0;
        loop {
            let opened = history.connect().and_then(|mut conn| {
                conn.execute_batch(SCHEMA).map_err(|e| history.db(e))?;
                migrate(&mut conn).map_err(|e| history.db(e))
            });
            match opened {
                Err(Error::Db { source, .. }) if is_busy(&source) && tries < 200 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                other => return other.map(|()| history),
            }
        }
    }

    /// How many runs are kept.
    pub fn limit(&self) -> usize {
        self.limit
    }

    fn db(&self, source: rusqlite::Error) -> Error {
        Error::Db {
            path: self.path.clone(),
            source,
        }
    }

    fn connect(&self) -> Result<Connection, Error> {
        let conn = Connection::open(&self.path).map_err(|e| self.db(e))?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(|e| self.db(e))?;
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .map_err(|e| self.db(e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            // SQLite keeps the old mode, without an error, when it cannot take the
            // lock the switch needs: ask again, and call that busy.
            let mode: String = conn
                .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
                .map_err(|e| self.db(e))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(self.db(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                    Some("cannot switch the database to WAL mode yet".into()),
                )));
            }
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| self.db(e))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| self.db(e))?;
        Ok(conn)
    }

    /// Records that a run starts, removes the oldest runs beyond the limit, and
    /// returns the recorder of the new one.
    pub fn start(&self, run: &NewRun) -> Result<Recorder, Error> {
        let mut conn = self.connect()?;
        let now = now_ms();
        let me = process_identity(std::process::id());
        let tx = conn.transaction().map_err(|e| self.db(e))?;
        tx.execute(
            "INSERT INTO runs (run_id, task, trigger, status, started_ms, commit_sha, branch, pid, pid_start, target, acr_run_id)
             VALUES (?1, ?2, ?3, 'Running', ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                run.run_id,
                run.task,
                run.trigger.unwrap_or(Trigger::Manual).as_str(),
                now,
                run.commit,
                run.branch,
                std::process::id(),
                me.unwrap_or_default(),
                run.target.as_deref().unwrap_or_default(),
                run.acr_run_id,
            ],
        )
        .map_err(|e| self.db(e))?;
        let key = tx.last_insert_rowid();
        tx.execute(
            "DELETE FROM runs WHERE key NOT IN (SELECT key FROM runs ORDER BY key DESC LIMIT ?1)",
            params![self.limit as i64],
        )
        .map_err(|e| self.db(e))?;
        tx.commit().map_err(|e| self.db(e))?;
        drop(conn);
        Ok(Recorder {
            history: self.clone(),
            path: self.path.clone(),
            key,
            started_ms: now,
            events: Vec::new(),
            logs: String::new(),
            seq: 0,
            finished: false,
            acr_status: None,
        })
    }

    /// The newest runs first, at most `limit` of them (0: all). Runs whose process
    /// is gone are reported (and stored) as interrupted.
    pub fn list(&self, limit: usize) -> Result<Vec<Run>, Error> {
        let conn = self.connect()?;
        self.reap(&conn)?;
        let limit = if limit == 0 { i64::MAX } else { limit as i64 };
        let mut stmt = conn
            .prepare(&format!("{SELECT_RUN} ORDER BY key DESC LIMIT ?1"))
            .map_err(|e| self.db(e))?;
        let rows = stmt
            .query_map(params![limit], row_to_run)
            .map_err(|e| self.db(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.db(e))
    }

    /// The newest run with id `run_id`.
    pub fn get(&self, run_id: &str) -> Result<Option<Run>, Error> {
        let conn = self.connect()?;
        self.reap(&conn)?;
        conn.query_row(
            &format!("{SELECT_RUN} WHERE run_id = ?1 ORDER BY key DESC LIMIT 1"),
            params![run_id],
            row_to_run,
        )
        .optional()
        .map_err(|e| self.db(e))
    }

    /// The run's events (JSON objects, as `--json` prints them), in order.
    pub fn events(&self, key: i64) -> Result<Vec<serde_json::Value>, Error> {
        let conn = self.connect()?;
        let mut stmt = conn
            .prepare("SELECT json FROM events WHERE run_key = ?1 ORDER BY seq")
            .map_err(|e| self.db(e))?;
        let rows = stmt
            .query_map(params![key], |r| r.get::<_, String>(0))
            .map_err(|e| self.db(e))?;
        let mut out = Vec::new();
        for row in rows {
            let text = row.map_err(|e| self.db(e))?;
            out.push(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null));
        }
        Ok(out)
    }

    /// The run's logs as they were shown (plain text).
    pub fn logs(&self, key: i64) -> Result<String, Error> {
        let conn = self.connect()?;
        let mut stmt = conn
            .prepare("SELECT text FROM logs WHERE run_key = ?1 ORDER BY seq")
            .map_err(|e| self.db(e))?;
        let rows = stmt
            .query_map(params![key], |r| r.get::<_, String>(0))
            .map_err(|e| self.db(e))?;
        let mut out = String::new();
        for row in rows {
            out.push_str(&row.map_err(|e| self.db(e))?);
        }
        Ok(out)
    }

    /// Marks runs whose recording process is gone as interrupted.
    fn reap(&self, conn: &Connection) -> Result<(), Error> {
        let mut stmt = conn
            .prepare("SELECT key, pid, pid_start FROM runs WHERE status = 'Running'")
            .map_err(|e| self.db(e))?;
        let running: Vec<(i64, u32, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| self.db(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.db(e))?;
        for (key, pid, start) in running {
            if process_identity(pid).is_some_and(|now| now == start) {
                continue;
            }
            conn.execute(
                "UPDATE runs SET status = 'Interrupted', note = ?2 WHERE key = ?1 AND status = 'Running'",
                params![
                    key,
                    format!("wharf (process {pid}) ended before the run finished: it was killed or crashed; the record holds what happened until then")
                ],
            )
            .map_err(|e| self.db(e))?;
        }
        Ok(())
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    key INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    task TEXT NOT NULL,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    duration_ms INTEGER,
    commit_sha TEXT NOT NULL DEFAULT '',
    branch TEXT NOT NULL DEFAULT '',
    pushed TEXT NOT NULL DEFAULT '[]',
    images TEXT NOT NULL DEFAULT '[]',
    note TEXT NOT NULL DEFAULT '',
    pid INTEGER NOT NULL,
    pid_start TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_id ON runs (run_id);
CREATE TABLE IF NOT EXISTS events (
    run_key INTEGER NOT NULL REFERENCES runs(key) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (run_key, seq)
);
CREATE TABLE IF NOT EXISTS logs (
    run_key INTEGER NOT NULL REFERENCES runs(key) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (run_key, seq)
);
";

/// The schema changes after [`SCHEMA`] (the first databases' form), in order: the
/// database's `user_version` counts how many are applied. Only ever append; each
/// keeps the rows there are (columns are added with defaults), so an older wharf
/// still reads and writes a database a newer one migrated.
pub const MIGRATIONS: &[&str] = &[
    // 1: runs sent to another engine (`--on acr://`).
    "ALTER TABLE runs ADD COLUMN target TEXT NOT NULL DEFAULT '';
     ALTER TABLE runs ADD COLUMN acr_run_id TEXT;
     ALTER TABLE runs ADD COLUMN acr_status TEXT;",
];

/// Applies the [`MIGRATIONS`] the database lacks, in one transaction that takes the
/// write lock first (so two processes opening one old database migrate it once).
fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let version =
        |c: &Connection| c.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0));
    if usize::try_from(version(conn)?).unwrap_or(0) >= MIGRATIONS.len() {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let done = usize::try_from(version(&tx)?).unwrap_or(0);
    for migration in MIGRATIONS.iter().skip(done) {
        tx.execute_batch(migration)?;
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
    tx.commit()
}

const SELECT_RUN: &str = "SELECT key, run_id, task, trigger, status, started_ms, duration_ms, commit_sha, branch, pushed, images, note, target, acr_run_id, acr_status FROM runs";

fn row_to_run(r: &rusqlite::Row<'_>) -> rusqlite::Result<Run> {
    let pushed: String = r.get(9)?;
    let images: String = r.get(10)?;
    let trigger: String = r.get(3)?;
    let status: String = r.get(4)?;
    Ok(Run {
        key: r.get(0)?,
        run_id: r.get(1)?,
        task: r.get(2)?,
        trigger: Trigger::parse(&trigger).unwrap_or(Trigger::Manual),
        status: Status::parse(&status),
        started_ms: r.get(5)?,
        duration_ms: r.get(6)?,
        commit: r.get(7)?,
        branch: r.get(8)?,
        pushed: serde_json::from_str(&pushed).unwrap_or_default(),
        images: serde_json::from_str(&images).unwrap_or_default(),
        note: r.get(11)?,
        target: Some(r.get::<_, String>(12)?).filter(|t| !t.is_empty()),
        acr_run_id: r.get(13)?,
        acr_status: r.get(14)?,
    })
}

/// Records one run: events and log text are buffered and written by [`flush`]
/// (each flush one transaction on a connection of its own), the last of them with the
/// end by [`finish`] (one transaction). Dropped unfinished (a panic,
/// an early return), the run is stored as interrupted.
///
/// [`flush`]: Recorder::flush
/// [`finish`]: Recorder::finish
pub struct Recorder {
    history: History,
    path: PathBuf,
    key: i64,
    started_ms: i64,
    events: Vec<String>,
    logs: String,
    seq: i64,
    finished: bool,
    acr_status: Option<String>,
}

impl Recorder {
    /// The history's key of this run.
    pub fn key(&self) -> i64 {
        self.key
    }

    /// The remote engine's own final status (for a run sent with `--on acr://`),
    /// stored by [`finish`](Recorder::finish).
    pub fn acr_status(&mut self, status: &str) {
        self.acr_status = Some(status.to_owned());
    }

    /// Adds an event (already masked), as `--json` prints it.
    pub fn event<T: Serialize>(&mut self, event: &T) {
        if let Ok(text) = serde_json::to_string(event) {
            self.events.push(text);
        }
    }

    /// Adds log text as it was shown (already masked).
    pub fn log(&mut self, text: &str) {
        self.logs.push_str(text);
    }

    /// Writes what was added since the last flush, in one transaction.
    pub fn flush(&mut self) -> Result<(), Error> {
        if self.events.is_empty() && self.logs.is_empty() {
            return Ok(());
        }
        // A connection per flush, not one for the whole run: the process then holds
        // SQLite's locks only while it writes, so a file of the database opened and
        // closed by something else in this process (POSIX locks are per process) can
        // never make another process take this run's WAL for abandoned.
        let mut conn = self.history.connect()?;
        let tx = conn.transaction().map_err(|e| self.db(e))?;
        self.write_pending(&tx).map_err(|e| self.db(e))?;
        tx.commit().map_err(|e| self.db(e))
    }

    fn db(&self, source: rusqlite::Error) -> Error {
        Error::Db {
            path: self.path.clone(),
            source,
        }
    }

    /// Inserts the events and log text added since the last write.
    fn write_pending(&mut self, tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
        let mut insert =
            tx.prepare_cached("INSERT INTO events (run_key, seq, json) VALUES (?1, ?2, ?3)")?;
        for event in self.events.drain(..) {
            self.seq += 1;
            insert.execute(params![self.key, self.seq, event])?;
        }
        if !self.logs.is_empty() {
            self.seq += 1;
            tx.execute(
                "INSERT INTO logs (run_key, seq, text) VALUES (?1, ?2, ?3)",
                params![self.key, self.seq, std::mem::take(&mut self.logs)],
            )?;
        }
        Ok(())
    }

    /// Records the end of the run: what was added since the last flush, its
    /// status, duration, pushed images and built images, in one transaction (one
    /// connection: closing it checkpoints the log, two fsyncs, once).
    pub fn finish(
        mut self,
        status: Status,
        pushed: &[String],
        images: &[BuiltImage],
    ) -> Result<(), Error> {
        self.finished = true;
        // A run left queued on a remote engine has no duration here.
        let duration = (status != Status::Queued).then(|| now_ms() - self.started_ms);
        let mut conn = self.history.connect()?;
        let tx = conn.transaction().map_err(|e| self.db(e))?;
        self.write_pending(&tx).map_err(|e| self.db(e))?;
        tx.execute(
            "UPDATE runs SET status = ?2, duration_ms = ?3, pushed = ?4, images = ?5, acr_status = ?6 WHERE key = ?1",
            params![
                self.key,
                status.as_str(),
                duration,
                serde_json::to_string(pushed).unwrap_or_else(|_| "[]".into()),
                serde_json::to_string(images).unwrap_or_else(|_| "[]".into()),
                self.acr_status,
            ],
        )
        .map_err(|e| self.db(e))?;
        tx.commit().map_err(|e| self.db(e))
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let _ = self.flush();
        let Ok(conn) = self.history.connect() else {
            return;
        };
        let _ = conn.execute(
            "UPDATE runs SET status = 'Interrupted', note = 'the run ended without a result' WHERE key = ?1 AND status = 'Running'",
            params![self.key],
        );
    }
}

/// Whether SQLite said another connection holds the lock.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What identifies a live process across pid reuse: its start time (field 22 of
/// `/proc/<pid>/stat`, after the command name). `None` when the process does not
/// exist (or there is no `/proc`).
fn process_identity(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_an_identity_and_a_dead_one_has_none() {
        assert!(process_identity(std::process::id()).is_some());
        assert!(process_identity(u32::MAX - 1).is_none());
    }

    #[test]
    fn triggers_have_acrs_names() {
        assert_eq!(Trigger::ImageUpdate.as_str(), "Image Update");
        assert_eq!(Trigger::parse("image update"), Some(Trigger::ImageUpdate));
        assert_eq!(Trigger::parse("cron"), None);
    }
}
