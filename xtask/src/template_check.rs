//! The last stage of `cargo xtask ci`: `cargo xtask new-plugin` makes, for each kind
//! (tagger, scanner, notifier), a Rust plugin that builds, passes its own tests and
//! runs in a `wharf run` pipeline with nothing else to edit. Each is made in
//! `plugins/ci-template-<kind>` (the workspace's plugin glob), tested with `cargo
//! test -p`, built with `cargo xtask plugins`, run, and removed again with the
//! Cargo.lock as it was, also when a stage fails. It runs after the test suite,
//! outside `cargo test`, so the nested cargo shares `target/` without waiting for
//! the outer one's lock. (The Python and JavaScript templates are tested by
//! tests/plugin-contract/tests/templates.rs.)

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo, root, run};

/// Removes the made plugin and puts Cargo.lock back when dropped.
struct Made {
    dir: PathBuf,
    lock: PathBuf,
    lock_text: Vec<u8>,
}

impl Drop for Made {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::write(&self.lock, &self.lock_text);
    }
}

/// Checks every kind's Rust template.
pub fn check() -> Result<()> {
    let root = root();
    if !wharf_e2e::docker_available() {
        if wharf_e2e::in_ci() {
            bail!("the plugin templates run in a pipeline, which needs a Docker engine");
        }
        eprintln!("xtask: skipping the plugin template check: no Docker engine here");
        return Ok(());
    }
    run(cargo()
        .current_dir(&root)
        .args(["build", "-q", "-p", "wharf"]))?;
    let wharf = root.join("target/debug/wharf");
    for kind in ["tagger", "scanner", "notifier"] {
        eprintln!("\nxtask: new-plugin template check: {kind}");
        let name = format!("ci-template-{kind}");
        let lock = root.join("Cargo.lock");
        let made = Made {
            dir: root.join("plugins").join(&name),
            lock_text: std::fs::read(&lock).context("reading Cargo.lock")?,
            lock,
        };
        if made.dir.exists() {
            std::fs::remove_dir_all(&made.dir)?;
        }
        crate::plugins::new_plugin(&[name.clone(), "--kind".into(), kind.into()])?;
        run(cargo().current_dir(&root).args(["test", "-q", "-p", &name]))?;
        let wasm = crate::plugins::build_one(&name)?;
        in_pipeline(&wharf, &name, kind, &wasm)
            .with_context(|| format!("the {kind} template in a pipeline"))?;
        drop(made);
    }
    Ok(())
}

/// Runs `name` in a pipeline and checks what it did.
fn in_pipeline(wharf: &Path, name: &str, kind: &str, wasm: &Path) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins)?;
    std::fs::copy(wasm, plugins.join(format!("{name}.wasm")))?;
    let base = wharf_e2e::busybox_image();
    let image = "wharf-ci-template/app";
    wharf_e2e::sh(Command::new("docker").args(["tag", base, &format!("{image}:1")]));
    let receiver = wharf_e2e::Receiver::start();
    let file = match kind {
        "tagger" => format!(
            "steps:\n  - id: tag\n    plugin: {name}\n    with: {{ image: \"{image}:1\", version: 9.8.7 }}\n  - cmd: {base} echo \"refs=$(steps.tag.outputs.refs)\"\n"
        ),
        "scanner" => format!(
            "steps:\n  - id: scan\n    plugin: {name}\n    with: {{ image: \"{image}:1\", pattern: bin/busybox }}\n  - cmd: {base} echo \"count=$(steps.scan.outputs.count)\"\n"
        ),
        _ => format!(
            "steps:\n  - id: work\n    cmd: {base} true\nnotify:\n  - plugin: {name}\n    with: {{ url: \"http://{0}/hook\" }}\n    allow: {{ http: [\"{0}\"] }}\n",
            receiver.addr
        ),
    };
    std::fs::write(dir.path().join("acb.yaml"), file)?;
    let out = Command::new(wharf)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env("WHARF_PLUGIN_PATH", &plugins)
        .env(
            "WHARF_PLUGIN_CACHE",
            root().join("target/plugin-cache-tests"),
        )
        .args(["run", "--id", "citemplate", "--registry", "localhost:5000"])
        .output()
        .context("cannot run wharf")?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let tags = ["1", "9.8.7", "latest"];
    let result = (|| {
        if !out.status.success() {
            bail!(
                "wharf run failed ({}):\n{stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        match kind {
            "tagger" => {
                let want = format!("refs={image}:9.8.7 {image}:latest");
                if !stdout.contains(&want) {
                    bail!("expected {want:?} in the run's output:\n{stdout}");
                }
                for tag in ["9.8.7", "latest"] {
                    let inspect = Command::new("docker")
                        .args(["image", "inspect", &format!("{image}:{tag}")])
                        .output()?;
                    if !inspect.status.success() {
                        bail!("the engine has no {image}:{tag} after the tagger ran:\n{stdout}");
                    }
                }
            }
            "scanner" => {
                if !stdout.contains("count=1") {
                    bail!("expected one file matching bin/busybox (count=1):\n{stdout}");
                }
            }
            _ => {
                let got = receiver.requests();
                let [request] = got.as_slice() else {
                    bail!("the receiver got {} requests, not 1:\n{stdout}", got.len());
                };
                let body = request.json();
                if body["run"] != "citemplate" || body["status"] != "success" {
                    bail!("the notification is not the run's summary: {body}");
                }
            }
        }
        Ok(())
    })();
    wharf_e2e::remove_images(image, &tags);
    result
}
