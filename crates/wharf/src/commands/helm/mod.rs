//! `wharf helm ...`: one file per subcommand.

pub mod package;
