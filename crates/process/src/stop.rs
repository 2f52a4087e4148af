//! A process-wide stop request: set by the first stop signal (the CLI registers
//! [`flag`] as its stop flag), checked by library work that can take long before a job's first
//! step (reading data, building graphs), which then ends with [`Error::Stopped`] instead of
//! running to its end. Nothing in the library sets it.

use crate::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// The flag a stop signal sets (one per process).
pub fn flag() -> Arc<AtomicBool> {
    Arc::clone(FLAG.get_or_init(Default::default))
}

/// Whether a stop was requested.
pub fn requested() -> bool {
    FLAG.get().is_some_and(|f| f.load(Ordering::SeqCst))
}

/// [`Error::Stopped`] when a stop was requested.
///
/// # Errors
/// [`Error::Stopped`] naming `what` was under way.
pub fn check(what: &str) -> Result<(), Error> {
    if requested() {
        Err(Error::Stopped(what.to_string()))
    } else {
        Ok(())
    }
}

/// Set by SIGTERM and by SIGUSR1 before they set the stop flag, to tell them from Ctrl-C.
static SIGTERM_SEEN: AtomicBool = AtomicBool::new(false);
static SIGUSR1_SEEN: AtomicBool = AtomicBool::new(false);

/// The stop signals a job tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Ctrl-C (SIGINT).
    Interrupt,
    /// SIGTERM (`scancel`, a shutdown).
    Terminate,
    /// SIGUSR1 (SLURM's warning before a time limit).
    User1,
}

/// Notes that `signal` came (before the stop flag is set, so a job that acts on the flag at once
/// reads the right one); the signal handler's part.
pub fn note(signal: Signal) {
    match signal {
        Signal::Terminate => SIGTERM_SEEN.store(true, Ordering::SeqCst),
        Signal::User1 => SIGUSR1_SEEN.store(true, Ordering::SeqCst),
        Signal::Interrupt => {}
    }
}

/// The signal that set the stop flag, as a person names it: `SIGTERM` once one came, else
/// `SIGUSR1` once one came, else `Ctrl-C`.
pub fn stopped_by() -> &'static str {
    if SIGTERM_SEEN.load(Ordering::SeqCst) {
        "SIGTERM"
    } else if SIGUSR1_SEEN.load(Ordering::SeqCst) {
        "SIGUSR1"
    } else {
        "Ctrl-C"
    }
}
