//! Registries for wharf:
//!
//! - [`reference`](mod@reference): image references with Docker's normalization rules;
//! - [`credentials`]: what `docker login` stored (config.json and credential helpers);
//! - [`server`]: the local OCI registry wharf provides itself when no `--registry` is
//!   given, so a run works on a machine with only Rust and Docker.

pub mod credentials;
pub mod reference;
pub mod server;

pub use credentials::{Credential, CredentialError, lookup, lookup_in};
pub use reference::{ImageRef, ReferenceError, registry_host};
pub use server::{LocalRegistry, RegistryError, RegistryStats, default_root};
