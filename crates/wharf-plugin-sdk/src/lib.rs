//! Write wharf plugin steps in Rust.
//!
//! A plugin is a WebAssembly component built for `wasm32-wasip2` against one world
//! of the `wharf:plugin@0.1.0` contract (`wit/` in the repository). Enable exactly
//! one of this crate's features — `tagger`, `scanner` or `notifier` — and implement
//! that world's `Guest` trait:
//!
//! ```ignore
//! use wharf_plugin_sdk::tagger::{Guest, ImageRef, PluginError, TagResult};
//!
//! struct MyTagger;
//!
//! impl Guest for MyTagger {
//!     fn tag(image: ImageRef) -> Result<TagResult, PluginError> {
//!         let version = wharf_plugin_sdk::tagger::config::require("version")?;
//!         Ok(TagResult { tags: vec![version, "latest".into()], outputs: vec![] })
//!     }
//! }
//!
//! wharf_plugin_sdk::export_tagger!(MyTagger);
//! ```
//!
//! Each world module re-exports its generated bindings (the contract's records and
//! host imports) and adds the same helpers: `log::{info, warn, ...}`, `config::{get,
//! require, json, list, flag}`, `outputs::{text, items}`. `println!`/`eprintln!` go to
//! the step's log as well. World-independent parsing lives in [`values`], so plugins
//! can test their logic natively with `cargo test`.
//!
//! Host imports only work inside the host: called in a native test they panic.

pub mod values;

/// The helpers every world module gets, written against that module's bindings.
macro_rules! world_helpers {
    () => {
        pub use self::wharf::plugin::types::*;

        /// Levelled log lines to the step's log.
        pub mod log {
            use super::wharf::plugin::log::{Level, log};

            /// Logs at `trace`.
            pub fn trace(message: &str) {
                log(Level::Trace, message)
            }
            /// Logs at `debug`.
            pub fn debug(message: &str) {
                log(Level::Debug, message)
            }
            /// Logs at `info`.
            pub fn info(message: &str) {
                log(Level::Info, message)
            }
            /// Logs at `warn`.
            pub fn warn(message: &str) {
                log(Level::Warn, message)
            }
            /// Logs at `error`.
            pub fn error(message: &str) {
                log(Level::Error, message)
            }
        }

        /// The step's `with:` values and the run's info.
        pub mod config {
            use super::PluginError;
            pub use super::wharf::plugin::config::{get, get_all, run};

            /// The value of `with: <key>`, or an `invalid-config` error naming the key.
            pub fn require(key: &str) -> Result<String, PluginError> {
                get(key)
                    .ok_or_else(|| PluginError::InvalidConfig(format!("`with: {key}` is required")))
            }

            /// `with: <key>` decoded from JSON (numbers, booleans, lists, maps; a plain
            /// string is taken as a JSON string).
            pub fn json<T: serde::de::DeserializeOwned>(
                key: &str,
            ) -> Result<Option<T>, PluginError> {
                match get(key) {
                    None => Ok(None),
                    Some(text) => crate::values::decode(&text)
                        .map(Some)
                        .map_err(|e| PluginError::InvalidConfig(format!("`with: {key}`: {e}"))),
                }
            }

            /// `with: <key>` as a list of strings: a YAML list, or one string split at
            /// commas and newlines. Empty when the key is not set.
            pub fn list(key: &str) -> Vec<String> {
                get(key)
                    .map(|text| crate::values::list(&text))
                    .unwrap_or_default()
            }

            /// `with: <key>` as a boolean (`true`/`false`, also `yes`/`no`, `1`/`0`);
            /// `default` when not set.
            pub fn flag(key: &str, default: bool) -> Result<bool, PluginError> {
                match get(key) {
                    None => Ok(default),
                    Some(text) => crate::values::flag(&text).ok_or_else(|| {
                        PluginError::InvalidConfig(format!(
                            "`with: {key}` must be true or false, not {text:?}"
                        ))
                    }),
                }
            }
        }

        /// Secrets the step granted, as opaque handles.
        pub mod secrets {
            pub use super::wharf::plugin::secrets::{Secret, get};
        }

        /// Files under the paths `allow: read:` grants.
        pub mod files {
            pub use super::wharf::plugin::files::read_file;
        }

        /// Building step outputs.
        pub mod outputs {
            use super::{Output, OutputValue};

            /// An output holding one string.
            pub fn text(name: &str, value: impl Into<String>) -> Output {
                Output {
                    name: name.to_string(),
                    value: OutputValue::Text(value.into()),
                }
            }

            /// An output holding a list of strings.
            pub fn items(name: &str, values: impl IntoIterator<Item = String>) -> Output {
                Output {
                    name: name.to_string(),
                    value: OutputValue::Items(values.into_iter().collect()),
                }
            }
        }
    };
}

#[cfg(all(
    target_arch = "wasm32",
    any(
        all(feature = "tagger", feature = "scanner"),
        all(feature = "tagger", feature = "notifier"),
        all(feature = "scanner", feature = "notifier")
    )
))]
compile_error!(
    "a plugin is built against one world: enable exactly one of wharf-plugin-sdk's features \
     tagger, scanner, notifier (build each plugin with its own `cargo build -p`)"
);

/// The `tagger` world: decide an image's tags. Implement [`tagger::Guest`] and call
/// [`export_tagger!`].
#[cfg(feature = "tagger")]
#[allow(clippy::too_many_arguments)] // generated bindings
pub mod tagger {
    wit_bindgen::generate!({
        world: "tagger",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_tagger",
        default_bindings_module: "wharf_plugin_sdk::tagger",
    });
    world_helpers!();

    /// Version sources the host reads.
    pub mod versions {
        pub use super::wharf::plugin::versions::cargo_package_version;
    }
}

#[cfg(feature = "tagger")]
pub use tagger::export_tagger;

/// The `scanner` world: inspect an image. Implement [`scanner::Guest`] and call
/// [`export_scanner!`].
#[cfg(feature = "scanner")]
#[allow(clippy::too_many_arguments)] // generated bindings
pub mod scanner {
    wit_bindgen::generate!({
        world: "scanner",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_scanner",
        default_bindings_module: "wharf_plugin_sdk::scanner",
    });
    world_helpers!();

    /// The image being scanned.
    pub mod image {
        pub use super::wharf::plugin::image::{FileEntry, FileKind, config, list_files, read_file};
    }

    /// Reports written into the run's workspace.
    pub mod reports {
        pub use super::wharf::plugin::reports::write_report;
    }
}

#[cfg(feature = "scanner")]
pub use scanner::export_scanner;

/// The `notifier` world: tell something outside about a run. Implement
/// [`notifier::Guest`] and call [`export_notifier!`]; send requests with
/// [`notifier::http`].
#[cfg(feature = "notifier")]
#[allow(clippy::too_many_arguments)] // generated bindings
pub mod notifier {
    wit_bindgen::generate!({
        world: "notifier",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_notifier",
        default_bindings_module: "wharf_plugin_sdk::notifier",
        generate_all,
    });
    world_helpers!();

    pub mod http;
}

#[cfg(feature = "notifier")]
pub use notifier::export_notifier;
