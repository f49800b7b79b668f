//! `cargo xtask demo`: the whole publishing pipeline of examples/hello-web/release.yaml
//! on the local Docker engine, on a machine with only Rust and Docker and no
//! internet. It builds what it needs (wharf, the hello-web binary, three plugin
//! components), starts a local webhook receiver, runs the pipeline against wharf's
//! own registry (build, test container, smoke probe, semver-tagger, image-scanner,
//! push, helm package + push, webhook-notifier), pulls the chart back from the
//! registry, and prints where the image and the chart are and how to pull them.
//! It ends with what a mistake in a task file looks like.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{cargo, root, run as run_cmd};

/// The version the demo releases.
const VERSION: &str = "1.0.0";
/// wharf's own registry (`wharf run` without `--registry`, `wharf registry serve`).
const REGISTRY: &str = "127.0.0.1:5050";
/// The plugins the pipeline uses.
const PLUGINS: [&str; 3] = ["semver-tagger", "image-scanner", "webhook-notifier"];

fn step(title: &str) {
    eprintln!("\n\x1b[1m== {title}\x1b[0m");
}

/// The host's target triple, from `rustc -vV`.
fn host_triple() -> Result<String> {
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-vV")
        .output()
        .context("cannot run rustc")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .context("rustc -vV printed no host triple")
}

/// Builds hello-web as a static binary and copies it into the example's context.
pub fn build_hello_web(root: &Path) -> Result<()> {
    let triple = host_triple()?;
    run_cmd(
        cargo()
            .current_dir(root)
            .args([
                "build",
                "-q",
                "--release",
                "-p",
                "hello-web",
                "--target",
                &triple,
            ])
            .env("RUSTFLAGS", "-C target-feature=+crt-static"),
    )?;
    let binary = root.join("target").join(&triple).join("release/hello-web");
    std::fs::copy(&binary, root.join("examples/hello-web/hello-web"))
        .with_context(|| format!("cannot copy {}", binary.display()))?;
    Ok(())
}

/// Fails with what to do when the wasm32-wasip2 standard library is missing (the
/// plugins cannot be built without it, and this machine may have no internet).
fn require_wasm_target() -> Result<()> {
    let Ok(out) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    else {
        // No rustup: let cargo say what is missing.
        return Ok(());
    };
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == "wasm32-wasip2")
    {
        return Ok(());
    }
    eprintln!(
        "xtask: the wasm32-wasip2 target is missing; running `rustup target add wasm32-wasip2`"
    );
    let status = Command::new("rustup")
        .args(["target", "add", "wasm32-wasip2"])
        .status()
        .context("cannot run rustup")?;
    if !status.success() {
        bail!(
            "the plugins are WebAssembly components and need the wasm32-wasip2 target: \
             `rustup target add wasm32-wasip2` failed ({status}); run it where the \
             network reaches static.rust-lang.org, then `cargo xtask demo` again"
        );
    }
    Ok(())
}

/// `wharf registry serve` in the background; killed when dropped.
struct Serve(Child);

impl Serve {
    fn start(wharf: &Path) -> Result<Serve> {
        let child = Command::new(wharf)
            .args(["registry", "serve"])
            .stdin(Stdio::null())
            .spawn()
            .context("cannot start wharf registry serve")?;
        let serve = Serve(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(REGISTRY).is_err() {
            if Instant::now() > deadline {
                bail!("wharf registry serve did not listen on {REGISTRY} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(serve)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the demo.
pub fn run() -> Result<()> {
    let root = root();
    let started = Instant::now();
    step(
        "building: wharf, hello-web as a static binary, and the plugins \
         semver-tagger, image-scanner, webhook-notifier (wasm32-wasip2)",
    );
    require_wasm_target()?;
    run_cmd(
        cargo()
            .current_dir(&root)
            .args(["build", "-q", "-p", "wharf"]),
    )?;
    build_hello_web(&root)?;
    for name in PLUGINS {
        let out = crate::plugins::build_one(name)?;
        eprintln!("xtask: {name} -> {}", out.display());
    }
    let built = started.elapsed();
    eprintln!("xtask: built in {:.0} s", built.as_secs_f64());
    let after_build = Instant::now();

    let wharf = root.join("target/debug/wharf");
    let wharf_cmd = || {
        let mut c = Command::new(&wharf);
        c.current_dir(&root);
        c
    };
    let file = "examples/hello-web/release.yaml";

    step(&format!(
        "wharf graph {file} --format mermaid --registry {REGISTRY}"
    ));
    run_cmd(wharf_cmd().args(["graph", file, "--format", "mermaid", "--registry", REGISTRY]))?;

    let receiver = wharf_e2e::Receiver::start();
    step(&format!(
        "wharf run {file} -C examples/hello-web --set version={VERSION} \
         --set hook={} --secret hook-key=...",
        receiver.addr
    ));
    eprintln!(
        "(a webhook receiver listens on {}; the signing key is a secret, masked in \
         every log line)",
        receiver.addr
    );
    let status = wharf_cmd()
        .args(["run", file, "-C", "examples/hello-web", "--set"])
        .arg(format!("version={VERSION}"))
        .arg("--set")
        .arg(format!("hook={}", receiver.addr))
        .args(["--secret", "hook-key=demo-signing-key"])
        .status()
        .context("cannot run wharf")?;
    if !status.success() {
        bail!("the release pipeline failed ({status})");
    }

    step("what the webhook receiver got");
    let requests = receiver.requests();
    let Some(request) = requests.first() else {
        bail!("webhook-notifier sent nothing to {}", receiver.addr);
    };
    let event = request.json();
    eprintln!(
        "{} {}: {} for run {}, signed ({}), {} image reference(s)",
        request.method,
        request.path,
        event["type"].as_str().unwrap_or("?"),
        event["data"]["run"]["id"].as_str().unwrap_or("?"),
        request
            .header("webhook-signature")
            .map_or("unsigned", |_| "webhook-signature"),
        event["data"]["images"].as_array().map_or(0, Vec::len),
    );

    step(&format!(
        "wharf registry serve, then the image's tags and the chart pulled back from {REGISTRY}"
    ));
    let pulled = root.join("target/demo/pulled");
    std::fs::create_dir_all(&pulled)?;
    {
        let _serve = Serve::start(&wharf)?;
        run_cmd(wharf_cmd().args(["registry", "tags", &format!("{REGISTRY}/hello-web")]))?;
        run_cmd(
            wharf_cmd()
                .args([
                    "helm",
                    "pull",
                    &format!("oci://{REGISTRY}/charts/hello-web"),
                ])
                .args(["--version", VERSION, "-d"])
                .arg(&pulled),
        )?;
    }
    let elapsed = after_build.elapsed();

    step("where they are");
    eprintln!(
        "image  {REGISTRY}/hello-web:{VERSION} (also :1.0, :1, :latest)\n\
         chart  oci://{REGISTRY}/charts/hello-web:{VERSION} (pulled back into {})\n\
         scan   examples/hello-web/.wharf/reports/scan/ (SARIF and CycloneDX)\n\
         \n\
         wharf's registry keeps them (`wharf registry serve` said where); to pull them:\n\
         \n\
         \x20 target/debug/wharf registry serve &\n\
         \x20 docker pull {REGISTRY}/hello-web:{VERSION}\n\
         \x20 target/debug/wharf helm pull oci://{REGISTRY}/charts/hello-web --version {VERSION}\n\
         \x20 helm pull oci://{REGISTRY}/charts/hello-web --version {VERSION} --plain-http   # with helm\n\
         \n\
         pipeline, webhook and pull-back took {:.0} s (the build before them {:.0} s)",
        pulled.join(format!("hello-web-{VERSION}.tgz")).display(),
        elapsed.as_secs_f64(),
        built.as_secs_f64(),
    );

    step("a mistake: every problem, at its file:line:col, exit code 2");
    let dir = root.join("target/demo");
    std::fs::write(
        dir.join("acb.yaml"),
        "version: v1.1.0\nsteps:\n  - id: build\n    build: -t $Registry/hello-web:$ID .\n  - id: smoke test\n    cmd: $Registry/hello-web:$ID probe http://web:8080/health\n    when: [biuld]\n    timout: 30\n",
    )?;
    let status = wharf_cmd()
        .args(["validate", "--registry", REGISTRY])
        .arg(dir.join("acb.yaml"))
        .status()?;
    eprintln!("(exit code {})", status.code().unwrap_or(-1));
    Ok(())
}
