//! `wharf registry ...`: one file per subcommand.

pub mod serve;
