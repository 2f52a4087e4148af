//! geobatch-plans: plans from sizes alone: the batches of one pass over the graphs (an epoch), the first N batches
//! of a training stream, and each rank's share of an epoch in a distributed run.
//!
//! This is what geobatch's Python package hands to a user's own training loop; the batchers are the
//! registered ones, built from their config as the runner builds them. [`balance`] measures how
//! evenly a distributed epoch's steps share out the work, and [`anchors`] plans the samplers it
//! is measured against (`geobatch batches --world-size`).

pub mod anchors;
pub mod balance;

use geobatch_core::Shape;
use geobatch_core::batcher::{BatcherContext, BatcherSpec, GraphDraw, build_for_training};
use geobatch_core::error::{Error, Result};
use geobatch_core::graph::GraphSize;
use geobatch_core::plan::Plan;
use geobatch_core::stream::{GraphStream, Quirks, StreamMode};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Added to the seed of the generator that orders a distributed epoch's steps, so that the steps'
/// order is not the graphs' order of the same epoch (the fractional part of the golden ratio).
const STEP_ORDER_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// The most ranks an epoch is dealt to (a million: more than any cluster runs one job on); more
/// is refused before the shares are allocated.
pub const MAX_WORLD_SIZE: usize = 1 << 20;

/// Batches planned from sizes, held flat so that each field is one array: graph indices batch
/// after batch, with every batch's real content and padded shape. Python's `geobatch.Plan` is
/// this, field for field (the name differs: in Rust a [`geobatch_core::Plan`] is one batch's plan, what
/// every batcher plugin fills).
#[derive(Debug, Clone, PartialEq)]
pub struct Plans {
    /// Graph indices (into the sizes) of every batch, concatenated in batch order.
    pub indices: Vec<i64>,
    /// Where each batch starts in `indices`, and the end: batches + 1 entries.
    pub offsets: Vec<i64>,
    /// Real nodes, edges and graphs of every batch (batches x 3, row-major).
    pub real: Vec<i64>,
    /// Padded nodes, edges and graphs of every batch (batches x 3, row-major).
    pub padded: Vec<i64>,
    /// Whether a batch is a second copy of one planned earlier in the epoch (made to even out a
    /// distributed epoch); false everywhere in a plan of one rank.
    pub repeated: Vec<bool>,
}

impl Default for Plans {
    fn default() -> Self {
        Plans {
            indices: Vec::new(),
            offsets: vec![0],
            real: Vec::new(),
            padded: Vec::new(),
            repeated: Vec::new(),
        }
    }
}

impl Plans {
    /// Number of batches.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether no batch is planned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Graph indices of batch `b`.
    pub fn batch(&self, b: usize) -> &[i64] {
        &self.indices[self.offsets[b] as usize..self.offsets[b + 1] as usize]
    }

    /// Real content of batch `b`.
    pub fn real_shape(&self, b: usize) -> Shape {
        shape_at(&self.real, b)
    }

    /// Padded shape of batch `b`.
    pub fn padded_shape(&self, b: usize) -> Shape {
        shape_at(&self.padded, b)
    }

    /// Number of distinct padded shapes (the compiles of a shape-specialising engine).
    pub fn distinct_shapes(&self) -> usize {
        let mut shapes: Vec<Shape> = (0..self.len()).map(|b| self.padded_shape(b)).collect();
        shapes.sort_unstable();
        shapes.dedup();
        shapes.len()
    }

    fn push(&mut self, graphs: &[i64], real: Shape, padded: Shape, repeated: bool) {
        self.indices.extend_from_slice(graphs);
        self.offsets.push(self.indices.len() as i64);
        self.real.extend(triple(real));
        self.padded.extend(triple(padded));
        self.repeated.push(repeated);
    }

    /// Keeps the first `b` batches.
    fn truncate(&mut self, b: usize) {
        if b < self.len() {
            self.indices.truncate(self.offsets[b] as usize);
            self.offsets.truncate(b + 1);
            self.real.truncate(3 * b);
            self.padded.truncate(3 * b);
            self.repeated.truncate(b);
        }
    }

    fn push_plan(&mut self, plan: &Plan) {
        self.indices
            .extend(plan.graphs.iter().map(|&g| i64::from(g)));
        self.offsets.push(self.indices.len() as i64);
        self.real.extend(triple(plan.real));
        self.padded.extend(triple(plan.padded));
        self.repeated.push(false);
    }
}

fn shape_at(v: &[i64], b: usize) -> Shape {
    Shape::new(
        v[3 * b] as usize,
        v[3 * b + 1] as usize,
        v[3 * b + 2] as usize,
    )
}

fn triple(s: Shape) -> [i64; 3] {
    [s.nodes as i64, s.edges as i64, s.graphs as i64]
}

fn batcher(
    spec: &dyn BatcherSpec,
    sizes: &[GraphSize],
    quirks: Quirks,
) -> Result<Box<dyn geobatch_core::Batcher>> {
    spec.validate()?;
    build_for_training(
        spec,
        &BatcherContext {
            sizes,
            split: "sizes",
            quirks,
        },
    )
}

/// Plans one pass over `sizes` (epoch `epoch` of `seed`, see [`GraphStream::epoch`]): every graph
/// once, batches ending with the pass (the last one may be partly filled). Epoch 0 of a seed is
/// the first pass of the training stream the runner draws with that seed, so its batches are the
/// runner's first ones up to the last batch, which there continues into the next pass.
pub fn plan_epoch(
    spec: &dyn BatcherSpec,
    sizes: &[GraphSize],
    seed: u64,
    epoch: u64,
    shuffle: bool,
    quirks: Quirks,
) -> Result<Plans> {
    let mut batcher = batcher(spec, sizes, quirks)?;
    let mut stream = GraphStream::epoch(sizes.len(), seed, epoch, shuffle, "sizes")?;
    let mut plans = Plans::default();
    let mut plan = Plan::default();
    while batcher.next_plan(GraphDraw::new(&mut stream, sizes), &mut plan)? {
        plans.push_plan(&plan);
    }
    Ok(plans)
}

/// The first `steps` batches of the training stream of `seed`: the batches (and so the padded
/// shapes) a geobatch training run or `geobatch batches` meets, passes spanned as they do.
pub fn plan_steps(
    spec: &dyn BatcherSpec,
    sizes: &[GraphSize],
    seed: u64,
    quirks: Quirks,
    steps: usize,
) -> Result<Plans> {
    let mut batcher = batcher(spec, sizes, quirks)?;
    let mut stream = GraphStream::new(sizes.len(), StreamMode::Train, seed, quirks, "sizes")?;
    let mut plans = Plans::default();
    let mut plan = Plan::default();
    for _ in 0..steps {
        batcher.next_plan(GraphDraw::new(&mut stream, sizes), &mut plan)?;
        plans.push_plan(&plan);
    }
    Ok(plans)
}

/// Rank `rank`'s share of an epoch planned for `world_size` ranks. Every rank computes it from
/// the same global plan, with no communication:
///
/// * every rank gets the same number of batches: `ceil(B / R)` of an epoch of `B` batches, the
///   missing ones being second copies of the epoch's smallest batches (flagged `repeated`), or
///   `floor(B / R)` with `drop_last`, the `B mod R` smallest batches left out;
/// * the batches of one step are of similar real work: sorted by real edges plus nodes, taken `R`
///   at a time, the steps then put in a seeded random order (`seed`, `epoch`), and the batches of
///   a step dealt to the ranks in turn;
/// * every rank pads a step's batch to the same shape, the largest of the step's batches in each
///   count (for one-shape batchers that is their one shape; for `static` it is still a shape of
///   its rule).
///
/// The epoch's last batch, when the end of the pass cut it short (it holds fewer real graphs than
/// every other batch), is first left out with `drop_last` (torch's `drop_last`); without it, and
/// with more than one rank, it is completed with the pass's first graphs (`sizes` are the
/// graphs' sizes the plan was made from), as torch's `DistributedSampler` completes its ranks'
/// lists: up to the graph count of the epoch's smallest full batch, as long as the largest
/// padded shape of the epoch holds it, so that no step waits on a rank with the pass's
/// leftovers. Its graphs added are counted as repeated samples; the batch is not flagged
/// `repeated` (it is no copy). With one rank the plan is then returned as it is.
pub fn deal(global: &Plans, sizes: &[GraphSize], rank: usize, how: Dealing) -> Result<Plans> {
    let world_size = how.world_size;
    check_world(world_size)?;
    if rank >= world_size {
        return Err(Error::invalid(format!(
            "rank {rank} is not below world_size {world_size}: ranks are 0..{}",
            world_size - 1
        )));
    }
    let dealt = Dealt::new(global, sizes, how)?;
    Ok(dealt.share(rank))
}

/// Every rank's share of `global` ([`deal`] of each rank, the epoch sorted and ordered once):
/// `how.world_size` plans of as many batches each.
pub fn deal_all(global: &Plans, sizes: &[GraphSize], how: Dealing) -> Result<Vec<Plans>> {
    check_world(how.world_size)?;
    let dealt = Dealt::new(global, sizes, how)?;
    Ok((0..how.world_size).map(|rank| dealt.share(rank)).collect())
}

/// How an epoch is dealt to ranks: by [`deal`] and [`deal_all`], and by the samplers of
/// [`anchors`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dealing {
    /// Ranks.
    pub world_size: usize,
    /// Leave out what does not divide among the ranks instead of repeating it.
    pub drop_last: bool,
    /// The run's seed.
    pub seed: u64,
    /// The epoch.
    pub epoch: u64,
}

/// Refuses no ranks, or more than [`MAX_WORLD_SIZE`], before anything is allocated.
pub(crate) fn check_world(world_size: usize) -> Result<()> {
    if world_size == 0 {
        return Err(Error::invalid("world_size must be at least 1"));
    }
    if world_size > MAX_WORLD_SIZE {
        return Err(Error::invalid(format!(
            "world_size = {world_size}: at most {MAX_WORLD_SIZE} ranks (each gets a share of \
             one epoch's batches, planned in this process's memory)"
        )));
    }
    Ok(())
}

/// An epoch dealt to its ranks: the steps in their order, each the `(batch, repeated)` of every
/// rank in turn and the shape they are padded to.
struct Dealt {
    global: Plans,
    steps: Vec<(Vec<(usize, bool)>, Shape)>,
}

impl Dealt {
    fn new(global: &Plans, sizes: &[GraphSize], how: Dealing) -> Result<Dealt> {
        let (world_size, drop_last) = (how.world_size, how.drop_last);
        let global = if drop_last {
            without_incomplete_last(global)
        } else if world_size > 1 {
            with_last_completed(global, sizes)
        } else {
            global.clone()
        };
        let b = global.len();
        if world_size == 1 {
            let steps = (0..b)
                .map(|i| (vec![(i, false)], global.padded_shape(i)))
                .collect();
            return Ok(Dealt { global, steps });
        }
        if b == 0 || (drop_last && b < world_size) {
            return Err(Error::invalid(format!(
                "the epoch has {b} batches, fewer than the {world_size} ranks: with drop_last no \
                 rank would get one (lower world_size or the batch size)"
            )));
        }
        let cost = |i: usize| {
            let r = global.real_shape(i);
            r.edges + r.nodes
        };
        let mut order: Vec<usize> = (0..b).collect();
        order.sort_by(|&x, &y| cost(y).cmp(&cost(x)).then(x.cmp(&y)));
        // (batch, repeated): the smallest batches are repeated or dropped
        let mut slots: Vec<(usize, bool)> = order.iter().map(|&i| (i, false)).collect();
        if drop_last {
            slots.truncate(b - b % world_size);
        } else {
            let extra = (world_size - b % world_size) % world_size;
            slots.extend((0..extra).map(|k| (order[b - 1 - k % b], true)));
        }
        let mut steps: Vec<(Vec<(usize, bool)>, Shape)> = slots
            .chunks(world_size)
            .map(|step| {
                let padded = step.iter().fold(Shape::default(), |acc, &(i, _)| {
                    let p = global.padded_shape(i);
                    Shape::new(
                        acc.nodes.max(p.nodes),
                        acc.edges.max(p.edges),
                        acc.graphs.max(p.graphs),
                    )
                });
                (step.to_vec(), padded)
            })
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(how.seed.wrapping_add(STEP_ORDER_SEED));
        rng.set_stream(how.epoch);
        steps.shuffle(&mut rng);
        Ok(Dealt { global, steps })
    }

    /// Rank `rank`'s batches, step after step (the step's batches dealt to the ranks in turn).
    fn share(&self, rank: usize) -> Plans {
        let world_size = self.steps.first().map_or(1, |(step, _)| step.len());
        let mut out = Plans::default();
        for (s, (step, padded)) in self.steps.iter().enumerate() {
            let (i, repeated) = step[(rank + s) % world_size];
            let g = &self.global;
            out.push(g.batch(i), g.real_shape(i), *padded, repeated);
        }
        out
    }
}

/// The graph count of `global`'s smallest batch but the last, when the last holds fewer (the
/// end of the pass cut it short); `None` otherwise, or when there is one batch.
fn cut_short(global: &Plans) -> Option<usize> {
    let b = global.len();
    if b < 2 {
        return None;
    }
    let graphs = |i: usize| global.real_shape(i).graphs;
    let fewest = (0..b - 1).map(graphs).min().unwrap_or(0);
    (graphs(b - 1) < fewest).then_some(fewest)
}

/// `global` with its last batch, when the end of the pass cut it short, completed with the
/// pass's first graphs (see [`deal`]).
fn with_last_completed(global: &Plans, sizes: &[GraphSize]) -> Plans {
    let Some(fewest) = cut_short(global) else {
        return global.clone();
    };
    let b = global.len();
    let largest = (0..b).fold(Shape::default(), |acc, i| {
        let p = global.padded_shape(i);
        Shape::new(
            acc.nodes.max(p.nodes),
            acc.edges.max(p.edges),
            acc.graphs.max(p.graphs),
        )
    });
    let mut graphs = global.batch(b - 1).to_vec();
    let mut real = global.real_shape(b - 1);
    for &g in &global.indices {
        if graphs.len() >= fewest {
            break;
        }
        if graphs.contains(&g) {
            continue;
        }
        let Some(s) = usize::try_from(g).ok().and_then(|g| sizes.get(g)) else {
            break;
        };
        let more = Shape::new(
            real.nodes + s.nodes as usize,
            real.edges + s.edges as usize,
            real.graphs + 1,
        );
        if !largest.can_pad(&more) {
            break;
        }
        graphs.push(g);
        real = more;
    }
    let own = global.padded_shape(b - 1);
    let padded = if own.can_pad(&real) { own } else { largest };
    let mut out = global.clone();
    out.truncate(b - 1);
    out.push(&graphs, real, padded, false);
    out
}

/// `global` without its last batch when the end of the pass cut it short (it holds fewer real
/// graphs than every other batch); as it is otherwise, or when it is the only batch.
fn without_incomplete_last(global: &Plans) -> Plans {
    let mut out = global.clone();
    if cut_short(global).is_some() {
        out.truncate(global.len() - 1);
    }
    out
}

#[cfg(test)]
mod tests;
