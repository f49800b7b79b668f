//! Telling watchers at once when a tag is pushed, in distribution's notification
//! format (`{"events":[{"action":"push","target":{...,"repository","tag"}}]}`,
//! `application/vnd.docker.distribution.events.v1+json`).
//!
//! A watcher (`wharf watch`, in any process) registers by writing the URL of its
//! loopback endpoint into a file under `<root>/watchers/`; every server on that root
//! posts each tag push to every registered URL, without waiting for the answer.
//! Files whose endpoint refuses connections are removed.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The directory, under a registry root, where watchers register.
pub const WATCHERS_DIR: &str = "watchers";

/// The media type of the envelope, as distribution 2.8 sends it.
pub const EVENTS_MEDIA_TYPE: &str = "application/vnd.docker.distribution.events.v1+json";

/// Registers `url` (an `http://127.0.0.1:PORT/...` endpoint) as a watcher of the
/// registry stored under `root`; the registration ends when the returned guard drops.
pub fn register(root: &Path, url: &str) -> std::io::Result<Registration> {
    let dir = root.join(WATCHERS_DIR);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{}-{}.url", std::process::id(), url_key(url)));
    std::fs::write(&path, url)?;
    Ok(Registration { path })
}

/// A watcher's registration; removed on drop.
#[derive(Debug)]
pub struct Registration {
    path: PathBuf,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn url_key(url: &str) -> String {
    url.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Posts a tag push to every registered watcher (in the background).
pub(crate) fn tag_pushed(
    root: &Path,
    repository: &str,
    tag: &str,
    digest: &str,
    media_type: &str,
    size: usize,
) {
    let dir = root.join(WATCHERS_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let body = serde_json::json!({
        "events": [{
            "action": "push",
            "target": {
                "mediaType": media_type,
                "size": size,
                "digest": digest,
                "length": size,
                "repository": repository,
                "tag": tag,
            },
            "source": { "addr": "wharf" },
        }]
    })
    .to_string();
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(url) = std::fs::read_to_string(&path) else {
            continue;
        };
        let body = body.clone();
        tokio::spawn(async move {
            let Ok(client) = reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .no_proxy()
                .build()
            else {
                return;
            };
            let sent = client
                .post(url.trim())
                .header("Content-Type", EVENTS_MEDIA_TYPE)
                .body(body)
                .send()
                .await;
            if sent.as_ref().is_err_and(|e| e.is_connect()) {
                let _ = std::fs::remove_file(&path);
            }
        });
    }
}
