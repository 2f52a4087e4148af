//! Errors of the runner.

use crate::exit::Exit;
use std::path::PathBuf;

/// What can stop a job.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The config file cannot be read, parsed or validated.
    #[error("{}: {message}", file.display())]
    Config {
        /// The config file.
        file: PathBuf,
        /// What is wrong, with the key where known.
        message: String,
    },
    /// The command line asks what the config cannot do (`--epochs` of a graph-level run).
    #[error("{0}")]
    Usage(String),
    /// A plugin or the core refused the data or the options.
    #[error(transparent)]
    Core(#[from] geobatch_core::Error),
    /// The dataset was refused while it was loaded, before any work (a missing, corrupt or
    /// foreign data file, a bad split), or an option checked against it (a batcher's budget
    /// larger than the split). Bad input, like a bad config.
    #[error(transparent)]
    Data(geobatch_core::Error),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Another process holds the run folder's lock (it is running this config now).
    #[error(
        "{}: another geobatch process is running this config now (it holds {}); wait for it, \
         or run it elsewhere with another experiment.results_dir",
        dir.display(),
        lock.file_name().unwrap_or_default().to_string_lossy()
    )]
    Busy {
        /// The run folder.
        dir: PathBuf,
        /// Its lock file, held by the other process.
        lock: PathBuf,
    },
    /// A stop signal came while the data was loaded or the model built: the job ends there, before
    /// its first step, and writes nothing (the CLI exits 130, as for any stopped job).
    #[error("stopped by a signal while {phase}: nothing was run or written")]
    Stopped {
        /// What was under way (`loading the dataset`, `building the model`).
        phase: &'static str,
    },
    /// A results folder could not be read, or what is made of it written; or the folders given
    /// cannot be used (nothing in them, runs that cannot be compared: bad input).
    #[error(transparent)]
    Results(#[from] geobatch_results::ResultsError),
    /// Something else failed while the job ran (a probe's files not what it recorded, an
    /// advice that cannot be written).
    #[error("{0}")]
    Failed(String),
    /// What failed, in which part of a job (a candidate's probe, a validation run).
    #[error("{what}")]
    Within {
        /// The part of the job.
        what: String,
        /// What failed there.
        #[source]
        source: Box<RunError>,
    },
    /// A stop signal ended `advise`, which keeps nothing of what it made: exit 143 after
    /// SIGTERM (as a process it ends), 130 after Ctrl-C or SIGUSR1.
    #[error("the advice stopped by {by}: no advice is written")]
    AdviceStopped {
        /// The signal (`SIGTERM`, `SIGUSR1`, `Ctrl-C`).
        by: &'static str,
    },
    /// The pool of kernel threads could not be started.
    #[error("cannot start {threads} kernel thread(s): {message}")]
    Threads {
        /// Threads asked for.
        threads: usize,
        /// What the operating system said.
        message: String,
    },
}

impl RunError {
    /// An error of loading the dataset: what the plugin refuses is bad input ([`RunError::Data`]);
    /// a stop signal while it loaded ends the job there ([`RunError::Stopped`]).
    pub fn loading(e: geobatch_core::Error) -> RunError {
        match e {
            geobatch_core::Error::Stopped(_) => RunError::Stopped {
                phase: "loading the dataset",
            },
            e => RunError::Data(e),
        }
    }

    /// [`RunError::Stopped`] when `stop` is set: checked between the long phases before a job's
    /// first step (loading, building), so a signal during them ends the job when they end
    /// instead of after a whole first step and a checkpoint.
    pub fn unless_stopped(
        stop: &std::sync::atomic::AtomicBool,
        phase: &'static str,
    ) -> Result<(), RunError> {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            Err(RunError::Stopped { phase })
        } else {
            Ok(())
        }
    }

    /// Whether the error is the user's input (config, options or data, found before any work)
    /// rather than a failure while running; the CLI exits with 2 for these and 1 otherwise.
    pub fn is_input_error(&self) -> bool {
        match self {
            RunError::Config { .. } | RunError::Usage(_) | RunError::Data(_) => true,
            RunError::Core(e) => matches!(
                e,
                geobatch_core::Error::Refused(_)
                    | geobatch_core::Error::Source(_)
                    | geobatch_core::Error::Memory(_)
            ),
            RunError::Results(e) => e.is_input_error(),
            RunError::Within { source, .. } => source.is_input_error(),
            _ => false,
        }
    }

    /// How a job that ends with this error exits (docs/exit-codes.md): stopped by a signal
    /// (130, or 143 for `advise` after SIGTERM), bad input (2) or a failure while running (1).
    pub fn exit(&self) -> Exit {
        match self {
            RunError::Stopped { .. } => Exit::Interrupted,
            RunError::AdviceStopped { by } if *by == "SIGTERM" => Exit::Killed,
            RunError::AdviceStopped { .. } => Exit::Interrupted,
            RunError::Within { source, .. } => source.exit(),
            e if e.is_input_error() => Exit::BadInput,
            _ => Exit::Failed,
        }
    }

    /// Whether a stop signal ended the job (the stop flag, seen by a job that keeps nothing).
    pub fn is_stopped(&self) -> bool {
        match self {
            RunError::Stopped { .. } | RunError::AdviceStopped { .. } => true,
            RunError::Within { source, .. } => source.is_stopped(),
            _ => false,
        }
    }
}

impl From<geobatch_results::ReadError> for RunError {
    fn from(e: geobatch_results::ReadError) -> Self {
        RunError::Results(e.into())
    }
}

impl From<geobatch_process::Error> for RunError {
    fn from(e: geobatch_process::Error) -> Self {
        RunError::Core(e.into())
    }
}
