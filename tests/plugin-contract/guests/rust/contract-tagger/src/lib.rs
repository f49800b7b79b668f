//! The contract suite's tagger guest in Rust. `with: mode` picks the behaviour; the
//! Python (`guests/python/tagger/app.py`) and JS (`guests/js/tagger/app.js`) guests
//! do exactly the same, and every case in `tests/plugin-contract/cases` must give
//! the same result for all three.

use wharf_plugin_sdk::tagger::{
    Guest, ImageRef, PluginError, TagResult, config, files, log, outputs, secrets,
};

struct Contract;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Guest for Contract {
    fn tag(image: ImageRef) -> Result<TagResult, PluginError> {
        let mode = config::require("mode")?;
        match mode.as_str() {
            // Happy path: config, run info, image record, outputs of both kinds.
            "tag" => {
                let version = config::require("version")?;
                let run = config::run();
                log::info(&format!("tagging {} as {version}", image.repository));
                let keys: Vec<String> = config::get_all().into_iter().map(|(k, _)| k).collect();
                Ok(TagResult {
                    tags: vec![version, "latest".into()],
                    outputs: vec![
                        outputs::text("run", format!("{}/{}", run.id, run.step_id)),
                        outputs::items("keys", keys),
                        outputs::text("tag-in", image.tag.unwrap_or_else(|| "<none>".into())),
                    ],
                })
            }
            // The plugin's own error.
            "fail" => Err(PluginError::Failed("the plugin failed on purpose".into())),
            // A host error passed on unchanged.
            "read" => {
                let bytes = files::read_file("data.txt", 1024)?;
                Ok(TagResult {
                    tags: vec![format!("len-{}", bytes.len())],
                    outputs: vec![],
                })
            }
            "secret" => {
                let id = config::require("secret")?;
                let secret = secrets::get(&id)?;
                let mac = secret.hmac_sha256(b"data");
                Ok(TagResult {
                    tags: vec![secret.id()],
                    outputs: vec![outputs::text("mac", hex(&mac))],
                })
            }
            // Opens (and drops) a secret more times than the resource table holds.
            "secret-loop" => {
                let id = config::require("secret")?;
                let mut n = 0u32;
                for _ in 0..3000 {
                    let s = secrets::get(&id)?;
                    n += u32::from(!s.id().is_empty());
                }
                Ok(TagResult {
                    tags: vec![format!("opened-{n}")],
                    outputs: vec![],
                })
            }
            "print" => {
                println!("hello from stdout");
                eprintln!("hello from stderr");
                Ok(TagResult {
                    tags: vec!["printed".into()],
                    outputs: vec![],
                })
            }
            "trap" => std::process::abort(),
            other => Err(PluginError::InvalidConfig(format!(
                "unknown mode {other:?}"
            ))),
        }
    }
}

wharf_plugin_sdk::export_tagger!(Contract);
