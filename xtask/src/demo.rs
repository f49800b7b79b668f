//! `cargo xtask demo`: shows wharf on the examples.

use std::process::Command;

use anyhow::Result;

use crate::{cargo, root, run as run_cmd};

fn step(title: &str) {
    eprintln!("\n\x1b[1m== {title}\x1b[0m");
}

/// Runs the demo.
pub fn run() -> Result<()> {
    let root = root();
    run_cmd(
        cargo()
            .current_dir(&root)
            .args(["build", "-q", "-p", "wharf"]),
    )?;
    let wharf = root.join("target/debug/wharf");
    let wharf_cmd = || {
        let mut c = Command::new(&wharf);
        c.current_dir(&root);
        c
    };

    step("wharf plan examples/hello-web/acb.yaml --registry localhost:5000");
    run_cmd(wharf_cmd().args([
        "plan",
        "examples/hello-web/acb.yaml",
        "--registry",
        "localhost:5000",
    ]))?;

    step("wharf graph examples/templates/acb.yaml (values and templates generate the steps)");
    run_cmd(wharf_cmd().args([
        "graph",
        "examples/templates/acb.yaml",
        "-C",
        "examples/templates",
        "--values",
        "examples/templates/values.yaml",
    ]))?;

    step("a mistake: every problem, at its file:line:col, exit code 2");
    let dir = root.join("target/demo");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("acb.yaml"),
        "version: v1.1.0\nsteps:\n  - id: build\n    build: -t $Registry/hello-web:$ID .\n  - id: smoke test\n    cmd: $Registry/hello-web:$ID probe http://web:8080/health\n    when: [biuld]\n    timout: 30\n",
    )?;
    let status = wharf_cmd()
        .args(["validate", "--registry", "localhost:5000"])
        .arg(dir.join("acb.yaml"))
        .status()?;
    eprintln!("(exit code {})", status.code().unwrap_or(-1));
    Ok(())
}
