//! Progress of long library work (reading data, building graphs) on stderr, for programs that
//! ask for it ([`enable`]; the CLI does, the Python package does not): a line every few seconds
//! once the work has taken a few seconds, so that a long load says what it is doing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static ON: AtomicBool = AtomicBool::new(false);

/// How long work runs before its first line, and between lines.
const EVERY: Duration = Duration::from_secs(2);

/// Turns progress lines on for this process.
pub fn enable() {
    ON.store(true, Ordering::SeqCst);
}

/// The progress of one piece of work.
#[derive(Debug)]
pub struct Progress {
    what: &'static str,
    total: Option<usize>,
    started: Instant,
    last: Instant,
    printed: bool,
}

impl Progress {
    /// Work named `what` (`building graph edges`) of `total` items when known.
    pub fn new(what: &'static str, total: Option<usize>) -> Progress {
        let now = Instant::now();
        Progress {
            what,
            total,
            started: now,
            last: now,
            printed: false,
        }
    }

    /// `done` items are done: a line when progress is on and it is time for one.
    pub fn at(&mut self, done: usize) {
        if !ON.load(Ordering::Relaxed) || self.last.elapsed() < EVERY {
            return;
        }
        self.last = Instant::now();
        self.printed = true;
        let secs = self.started.elapsed().as_secs_f64();
        match self.total {
            Some(t) if t > 0 => crate::errln!(
                "{}: {done} of {t} ({:.0}%), {secs:.0} s",
                self.what,
                100.0 * done as f64 / t as f64
            ),
            _ => crate::errln!("{}: {done}, {secs:.0} s", self.what),
        }
    }

    /// The work is done: a last line when any was printed.
    pub fn done(&self, done: usize) {
        if self.printed {
            crate::errln!(
                "{}: {done} done in {:.1} s",
                self.what,
                self.started.elapsed().as_secs_f64()
            );
        }
    }
}
