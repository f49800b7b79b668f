//! Reads `with: path` with `std::fs` (so the component imports wasi:filesystem)
//! and returns its first line as a tag.

use wharf_plugin_sdk::tagger::{Guest, ImageRef, PluginError, TagResult, config};

struct ReadsFile;

impl Guest for ReadsFile {
    fn tag(_image: ImageRef) -> Result<TagResult, PluginError> {
        let path = config::require("path")?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| PluginError::Failed(format!("cannot read {path}: {e}")))?;
        Ok(TagResult {
            tags: vec![text.lines().next().unwrap_or("empty").trim().to_string()],
            outputs: vec![],
        })
    }
}

wharf_plugin_sdk::export_tagger!(ReadsFile);
