//! The processes of a data-parallel run (DESIGN.md §17): each step takes a share of the step's
//! batches on every rank, and the ranks' gradients meet in one collective, a sum over ranks.
//! [`Alone`] is the world of one process; an MPI world lives behind the runner's `mpi` feature.

use crate::error::Result;

/// The ranks of a data-parallel run and the one collective they need.
///
/// Every rank calls [`World::sum`] the same number of times with buffers of the same length, in
/// the same order; a rank that cannot must end the whole world ([`World::abort`]) rather than
/// leave the others waiting.
pub trait World: Send + Sync {
    /// This process's rank, `0..size`.
    fn rank(&self) -> usize;
    /// Processes in the world (at least 1).
    fn size(&self) -> usize;
    /// Sums `values` element-wise over every rank, in place: every rank gets the same sums.
    fn sum(&self, values: &mut [f64]) -> Result<()>;
    /// Ends every rank of the world with exit code `code` after this rank printed why (a rank
    /// that failed while the others wait in a collective). One process just returns.
    fn abort(&self, code: i32);
    /// Ends this process's part in the world after its last collective (MPI's finalize);
    /// nothing by default.
    fn finish(&self) {}
    /// What launched the world, for messages and the run's record (`mpi`, or `one process`).
    fn describe(&self) -> String;
}

/// The world of one process: sums are the values themselves.
#[derive(Debug, Clone, Copy, Default)]
pub struct Alone;

impl World for Alone {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn sum(&self, _values: &mut [f64]) -> Result<()> {
        Ok(())
    }
    fn abort(&self, _code: i32) {}
    fn describe(&self) -> String {
        "one process".into()
    }
}

/// Whether every rank holds the same `value` (a config's hash, a checkpoint's step), the same
/// answer on every rank: each compares the sum of everyone's value (in 16-bit pieces, exact in an
/// f64 for any world) with its own times the world's size, and a second sum counts the ranks that
/// saw a difference (a rank whose value is the mean of differing values sees none itself).
pub fn same_everywhere(world: &dyn World, value: u64) -> Result<bool> {
    let pieces: [f64; 4] = std::array::from_fn(|i| ((value >> (16 * i)) & 0xffff) as f64);
    let mut sums = pieces;
    world.sum(&mut sums)?;
    let n = world.size() as f64;
    let differs = sums.iter().zip(&pieces).any(|(s, p)| *s != p * n);
    let mut seen = [f64::from(u8::from(differs))];
    world.sum(&mut seen)?;
    Ok(seen[0] == 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A world of ranks simulated in one process: rank 0 is this one, the others hold
    /// `values[1..]`, and every sum is of what each would send for the same question.
    struct Fake(Vec<u64>);

    impl World for Fake {
        fn rank(&self) -> usize {
            0
        }
        fn size(&self) -> usize {
            self.0.len()
        }
        fn sum(&self, values: &mut [f64]) -> Result<()> {
            // the pieces of every rank's value, or every rank's verdict on them
            if values.len() == 4 {
                for (i, v) in values.iter_mut().enumerate() {
                    *v = self
                        .0
                        .iter()
                        .map(|x| ((x >> (16 * i)) & 0xffff) as f64)
                        .sum();
                }
            } else {
                let n = self.0.len() as f64;
                let sums: Vec<f64> = (0..4)
                    .map(|i| {
                        self.0
                            .iter()
                            .map(|x| ((x >> (16 * i)) & 0xffff) as f64)
                            .sum()
                    })
                    .collect();
                values[0] = self
                    .0
                    .iter()
                    .filter(|x| (0..4).any(|i| sums[i] != ((*x >> (16 * i)) & 0xffff) as f64 * n))
                    .count() as f64;
            }
            Ok(())
        }
        fn abort(&self, _code: i32) {}
        fn describe(&self) -> String {
            "fake".into()
        }
    }

    #[test]
    fn one_process_is_always_the_same() {
        assert!(same_everywhere(&Alone, u64::MAX).unwrap());
    }

    #[test]
    fn equal_values_agree_and_any_difference_is_seen() {
        let x = 0xdead_beef_0123_4567;
        assert!(same_everywhere(&Fake(vec![x, x, x]), x).unwrap());
        for other in [x + 1, x ^ (1 << 40), 0, u64::MAX] {
            let differ = Fake(vec![x, other]);
            assert!(!same_everywhere(&differ, x).unwrap(), "{other:x}");
        }
        // this rank holds the mean of the others: it sees no difference, the others do
        assert!(!same_everywhere(&Fake(vec![2, 1, 3]), 2).unwrap());
    }
}
