//! Reads environment variable `with: var` and, when `with: secret` is set, opens
//! that secret and logs it (the host must mask it). Tags: `env-<value>` or
//! `env-unset`, and `secret-<len>`.

use wharf_plugin_sdk::tagger::{Guest, ImageRef, PluginError, TagResult, config, log, secrets};

struct ReadsEnv;

impl Guest for ReadsEnv {
    fn tag(_image: ImageRef) -> Result<TagResult, PluginError> {
        let mut tags = Vec::new();
        if let Some(var) = config::get("var") {
            tags.push(match std::env::var(&var) {
                Ok(v) => format!("env-{v}"),
                Err(_) => "env-unset".into(),
            });
        }
        if let Some(id) = config::get("secret") {
            let secret = secrets::get(&id)?;
            let value = secret.reveal();
            log::info(&format!("the secret is {value}"));
            println!("stdout says {value}");
            let mac = secret.hmac_sha256(b"message");
            tags.push(format!("secret-{}-mac-{}", value.len(), mac.len()));
        }
        Ok(TagResult {
            tags,
            outputs: vec![],
        })
    }
}

wharf_plugin_sdk::export_tagger!(ReadsEnv);
