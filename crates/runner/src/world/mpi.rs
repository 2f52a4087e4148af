//! The MPI world (feature `mpi`): rsmpi over the MPI the launcher belongs to (Open MPI under
//! `mpirun` or SLURM's `srun`). MPI is initialised, called and finalised on one thread of its
//! own, which the [`World`] handle sends its sums to: the training thread, the prefetch worker
//! and the signal thread never call MPI, and a rank waiting for a sum sees a stop signal (a
//! launcher ending the world after another rank died) instead of hanging in it.

use geobatch_core::{Error, Result, World};
use mpi::collective::SystemOperation;
use mpi::traits::{Communicator, CommunicatorCollectives};
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the MPI thread is asked to do.
enum Job {
    /// Sum over ranks, answered on the sender.
    Sum(Vec<f64>, mpsc::Sender<Vec<f64>>),
    /// End every rank.
    Abort(i32),
}

/// A world of ranks started by an MPI launcher.
pub struct MpiWorld {
    rank: usize,
    size: usize,
    version: String,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl MpiWorld {
    /// Initialises MPI on a thread of its own and joins its world.
    pub fn start() -> Result<MpiWorld> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (ready, started) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("geobatch-mpi".into())
            .spawn(move || {
                let Some((universe, _)) =
                    mpi::initialize_with_threading(mpi::Threading::Serialized)
                else {
                    let _ = ready.send(Err("MPI was initialised already".to_string()));
                    return;
                };
                let world = universe.world();
                let (rank, size) = (world.rank() as usize, world.size() as usize);
                let version = mpi::environment::library_version().unwrap_or_default();
                if ready.send(Ok((rank, size, version))).is_err() {
                    return;
                }
                for job in inbox {
                    match job {
                        Job::Sum(values, answer) => {
                            let mut sums = vec![0.0; values.len()];
                            world.all_reduce_into(
                                &values[..],
                                &mut sums[..],
                                SystemOperation::sum(),
                            );
                            let _ = answer.send(sums);
                        }
                        Job::Abort(code) => world.abort(code),
                    }
                }
                // the universe is dropped here: MPI_Finalize
            })
            .map_err(|e| Error::invalid(format!("starting the MPI thread: {e}")))?;
        let (rank, size, version) = started
            .recv()
            .map_err(|_| Error::invalid("the MPI thread ended before MPI started"))?
            .map_err(Error::invalid)?;
        Ok(MpiWorld {
            rank,
            size,
            version: version.lines().next().unwrap_or("").trim().to_string(),
            jobs: Mutex::new(Some(jobs)),
            thread: Mutex::new(Some(thread)),
        })
    }

    fn send(&self, job: Job) -> Result<()> {
        let jobs = self.jobs.lock().map_err(|_| Error::invalid("MPI lock"))?;
        jobs.as_ref()
            .ok_or_else(|| Error::invalid("this rank already left its MPI world"))?
            .send(job)
            .map_err(|_| Error::invalid("the MPI thread ended"))
    }
}

impl World for MpiWorld {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn sum(&self, values: &mut [f64]) -> Result<()> {
        let (answer, sums) = mpsc::channel();
        self.send(Job::Sum(values.to_vec(), answer))?;
        let stop = geobatch_process::stop::flag();
        loop {
            match sums.recv_timeout(Duration::from_millis(100)) {
                Ok(s) => {
                    values.copy_from_slice(&s);
                    return Ok(());
                }
                Err(RecvTimeoutError::Timeout) if stop.load(Ordering::SeqCst) => {
                    return Err(Error::Refused(format!(
                        "rank {} of {}: stopped while waiting for the other ranks' gradients \
                         (a stop signal; when a launcher sends it, another rank ended)",
                        self.rank, self.size
                    )));
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Error::invalid("the MPI thread ended during a sum"));
                }
            }
        }
    }

    fn abort(&self, code: i32) {
        if self.send(Job::Abort(code)).is_ok() {
            // MPI_Abort ends this process too; wait for it
            std::thread::sleep(Duration::from_secs(30));
        }
    }

    fn finish(&self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }

    fn describe(&self) -> String {
        format!("{} MPI ranks ({})", self.size, self.version)
    }
}
