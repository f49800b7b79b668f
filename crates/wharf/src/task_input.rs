//! From command-line arguments to a loaded task: reading the file, the run
//! variables (id, date, registry, git commit and branch, platform) and fetching
//! remote alias sources.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wharf_spec::{
    Files, LoadFailure, LoadOptions, Loaded, LocalFiles, RunInfo, SecretResolver, SourceFile,
    TaskDefaults,
};

use crate::cli::TaskArgs;
use crate::git;

/// The default task file name.
pub const DEFAULT_FILE: &str = "acb.yaml";

/// Why a task could not be loaded.
#[derive(Debug)]
pub enum InputError {
    /// The file could not be read.
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The file has problems.
    Invalid(LoadFailure),
}

impl TaskArgs {
    /// No file, the current directory as context, nothing set: the start of a task
    /// a command makes itself.
    pub fn empty() -> TaskArgs {
        TaskArgs {
            file: None,
            file_flag: None,
            context: PathBuf::from("."),
            values: Vec::new(),
            set: Vec::new(),
            registry: None,
            id: None,
            env: Vec::new(),
            network: None,
            working_directory: None,
            inline: None,
        }
    }

    /// The task file path.
    pub fn path(&self) -> PathBuf {
        self.file
            .clone()
            .or_else(|| self.file_flag.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_FILE))
    }

    /// The run variables for this invocation; `os`/`arch` are the engine's platform.
    pub fn run_info(&self, os: &str, arch: &str) -> RunInfo {
        let id = self.id.clone().unwrap_or_else(new_run_id);
        let repo = git::describe(&self.context);
        RunInfo {
            shared_volume: format!("acb_vol_{id}"),
            id,
            commit: repo.commit,
            repository: repo.remote,
            branch: repo.branch,
            git_tag: String::new(),
            triggered_by: "manual".into(),
            registry: self.registry.clone().unwrap_or_default(),
            date: jiff::Timestamp::now(),
            os: os.into(),
            os_version: String::new(),
            architecture: arch.into(),
            task_name: String::new(),
        }
    }

    /// Options for the loader; reads the `--values` files.
    pub fn load_options(&self, run: RunInfo, strict: bool) -> Result<LoadOptions, InputError> {
        let mut values = Vec::with_capacity(self.values.len());
        for path in &self.values {
            let text = std::fs::read_to_string(path).map_err(|error| InputError::Read {
                path: PathBuf::from(path),
                error,
            })?;
            values.push(SourceFile::new(path.clone(), text));
        }
        Ok(LoadOptions {
            run,
            values,
            set: self.set.clone(),
            defaults: TaskDefaults {
                working_directory: self.working_directory.clone(),
                network: self.network.clone(),
                env: self.env.clone(),
            },
            strict,
            host_lookup: Some(wharf_spec::system_host_lookup()),
        })
    }

    /// Reads and loads the task.
    pub fn load(
        &self,
        options: &LoadOptions,
        secrets: SecretResolver<'_>,
    ) -> Result<Loaded, InputError> {
        let path = self.path();
        let text = match &self.inline {
            Some(text) => text.clone(),
            None => std::fs::read_to_string(&path).map_err(|error| InputError::Read {
                path: path.clone(),
                error,
            })?,
        };
        let files = ContextFiles {
            local: LocalFiles {
                base: self.context.clone(),
            },
        };
        wharf_spec::load(&display_name(&path), &text, options, &files, secrets)
            .map_err(InputError::Invalid)
    }
}

fn display_name(path: &Path) -> String {
    path.to_string_lossy().trim_start_matches("./").to_string()
}

/// Files from the context directory, and http(s) alias sources fetched with a
/// 2-second timeout, as ACR does.
struct ContextFiles {
    local: LocalFiles,
}

impl Files for ContextFiles {
    fn read(&self, path: &str) -> Result<String, String> {
        if !(path.starts_with("http://") || path.starts_with("https://")) {
            return self.local.read(path);
        }
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| e.to_string())?;
        let response = client.get(path).send().map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.text().map_err(|e| e.to_string())?;
        if status.as_u16() > 299 {
            return Err(format!("GET {path} answered {status}: {}", body.trim()));
        }
        Ok(body)
    }
}

/// A short id, unique per run: 6 lowercase letters and digits, starting with a letter.
pub fn new_run_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut n = RandomState::new().hash_one((nanos, std::process::id()));
    let mut id = String::with_capacity(6);
    id.push(char::from(ALPHABET[(n % 26) as usize]));
    n /= 26;
    for _ in 0..5 {
        id.push(char::from(ALPHABET[(n % 36) as usize]));
        n /= 36;
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_short_and_differ() {
        let a = new_run_id();
        let b = new_run_id();
        assert_eq!(a.len(), 6);
        assert!(a.chars().next().is_some_and(|c| c.is_ascii_lowercase()));
        assert_ne!(a, b);
    }
}
