//! `cargo xtask demo`: the hello-web pipeline end to end on the local Docker
//! engine — plan, graph, the run itself (build a `FROM scratch` image, run it as a
//! test container, probe it by step id, push it to wharf's own registry), and what
//! a mistake in the file looks like. Needs only Rust and Docker.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo, root, run as run_cmd};

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

/// Runs the demo.
pub fn run() -> Result<()> {
    let root = root();
    step("building wharf, and hello-web as a static binary");
    run_cmd(
        cargo()
            .current_dir(&root)
            .args(["build", "-q", "-p", "wharf"]),
    )?;
    build_hello_web(&root)?;
    let wharf = root.join("target/debug/wharf");
    let wharf_cmd = || {
        let mut c = Command::new(&wharf);
        c.current_dir(&root);
        c
    };

    step("wharf plan examples/hello-web/acb.yaml");
    run_cmd(wharf_cmd().args([
        "plan",
        "examples/hello-web/acb.yaml",
        "--registry",
        "127.0.0.1:5050",
    ]))?;

    step("wharf graph examples/hello-web/acb.yaml --format mermaid");
    run_cmd(wharf_cmd().args([
        "graph",
        "examples/hello-web/acb.yaml",
        "--format",
        "mermaid",
    ]))?;

    step("wharf run examples/hello-web/acb.yaml -C examples/hello-web");
    let status = wharf_cmd()
        .args([
            "run",
            "examples/hello-web/acb.yaml",
            "-C",
            "examples/hello-web",
        ])
        .status()
        .context("cannot run wharf")?;
    if !status.success() {
        bail!("the hello-web pipeline failed ({status})");
    }

    step("a mistake: every problem, at its file:line:col, exit code 2");
    let dir = root.join("target/demo");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("acb.yaml"),
        "version: v1.1.0\nsteps:\n  - id: build\n    build: -t $Registry/hello-web:$ID .\n  - id: smoke test\n    cmd: $Registry/hello-web:$ID probe http://web:8080/health\n    when: [biuld]\n    timout: 30\n",
    )?;
    let status = wharf_cmd()
        .args(["validate", "--registry", "127.0.0.1:5050"])
        .arg(dir.join("acb.yaml"))
        .status()?;
    eprintln!("(exit code {})", status.code().unwrap_or(-1));
    Ok(())
}
