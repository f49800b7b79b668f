//! Running acb.yaml tasks and quick builds on Azure Container Registry's own
//! task engine, as `az acr run` and `az acr build` do, through the ARM Tasks
//! API (`2025-03-01-preview`).
//!
//! - [`endpoint`]: the ARM endpoint (`https://management.azure.com`, or
//!   `WHARF_ARM_ENDPOINT`; plain http only for loopback). Tokens go only to
//!   its origin; SAS URLs (upload, log) carry their own authority and get none.
//! - [`client`]: ARM calls with a bearer token from [`client::TokenSource`]
//!   (wharf's Azure credential choice, [`wharf_secrets::AzureCredential`]):
//!   the registry's resource id from its login server, the upload URL,
//!   `scheduleRun` (200 with the `Run`, or the older 202 long-running form),
//!   runs, cancel, the log link. A POST without body says `Content-Length: 0`.
//! - [`pack`]: the context archive as the CLI packs it; [`upload`]: one PUT up
//!   to 64 MiB, blocks above.
//! - [`request`]: `EncodedTaskRunRequest`, `FileTaskRunRequest`,
//!   `DockerBuildRequest` from flags; [`model`]: the bodies.
//! - [`logs`]: following the log blob as the CLI does.
//!
//! Invariants: no token, SAS signature or `isSecret` value appears in an
//! error, a `Debug` output or a log event of this crate.

pub mod client;
pub mod endpoint;
pub mod error;
pub mod logs;
pub mod model;
pub mod pack;
pub mod request;
pub mod session;
pub mod upload;

pub use client::{ArmClient, StaticToken, TokenSource};
pub use endpoint::ArmEndpoint;
pub use error::{Error, Result};
pub use model::{Run, RunRequest, RunStatus};

/// `url` with its query (a SAS signature) replaced by `…`.
pub fn redact_sas(text: &str) -> String {
    // Any `?query` of a URL in the text is dropped.
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(q) = rest.find('?') {
        out.push_str(&rest[..q]);
        out.push_str("?…");
        let tail = &rest[q..];
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ')')
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn sas_queries_are_redacted() {
        assert_eq!(
            super::redact_sas("PUT https://a.blob.core.windows.net/c/b?sv=1&sig=SECRET failed"),
            "PUT https://a.blob.core.windows.net/c/b?… failed"
        );
        assert_eq!(super::redact_sas("no url"), "no url");
    }
}
