//! Stop signals: the first Ctrl-C (SIGINT), SIGTERM or SIGUSR1 sets a flag a job checks after
//! each step; a second one ends the process at once.

use geobatch_process::stop::Signal;
use geobatch_runner::exit::Exit;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// A stop flag set by the first Ctrl-C (which prints `message`), SIGTERM or SIGUSR1; a second
/// Ctrl-C or SIGTERM ends the process at once (exit 130, 143), after removing what it must not
/// leave behind ([`geobatch_process::leftovers`]: a Python worker's process group, its folder and
/// batch segment). The signals are taken by a thread of their own, so that this is ordinary
/// code and not a signal handler's; the first call installs it, later calls share its flag.
pub fn stop_on_ctrl_c(message: &'static str) -> Arc<AtomicBool> {
    // the process's one stop request: long library work (reading data, building graphs) checks
    // it too and ends early (geobatch_process::stop)
    let stop = geobatch_process::stop::flag();
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGUSR1])
        else {
            return;
        };
        let stop = Arc::clone(&stop);
        let _ = std::thread::Builder::new()
            .name("geobatch-signals".into())
            .spawn(move || {
                for signal in signals.forever() {
                    // which signal it was is set before the stop, which a job may act on at once
                    geobatch_process::stop::note(match signal {
                        SIGTERM => Signal::Terminate,
                        SIGUSR1 => Signal::User1,
                        _ => Signal::Interrupt,
                    });
                    let again = stop.swap(true, Ordering::SeqCst);
                    if again && signal != SIGUSR1 {
                        geobatch_process::leftovers::clean_up();
                        let code = if signal == SIGTERM {
                            Exit::Killed
                        } else {
                            Exit::Interrupted
                        };
                        std::process::exit(code.code().into());
                    }
                    if signal == SIGINT {
                        geobatch_process::errln!("{message}");
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
