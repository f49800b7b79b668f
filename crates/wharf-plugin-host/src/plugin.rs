//! A loaded plugin: its compiled, pre-instantiated component, its world and what
//! its imports ask for.

use std::sync::Arc;

use crate::bindings::{notifier, scanner, tagger};
use crate::cache::Compiled;
use crate::error::Denied;
use crate::grants::{Capability, Grants, check};
use crate::state::CallState;

/// Which world of the contract a plugin implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum World {
    /// Exports `tag`.
    Tagger,
    /// Exports `scan`.
    Scanner,
    /// Exports `notify`.
    Notifier,
}

impl World {
    /// `tagger`, `scanner`, `notifier`.
    pub fn as_str(self) -> &'static str {
        match self {
            World::Tagger => "tagger",
            World::Scanner => "scanner",
            World::Notifier => "notifier",
        }
    }
}

impl std::fmt::Display for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(crate) enum Pre {
    Tagger(tagger::TaggerPre<CallState>),
    Scanner(scanner::ScannerPre<CallState>),
    Notifier(notifier::NotifierPre<CallState>),
}

pub(crate) struct PluginInner {
    pub(crate) digest: String,
    pub(crate) world: World,
    pub(crate) imports: Vec<String>,
    pub(crate) needs: Vec<(String, Capability)>,
    pub(crate) pre: Pre,
    pub(crate) size: usize,
}

/// A plugin ready to call: compiled, type-checked against its world, linked.
/// Cheap to clone.
#[derive(Clone)]
pub struct Plugin {
    pub(crate) inner: Arc<PluginInner>,
    pub(crate) name: String,
    pub(crate) compiled: Compiled,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("digest", &self.inner.digest)
            .field("world", &self.inner.world)
            .field("compiled", &self.compiled)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    pub(crate) fn renamed(&self, name: &str, compiled: Compiled) -> Plugin {
        Plugin {
            inner: self.inner.clone(),
            name: name.to_string(),
            compiled,
        }
    }

    /// The same plugin as a later load in this process gets it: its code already
    /// in memory ([`Compiled::InMemory`]).
    pub fn reused(&self) -> Plugin {
        self.renamed(&self.name, Compiled::InMemory)
    }

    /// The name it was loaded under (used in messages).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `sha256:<hex>` of the component's bytes.
    pub fn digest(&self) -> &str {
        &self.inner.digest
    }

    /// Its world.
    pub fn world(&self) -> World {
        self.inner.world
    }

    /// Every import of the component (`wharf:plugin/log@0.1.0`, `wasi:cli/stdout@0.2.6`...).
    pub fn imports(&self) -> &[String] {
        &self.inner.imports
    }

    /// The capabilities its imports ask for, with the import that asks.
    pub fn needs(&self) -> &[(String, Capability)] {
        &self.inner.needs
    }

    /// How its code was obtained by this load.
    pub fn compiled(&self) -> Compiled {
        self.compiled
    }

    /// The component's size in bytes.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// Whether `grants` cover what its imports ask for; if not, what to grant.
    pub fn check(&self, grants: &Grants) -> Result<(), Denied> {
        check(&self.name, &self.inner.needs, grants)
    }
}
