//! The two samplers a distributed run of graphs of unequal sizes is measured against, written
//! from their published descriptions, as plans of each rank (no padding: the engines they feed
//! take every batch's own shape):
//!
//! * torch's `DistributedSampler` with graph-count batches (`DataLoader(batch_size=B)`): the
//!   graphs shuffled, the list made a multiple of the ranks by repeating its first graphs (or cut
//!   to one, with `drop_last`), rank `r` taking every `R`-th graph from `r`, and cutting its list
//!   into batches of `B` (the last one shorter, or left out with `drop_last`);
//! * fairchem's `MaxAtomDistributedBatchSampler`: the graphs shuffled once, packed in that order
//!   into batches of at most `max_atoms` atoms (a graph that does not fit starts the next batch;
//!   a graph larger than the limit is skipped), the batches shuffled every epoch, their list made
//!   a multiple of the ranks as above, rank `r` taking every `R`-th batch from `r`.

use crate::{Dealing, Plans, check_world};
use geobatch_core::Shape;
use geobatch_core::error::{Error, Result};
use geobatch_core::graph::GraphSize;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// `n` indices in a seeded random order (the shuffle of epoch `epoch` of `seed`).
fn permutation(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch);
    order.shuffle(&mut rng);
    order
}

/// `items` made a multiple of `world_size` long as torch's `DistributedSampler` does: its first
/// items repeated (cycling when there are fewer than needed), or its tail cut with `drop_last`.
fn even_out<T: Copy>(items: &mut Vec<T>, world_size: usize, drop_last: bool) {
    let n = items.len();
    if drop_last {
        items.truncate(n - n % world_size);
    } else if n > 0 {
        let extra = (world_size - n % world_size) % world_size;
        let head: Vec<T> = (0..extra).map(|k| items[k % n]).collect();
        items.extend(head);
    }
}

/// `how`'s ranks and `drop_last`, once its world size and the sampler's `limit` (named `what`)
/// are found possible.
fn checked(how: Dealing, limit: usize, what: &str) -> Result<(usize, bool)> {
    check_world(how.world_size)?;
    if limit == 0 {
        return Err(Error::invalid(format!("{what} must be at least 1")));
    }
    Ok((how.world_size, how.drop_last))
}

/// A batch of `graphs` as a plan: its real shape is its padded one.
fn push(plans: &mut Plans, graphs: &[usize], sizes: &[GraphSize], repeated: bool) {
    let real = graphs.iter().fold(Shape::new(0, 0, 0), |acc, &g| {
        let s = sizes[g];
        Shape::new(
            acc.nodes + s.nodes as usize,
            acc.edges + s.edges as usize,
            acc.graphs + 1,
        )
    });
    let ids: Vec<i64> = graphs.iter().map(|&g| g as i64).collect();
    plans.push(&ids, real, real, repeated);
}

/// Every rank's batches under torch's `DistributedSampler` and a `DataLoader` of `batch_size`
/// graphs, dealt as `how` says (the module's description). A batch holding a graph that was
/// added to even out the ranks is flagged `repeated`.
pub fn distributed_sampler(
    sizes: &[GraphSize],
    batch_size: usize,
    how: Dealing,
) -> Result<Vec<Plans>> {
    let (world_size, drop_last) = checked(how, batch_size, "batch_size")?;
    let n = sizes.len();
    let mut order = permutation(n, how.seed, how.epoch);
    even_out(&mut order, world_size, drop_last);
    let mut ranks = Vec::with_capacity(world_size);
    for r in 0..world_size {
        // positions in the evened-out list: those at or past n are the repeated graphs
        let mine: Vec<usize> = (r..order.len()).step_by(world_size).collect();
        let mut plans = Plans::default();
        for chunk in mine.chunks(batch_size) {
            if drop_last && chunk.len() < batch_size {
                break;
            }
            let graphs: Vec<usize> = chunk.iter().map(|&k| order[k]).collect();
            push(&mut plans, &graphs, sizes, chunk.iter().any(|&k| k >= n));
        }
        ranks.push(plans);
    }
    Ok(ranks)
}

/// Every rank's batches under fairchem's `MaxAtomDistributedBatchSampler` with `max_atoms`,
/// dealt as `how` says (the module's description). A batch dealt a second time to even out the
/// ranks is flagged `repeated`; graphs of more than `max_atoms` atoms are in no batch.
pub fn max_atoms_sampler(
    sizes: &[GraphSize],
    max_atoms: usize,
    how: Dealing,
) -> Result<Vec<Plans>> {
    let (world_size, drop_last) = checked(how, max_atoms, "max_atoms")?;
    // packed once (epoch 0's shuffle), the batches' order shuffled every epoch
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut atoms = 0;
    for g in permutation(sizes.len(), how.seed, 0) {
        let n = sizes[g].nodes as usize;
        if n > max_atoms {
            continue;
        }
        if atoms + n > max_atoms && !current.is_empty() {
            batches.push(std::mem::take(&mut current));
            atoms = 0;
        }
        current.push(g);
        atoms += n;
    }
    if !current.is_empty() {
        batches.push(current);
    }
    if batches.len() < world_size {
        return Err(Error::invalid(format!(
            "max_atoms = {max_atoms} packs {} batches, fewer than the {world_size} ranks",
            batches.len()
        )));
    }
    let mut order = permutation(batches.len(), how.seed.wrapping_add(1), how.epoch);
    let b = order.len();
    even_out(&mut order, world_size, drop_last);
    Ok((0..world_size)
        .map(|r| {
            let mut plans = Plans::default();
            for k in (r..order.len()).step_by(world_size) {
                push(&mut plans, &batches[order[k]], sizes, k >= b);
            }
            plans
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::how;

    fn sizes(n: usize) -> Vec<GraphSize> {
        (0..n)
            .map(|i| GraphSize {
                nodes: 1 + (i % 7) as u32,
                edges: (i % 7 * (i % 7 + 1)) as u32,
            })
            .collect()
    }

    /// Graph ids of every batch not flagged repeated, sorted.
    fn dealt(ranks: &[Plans]) -> Vec<i64> {
        let mut ids: Vec<i64> = ranks
            .iter()
            .flat_map(|p| {
                (0..p.len())
                    .filter(|&b| !p.repeated[b])
                    .flat_map(|b| p.batch(b).to_vec())
            })
            .collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn the_distributed_sampler_gives_every_rank_its_stride_in_batches_of_b() {
        let s = sizes(103);
        let ranks = distributed_sampler(&s, 4, how(8, false, 1, 0)).unwrap();
        // 103 graphs evened out to 104: 13 per rank, batches of 4, 4, 4 and 1
        for p in &ranks {
            assert_eq!(p.len(), 4);
            assert_eq!(p.real_shape(0).graphs, 4);
            assert_eq!(p.real_shape(3).graphs, 1);
            assert_eq!(p.padded, p.real, "no padding");
        }
        let repeated: usize = ranks
            .iter()
            .map(|p| p.repeated.iter().filter(|&&x| x).count())
            .sum();
        assert_eq!(repeated, 1, "one graph repeated");
        let mut all: Vec<i64> = ranks.iter().flat_map(|p| p.indices.clone()).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all, (0..103).collect::<Vec<_>>(), "every graph dealt");
        // drop_last: 96 graphs on 8 ranks, 12 each, 3 full batches
        let cut = distributed_sampler(&s, 4, how(8, true, 1, 0)).unwrap();
        assert!(
            cut.iter()
                .all(|p| p.len() == 3 && !p.repeated.contains(&true))
        );
        assert_eq!(dealt(&cut).len(), 96);
        assert_ne!(
            distributed_sampler(&s, 4, how(8, false, 1, 1)).unwrap(),
            ranks,
            "each epoch its own shuffle"
        );
    }

    #[test]
    fn max_atoms_batches_stay_under_the_limit_and_every_rank_gets_as_many() {
        let s = sizes(200);
        for w in [1, 3, 8] {
            let ranks = max_atoms_sampler(&s, 20, how(w, false, 5, 2)).unwrap();
            let per = ranks[0].len();
            assert!(ranks.iter().all(|p| p.len() == per), "w {w}");
            for p in &ranks {
                assert!((0..p.len()).all(|b| p.real_shape(b).nodes <= 20));
            }
            assert_eq!(dealt(&ranks), (0..200).collect::<Vec<_>>(), "w {w}");
        }
        // a graph over the limit is skipped; too few batches for the ranks is refused by name
        let big = [
            GraphSize {
                nodes: 30,
                edges: 0,
            },
            GraphSize { nodes: 2, edges: 2 },
        ];
        let one = max_atoms_sampler(&big, 20, how(1, false, 0, 0)).unwrap();
        assert_eq!(one[0].indices, vec![1]);
        let e = max_atoms_sampler(&big, 20, how(2, false, 0, 0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("fewer than the 2 ranks"), "{e}");
        // the packing is kept across epochs, the order is not
        let (a, b) = (
            max_atoms_sampler(&s, 20, how(1, false, 5, 0)).unwrap(),
            max_atoms_sampler(&s, 20, how(1, false, 5, 1)).unwrap(),
        );
        let batches = |p: &Plans| {
            let mut v: Vec<Vec<i64>> = (0..p.len()).map(|i| p.batch(i).to_vec()).collect();
            v.sort();
            v
        };
        assert_eq!(batches(&a[0]), batches(&b[0]));
        assert_ne!(a, b);
    }
}
