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

/// A stop flag set by the first Ctrl-C (which prints `message`), SIGTERM or SIGUSR1; a second
/// Ctrl-C or SIGTERM ends the process at once (exit 130, 143), after removing what it must not
/// leave behind ([`geobatch_core::leftovers`]: a Python worker's process group, its folder and
/// batch segment). The signals are taken by a thread of their own, so that this is ordinary
/// code and not a signal handler's; the first call installs it, later calls share its flag.
pub fn stop_on_ctrl_c(message: &'static str) -> Arc<AtomicBool> {
    // the process's one stop request: long library work (reading data, building graphs) checks
    // it too and ends early (geobatch_core::stop)
    let stop = geobatch_core::stop::flag();
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGUSR1])
        else {
            return;
        };
        let (term, usr1) = SIGNALS.get_or_init(Default::default);
        let (stop, term, usr1) = (Arc::clone(&stop), Arc::clone(term), Arc::clone(usr1));
        let _ = std::thread::Builder::new()
            .name("geobatch-signals".into())
            .spawn(move || {
                for signal in signals.forever() {
                    // which signal it was is set before the stop, which a job may act on at once
                    match signal {
                        SIGTERM => term.store(true, Ordering::SeqCst),
                        SIGUSR1 => usr1.store(true, Ordering::SeqCst),
                        _ => {}
                    }
                    let again = stop.swap(true, Ordering::SeqCst);
                    if again && signal != SIGUSR1 {
                        geobatch_core::leftovers::clean_up();
                        let code = if signal == SIGTERM {
                            Exit::Killed
                        } else {
                            Exit::Interrupted
                        };
                        std::process::exit(code.code().into());
                    }
                    if signal == SIGINT {
                        geobatch_core::errln!("{message}");
                    }
                }
            });
    });
    stop
}

/// Exit code 0, or 130 ([`Exit::Interrupted`]) when `interrupted`.
pub fn finished(interrupted: bool) -> ExitCode {
    Exit::finished(interrupted).into()
}

/// What the first Ctrl-C of a run says.
pub const STOPPING: &str = "stopping after this step (Ctrl-C again to kill)";
