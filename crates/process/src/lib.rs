//! geobatch-process: what a geobatch process needs from its operating system.
//!
//! * [`memory`]: the memory this process can have (the machine, `ulimit -v`, its cgroups), so that
//!   sizes are refused before they are allocated.
//! * [`stop`]: the process's stop request, checked by long library work.
//! * [`progress`]: progress lines of long library work, when the CLI asks for them.
//! * [`leftovers`]: what a process must not leave behind (a worker's process group, its folder).
//! * [`console`]: what geobatch prints ([`outln!`], [`errln!`]): a closed pipe drops it.
//!
//! It knows no graph; its [`Error`] becomes `geobatch_core::Error` (`?` in a plugin's code).

pub mod console;
pub mod leftovers;
pub mod memory;
pub mod progress;
pub mod stop;

/// Why work of this process was refused or ended.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A size this process cannot have, refused before it is allocated ([`memory`]): the
    /// estimate, the limit that binds and the options to change.
    #[error("{0}")]
    Memory(String),
    /// A stop signal came while the work was under way ([`stop`]); nothing it made is kept.
    #[error("stopped by a signal while {0}")]
    Stopped(String),
}

impl From<Error> for geobatch_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Memory(m) => geobatch_core::Error::Memory(m),
            Error::Stopped(what) => geobatch_core::Error::Stopped(what),
        }
    }
}
