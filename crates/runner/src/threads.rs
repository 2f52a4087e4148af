//! The kernel threads of a run: a rayon pool the training loop runs in, so the CPU kernels
//! (geobatch-nn's `parallel` module) split their work over `training.threads` threads. Any count
//! gives the same bits (DESIGN.md: threads); the run records the count it used.

use crate::error::RunError;

/// The cores this process may use (its affinity mask and cgroup quota), at least one.
pub fn available() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The thread count of a run: `threads` as configured, else every core this process may use.
pub fn resolve(threads: Option<usize>) -> usize {
    let cores = available();
    if let Some(t) = threads.filter(|&t| t > cores) {
        // more kernel threads than cores only take turns: slower, never faster
        geobatch_process::errln!(
            "warning: training.threads = {t} is more than the {cores} core(s) this process may \
             use; the kernels will take turns on them and run slower (leave the key out to use \
             every core)"
        );
    }
    threads.unwrap_or(cores).max(1)
}

/// Runs `f` with its parallel work on a pool of `threads` threads (`f` itself runs on one of
/// them, so its kernels start their tasks without a hand-over from another thread).
///
/// # Errors
/// When the operating system refuses to start the threads.
pub fn run_on<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> Result<R, RunError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("geobatch-kernel-{i}"))
        .build()
        .map_err(|e| RunError::Threads {
            threads,
            message: e.to_string(),
        })?;
    Ok(pool.install(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_on_the_asked_number_of_threads() {
        for t in [1, 3] {
            let seen = run_on(t, rayon::current_num_threads).ok();
            assert_eq!(seen, Some(t));
        }
        assert!(resolve(None) >= 1);
        assert_eq!(resolve(Some(2)), 2);
    }
}
