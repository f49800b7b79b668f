//! [`PluginHost`]: one per process — the wasmtime engine (pooling allocator, epoch
//! interruption), its epoch ticker, the linker with every interface the host can
//! provide, the on-disk code cache, and the plugins loaded so far.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::bindings::{notifier, scanner, tagger};
use crate::cache::{CodeCache, Compiled, digest};
use crate::error::LoadError;
use crate::grants::{ImportNeed, classify_import};
use crate::plugin::{Plugin, PluginInner, Pre, World};
use crate::state::CallState;

/// How to build a [`PluginHost`].
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Where precompiled code is kept; `None` compiles every plugin in every process.
    pub cache_dir: Option<PathBuf>,
    /// Plugin calls that may run at once (pooling allocator slots).
    pub max_concurrent: u32,
    /// The most linear memory any call may be given (the pool's slot size); each
    /// call's own cap is [`crate::Limits::memory_bytes`].
    pub max_memory_bytes: u64,
    /// How often the epoch advances: the resolution of timeouts.
    pub epoch_tick: Duration,
    /// Use the pooling allocator (falls back to on-demand allocation when the
    /// machine cannot reserve its address space).
    pub pooling: bool,
}

impl Default for HostConfig {
    fn default() -> HostConfig {
        HostConfig {
            cache_dir: default_cache_dir(),
            max_concurrent: 16,
            max_memory_bytes: 1 << 30,
            epoch_tick: Duration::from_millis(10),
            pooling: true,
        }
    }
}

/// The default cache directory: `$WHARF_PLUGIN_CACHE`, else
/// `$XDG_CACHE_HOME/wharf/plugins`, else `~/.cache/wharf/plugins`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("WHARF_PLUGIN_CACHE") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("wharf/plugins"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/wharf/plugins"))
}

/// Advances the engine's epoch every tick until dropped. Dropping it stops the
/// thread at once (the channel closes), instead of waiting out the tick's sleep:
/// a `wharf run` process with a plugin step ends without that wait.
struct EpochTicker {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine, tick: Duration) -> EpochTicker {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("wharf-plugin-epoch".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(tick)
                {
                    engine.increment_epoch();
                }
            })
            .ok();
        EpochTicker {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The plugin host. Cheap to share (`Arc`); calls may run concurrently.
pub struct PluginHost {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<CallState>,
    pub(crate) tick: Duration,
    cache: CodeCache,
    allocation: Allocation,
    loaded: Mutex<HashMap<String, Plugin>>,
    _ticker: EpochTicker,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("cache", &self.cache.dir())
            .field("allocation", &self.allocation)
            .finish_non_exhaustive()
    }
}

/// The host could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the plugin host: {0}")]
pub struct HostError(String);

impl PluginHost {
    /// Builds the engine (pooling allocator when possible), starts the epoch ticker
    /// and links every interface the host provides.
    pub fn new(config: HostConfig) -> Result<PluginHost, HostError> {
        let strategies: &[Allocation] = if config.pooling {
            &[
                Allocation::PoolingScan,
                Allocation::Pooling,
                Allocation::OnDemand,
            ]
        } else {
            &[Allocation::OnDemand]
        };
        let mut last = None;
        let mut chosen = None;
        for &strategy in strategies {
            match Engine::new(&engine_config(&config, strategy)) {
                Ok(engine) => {
                    chosen = Some((engine, strategy));
                    break;
                }
                Err(e) => {
                    if strategy == Allocation::Pooling {
                        tracing::warn!(error = %e, "pooling allocator unavailable; allocating on demand");
                    } else {
                        tracing::debug!(error = %e, ?strategy, "engine configuration unavailable");
                    }
                    last = Some(e);
                }
            }
        }
        let Some((engine, allocation)) = chosen else {
            return Err(HostError(last.map(|e| e.to_string()).unwrap_or_default()));
        };
        let linker = link(&engine).map_err(|e| HostError(format!("{e:#}")))?;
        let cache = CodeCache::new(config.cache_dir.as_deref(), &engine);
        let ticker = EpochTicker::start(engine.clone(), config.epoch_tick);
        Ok(PluginHost {
            engine,
            linker,
            tick: config.epoch_tick,
            cache,
            allocation,
            loaded: Mutex::new(HashMap::new()),
            _ticker: ticker,
        })
    }

    /// Whether the pooling allocator is in use.
    pub fn pooling(&self) -> bool {
        self.allocation != Allocation::OnDemand
    }

    /// How instance memory is allocated and reset between calls.
    pub fn allocation(&self) -> Allocation {
        self.allocation
    }

    /// The directory of this engine's precompiled code, if there is a cache.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache.dir()
    }

    /// Loads the component at `path` (named after the file).
    pub fn load_file(&self, path: &Path) -> Result<Plugin, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("plugin")
            .to_string();
        self.load(&name, &bytes)
    }

    /// Loads a component: from this process's memory, else the on-disk cache, else
    /// compiles it (and caches the result). Checks its imports and finds its world.
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<Plugin, LoadError> {
        let digest = digest(bytes);
        if let Some(plugin) = self
            .loaded
            .lock()
            .map_err(|_| LoadError::Invalid {
                name: name.into(),
                message: "the host's plugin table is poisoned".into(),
            })?
            .get(&digest)
        {
            return Ok(plugin.renamed(name, Compiled::InMemory));
        }
        let (component, compiled) =
            self.cache
                .load(&self.engine, &digest, bytes)
                .map_err(|e| LoadError::Invalid {
                    name: name.into(),
                    message: format!("{e:#}"),
                })?;
        let ty = component.component_type();
        let mut imports = Vec::new();
        let mut needs = Vec::new();
        for (import, _) in ty.imports(&self.engine) {
            imports.push(import.to_string());
            match classify_import(import) {
                ImportNeed::Provided => {}
                ImportNeed::Grant(cap) => needs.push((import.to_string(), cap)),
                ImportNeed::Refused(reason) => {
                    return Err(LoadError::Unsupported {
                        name: name.into(),
                        reason,
                    });
                }
            }
        }
        let exports: Vec<String> = ty
            .exports(&self.engine)
            .map(|(n, _)| n.to_string())
            .collect();
        let world = if exports.iter().any(|e| e == "tag") {
            World::Tagger
        } else if exports.iter().any(|e| e == "scan") {
            World::Scanner
        } else if exports.iter().any(|e| e == "notify") {
            World::Notifier
        } else {
            return Err(LoadError::NotAPlugin {
                name: name.into(),
                detail: if exports.is_empty() {
                    "it exports nothing".into()
                } else {
                    format!("it exports {}", exports.join(", "))
                },
            });
        };
        let not_plugin = |e: wasmtime::Error| LoadError::NotAPlugin {
            name: name.into(),
            detail: format!("as a {}: {e:#}", world.as_str()),
        };
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(not_plugin)?;
        let pre = match world {
            World::Tagger => Pre::Tagger(tagger::TaggerPre::new(instance_pre).map_err(not_plugin)?),
            World::Scanner => {
                Pre::Scanner(scanner::ScannerPre::new(instance_pre).map_err(not_plugin)?)
            }
            World::Notifier => {
                Pre::Notifier(notifier::NotifierPre::new(instance_pre).map_err(not_plugin)?)
            }
        };
        let plugin = Plugin {
            inner: Arc::new(PluginInner {
                digest: digest.clone(),
                world,
                imports,
                needs,
                pre,
                size: bytes.len(),
            }),
            name: name.to_string(),
            compiled,
        };
        if let Ok(mut loaded) = self.loaded.lock() {
            loaded.insert(digest, plugin.clone());
        }
        Ok(plugin)
    }
}

/// How the engine allocates instances, best first; [`PluginHost::new`] takes the
/// first this machine supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allocation {
    /// The pooling allocator, and a slot's memory reset between calls by finding
    /// its dirtied pages with the `PAGEMAP_SCAN` ioctl (Linux 6.7+) and restoring
    /// only those, up to [`KEEP_RESIDENT`] bytes, instead of `madvise`-ing the whole
    /// slot away and faulting it back in on the next call. Every page a call wrote
    /// is still reset to its initial contents: nothing leaks between calls.
    PoolingScan,
    /// The pooling allocator, slots reset with `madvise`.
    Pooling,
    /// Instances allocated on demand (no address space to reserve for a pool).
    OnDemand,
}

impl Allocation {
    /// For reports.
    pub fn describe(self) -> &'static str {
        match self {
            Allocation::PoolingScan => "pooling allocator, slots reset by PAGEMAP_SCAN",
            Allocation::Pooling => "pooling allocator, slots reset by madvise",
            Allocation::OnDemand => "on-demand allocation",
        }
    }
}

/// Per slot, the linear memory (and a sixteenth of it for tables and async
/// stacks) kept resident and reset page by page under [`Allocation::PoolingScan`].
/// Without the scan, keeping memory resident means resetting all of it with
/// `memset`, which measured slower than `madvise` here, so it is only used with it.
pub const KEEP_RESIDENT: usize = 4 << 20;

fn engine_config(config: &HostConfig, allocation: Allocation) -> Config {
    let mut c = Config::new();
    c.wasm_component_model(true);
    c.epoch_interruption(true);
    if allocation != Allocation::OnDemand {
        let n = config.max_concurrent.max(1);
        let mut p = PoolingAllocationConfig::new();
        p.total_component_instances(n);
        p.total_core_instances(n * 16);
        p.total_memories(n * 4);
        p.total_tables(n * 8);
        p.total_stacks(n);
        p.max_memory_size(usize::try_from(config.max_memory_bytes).unwrap_or(usize::MAX));
        p.max_core_instances_per_component(64);
        p.max_memories_per_component(8);
        p.max_tables_per_component(16);
        if allocation == Allocation::PoolingScan {
            // `Yes`: the engine fails to build where the kernel lacks the ioctl,
            // and the host falls back to plain pooling.
            p.pagemap_scan(wasmtime::Enabled::Yes);
            p.linear_memory_keep_resident(KEEP_RESIDENT);
            p.table_keep_resident(KEEP_RESIDENT / 16);
            p.async_stack_keep_resident(KEEP_RESIDENT / 16);
        }
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(p));
    }
    c
}

fn link(engine: &Engine) -> wasmtime::Result<Linker<CallState>> {
    use tagger::wharf::plugin as shared;
    let mut linker = Linker::<CallState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    shared::types::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)?;
    shared::log::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)?;
    shared::config::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)?;
    shared::secrets::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)?;
    shared::files::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)?;
    shared::versions::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)?;
    scanner::wharf::plugin::image::add_to_linker::<CallState, HasSelf<CallState>>(
        &mut linker,
        |s| s,
    )?;
    scanner::wharf::plugin::reports::add_to_linker::<CallState, HasSelf<CallState>>(
        &mut linker,
        |s| s,
    )?;
    Ok(linker)
}
