//! Where a `plugin:` step's component comes from: a `./path.wasm` relative to the
//! build context, a bare NAME searched in the plugin path, or an `oci://` artifact
//! (pulled once and kept by digest, see [`super::oci`]).
//!
//! The plugin path, searched in this order for `<NAME>.wasm`:
//! 1. each directory of `$WHARF_PLUGIN_PATH` (`:`-separated);
//! 2. `target/plugins/` under the build context, then under the current directory
//!    (where `cargo xtask plugins` puts the workspace's plugins);
//! 3. `$XDG_DATA_HOME/wharf/plugins` (else `~/.local/share/wharf/plugins`).

use std::path::{Path, PathBuf};

use wharf_spec::PluginSource;

/// A plugin found: its name (for messages) and the component's bytes.
#[derive(Debug)]
pub struct Found {
    /// How messages name it.
    pub name: String,
    /// Where it was read from (a file, or the OCI cache).
    pub path: PathBuf,
}

/// The directories a bare plugin name is looked up in, in order.
pub fn search_path(context: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(list) = std::env::var_os("WHARF_PLUGIN_PATH") {
        dirs.extend(std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty()));
    }
    dirs.push(context.join("target/plugins"));
    if let Ok(cwd) = std::env::current_dir() {
        dirs.push(cwd.join("target/plugins"));
    }
    if let Some(data) = data_dir() {
        dirs.push(data.join("wharf/plugins"));
    }
    let mut unique: Vec<PathBuf> = Vec::new();
    for d in dirs {
        let canonical = d.canonicalize().unwrap_or_else(|_| d.clone());
        if !unique
            .iter()
            .any(|u| u.canonicalize().unwrap_or_else(|_| u.clone()) == canonical)
        {
            unique.push(d);
        }
    }
    unique
}

/// `$XDG_DATA_HOME`, else `~/.local/share`.
pub fn data_dir() -> Option<PathBuf> {
    match std::env::var_os("XDG_DATA_HOME") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")),
    }
}

/// Finds a plugin given by name or path. `Oci` sources are the caller's.
pub fn find(source: &PluginSource, written: &str, context: &Path) -> Result<Found, String> {
    match source {
        PluginSource::Path(path) => {
            let p = Path::new(path);
            let full = if p.is_absolute() {
                p.to_path_buf()
            } else {
                context.join(p)
            };
            if full.is_file() {
                Ok(Found {
                    name: p
                        .file_stem()
                        .and_then(|s| s.to_str())
                        .unwrap_or(written)
                        .to_string(),
                    path: full,
                })
            } else {
                Err(format!(
                    "plugin {written}: no file {} (a relative path is relative to the build context)",
                    full.display()
                ))
            }
        }
        PluginSource::Name(name) => {
            let dirs = search_path(context);
            for dir in &dirs {
                let candidate = dir.join(format!("{name}.wasm"));
                if candidate.is_file() {
                    return Ok(Found {
                        name: name.clone(),
                        path: candidate,
                    });
                }
            }
            let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            Err(format!(
                "plugin {name}: no {name}.wasm in the plugin path ({}); build the workspace's \
                 plugins with `cargo xtask plugins`, set WHARF_PLUGIN_PATH, or write ./path.wasm \
                 or oci://REGISTRY/REPO:TAG",
                searched.join(", ")
            ))
        }
        PluginSource::Oci(reference) => Err(format!(
            "plugin oci://{reference}: OCI plugins are pulled by the caller"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_path_is_relative_to_the_context() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("p")).expect("mkdir");
        std::fs::write(dir.path().join("p/x.wasm"), b"\0asm").expect("write");
        let found = find(
            &PluginSource::Path("./p/x.wasm".into()),
            "./p/x.wasm",
            dir.path(),
        )
        .expect("found");
        assert_eq!(found.name, "x");
        assert_eq!(found.path, dir.path().join("./p/x.wasm"));
        let missing = find(
            &PluginSource::Path("./nope.wasm".into()),
            "./nope.wasm",
            dir.path(),
        )
        .expect_err("missing");
        assert!(
            missing.contains("relative to the build context"),
            "{missing}"
        );
    }

    #[test]
    fn a_bare_name_is_searched_in_the_context_target_plugins() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("target/plugins")).expect("mkdir");
        std::fs::write(dir.path().join("target/plugins/some-tagger.wasm"), b"\0asm")
            .expect("write");
        let found = find(
            &PluginSource::Name("some-tagger".into()),
            "some-tagger",
            dir.path(),
        )
        .expect("found");
        assert_eq!(
            found.path,
            dir.path().join("target/plugins/some-tagger.wasm")
        );
        let missing = find(
            &PluginSource::Name("no-such-plugin".into()),
            "no-such-plugin",
            dir.path(),
        )
        .expect_err("missing");
        assert!(missing.contains("cargo xtask plugins"), "{missing}");
        assert!(
            missing.contains(&dir.path().join("target/plugins").display().to_string()),
            "{missing}"
        );
    }
}
