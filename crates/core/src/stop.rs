//! A process-wide stop request: set by the first stop signal (the CLI registers
//! [`flag`] as its stop flag), checked by library work that can take long before a job's first
//! step (reading data, building graphs), which then ends with [`Error::Stopped`] instead of
//! running to its end. Nothing in the library sets it.

use crate::error::{Error, Result};
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
pub fn check(what: &str) -> Result<()> {
    if requested() {
        Err(Error::Stopped(what.to_string()))
    } else {
        Ok(())
    }
}
