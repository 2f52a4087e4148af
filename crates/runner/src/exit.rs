//! Exit codes: the one rule, as docs/exit-codes.md states it (a test holds the two together);
//! every error of a job says which it ends with ([`crate::RunError::exit`]).

use std::process::ExitCode;

/// How a `geobatch` command ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The job did what it was asked (also `run` on a run already complete).
    Success,
    /// The job failed while running (a Python exception, a graph larger than the budget, a full
    /// disk, a run folder in use, a sweep with failed runs).
    Failed,
    /// Bad input found before any work: command line, config, data files, splits.
    BadInput,
    /// A report (or `sweep --status`) left out runs it could not read or verify.
    LeftOut,
    /// Stopped by a signal (SIGINT, SIGTERM, SIGUSR1) after the current step, with a checkpoint.
    Interrupted,
    /// Ended at once by a second SIGTERM.
    Killed,
}

impl Exit {
    /// Every exit, in the order of docs/exit-codes.md.
    pub const ALL: [Exit; 6] = [
        Exit::Success,
        Exit::Failed,
        Exit::BadInput,
        Exit::LeftOut,
        Exit::Interrupted,
        Exit::Killed,
    ];

    /// The process exit code.
    pub const fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failed => 1,
            Exit::BadInput => 2,
            Exit::LeftOut => 3,
            Exit::Interrupted => 130,
            Exit::Killed => 143,
        }
    }

    /// [`Exit::Interrupted`] when `interrupted`, else [`Exit::Success`].
    pub fn finished(interrupted: bool) -> Exit {
        if interrupted {
            Exit::Interrupted
        } else {
            Exit::Success
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes of docs/exit-codes.md's table are exactly the codes of [`Exit`].
    #[test]
    fn the_doc_lists_every_exit_code_and_no_other() {
        let doc = include_str!("../../../docs/exit-codes.md");
        let documented: Vec<u8> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("| "))
            .filter_map(|l| l.split(' ').next()?.parse().ok())
            .collect();
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(documented, codes);
    }
}
