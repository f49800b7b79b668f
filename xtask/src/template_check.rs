//! The last stage of `cargo xtask ci`: `cargo xtask new-plugin` makes, for each
//! language (Rust, Python, JavaScript) and kind (tagger, scanner, notifier), a plugin
//! that builds and runs in a `wharf run` pipeline with nothing else to edit, as a
//! user would from a fresh clone: `new-plugin`, then `cargo xtask plugins` (which
//! also precompiles it), then `wharf run`. A Rust one is made in
//! `plugins/ci-template-<kind>` (the workspace's plugin glob) and passes its own
//! `cargo test -p` too; a Python or JavaScript one in `plugins/<lang>/`. Each is
//! removed again with the Cargo.lock as it was, also when a stage fails. It runs
//! after the test suite, outside `cargo test`, so the nested cargo shares `target/`
//! without waiting for the outer one's lock. (What each Python and JavaScript
//! template does in the host is tested in detail by
//! tests/plugin-contract/tests/templates.rs.)

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use wharf_e2e::plugin_langs::Lang;

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
        // plugins/python or plugins/js, when the check made it (fails when not empty).
        if let Some(parent) = self.dir.parent()
            && parent != root().join("plugins")
        {
            let _ = std::fs::remove_dir(parent);
        }
        let _ = std::fs::write(&self.lock, &self.lock_text);
    }
}

/// Checks every kind's template in every language.
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
    for lang in [None, Some(Lang::Python), Some(Lang::Js)] {
        let lang_name = lang.map_or("rust", Lang::as_str);
        for kind in ["tagger", "scanner", "notifier"] {
            eprintln!("\nxtask: new-plugin template check: {lang_name} {kind}");
            let name = match lang {
                None => format!("ci-template-{kind}"),
                Some(l) => format!("ci-template-{}-{kind}", l.as_str()),
            };
            let lock = root.join("Cargo.lock");
            let dir = match lang {
                None => root.join("plugins").join(&name),
                Some(l) => root.join("plugins").join(l.as_str()).join(&name),
            };
            let made = Made {
                dir,
                lock_text: std::fs::read(&lock).context("reading Cargo.lock")?,
                lock,
            };
            if made.dir.exists() {
                std::fs::remove_dir_all(&made.dir)?;
            }
            let mut args = vec![name.clone(), "--kind".into(), kind.into()];
            if let Some(l) = lang {
                args.extend(["--lang".into(), l.as_str().into()]);
            }
            crate::plugins::new_plugin(&args)?;
            if lang.is_none() {
                run(cargo().current_dir(&root).args(["test", "-q", "-p", &name]))?;
            }
            crate::plugins::build(&["--lang".into(), lang_name.into(), name.clone()])?;
            let wasm = root.join("target/plugins").join(format!("{name}.wasm"));
            in_pipeline(&wharf, &name, kind, &wasm)
                .with_context(|| format!("the {lang_name} {kind} template in a pipeline"))?;
            drop(made);
        }
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
        // The user's code cache, where `cargo xtask plugins` precompiled it.
        .env_remove("WHARF_PLUGIN_CACHE")
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
        if stdout.contains("compiled plugin") {
            bail!(
                "the step compiled the plugin that `cargo xtask plugins` had precompiled:\n{stdout}"
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
