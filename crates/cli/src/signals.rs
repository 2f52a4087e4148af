//! Stop signals: the first Ctrl-C (SIGINT), SIGTERM or SIGUSR1 sets a flag a job checks after
//! each step; a second one ends the process at once.

use crate::exit::Exit;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A stop flag set by the first Ctrl-C, which prints `message`; a second one kills the
/// process as usual.
pub fn stop_on_ctrl_c(message: &'static str) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(Exit::Interrupted.code().into());
        }
        eprintln!("{message}");
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
    stop
}

/// Exit code 0, or 130 ([`Exit::Interrupted`]) when `interrupted`.
pub fn finished(interrupted: bool) -> ExitCode {
    Exit::finished(interrupted).into()
}

/// What the first Ctrl-C of a run says.
pub const STOPPING: &str = "stopping after this step (Ctrl-C again to kill)";
