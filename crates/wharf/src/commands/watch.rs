//! `wharf watch`: ACR's triggered tasks, locally. The task runs once at start
//! (trigger `Manual`), then again on a base image update, a commit on the branch, or
//! a `--schedule` timer. Runs never overlap: triggers that come during a run, or
//! close together (`DEBOUNCE`), give one run. Ctrl-C stops the run in progress (which
//! cleans up) and the watcher.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use clap::Args;
use wharf_history::Trigger;

use super::watch_cron::{self, Clock, Schedule};
use super::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, run};
use crate::cli::RunArgs;

/// Triggers this close together give one run.
const DEBOUNCE: Duration = Duration::from_millis(1500);

/// `wharf watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// A timer: a 5-field cron expression in UTC, `NAME:CRON` to name it (repeatable;
    /// unnamed timers are t1, t2, ...).
    #[arg(long = "schedule", value_name = "CRON")]
    pub schedule: Vec<String>,
    /// How often remote registries are asked for the base images' digests (seconds,
    /// with ±20% jitter). wharf's own registry tells the watcher at once.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub poll: u64,
    /// The branch whose commits trigger a run (default: the context's current one).
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,
    /// Exit after this many runs: 0 when all succeeded, else 1.
    #[arg(long = "max-runs", value_name = "N")]
    pub max_runs: Option<u64>,
}

/// What the watcher waits for.
enum Message {
    /// Run again, for this reason.
    Trigger(Trigger, String),
    /// Ctrl-C or SIGTERM.
    Stop,
}

/// `wharf watch`.
pub fn run(args: &WatchArgs) -> ExitCode {
    let schedules = match watch_cron::parse_all(&args.schedule) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if args.run.cmd.is_some() || args.run.dry_run {
        eprintln!("error: wharf watch runs a task file: --cmd and --dry-run do not apply");
        return ExitCode::from(EXIT_USAGE);
    }
    if args.max_runs == Some(0) {
        return ExitCode::SUCCESS;
    }
    let fake_now = match std::env::var("WHARF_FAKE_NOW") {
        Ok(text) => match text.parse::<jiff::Timestamp>() {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("error: WHARF_FAKE_NOW={text:?} is not an RFC 3339 time: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        },
        Err(_) => None,
    };
    let (tx, rx) = channel::<Message>();
    spawn_signals(tx.clone());

    let mut runs = 0u64;
    let mut failed = false;
    let mut trigger = (Trigger::Manual, "the watch started".to_string());
    let mut sources_started = false;
    let bases = Bases::default();
    loop {
        eprintln!(
            "wharf watch: run {} ({}: {})",
            runs + 1,
            trigger.0.as_str(),
            trigger.1
        );
        let mut run_args = args.run.clone();
        run_args.trigger = Some(trigger.0.as_str().to_string());
        let code = run::run(&run_args);
        runs += 1;
        if code == ExitCode::from(EXIT_INTERRUPTED) {
            eprintln!("wharf watch: stopped");
            return code;
        }
        if code == ExitCode::from(EXIT_USAGE) && runs == 1 {
            return code;
        }
        failed |= code != ExitCode::SUCCESS;
        if args.max_runs.is_some_and(|max| runs >= max) {
            return ExitCode::from(if failed { EXIT_FAILED } else { 0 });
        }
        // After the first run: what it built from, and the sources of triggers.
        bases.record(&args.run);
        if !sources_started {
            sources_started = true;
            // A fake clock (tests) reads WHARF_FAKE_NOW when the watcher starts waiting.
            start_sources(args, &schedules, Clock::new(fake_now), &bases, tx.clone());
        }
        eprintln!("wharf watch: waiting for a trigger (Ctrl-C stops)");
        match next_trigger(&rx) {
            Some(t) => trigger = t,
            None => {
                eprintln!("wharf watch: stopped");
                return ExitCode::from(EXIT_INTERRUPTED);
            }
        }
    }
}

/// The next trigger, with those that follow within [`DEBOUNCE`] folded into it;
/// `None` on Ctrl-C.
fn next_trigger(rx: &Receiver<Message>) -> Option<(Trigger, String)> {
    let first = match rx.recv() {
        Ok(Message::Trigger(t, why)) => (t, why),
        Ok(Message::Stop) | Err(_) => return None,
    };
    let deadline = Instant::now() + DEBOUNCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Message::Trigger(_, why)) => {
                eprintln!("wharf watch: also {why} (one run for both)");
            }
            Ok(Message::Stop) => return None,
            Err(RecvTimeoutError::Timeout) => return Some(first),
            Err(RecvTimeoutError::Disconnected) => return Some(first),
        }
    }
}

/// Ctrl-C and SIGTERM become [`Message::Stop`] (a run in progress sees them too
/// and stops itself first).
fn spawn_signals(tx: Sender<Message>) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            match term.as_mut() {
                Some(t) => {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = t.recv() => {}
                    }
                }
                None => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        });
        let _ = tx.send(Message::Stop);
    });
}

/// The base images of the task's build steps and their digests as last seen.
#[derive(Default, Clone)]
struct Bases {
    digests: Arc<std::sync::Mutex<BTreeMap<String, Option<String>>>>,
}

impl Bases {
    /// Reads the task's Dockerfiles again (a commit may have changed them) and
    /// resolves every base's digest as it is now.
    fn record(&self, args: &RunArgs) {
        let Ok((loaded, _)) = super::load_quietly(&args.task, false) else {
            return;
        };
        let mut found = BTreeMap::new();
        for image in crate::deps::of_task(&loaded.task, &args.task.context) {
            for base in image
                .runtime_dependency
                .into_iter()
                .chain(image.buildtime_dependencies)
            {
                found.insert(base.reference, None);
            }
        }
        let client = client(args.retry_budget);
        for (reference, digest) in found.iter_mut() {
            *digest = resolve(client.as_ref(), reference);
        }
        if let Ok(mut d) = self.digests.lock() {
            *d = found;
        }
    }

    /// Asks again; the bases whose digest changed, as `(reference, old, new)`. A
    /// base that cannot be asked about keeps its digest.
    fn changed(
        &self,
        client: Option<&Client>,
        only: Option<&str>,
    ) -> Vec<(String, String, String)> {
        let current: Vec<(String, Option<String>)> = self
            .digests
            .lock()
            .map(|d| d.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let mut changed = Vec::new();
        for (reference, old) in current {
            if only.is_some_and(|repo| !reference.contains(repo)) {
                continue;
            }
            let Some(new) = resolve(client, &reference) else {
                continue;
            };
            if old.as_deref() != Some(new.as_str()) {
                if let Ok(mut d) = self.digests.lock() {
                    d.insert(reference.clone(), Some(new.clone()));
                }
                // A base first seen now (it did not exist at the last run) counts.
                changed.push((reference, old.unwrap_or_else(|| "none".into()), new));
            }
        }
        changed
    }

    fn loopback(&self) -> bool {
        self.digests.lock().is_ok_and(|d| {
            d.keys().any(|r| {
                r.split('/')
                    .next()
                    .is_some_and(wharf_registry::client::is_loopback)
            })
        })
    }
}

/// The registry client and the runtime it runs on.
struct Client {
    rt: tokio::runtime::Runtime,
    client: wharf_registry::Client,
}

fn client(retry_budget: f64) -> Option<Client> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let client = wharf_registry::Client::new(wharf_registry::ClientOptions {
        keychain: crate::commands::registry::keychain(),
        retry: wharf_registry::client::RetryPolicy {
            budget: Duration::from_secs_f64(retry_budget.min(5.0)),
            ..wharf_registry::client::RetryPolicy::default()
        },
        ..wharf_registry::ClientOptions::default()
    })
    .ok()?;
    Some(Client { rt, client })
}

/// The manifest digest `reference` names now: a `HEAD` to its registry.
fn resolve(client: Option<&Client>, reference: &str) -> Option<String> {
    let client = client?;
    let image = wharf_registry::ImageRef::parse(reference).ok()?;
    client
        .rt
        .block_on(client.client.resolve(&image))
        .ok()
        .flatten()
        .map(|d| d.digest.to_string())
}

/// Starts the threads that send triggers.
fn start_sources(
    args: &WatchArgs,
    schedules: &[Schedule],
    clock: Clock,
    bases: &Bases,
    tx: Sender<Message>,
) {
    // Base images: HEAD polling with jitter; at once when wharf's registry says so.
    let poll = Duration::from_secs(args.poll.max(1));
    let (check_tx, check_rx) = channel::<Option<String>>();
    if bases.loopback()
        && let Some(listener) = notifications(check_tx.clone())
    {
        eprintln!("wharf watch: wharf's own registry notifies this watcher of pushes");
        // Kept for the process's life.
        std::mem::forget(listener);
    }
    let (b, t, budget) = (bases.clone(), tx.clone(), args.run.retry_budget);
    std::thread::spawn(move || {
        let client = client(budget);
        loop {
            let only = match check_rx.recv_timeout(jitter(poll)) {
                Ok(repo) => repo,
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            for (reference, old, new) in b.changed(client.as_ref(), only.as_deref()) {
                let why = format!("base image {reference} changed ({old} → {new})");
                if t.send(Message::Trigger(Trigger::ImageUpdate, why)).is_err() {
                    return;
                }
            }
        }
    });

    // Commits on the branch of the context's repository.
    let context = args.run.task.context.clone();
    let repo = crate::git::describe(&context);
    let branch = args.branch.clone().unwrap_or(repo.branch);
    if !branch.is_empty()
        && let Some(mut head) = crate::git::branch_head(&context, &branch)
    {
        eprintln!("wharf watch: commits on {branch} trigger runs");
        let t = tx.clone();
        let every = poll.min(Duration::from_secs(1));
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(every);
                let Some(now) = crate::git::branch_head(&context, &branch) else {
                    continue;
                };
                if now != head {
                    let why = format!("commit {} on {branch}", short(&now));
                    head = now;
                    if t.send(Message::Trigger(Trigger::Commit, why)).is_err() {
                        return;
                    }
                }
            }
        });
    }

    // Timers.
    if !schedules.is_empty() {
        let schedules = schedules.to_vec();
        std::thread::spawn(move || {
            loop {
                let now = clock.now();
                let Some((when, due)) = watch_cron::next_fire(&schedules, now) else {
                    return;
                };
                let wait = when.as_millisecond() - now.as_millisecond();
                std::thread::sleep(Duration::from_millis(wait.max(0) as u64));
                let names: Vec<&str> = due.iter().map(|s| s.name.as_str()).collect();
                let why = format!("timer {} at {when}", names.join(", "));
                if tx.send(Message::Trigger(Trigger::Timer, why)).is_err() {
                    return;
                }
            }
        });
    }
}

/// `poll` ± 20%.
fn jitter(poll: Duration) -> Duration {
    use std::hash::BuildHasher;
    let random = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    let factor = 0.8 + 0.4 * (random % 1000) as f64 / 1000.0;
    poll.mul_f64(factor)
}

fn short(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

/// An endpoint for wharf's registry's push notifications (distribution's envelope),
/// registered under the registry's root; each push of a tag asks for a check of the
/// bases in that repository.
fn notifications(
    check: Sender<Option<String>>,
) -> Option<wharf_registry::server::notify::Registration> {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
    let url = format!("http://{}/events", listener.local_addr().ok()?);
    let registration =
        wharf_registry::server::notify::register(&wharf_registry::default_root(), &url).ok()?;
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream);
            let mut length = 0usize;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                let l = line.trim();
                if l.is_empty() {
                    break;
                }
                if let Some((k, v)) = l.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0u8; length.min(1 << 20)];
            let _ = reader.read_exact(&mut body);
            let mut stream = reader.into_inner();
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let events: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            for event in events["events"].as_array().into_iter().flatten() {
                if event["action"] == "push" && event["target"]["tag"].is_string() {
                    let repo = event["target"]["repository"].as_str().map(str::to_string);
                    if check.send(repo).is_err() {
                        return;
                    }
                }
            }
        }
    });
    Some(registration)
}
