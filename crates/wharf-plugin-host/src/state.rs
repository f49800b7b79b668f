//! The state of one call's `Store`, and the host side of every `wharf:plugin`
//! import. A store lives for one call and is dropped after it, trap or not.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::scanner::wharf::plugin::{image, reports};
use crate::bindings::tagger::wharf::plugin::{config, files, log, secrets, types, versions};
use crate::error::Denied;
use crate::grants::{Grants, Limits};
use crate::http_policy::HttpPolicy;
use crate::model::{FileKind, RunInfo};
use crate::output::{Abort, LineLog};
use crate::services::{ImageAccess, ImageError, LogLevel, LogSource, ReportWriter};

use types::PluginError;

/// A secret handed to a plugin. Its value never appears in `Debug`.
pub struct SecretHandle {
    id: String,
    value: String,
}

impl std::fmt::Debug for SecretHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretHandle")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// What a call's host functions read; shared with the stdio streams.
pub(crate) struct CallShared {
    pub(crate) plugin: String,
    pub(crate) with: Vec<(String, String)>,
    pub(crate) run: RunInfo,
    pub(crate) grants: Grants,
    pub(crate) limits: Limits,
    pub(crate) context_dir: Option<PathBuf>,
    pub(crate) secrets: Vec<(String, String)>,
    pub(crate) image: Option<Arc<dyn ImageAccess>>,
    pub(crate) reports: Option<Arc<dyn ReportWriter>>,
    pub(crate) log: Arc<LineLog>,
    /// Requests refused while the call ran (the step's error names them if it fails).
    pub(crate) denials: Mutex<Vec<Denied>>,
}

impl CallShared {
    pub(crate) fn deny(&self, denied: Denied) -> String {
        let message = denied.message.clone();
        if let Ok(mut d) = self.denials.lock() {
            d.push(denied);
        }
        message
    }
}

/// A memory cap that remembers what was refused.
pub(crate) struct MemoryLimiter {
    pub(crate) cap: u64,
    pub(crate) refused: Option<u64>,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.cap {
            self.refused = Some(desired as u64);
            wasmtime::bail!("memory limit of {} bytes reached", self.cap);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        16
    }
}

/// The data of one call's store.
pub(crate) struct CallState {
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) hooks: HttpPolicy,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) shared: Arc<CallShared>,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// A host function's way of stopping the call (a limit was hit).
fn abort(shared: &CallShared, why: Abort) -> wasmtime::Error {
    let message = why.to_string();
    shared.log.set_abort(why);
    wasmtime::format_err!("{message}")
}

impl types::Host for CallState {}

impl log::Host for CallState {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        match self.shared.log.message(LogSource::Log(level), &message) {
            Ok(()) => Ok(()),
            Err(why) => Err(abort(&self.shared, why)),
        }
    }
}

impl config::Host for CallState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self
            .shared
            .with
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone()))
    }

    async fn get_all(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self.shared.with.clone())
    }

    async fn run(&mut self) -> wasmtime::Result<types::RunInfo> {
        let r = &self.shared.run;
        Ok(types::RunInfo {
            id: r.id.clone(),
            registry: r.registry.clone(),
            commit: r.commit.clone(),
            branch: r.branch.clone(),
            git_tag: r.git_tag.clone(),
            date: r.date.clone(),
            os: r.os.clone(),
            architecture: r.architecture.clone(),
            task_name: r.task_name.clone(),
            step_id: r.step_id.clone(),
        })
    }
}

impl secrets::HostSecret for CallState {
    async fn id(&mut self, handle: Resource<SecretHandle>) -> wasmtime::Result<String> {
        Ok(self.table.get(&handle)?.id.clone())
    }

    async fn reveal(&mut self, handle: Resource<SecretHandle>) -> wasmtime::Result<String> {
        let secret = self.table.get(&handle)?;
        tracing::debug!(plugin = %self.shared.plugin, secret = %secret.id, "a plugin revealed a secret");
        Ok(secret.value.clone())
    }

    async fn hmac_sha256(
        &mut self,
        handle: Resource<SecretHandle>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Vec<u8>> {
        let secret = self.table.get(&handle)?;
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.value.as_bytes())
            .map_err(|e| wasmtime::format_err!("HMAC key: {e}"))?;
        mac.update(&data);
        Ok(mac.finalize().into_bytes().to_vec())
    }

    async fn drop(&mut self, handle: Resource<SecretHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl secrets::Host for CallState {
    async fn get(
        &mut self,
        id: String,
    ) -> wasmtime::Result<Result<Resource<SecretHandle>, PluginError>> {
        if !self.shared.grants.secrets.contains(&id) {
            let message = self.shared.deny(Denied {
                message: format!(
                    "plugin {} asked for secret {id:?}, which the step does not grant: add \
                     allow: {{ secrets: [{id}] }}",
                    self.shared.plugin
                ),
                grant: vec!["secrets".into()],
            });
            return Ok(Err(PluginError::AccessDenied(message)));
        }
        let Some((_, value)) = self.shared.secrets.iter().find(|(k, _)| *k == id) else {
            return Ok(Err(PluginError::NotFound(format!(
                "the run has no secret {id:?} (declare it in the task's secrets: block, or pass --secret {id}=...)"
            ))));
        };
        let handle = self.table.push(SecretHandle {
            id,
            value: value.clone(),
        })?;
        Ok(Ok(handle))
    }
}

/// Resolves `path` against the build context, canonically (symlinks followed).
fn resolve(context: Option<&Path>, path: &str) -> std::io::Result<PathBuf> {
    let p = Path::new(path);
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        match context {
            Some(c) => c.join(p),
            None => std::env::current_dir()?.join(p),
        }
    };
    joined.canonicalize()
}

fn read_prefix(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    let mut out = Vec::new();
    file.take(max).read_to_end(&mut out)?;
    Ok(out)
}

impl files::Host for CallState {
    async fn read_file(
        &mut self,
        path: String,
        max_bytes: u64,
    ) -> wasmtime::Result<Result<Vec<u8>, PluginError>> {
        let shared = self.shared.clone();
        let context = shared.context_dir.as_deref();
        let denied = |shared: &CallShared| {
            PluginError::AccessDenied(shared.deny(Denied {
                message: format!(
                    "plugin {} tried to read {path:?}, which the step does not grant: add \
                     allow: {{ read: [{path}] }} (or a directory above it)",
                    shared.plugin
                ),
                grant: vec!["read".into()],
            }))
        };
        let granted: Vec<PathBuf> = shared
            .grants
            .read
            .iter()
            .filter_map(|g| resolve(context, g).ok())
            .collect();
        let Ok(target) = resolve(context, &path) else {
            // Do not tell an ungranted plugin whether a file exists.
            let lexical_ok = granted.iter().any(|g| {
                Path::new(&path).is_relative()
                    && context.is_some_and(|c| c.join(&path).starts_with(g))
            });
            return Ok(Err(if lexical_ok {
                PluginError::NotFound(format!("{path}: no such file"))
            } else {
                denied(&shared)
            }));
        };
        if !granted.iter().any(|g| target.starts_with(g)) {
            return Ok(Err(denied(&shared)));
        }
        let max = max_bytes.min(shared.limits.read_bytes);
        Ok(
            match tokio::task::spawn_blocking(move || read_prefix(&target, max)).await {
                Ok(Ok(bytes)) => Ok(bytes),
                Ok(Err(e)) => Err(PluginError::Other(format!("{path}: {e}"))),
                Err(e) => Err(PluginError::Other(format!("{path}: {e}"))),
            },
        )
    }
}

impl versions::Host for CallState {
    async fn cargo_package_version(
        &mut self,
        manifest: String,
        package: Option<String>,
    ) -> wasmtime::Result<Result<String, PluginError>> {
        let shared = self.shared.clone();
        let Some(context) = shared.context_dir.clone() else {
            return Ok(Err(PluginError::Other(
                "this run has no build context to read Cargo.toml from".into(),
            )));
        };
        let Ok(base) = context.canonicalize() else {
            return Ok(Err(PluginError::Other(format!(
                "the build context {} does not exist",
                context.display()
            ))));
        };
        let path = match resolve(Some(&base), &manifest) {
            Ok(p) if p.starts_with(&base) => p,
            Ok(_) => {
                return Ok(Err(PluginError::AccessDenied(format!(
                    "{manifest} is outside the build context; the host reads Cargo manifests \
                     only inside it"
                ))));
            }
            Err(_) => {
                return Ok(Err(PluginError::NotFound(format!(
                    "{manifest}: no such file in the build context"
                ))));
            }
        };
        let result =
            tokio::task::spawn_blocking(move || cargo_version(&path, package.as_deref())).await;
        Ok(match result {
            Ok(r) => r,
            Err(e) => Err(PluginError::Other(e.to_string())),
        })
    }
}

/// The version of the package `package` (or the manifest's own package) at `path`.
fn cargo_version(path: &Path, package: Option<&str>) -> Result<String, PluginError> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(path)
        .no_deps()
        .exec()
        .map_err(|e| {
            PluginError::Other(format!(
                "cargo metadata failed for {}: {e} (is cargo installed?)",
                path.display()
            ))
        })?;
    let packages = &metadata.packages;
    let chosen = match package {
        Some(name) => packages
            .iter()
            .find(|p| p.name.as_str() == name)
            .ok_or_else(|| {
                PluginError::NotFound(format!(
                    "{} has no package {name:?}; it has {}",
                    path.display(),
                    packages
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?,
        None => match packages
            .iter()
            .find(|p| p.manifest_path.as_std_path() == path)
        {
            Some(p) => p,
            None if packages.len() == 1 => &packages[0],
            None => {
                return Err(PluginError::InvalidConfig(format!(
                    "{} is a workspace of {} packages: name one with `with: package` ({})",
                    path.display(),
                    packages.len(),
                    packages
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        },
    };
    Ok(chosen.version.to_string())
}

fn image_error(e: ImageError) -> PluginError {
    match e {
        ImageError::NotFound(m) => PluginError::NotFound(m),
        other => PluginError::Other(other.to_string()),
    }
}

fn no_image() -> PluginError {
    PluginError::Other("this step gives the plugin no image to read".into())
}

impl image::Host for CallState {
    async fn config(&mut self) -> wasmtime::Result<Result<String, PluginError>> {
        let Some(access) = self.shared.image.clone() else {
            return Ok(Err(no_image()));
        };
        Ok(access.config().await.map_err(image_error))
    }

    async fn list_files(&mut self) -> wasmtime::Result<Result<Vec<image::FileEntry>, PluginError>> {
        let Some(access) = self.shared.image.clone() else {
            return Ok(Err(no_image()));
        };
        Ok(access
            .list_files()
            .await
            .map(|entries| {
                entries
                    .into_iter()
                    .map(|e| image::FileEntry {
                        path: e.path,
                        kind: match e.kind {
                            FileKind::File => image::FileKind::File,
                            FileKind::Directory => image::FileKind::Directory,
                            FileKind::Symlink => image::FileKind::Symlink,
                            FileKind::Hardlink => image::FileKind::Hardlink,
                            FileKind::Other => image::FileKind::Other,
                        },
                        mode: e.mode,
                        uid: e.uid,
                        gid: e.gid,
                        size: e.size,
                        link_target: e.link_target,
                    })
                    .collect()
            })
            .map_err(image_error))
    }

    async fn read_file(
        &mut self,
        path: String,
        max_bytes: u64,
    ) -> wasmtime::Result<Result<Vec<u8>, PluginError>> {
        let Some(access) = self.shared.image.clone() else {
            return Ok(Err(no_image()));
        };
        let max = max_bytes.min(self.shared.limits.read_bytes);
        Ok(access.read_file(&path, max).await.map_err(image_error))
    }
}

/// Whether `name` is a plain report file name.
fn valid_report_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

impl reports::Host for CallState {
    async fn write_report(
        &mut self,
        name: String,
        contents: Vec<u8>,
    ) -> wasmtime::Result<Result<String, PluginError>> {
        if !valid_report_name(&name) {
            return Ok(Err(PluginError::InvalidConfig(format!(
                "report name {name:?} must be a plain file name (letters, digits, '.', '-', '_')"
            ))));
        }
        let Some(writer) = self.shared.reports.clone() else {
            return Ok(Err(PluginError::Other(
                "this step has no workspace to write reports into".into(),
            )));
        };
        Ok(writer
            .write(&name, &contents)
            .await
            .map_err(PluginError::Other))
    }
}

#[cfg(test)]
mod tests {
    use super::valid_report_name;

    #[test]
    fn report_names_cannot_leave_the_report_directory() {
        assert!(valid_report_name("scan.sarif"));
        assert!(valid_report_name("sbom.cdx.json"));
        assert!(!valid_report_name("../etc/passwd"));
        assert!(!valid_report_name("a/b"));
        assert!(!valid_report_name(".hidden"));
        assert!(!valid_report_name(""));
    }
}
