//! Stop signals: the first Ctrl-C (SIGINT), SIGTERM or SIGUSR1 sets a flag a job checks after
//! each step; a second one ends the process at once.

use crate::exit::Exit;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// Set by the first SIGTERM and by SIGUSR1, to tell them from Ctrl-C afterwards.
static SIGNALS: OnceLock<(Arc<AtomicBool>, Arc<AtomicBool>)> = OnceLock::new();

/// The signal that set a stop flag: `SIGTERM`, `SIGUSR1` or `Ctrl-C`.
pub fn stopped_by() -> &'static str {
    match SIGNALS.get() {
        Some((term, _)) if term.load(Ordering::SeqCst) => "SIGTERM",
        Some((_, usr1)) if usr1.load(Ordering::SeqCst) => "SIGUSR1",
        _ => "Ctrl-C",
    }
}

/// A job that a stop signal ended before it had made anything to keep (`advise`): exit 143 after
/// SIGTERM (as a process it ends), 130 after Ctrl-C or SIGUSR1.
#[derive(Debug)]
pub struct Stopped {
    /// What was stopped, for the message.
    pub what: &'static str,
    /// The signal ([`stopped_by`]).
    pub by: &'static str,
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} stopped by {}: no advice is written",
            self.what, self.by
        )
    }
}

impl std::error::Error for Stopped {}

/// A stop flag set by the first Ctrl-C, which prints `message`; a second one kills the
/// process as usual.
pub fn stop_on_ctrl_c(message: &'static str) -> Arc<AtomicBool> {
    // the process's one stop request: long library work (reading data, building graphs) checks
    // it too and ends early (geobatch_core::stop)
    let stop = geobatch_core::stop::flag();
    let flag = Arc::clone(&stop);
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(Exit::Interrupted.code().into());
        }
        geobatch_core::errln!("{message}");
    });
    // SLURM's warning before a time limit (SIGUSR1) and scancel / a shutdown (SIGTERM) stop the
    // same way; a second SIGTERM ends the process at once
    use signal_hook::consts::{SIGTERM, SIGUSR1};
    let _ = signal_hook::flag::register_conditional_shutdown(
        SIGTERM,
        Exit::Killed.code().into(),
        Arc::clone(&stop),
    );
    let _ = signal_hook::flag::register(SIGTERM, Arc::clone(&stop));
    let _ = signal_hook::flag::register(SIGUSR1, Arc::clone(&stop));
    let (term, usr1) = SIGNALS.get_or_init(Default::default);
    let _ = signal_hook::flag::register(SIGTERM, Arc::clone(term));
    let _ = signal_hook::flag::register(SIGUSR1, Arc::clone(usr1));
    stop
}

/// Exit code 0, or 130 ([`Exit::Interrupted`]) when `interrupted`.
pub fn finished(interrupted: bool) -> ExitCode {
    Exit::finished(interrupted).into()
}

/// What the first Ctrl-C of a run says.
pub const STOPPING: &str = "stopping after this step (Ctrl-C again to kill)";
