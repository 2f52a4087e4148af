//! What geobatch prints, written so that a closed terminal or pipe never ends the job.
//!
//! Rust's `print!` and `eprint!` panic when the write fails: `geobatch run ... | head -1` would
//! end the run after the first line with exit 101, its run folder still marked `running`. Every
//! line geobatch prints goes through [`outln!`](crate::outln) / [`out!`](crate::out) (stdout) or
//! [`errln!`](crate::errln) (stderr) instead, which drop what cannot be written, as a Unix tool's
//! output is dropped when its reader has gone: the job goes on (a run trains, records and ends
//! with its status), and commands whose only product is their output end as they would have.
//! [`stdout_closed`] says whether output was dropped. A test
//! (`crates/cli/tests/closed_pipe.rs`) holds every source file to this.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a write to stdout failed.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `args` to stdout; output that cannot be written (a closed pipe) is dropped.
pub fn write_out(args: fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if out.write_fmt(args).is_err() {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Writes `args` to stderr; output that cannot be written is dropped.
pub fn write_err(args: fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// Whether some output to stdout was dropped because it could not be written.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Prints to stdout as `print!` does, dropping what cannot be written ([`write_out`]).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::console::write_out(::std::format_args!($($arg)*))
    };
}

/// Prints a line to stdout as `println!` does, dropping what cannot be written ([`write_out`]).
#[macro_export]
macro_rules! outln {
    () => {
        $crate::console::write_out(::std::format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::console::write_out(::std::format_args!("{}\n", ::std::format_args!($($arg)*)))
    };
}

/// Prints a line to stderr as `eprintln!` does, dropping what cannot be written ([`write_err`]).
#[macro_export]
macro_rules! errln {
    () => {
        $crate::console::write_err(::std::format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::console::write_err(::std::format_args!("{}\n", ::std::format_args!($($arg)*)))
    };
}
