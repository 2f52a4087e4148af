//! The `atoms` batcher (label `max-atoms`): batches of at most a number of atoms, planned once per
//! run and shuffled as wholes every epoch, as interatomic-potential codes batch to keep a step's
//! memory flat (fairchem's balanced sampler, metatrain's max-atoms batches; DESIGN.md §16).
//!
//! **Plan.** At build, every graph of the split is placed by first fit decreasing (largest node
//! count first, ties by index) into batches of at most `max_atoms` atoms (default: the mean graph's
//! atoms times `batch_size`, at least the largest graph's): batches hold nearly the same number
//! of atoms, whatever their graph count. The plan depends on the sizes alone: every seed trains
//! on the same batches.
//!
//! **Order.** Each epoch the stream's pass (a seeded shuffle, or stored order under the
//! reference quirks) is drawn whole; the batches are emitted in the order of their first member
//! in it, so the order is reshuffled every epoch and every graph is emitted exactly once a pass.
//!
//! **Shape.** One padded shape for the run, from the planned batches: nodes and edges of the
//! largest rounded up to a multiple of 64 (nodes strictly, for the padding node), graphs + 1.
//!
//! **State.** The order of the current epoch and the next batch in it ([`Batcher::state`]).

use geobatch_core::rounding::{ceil_multiple_of_64, next_multiple_of_64_strict};
use geobatch_core::{
    BatchSize, Batcher, BatcherContext, BatcherSpec, Budget, Error, GraphDraw, GraphSize,
    GraphStream, Plan, Result, Shape, SizeStats, plugin_options,
};
use serde::{Deserialize, Serialize};

/// Config of the max-atoms batcher.
#[plugin_options]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtomsSpec {
    /// Mean graphs the atom budget is sized for (when `max_atoms` is not given); names runs.
    #[option(
        ty = "integer >= 2",
        doc = "mean number of graphs the atom budget is sized for: max_atoms = mean atoms x batch_size (at least the largest graph's)"
    )]
    pub batch_size: BatchSize,
    /// Atoms per batch at most; estimated from `batch_size` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(
        ty = "integer >= 1",
        toml = "mean atoms x batch_size",
        doc = "atoms per batch at most (fairchem's max_atoms, metatrain's max_atoms_per_batch)"
    )]
    pub max_atoms: Option<usize>,
}

/// The batches of first fit decreasing: graph indices of each, largest graphs placed first.
pub fn first_fit_decreasing(sizes: &[GraphSize], max_atoms: usize) -> Vec<Vec<u32>> {
    let mut order: Vec<u32> = (0..sizes.len() as u32).collect();
    order.sort_by_key(|&g| (std::cmp::Reverse(sizes[g as usize].nodes), g));
    let mut bins: Vec<Vec<u32>> = Vec::new();
    let mut room: Vec<usize> = Vec::new();
    for g in order {
        let n = sizes[g as usize].nodes as usize;
        match room.iter().position(|&r| r >= n) {
            Some(b) => {
                bins[b].push(g);
                room[b] -= n;
            }
            None => {
                bins.push(vec![g]);
                room.push(max_atoms.saturating_sub(n));
            }
        }
    }
    bins
}

/// The max-atoms batcher.
#[derive(Debug)]
pub struct AtomsBatcher {
    bins: Vec<Vec<u32>>,
    padded: Shape,
    /// The bins in this epoch's order, and the next to emit.
    order: Vec<u32>,
    next: usize,
}

/// What a checkpoint keeps of the batcher.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    order: Vec<u32>,
    next: usize,
}

impl AtomsBatcher {
    /// Plans the batches of `sizes` under `max_atoms`.
    pub fn new(sizes: &[GraphSize], max_atoms: usize) -> Result<Self> {
        if let Some((g, s)) = sizes
            .iter()
            .enumerate()
            .find(|(_, s)| s.nodes as usize > max_atoms)
        {
            return Err(Error::invalid(format!(
                "batcher.max_atoms = {max_atoms}: graph {g} has {} atoms, more than a batch \
                 may hold",
                s.nodes
            )));
        }
        let bins = first_fit_decreasing(sizes, max_atoms);
        let (mut nodes, mut edges, mut graphs) = (0, 0, 0);
        for b in &bins {
            nodes = nodes.max(b.iter().map(|&g| sizes[g as usize].nodes as usize).sum());
            edges = edges.max(b.iter().map(|&g| sizes[g as usize].edges as usize).sum());
            graphs = graphs.max(b.len());
        }
        Ok(AtomsBatcher {
            padded: Shape::new(
                next_multiple_of_64_strict(nodes as f64),
                ceil_multiple_of_64(edges),
                graphs + 1,
            ),
            bins,
            order: Vec::new(),
            next: 0,
        })
    }

    /// The planned batches (graph indices of each).
    pub fn batches(&self) -> &[Vec<u32>] {
        &self.bins
    }

    /// Draws the stream's next pass and orders the batches by their first member in it; false
    /// when an evaluation stream has nothing left.
    fn new_epoch(&mut self, stream: &mut GraphStream) -> bool {
        let n = stream.len();
        let mut place = vec![u32::MAX; n];
        let mut k = 0u32;
        while (k as usize) < n {
            let Some(g) = stream.next_index() else {
                break;
            };
            place[g as usize] = k;
            k += 1;
        }
        if k == 0 {
            return false;
        }
        let first = |b: &Vec<u32>| {
            b.iter()
                .map(|&g| place[g as usize])
                .min()
                .unwrap_or(u32::MAX)
        };
        let mut order: Vec<u32> = (0..self.bins.len() as u32).collect();
        order.sort_by_key(|&b| (first(&self.bins[b as usize]), b));
        self.order = order;
        self.next = 0;
        true
    }
}

impl Batcher for AtomsBatcher {
    fn next_plan(
        &mut self,
        GraphDraw { stream, sizes }: GraphDraw<'_>,
        plan: &mut Plan,
    ) -> Result<bool> {
        plan.clear();
        if self.next >= self.order.len() && !self.new_epoch(stream) {
            return Ok(false);
        }
        let bin = &self.bins[self.order[self.next] as usize];
        self.next += 1;
        for &g in bin {
            plan.push(g, sizes[g as usize]);
        }
        plan.padded = self.padded;
        Ok(true)
    }

    fn budget(&self) -> Option<Budget> {
        Some(self.padded)
    }

    fn state(&self) -> Result<serde_json::Value> {
        serde_json::to_value(State {
            order: self.order.clone(),
            next: self.next,
        })
        .map_err(|e| Error::invalid(e.to_string()))
    }

    fn restore(&mut self, state: serde_json::Value) -> Result<()> {
        let s: State = serde_json::from_value(state).map_err(|e| {
            Error::invalid(format!(
                "the checkpoint's max-atoms state is not this batcher's: {e}"
            ))
        })?;
        let n = self.bins.len();
        if s.order.len() > n || s.order.iter().any(|&b| b as usize >= n) || s.next > s.order.len() {
            return Err(Error::invalid(
                "the checkpoint's max-atoms batches are not this split's (run with --restart)",
            ));
        }
        self.order = s.order;
        self.next = s.next;
        Ok(())
    }
}

#[geobatch_core::plugin(
    name = "atoms",
    summary = "batches of at most max_atoms atoms, planned once per run (first fit decreasing) and reshuffled as wholes every epoch (fairchem, metatrain)",
    example = "batch_size = 16\n",
    batch_size = batch_size
)]
impl BatcherSpec for AtomsSpec {
    fn label(&self) -> String {
        "max-atoms".into()
    }

    fn validate(&self) -> Result<()> {
        if self.max_atoms == Some(0) {
            return Err(Error::invalid("batcher.max_atoms must be at least 1"));
        }
        Ok(())
    }

    fn build(&self, ctx: &BatcherContext<'_>) -> Result<Box<dyn Batcher>> {
        self.validate()?;
        let stats =
            SizeStats::of(ctx.sizes).ok_or_else(|| Error::EmptySplit(ctx.split.to_string()))?;
        let max_atoms = self.max_atoms.unwrap_or_else(|| {
            ((stats.mean_nodes * self.batch_size.get() as f64).round() as usize)
                .max(stats.max_nodes as usize)
        });
        Ok(Box::new(AtomsBatcher::new(ctx.sizes, max_atoms)?))
    }
}

/// Forces this crate to be linked (called by `geobatch-catalog`).
pub fn link() {}

#[cfg(test)]
mod tests {
    use super::*;
    use geobatch_core::{Quirks, StreamMode};

    fn sizes() -> Vec<GraphSize> {
        (0..57u32)
            .map(|i| GraphSize {
                nodes: 2 + (i * 37) % 107,
                edges: 10 * (2 + (i * 37) % 107),
            })
            .collect()
    }

    #[test]
    fn every_graph_once_a_pass_batches_fixed_their_order_reshuffled() {
        let s = sizes();
        let mut b = AtomsBatcher::new(&s, 300).unwrap();
        assert!(b.batches().iter().all(|bin| {
            bin.iter()
                .map(|&g| s[g as usize].nodes as usize)
                .sum::<usize>()
                <= 300
        }));
        let mut stream =
            GraphStream::new(s.len(), StreamMode::Train, 9, Quirks::Clean, "t").unwrap();
        let mut plan = Plan::default();
        let mut epochs: Vec<Vec<Vec<u32>>> = Vec::new();
        for _ in 0..3 {
            let mut seen = vec![0; s.len()];
            let mut epoch = Vec::new();
            for _ in 0..b.batches().len() {
                assert!(
                    b.next_plan(GraphDraw::new(&mut stream, &s), &mut plan)
                        .unwrap()
                );
                assert!(plan.padded.can_pad(&plan.real));
                assert_eq!(plan.padded, b.budget().unwrap(), "one shape for the run");
                for &g in &plan.graphs {
                    seen[g as usize] += 1;
                }
                epoch.push(plan.graphs.clone());
            }
            assert!(seen.iter().all(|&c| c == 1), "every graph once a pass");
            epochs.push(epoch);
        }
        let sorted = |e: &Vec<Vec<u32>>| {
            let mut e = e.clone();
            e.sort();
            e
        };
        assert_eq!(sorted(&epochs[0]), sorted(&epochs[1]), "the same batches");
        assert_ne!(epochs[0], epochs[1], "in another order");
        // resumed mid-epoch from its state, it goes on as it would have
        let mut a = AtomsBatcher::new(&s, 300).unwrap();
        let mut sa = GraphStream::new(s.len(), StreamMode::Train, 3, Quirks::Clean, "t").unwrap();
        for _ in 0..5 {
            a.next_plan(GraphDraw::new(&mut sa, &s), &mut plan).unwrap();
        }
        let (state, stream_copy) = (a.state().unwrap(), sa.clone());
        let mut c = AtomsBatcher::new(&s, 300).unwrap();
        c.restore(state).unwrap();
        let mut sc = stream_copy;
        let mut pa = Plan::default();
        for _ in 0..40 {
            a.next_plan(GraphDraw::new(&mut sa, &s), &mut plan).unwrap();
            c.next_plan(GraphDraw::new(&mut sc, &s), &mut pa).unwrap();
            assert_eq!(plan.graphs, pa.graphs);
        }
    }

    #[test]
    fn a_graph_larger_than_the_budget_is_refused_by_name() {
        let e = AtomsBatcher::new(&sizes(), 50).unwrap_err().to_string();
        assert!(e.contains("max_atoms = 50") && e.contains("atoms"), "{e}");
    }
}
