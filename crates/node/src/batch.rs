//! Node-level plans and batches: output nodes plus auxiliary nodes, collated into the induced
//! subgraph (or a sampled part of it) with local indices and an output mask.

use crate::graph::NodeGraph;
use geobatch_core::error::{Error, Result};

/// What a node-level batcher chooses: the output nodes whose loss and predictions count, and the
/// auxiliary nodes kept as their receptive field. Both sorted by global id; `aux ⊇ outputs`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodePlan {
    /// Output nodes (global ids, sorted, unique).
    pub outputs: Vec<u32>,
    /// Every node of the batch's subgraph, outputs included (global ids, sorted, unique).
    pub aux: Vec<u32>,
    /// Sampled adjacency entries `(receiver, sender)`, global ids, sorted, unique, no self-loops.
    /// Empty: the batch is the induced subgraph of `aux`. Otherwise it keeps only these entries
    /// and every node's self-loop (neighbour sampling).
    pub edges: Vec<(u32, u32)>,
}

impl NodePlan {
    /// Builds a plan from output nodes and any auxiliary nodes: sorts, deduplicates and adds the
    /// outputs to the auxiliary set.
    pub fn new(mut outputs: Vec<u32>, mut aux: Vec<u32>) -> Self {
        outputs.sort_unstable();
        outputs.dedup();
        aux.extend_from_slice(&outputs);
        aux.sort_unstable();
        aux.dedup();
        NodePlan {
            outputs,
            aux,
            edges: Vec::new(),
        }
    }

    /// Keeps only the sampled entries `(receiver, sender)` (plus self-loops) instead of the
    /// induced subgraph; sorts them, drops duplicates and self-loops.
    pub fn with_edges(mut self, mut edges: Vec<(u32, u32)>) -> Self {
        edges.retain(|&(r, s)| r != s);
        edges.sort_unstable();
        edges.dedup();
        self.edges = edges;
        self
    }

    /// Copies another plan into this one, keeping allocations.
    pub fn copy_from(&mut self, other: &NodePlan) {
        self.outputs.clone_from(&other.outputs);
        self.aux.clone_from(&other.aux);
        self.edges.clone_from(&other.edges);
    }
}

/// A collated node-level batch: the induced subgraph `G[aux]` (or the plan's sampled entries of
/// it, plus self-loops) as a local CSR whose values are the **full-graph** `D⁻¹A` entries (not
/// renormalised), gathered features, and the output nodes.
/// Reused between steps.
#[derive(Debug, Clone, Default)]
pub struct NodeBatch {
    /// Global id of every local node (sorted).
    pub nodes: Vec<u32>,
    /// Row-major features of the local nodes (`nodes x n_features`).
    pub features: Vec<f32>,
    /// Features per node.
    pub n_features: usize,
    /// Local CSR row pointers (`nodes + 1`).
    pub row_ptr: Vec<u32>,
    /// Row (receiver) of every kept entry, non-decreasing.
    pub rows: Vec<u32>,
    /// Column (sender) of every kept entry, local.
    pub cols: Vec<u32>,
    /// Full-graph `D⁻¹A` value of every kept entry: `1 / deg(row)` in the whole graph.
    pub values: Vec<f32>,
    /// `1 / (kept entries of the row)`: the in-batch mean weight (GraphSAGE), per entry.
    pub mean_values: Vec<f32>,
    /// Whether each local node is an output node.
    pub out_mask: Vec<bool>,
    /// Local index of every output node, ascending.
    pub outputs: Vec<u32>,
    /// Label of every output node (`-1` when unlabelled), aligned with `outputs`.
    pub labels: Vec<i32>,
    /// The entries of the output nodes' rows only (for a last layer that computes only the
    /// outputs): row as an index into `outputs`, non-decreasing.
    pub out_rows: Vec<u32>,
    /// Local column of every output-row entry.
    pub out_cols: Vec<u32>,
    /// `values` of the output-row entries.
    pub out_values: Vec<f32>,
    /// `mean_values` of the output-row entries.
    pub out_mean_values: Vec<f32>,
    /// Number of classes of the graph.
    pub n_classes: usize,
    /// Adjacency entries of the local nodes in the full graph (kept + lost).
    pub full_entries: u64,
}

impl NodeBatch {
    /// Empties the batch for `plan` (buffers kept): its nodes, features and classes set, the
    /// arrays filled next cleared.
    fn reset(&mut self, graph: &NodeGraph, plan: &NodePlan) {
        self.n_features = graph.n_features();
        self.n_classes = graph.n_classes();
        self.nodes.clone_from(&plan.aux);
        self.features.clear();
        self.row_ptr.clear();
        self.rows.clear();
        self.cols.clear();
        self.values.clear();
        self.mean_values.clear();
        self.out_mask.clear();
        self.out_mask.resize(plan.aux.len(), false);
        self.outputs.clear();
        self.labels.clear();
        self.out_rows.clear();
        self.out_cols.clear();
        self.out_values.clear();
        self.out_mean_values.clear();
        self.full_entries = 0;
        self.row_ptr.push(0);
    }

    /// Local nodes.
    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Kept adjacency entries (self-loops included).
    pub fn n_entries(&self) -> usize {
        self.cols.len()
    }

    /// Output nodes.
    pub fn n_outputs(&self) -> usize {
        self.outputs.len()
    }

    /// Entries of the local nodes' full-graph rows that the subgraph drops.
    pub fn lost_entries(&self) -> u64 {
        self.full_entries - self.cols.len() as u64
    }
}

impl geobatch_core::model::Batch for NodeBatch {
    /// Local nodes, kept entries, output nodes.
    fn real(&self) -> geobatch_core::Shape {
        geobatch_core::Shape {
            nodes: self.n_nodes(),
            edges: self.n_entries(),
            graphs: self.n_outputs(),
        }
    }
    /// Node batches are not padded.
    fn padded(&self) -> geobatch_core::Shape {
        geobatch_core::model::Batch::real(self)
    }
}

/// What a trainer predicts for a [`NodeBatch`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodePredictions {
    /// Predicted class of every output node, in `outputs` order.
    pub classes: Vec<u32>,
    /// Summed negative log-likelihood of the labelled output nodes.
    pub nll: f64,
}

/// Collates plans into a reused [`NodeBatch`]; owns a global-to-local scratch map of one `u32` per
/// graph node, reset after every batch.
#[derive(Debug, Default)]
pub struct NodeCollator {
    local: Vec<u32>,
}

impl NodeCollator {
    /// A collator for graphs of any size (the map grows on first use).
    pub fn new() -> Self {
        NodeCollator::default()
    }

    /// Builds the induced subgraph of `plan.aux` (or, when the plan samples edges, those entries
    /// plus self-loops) with the output mask of `plan.outputs`.
    ///
    /// Errors when the plan is empty, not sorted and unique, names a node outside the graph, has
    /// an output node outside its auxiliary set, or samples an entry that is not an adjacency
    /// entry between two of its nodes.
    pub fn collate(
        &mut self,
        graph: &NodeGraph,
        plan: &NodePlan,
        batch: &mut NodeBatch,
    ) -> Result<()> {
        let n = graph.n_nodes();
        if plan.outputs.is_empty() {
            return Err(Error::invalid("a node-level plan has no output node"));
        }
        if !plan.aux.windows(2).all(|w| w[0] < w[1])
            || !plan.outputs.windows(2).all(|w| w[0] < w[1])
            || !plan.edges.windows(2).all(|w| w[0] < w[1])
        {
            return Err(Error::invalid(
                "a node-level plan's nodes must be sorted and unique",
            ));
        }
        if plan.aux.last().is_some_and(|&v| v as usize >= n) {
            return Err(Error::invalid(format!(
                "a node-level plan names node {}, but the graph has {n} nodes",
                plan.aux[plan.aux.len() - 1]
            )));
        }
        if self.local.len() < n {
            self.local = vec![u32::MAX; n];
        }
        for (i, &v) in plan.aux.iter().enumerate() {
            self.local[v as usize] = i as u32;
        }
        let result = self.fill(graph, plan, batch);
        for &v in &plan.aux {
            self.local[v as usize] = u32::MAX;
        }
        result
    }

    fn fill(&self, graph: &NodeGraph, plan: &NodePlan, b: &mut NodeBatch) -> Result<()> {
        b.reset(graph, plan);
        let sampled = &plan.edges;
        let mut next_edge = 0;
        let mut kept_sampled = 0;
        for (i, &v) in plan.aux.iter().enumerate() {
            b.features.extend_from_slice(graph.feature_row(v));
            let nbrs = graph.neighbors(v);
            b.full_entries += nbrs.len() as u64;
            let inv_deg = 1.0 / nbrs.len() as f32;
            let start = b.cols.len();
            // the sampled entries of row v (a contiguous run: both lists are sorted)
            while next_edge < sampled.len() && sampled[next_edge].0 < v {
                next_edge += 1;
            }
            let first = next_edge;
            while next_edge < sampled.len() && sampled[next_edge].0 == v {
                next_edge += 1;
            }
            let row_sampled = &sampled[first..next_edge];
            for &u in nbrs {
                let l = self.local[u as usize];
                if l == u32::MAX {
                    continue;
                }
                if !sampled.is_empty() && u != v {
                    if row_sampled.binary_search(&(v, u)).is_err() {
                        continue;
                    }
                    kept_sampled += 1;
                }
                b.rows.push(i as u32);
                b.cols.push(l);
                b.values.push(inv_deg);
            }
            let kept = b.cols.len() - start;
            let inv_kept = 1.0 / kept.max(1) as f32;
            b.mean_values.extend(std::iter::repeat_n(inv_kept, kept));
            b.row_ptr.push(b.cols.len() as u32);
        }
        self.fill_outputs(graph, plan, b)?;
        if kept_sampled != sampled.len() {
            let bad = sampled
                .iter()
                .find(|&&(r, s)| {
                    plan.aux.binary_search(&r).is_err()
                        || plan.aux.binary_search(&s).is_err()
                        || graph.neighbors(r).binary_search(&s).is_err()
                })
                .copied()
                .unwrap_or_default();
            return Err(Error::invalid(format!(
                "a node-level plan samples the entry {bad:?}, which is not an adjacency entry \
                 between two of its nodes"
            )));
        }
        Ok(())
    }

    /// The output nodes of `plan` in `b`: their mask, labels and the rows of their adjacency
    /// entries (the rows are already in `b`).
    fn fill_outputs(&self, graph: &NodeGraph, plan: &NodePlan, b: &mut NodeBatch) -> Result<()> {
        for &o in &plan.outputs {
            let l = self.local[o as usize];
            if l == u32::MAX {
                return Err(Error::invalid(format!(
                    "output node {o} is not among the plan's auxiliary nodes"
                )));
            }
            b.out_mask[l as usize] = true;
            let k = b.outputs.len() as u32;
            b.outputs.push(l);
            b.labels.push(graph.labels()[o as usize]);
            let (s, e) = (
                b.row_ptr[l as usize] as usize,
                b.row_ptr[l as usize + 1] as usize,
            );
            b.out_rows.extend(std::iter::repeat_n(k, e - s));
            b.out_cols.extend_from_slice(&b.cols[s..e]);
            b.out_values.extend_from_slice(&b.values[s..e]);
            b.out_mean_values.extend_from_slice(&b.mean_values[s..e]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 0-1-2-3 path plus 3-0: a 4-cycle.
    fn cycle4() -> NodeGraph {
        let feats: Vec<f32> = (0..8).map(|x| x as f32).collect();
        NodeGraph::from_edges(
            4,
            &[(0, 1), (1, 2), (2, 3), (3, 0)],
            feats,
            2,
            vec![0, 1, 0, 1],
            [vec![0, 1], vec![2], vec![3]],
        )
        .unwrap()
    }

    #[test]
    fn induced_subgraph_keeps_full_graph_values_and_counts_lost_edges() {
        let g = cycle4();
        let plan = NodePlan::new(vec![1], vec![0, 2]);
        assert_eq!(plan.aux, vec![0, 1, 2]);
        let mut b = NodeBatch::default();
        NodeCollator::new().collate(&g, &plan, &mut b).unwrap();
        assert_eq!(b.nodes, vec![0, 1, 2]);
        assert_eq!(b.features, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        // node 0: {0,1,3} -> keeps 0,1; node 1: {0,1,2}; node 2: {1,2,3} -> keeps 1,2
        assert_eq!(b.row_ptr, vec![0, 2, 5, 7]);
        assert_eq!(b.cols, vec![0, 1, 0, 1, 2, 1, 2]);
        assert_eq!(b.rows, vec![0, 0, 1, 1, 1, 2, 2]);
        assert!(b.values.iter().all(|&v| (v - 1.0 / 3.0).abs() < 1e-7));
        assert_eq!(b.mean_values[0], 0.5);
        assert!((b.mean_values[2] - 1.0 / 3.0).abs() < 1e-7);
        assert_eq!(b.outputs, vec![1]);
        assert_eq!(b.out_mask, vec![false, true, false]);
        assert_eq!(b.labels, vec![1]);
        assert_eq!(b.out_rows, vec![0, 0, 0]);
        assert_eq!(b.out_cols, vec![0, 1, 2]);
        assert_eq!(b.out_values.len(), 3);
        assert_eq!(b.full_entries, 9);
        assert_eq!(b.lost_entries(), 2);
    }

    #[test]
    fn sampled_plans_keep_only_their_entries_and_self_loops() {
        let g = cycle4();
        let plan = NodePlan::new(vec![1], vec![0, 2]).with_edges(vec![(1, 0), (1, 1), (1, 0)]);
        assert_eq!(plan.edges, vec![(1, 0)], "sorted, unique, no self-loop");
        let mut b = NodeBatch::default();
        NodeCollator::new().collate(&g, &plan, &mut b).unwrap();
        // row 0: self-loop; row 1: 0 (sampled) and itself; row 2: self-loop
        assert_eq!(b.row_ptr, vec![0, 1, 3, 4]);
        assert_eq!(b.cols, vec![0, 0, 1, 2]);
        assert!(b.values.iter().all(|&v| (v - 1.0 / 3.0).abs() < 1e-7));
        assert_eq!(b.mean_values, vec![1.0, 0.5, 0.5, 1.0]);
        assert_eq!(b.out_cols, vec![0, 1]);
        assert_eq!(b.lost_entries(), 9 - 4);
        for bad in [(1, 3), (0, 2)] {
            let plan = NodePlan::new(vec![1], vec![0, 2]).with_edges(vec![bad]);
            let e = NodeCollator::new()
                .collate(&g, &plan, &mut b)
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn bad_plans_are_errors_and_the_collator_stays_clean() {
        let g = cycle4();
        let mut c = NodeCollator::new();
        let mut b = NodeBatch::default();
        let bad = NodePlan {
            outputs: vec![3],
            aux: vec![0, 1],
            edges: Vec::new(),
        };
        let e = c.collate(&g, &bad, &mut b).unwrap_err().to_string();
        assert!(e.contains("output node 3 is not among"), "{e}");
        // the map was reset: a later plan sees no stale locals
        c.collate(&g, &NodePlan::new(vec![3], vec![]), &mut b)
            .unwrap();
        assert_eq!(b.cols, vec![0]);
        assert!(
            c.collate(&g, &NodePlan::new(vec![], vec![1]), &mut b)
                .is_err()
        );
        assert!(
            c.collate(&g, &NodePlan::new(vec![9], vec![]), &mut b)
                .is_err()
        );
    }
}
