//! The `acb.yaml` task language of ACR Tasks, as Azure/acr-builder implements it.
//!
//! [`load`] turns the text of a task file into a resolved [`Task`]: comment lines
//! dropped, aliases substituted, Go templates rendered, YAML decoded, defaults
//! applied, every validation rule checked and the step graph built. Every problem
//! is a [`Diagnostic`] placed at the file, line and column the user wrote.
//!
//! This crate does no I/O beyond reading the files it is given through [`Files`]:
//! no Docker, no network, no async runtime.
//!
//! ```
//! use wharf_spec::{load, masked_secrets, LoadOptions, LocalFiles};
//! let text = "version: v1.1.0\nsteps:\n  - build: -t $Registry/app:$ID .\n";
//! let mut options = LoadOptions::default();
//! options.run.registry = "example.azurecr.io".into();
//! options.run.id = "cb1".into();
//! let files = LocalFiles { base: ".".into() };
//! let loaded = load("acb.yaml", text, &options, &files, &mut masked_secrets).expect("valid");
//! let step = &loaded.task.steps[0];
//! assert_eq!(step.id, "acb_step_0");
//! assert!(matches!(&step.action, wharf_spec::Action::Build { tags, .. } if tags == &["example.azurecr.io/app:cb1"]));
//! ```

pub mod alias;
pub mod build_command;
pub mod compat;
pub mod decode;
pub mod diagnostic;
mod helm_command;
pub mod kinds;
mod load;
pub mod outputs;
pub mod preprocess;
pub mod properties;
pub mod resolve;
pub mod schema;
pub mod shell_words;
pub mod source;
pub mod source_map;
pub mod task;
pub mod values;
pub mod yaml;

pub use build_command::BuildCommand;
pub use diagnostic::{Diagnostic, Diagnostics, Location, Severity};
pub use kinds::StepKind;
pub use load::{
    Files, LoadFailure, LoadOptions, Loaded, LocalFiles, SECRET_MASK, SecretFailure,
    SecretResolver, load, load_task, masked_secrets, system_host_lookup,
};
pub use outputs::{OutputValue, Outputs};
pub use resolve::TaskDefaults;
pub use source::{FileId, LineCol, SourceFile, SourceFiles, Span};
pub use task::{
    Action, Cache, Container, Grants, HelmCall, KeySource, Network, Notify, NotifyOn, PluginCall,
    PluginSource, Secret, SignCall, Step, Task, Volume, VolumeMount,
};
pub use values::RunInfo;
pub use wharf_template::HostLookup;
