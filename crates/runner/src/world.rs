//! This process's place in a data-parallel run (DESIGN.md §17, docs/distributed.md): the world
//! it belongs to (one process, or the ranks an MPI launcher started, with the `mpi` feature),
//! joined once when a job starts, and the [`Share`] of each step's batches a rank takes.

#[cfg(feature = "mpi")]
pub mod mpi;

use crate::error::RunError;
use geobatch_core::{Alone, Error, World};
use std::sync::OnceLock;

static WORLD: OnceLock<Box<dyn World>> = OnceLock::new();

/// The world this process joined ([`join`]), or the world of one process.
pub fn current() -> &'static dyn World {
    match WORLD.get() {
        Some(w) => w.as_ref(),
        None => &Alone,
    }
}

/// Makes `world` this process's world, once; a second call is refused.
pub fn join(world: Box<dyn World>) -> Result<(), RunError> {
    WORLD
        .set(world)
        .map_err(|_| Error::invalid("this process already joined a world").into())
}

/// Ends this process's part in its world (an MPI world's finalize); nothing for one process.
pub fn leave() {
    if let Some(w) = WORLD.get() {
        w.finish();
    }
}

/// The launcher variables that tell a process it is one of several: Open MPI's `mpirun`,
/// MPICH's (Hydra's), and SLURM's `srun`.
const LAUNCHERS: [(&str, &str); 3] = [
    ("OMPI_COMM_WORLD_SIZE", "mpirun (Open MPI)"),
    ("PMI_SIZE", "an MPICH launcher"),
    ("SLURM_STEP_NUM_TASKS", "srun"),
];

/// Variables an MPI reads its world from: without one, processes that `srun` started cannot
/// find each other (MPI's initialisation fails in every one of them).
const WIRED: [&str; 3] = ["PMIX_RANK", "PMI_RANK", "OMPI_COMM_WORLD_RANK"];

/// The launcher that started this process as one of several, and how many: `None` when it runs
/// alone (no launcher, or a launcher of one process).
pub fn launched() -> Option<(&'static str, usize)> {
    LAUNCHERS.iter().find_map(|(var, what)| {
        let n: usize = std::env::var(var).ok()?.trim().parse().ok()?;
        (n > 1).then_some((*what, n))
    })
}

/// The world a job of this process trains in: an MPI world when a launcher started several
/// processes (with the `mpi` feature; refused by name without it), otherwise one process.
pub fn from_launcher() -> Result<Option<Box<dyn World>>, RunError> {
    let Some((launcher, n)) = launched() else {
        return Ok(None);
    };
    if !WIRED.iter().any(|v| std::env::var_os(v).is_some()) {
        return Err(Error::Refused(format!(
            "this process is one of {n} started by {launcher} without an MPI plugin, so the \
             {n} cannot find each other: `srun --mpi=pmix` (or MpiDefault=pmix in slurm.conf; \
             docs/distributed.md)"
        ))
        .into());
    }
    #[cfg(feature = "mpi")]
    {
        let world = mpi::MpiWorld::start()?;
        if world.size() != n {
            return Err(Error::Refused(format!(
                "{launcher} started {n} processes, but MPI's world holds {}: an MPI of another \
                 launcher? (docs/distributed.md)",
                world.size()
            ))
            .into());
        }
        Ok(Some(Box::new(world)))
    }
    #[cfg(not(feature = "mpi"))]
    Err(Error::Refused(format!(
        "this process is one of {n} started by {launcher}, but this geobatch was built without \
         MPI, so the {n} would train {n} separate runs into one folder: build it with \
         `cargo build --release --features geobatch-cli/mpi` (needs an MPI and libclang: Debian's \
         libopenmpi-dev, libclang-dev), or start one process (docs/distributed.md)"
    ))
    .into())
}

/// Which of a step's batches a rank takes. A step of a world of `W` ranks, each accumulating
/// `A` batches (`training.accumulate`), takes the next `W x A` plans of the training stream;
/// rank `r` collates and trains on plans `r*A .. (r+1)*A` and only plans the others, so every
/// rank's stream stays where every other's is. One process with `A = W` takes the same batches
/// per step as `W` ranks with `A = 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// Plans of other ranks before this rank's.
    pub before: usize,
    /// This rank's batches.
    pub own: usize,
    /// Plans of other ranks after this rank's.
    pub after: usize,
}

impl Share {
    /// Rank `rank`'s share of a world of `size` ranks accumulating `accumulate` batches each.
    pub fn of(rank: usize, size: usize, accumulate: usize) -> Share {
        let own = accumulate.max(1);
        Share {
            before: rank * own,
            own,
            after: size.saturating_sub(rank + 1) * own,
        }
    }

    /// The share of this process in its world ([`current`]).
    pub fn here(accumulate: usize) -> Share {
        let w = current();
        Share::of(w.rank(), w.size(), accumulate)
    }

    /// A step's batches over every rank.
    pub fn total(&self) -> usize {
        self.before + self.own + self.after
    }

    /// Whether a step is shared between batches or ranks (more than one batch a step).
    pub fn shared(&self) -> bool {
        self.total() > 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_each_step_once_in_rank_order() {
        for (size, acc) in [(1, 1), (1, 3), (2, 1), (4, 2), (3, 5)] {
            let mut next = 0;
            for rank in 0..size {
                let s = Share::of(rank, size, acc);
                assert_eq!(s.before, next);
                assert_eq!(s.total(), size * acc);
                next += s.own;
            }
            assert_eq!(next, size * acc);
        }
        assert!(!Share::of(0, 1, 1).shared());
        assert!(Share::of(0, 1, 2).shared());
        assert_eq!(Share::of(0, 1, 0).own, 1);
    }

    #[test]
    fn one_process_without_a_launcher_is_alone() {
        assert_eq!(current().size(), 1);
        assert_eq!(Share::here(1), Share::of(0, 1, 1));
    }
}
