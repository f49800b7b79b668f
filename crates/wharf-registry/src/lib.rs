//! Registries for wharf:
//!
//! - [`reference`](mod@reference): image references with Docker's normalization rules;
//! - [`digest`]: content digests, and hashing that checks content against them;
//! - [`manifest`]: manifests, indexes, descriptors and media types;
//! - [`acr_listing`]: ACR's `/acr/v1/` listings (push times, locks, all manifests);
//! - [`client`]: the distribution API client (push, pull, list, delete, sign in);
//! - [`layers`]: gzip for layers pushed from an engine, and the diff id cache;
//! - [`layout`]: OCI image layout directories (`oci:PATH:TAG`);
//! - [`copy`](mod@copy): copies between registries and layouts;
//! - [`purge`]: `acr purge` semantics (filters, `--ago`, keep, cascade, protection);
//! - [`referrers`]: OCI referrers (the API and the tag-schema fallback);
//! - [`credentials`]: what `docker login` stored (config.json and credential helpers);
//! - [`server`]: the local OCI registry wharf provides itself when no `--registry` is
//!   given, so a run works on a machine with only Rust and Docker.

pub mod acr_listing;
pub mod client;
pub mod copy;
pub mod credentials;
pub mod digest;
pub mod layers;
pub mod layout;
pub mod manifest;
pub mod purge;
pub mod reference;
pub mod referrers;
pub mod server;

pub use client::{Client, ClientOptions, Repository};
pub use credentials::{Credential, CredentialError, Keychain, lookup, lookup_in};
pub use digest::{Digest, DigestError};
pub use reference::{ImageRef, ReferenceError, registry_host};
pub use server::{LocalRegistry, RegistryError, RegistryStats, default_root};

/// wharf's data directory: `$XDG_DATA_HOME/wharf`, else `~/.local/share/wharf` (else,
/// with no home directory, under the system temporary directory).
pub fn data_dir() -> std::path::PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|home| std::path::PathBuf::from(home).join(".local/share"))
        })
        .unwrap_or_else(std::env::temp_dir)
        .join("wharf")
}
