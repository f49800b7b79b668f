//! `println!`, `print!`, `eprintln!` and `eprint!` for the whole binary, in place
//! of std's: a closed pipe (`wharf registry purge ... | head`, `wharf completions
//! bash | head -1`, `wharf validate 2>&1 | head`) is not a panic. std's macros panic
//! when a write fails, and Rust ignores SIGPIPE, so every write to a reader that
//! went away is one. These are declared before every module of the crate, so their
//! textual scope shadows std's there: code keeps writing `println!` as usual.
//!
//! A write to stdout that fails for another reason (a full disk) is said once on
//! stderr; a write to stderr that fails has nowhere to be told.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether a failed write to stdout was reported already.
static STDOUT_FAILED: AtomicBool = AtomicBool::new(false);

/// `args`, and a newline if asked, to `to`.
fn write(mut to: impl Write, args: std::fmt::Arguments<'_>, newline: bool) -> std::io::Result<()> {
    to.write_fmt(args)?;
    if newline {
        to.write_all(b"\n")?;
    }
    Ok(())
}

/// Writes to stdout; a closed pipe is ignored, another failure said once.
pub fn out(args: std::fmt::Arguments<'_>, newline: bool) {
    if let Err(e) = write(std::io::stdout().lock(), args, newline)
        && e.kind() != std::io::ErrorKind::BrokenPipe
        && !STDOUT_FAILED.swap(true, Ordering::Relaxed)
    {
        err(format_args!("wharf: cannot write to stdout: {e}"), true);
    }
}

/// Writes to stderr; a failure is ignored.
pub fn err(args: std::fmt::Arguments<'_>, newline: bool) {
    let _ = write(std::io::stderr().lock(), args, newline);
}

macro_rules! println {
    () => { $crate::stdio::out(format_args!(""), true) };
    ($($arg:tt)*) => { $crate::stdio::out(format_args!($($arg)*), true) };
}

macro_rules! print {
    ($($arg:tt)*) => { $crate::stdio::out(format_args!($($arg)*), false) };
}

macro_rules! eprintln {
    () => { $crate::stdio::err(format_args!(""), true) };
    ($($arg:tt)*) => { $crate::stdio::err(format_args!($($arg)*), true) };
}

macro_rules! eprint {
    ($($arg:tt)*) => { $crate::stdio::err(format_args!($($arg)*), false) };
}
