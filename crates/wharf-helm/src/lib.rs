//! Helm charts as helm v3.19 and v4 handle them: load a chart directory and
//! validate it ([`load_dir`]), package it to `NAME-VERSION.tgz` the way `helm
//! package` lays the archive out ([`package`]), and compute what `helm push`
//! sends to an OCI registry ([`oci`]).
//!
//! No Docker and no async runtime of its own. The only I/O is reading the chart
//! directory and writing the archive, and in [`registry`] pushing and pulling
//! charts through wharf's registry client.
//!
//! ```no_run
//! use std::path::Path;
//! use wharf_helm::{PackageOptions, package, source_date_epoch};
//!
//! let options = PackageOptions {
//!     version: Some("1.2.3".into()),
//!     app_version: Some("abc123".into()),
//!     destination: "dist".into(),
//!     source_date_epoch: source_date_epoch(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref())?,
//! };
//! let packaged = package(Path::new("charts/web"), &options)?;
//! println!("{} {}", packaged.path.display(), packaged.digest);
//! # Ok::<(), wharf_helm::ChartError>(())
//! ```
//!
//! The same chart, options and `SOURCE_DATE_EPOCH` always give the same bytes:
//! every entry has the same modification time ([`DEFAULT_MTIME`] or
//! `SOURCE_DATE_EPOCH`), entries come in helm's order, subcharts sorted by name.

mod archive;
mod decode;
mod error;
mod go_format;
pub mod ignore;
mod load;
mod metadata;
mod metadata_json;
pub mod oci;
mod package;
pub mod registry;
mod version;
mod yaml_emit;
mod yaml_resolve;

pub use archive::{GZIP_COMMENT, GZIP_EXTRA, MAX_MTIME, write_archive};
pub use error::{ChartError, Place, VersionError};
pub use ignore::IgnoreRules;
pub use load::{
    Chart, ChartFile, MAX_CHART_SIZE, MAX_FILE_SIZE, load_archive, load_archive_bytes, load_dir,
};
pub use metadata::{
    API_VERSION_V1, API_VERSION_V2, AnyValue, Dependency, Lock, Maintainer, Metadata,
};
pub use package::{
    DEFAULT_MTIME, PackageOptions, Packaged, package, package_chart, source_date_epoch,
};
pub use version::{ChartVersion, is_strict_version};
