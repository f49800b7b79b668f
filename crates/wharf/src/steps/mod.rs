//! Executors of the step kinds that run in the wharf process itself rather than in
//! a container: each is routed by kind through `wharf_engine::Dispatch` in
//! `commands/run.rs`.

pub mod helm;
