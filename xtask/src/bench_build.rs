//! `cargo xtask bench build`: a `build` step of a multi-stage Dockerfile with two
//! independent stages, wharf against `DOCKER_BUILDKIT=1 docker build` and the classic
//! builder, in one run with interleaved rounds (goal: wharf ≤ 1.1× BuildKit).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::bench::{Section, Stats, machine, ms, stats};
use crate::root;

/// Seconds each of the two independent stages sleeps.
const STAGE_SECS: u32 = 2;
/// Interleaved rounds.
const ROUNDS: usize = 7;
/// The Debian docker CLI, which speaks the engine's API version (the newer one in
/// /usr/local/bin needs `buildx` for BuildKit).
const DOCKER_CLI: &str = "/usr/bin/docker";

/// The benchmark's Dockerfile: stages `one` and `two` do not depend on each other; the
/// final stage copies from both.
fn dockerfile(image: &str) -> String {
    format!(
        "FROM {image} AS one\n\
         RUN sleep {STAGE_SECS} && head -c 1000000 /dev/urandom > /one\n\
         FROM {image} AS two\n\
         RUN sleep {STAGE_SECS} && head -c 1000000 /dev/urandom > /two\n\
         FROM {image}\n\
         COPY app /app\n\
         COPY --from=one /one /one\n\
         COPY --from=two /two /two\n\
         RUN cat /app/* /one /two | wc -c\n"
    )
}

/// Runs the benchmark with the wharf binary `wharf`.
pub fn run(wharf: &Path) -> Result<Section> {
    if !wharf_e2e::docker_available() {
        bail!("the build benchmark needs a Docker engine");
    }
    if !Path::new(DOCKER_CLI).exists() {
        bail!("the build benchmark needs the docker CLI at {DOCKER_CLI}");
    }
    let image = wharf_e2e::busybox_image();
    let dir = root().join("target/bench/build");
    let context = dir.join("context");
    std::fs::create_dir_all(context.join("app"))?;
    std::fs::write(context.join("Dockerfile"), dockerfile(image))?;
    // A context of a few hundred files, as a small application has.
    for i in 0..200 {
        std::fs::write(
            context.join(format!("app/file-{i:03}.txt")),
            format!("{i}\n").repeat(500),
        )?;
    }
    let tag = "wharf-bench/build:latest";
    let task =
        format!("version: v1.1.0\nsteps:\n  - id: build\n    build: -t {tag} --no-cache .\n");
    let task_file = dir.join("build.yaml");
    std::fs::write(&task_file, &task)?;
    let classic_task = dir.join("build-classic.yaml");
    std::fs::write(
        &classic_task,
        format!("{task}    env: [\"DOCKER_BUILDKIT=0\"]\n"),
    )?;

    // wharf: the whole run, and the build step's own duration from its result.
    let wharf_run = |file: &Path| -> Result<(Duration, Duration)> {
        let start = Instant::now();
        let out = Command::new(wharf)
            .args(["run", "--json", "--registry", "localhost:5000", "-C"])
            .arg(&context)
            .arg(file)
            .output()
            .context("cannot run wharf")?;
        let whole = start.elapsed();
        if !out.status.success() {
            bail!(
                "wharf run failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let step = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| e["event"] == "step.finished" && e["step"] == "build")
            .and_then(|e| e["durationMs"].as_u64())
            .context("wharf reported no duration for the build step")?;
        Ok((whole, Duration::from_millis(step)))
    };
    let docker_build = |buildkit: &str| -> Result<Duration> {
        let start = Instant::now();
        let out = Command::new(DOCKER_CLI)
            .env("DOCKER_BUILDKIT", buildkit)
            .args(["build", "--no-cache", "-t", tag])
            .arg(&context)
            .output()
            .context("cannot run docker build")?;
        let took = start.elapsed();
        if !out.status.success() {
            bail!(
                "docker build failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(took)
    };

    // Warm-up: the base image, the binaries, the page cache.
    wharf_run(&task_file)?;
    docker_build("1")?;
    docker_build("0")?;
    let mut wharf_whole = Vec::new();
    let mut wharf_step = Vec::new();
    let mut wharf_classic = Vec::new();
    let mut buildkit = Vec::new();
    let mut classic = Vec::new();
    for _ in 0..ROUNDS {
        let (whole, step) = wharf_run(&task_file)?;
        wharf_whole.push(whole);
        wharf_step.push(step);
        buildkit.push(docker_build("1")?);
        classic.push(docker_build("0")?);
        wharf_classic.push(wharf_run(&classic_task)?.1);
    }
    let _ = Command::new("docker").args(["rmi", tag]).output();
    let [wharf_whole, wharf_step, wharf_classic, buildkit, classic] =
        [wharf_whole, wharf_step, wharf_classic, buildkit, classic].map(stats);
    Ok(Section {
        name: "build",
        body: report(
            image,
            &wharf_whole,
            &wharf_step,
            &wharf_classic,
            &buildkit,
            &classic,
        ),
    })
}

fn report(
    image: &str,
    wharf_whole: &Stats,
    wharf_step: &Stats,
    wharf_classic: &Stats,
    buildkit: &Stats,
    classic: &Stats,
) -> String {
    let ratio = wharf_step.median.as_secs_f64() / buildkit.median.as_secs_f64();
    let mut body = String::new();
    let _ = writeln!(
        body,
        "## A `build` step against `docker build` (goal ≤ 1.1× BuildKit)\n"
    );
    let _ = writeln!(
        body,
        "A multi-stage Dockerfile (`target/bench/build/context/Dockerfile`, base `{image}`): \
         stages `one` and `two` each `sleep {STAGE_SECS}` and write 1 MB, independently of \
         each other; the final stage copies 200 context files and both stages' files. Every \
         build is `--no-cache`. {ROUNDS} rounds, the sides interleaved. wharf's build step is \
         timed by its own result (`durationMs` of `step.finished` in `wharf run --json`): the \
         context read back from the run's workspace volume and streamed to the engine, the \
         BuildKit session, the build, its progress rendered. The whole `wharf run` adds the \
         run's preparation (network, volumes, the context copied into the workspace) and \
         cleanup. The peers are Debian's docker CLI 20.10 (`{DOCKER_CLI}`), sending the \
         context from disk.\n"
    );
    let _ = writeln!(body, "| builder | command | min | median | max |");
    let _ = writeln!(body, "|---|---|---|---|---|");
    for (builder, command, st) in [
        ("BuildKit", "wharf `build` step", wharf_step),
        ("BuildKit", "`DOCKER_BUILDKIT=1 docker build`", buildkit),
        (
            "classic",
            "wharf `build` step with `DOCKER_BUILDKIT=0`",
            wharf_classic,
        ),
        ("classic", "`DOCKER_BUILDKIT=0 docker build`", classic),
        (
            "BuildKit",
            "whole `wharf run` of the one-step task",
            wharf_whole,
        ),
    ] {
        let _ = writeln!(
            body,
            "| {builder} | {command} | {} | {} | {} |",
            ms(st.min),
            ms(st.median),
            ms(st.max)
        );
    }
    let _ = writeln!(
        body,
        "\n- wharf's build step / `DOCKER_BUILDKIT=1 docker build` (medians): **{ratio:.2}×** (goal ≤ 1.1×: {}).",
        if ratio <= 1.1 { "meets" } else { "misses" }
    );
    let _ = writeln!(
        body,
        "- Parallel stages: the two {STAGE_SECS}-second stages take {} with BuildKit (wharf) \
         against {} with the classic builder, which builds them one after the other.",
        ms(wharf_step.median),
        ms(classic.median)
    );
    let _ = writeln!(
        body,
        "\nReproduce: `cargo xtask bench build` (release build; {}).",
        machine()
    );
    body
}
