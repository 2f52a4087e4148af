//! Every node batcher, built for training and for inference, covers its output nodes exactly once
//! per epoch, keeps each output inside its batch, and is reproducible from the seed.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_batcher_nodes::{
    ClusterSpec, FullSpec, IbmbBatchSpec, IbmbNodeSpec, NeighborSpec, Order, Partitioner,
};
use geobatch_core::{BatcherSpec, SplitName};
use geobatch_node::{NodeBatcherContext, NodeGraph, NodeLevel, NodePlan};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Two dense halves joined by a few edges, so partitions and PPR have structure.
fn graph(n: u32, m: usize) -> NodeGraph {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let edges: Vec<(u32, u32)> = (0..m)
        .map(|i| {
            let a = (i % 2) as u32 * (n / 2) + rng.random_range(0..n / 2);
            let b = if i % 20 == 0 {
                rng.random_range(0..n)
            } else {
                (i % 2) as u32 * (n / 2) + rng.random_range(0..n / 2)
            };
            (a, b)
        })
        .collect();
    let labels: Vec<i32> = (0..n)
        .map(|v| i32::from(v >= n / 2) * 2 + (v % 2) as i32)
        .collect();
    let train: Vec<u32> = (0..n).filter(|v| v % 3 == 0).collect();
    let test: Vec<u32> = (0..n).filter(|v| v % 3 == 1).collect();
    let n = n as usize;
    NodeGraph::from_edges(n, &edges, vec![0.0; n], 1, labels, [train, vec![], test]).unwrap()
}

fn epoch_plans(
    spec: &dyn BatcherSpec<NodeLevel>,
    g: &NodeGraph,
    split: SplitName,
    training: bool,
    epoch: u64,
) -> Vec<NodePlan> {
    let ctx = NodeBatcherContext {
        graph: g,
        outputs: g.split(split),
        split,
        training,
        seed: 9,
    };
    let mut b = spec.build(&ctx).unwrap();
    b.start_epoch(epoch).unwrap();
    let mut plans = Vec::new();
    let mut p = NodePlan::default();
    while b.next_plan(g, &mut p).unwrap() {
        plans.push(p.clone());
    }
    assert_eq!(Some(plans.len()), b.batches_per_epoch(), "{}", spec.label());
    plans
}

fn ibmb_node() -> IbmbNodeSpec {
    IbmbNodeSpec {
        outputs_per_batch: 50,
        topk: 8,
        alpha: 0.25,
        eps: 1e-3,
        max_aux: None,
        order: Order::Order,
        inference_scale: 2,
    }
}

fn ibmb_batch() -> IbmbBatchSpec {
    IbmbBatchSpec {
        num_parts: 5,
        inference_parts: None,
        expand_ratio: 1.0,
        alpha: 0.25,
        iters: 20,
        partitioner: Partitioner::Grow,
        order: Order::Sample,
    }
}

#[test]
fn every_batcher_covers_its_outputs_exactly_once_per_epoch() {
    let g = graph(600, 3000);
    let specs: Vec<Box<dyn BatcherSpec<NodeLevel>>> = vec![
        Box::new(IbmbNodeSpec {
            outputs_per_batch: 37,
            ..ibmb_node()
        }),
        Box::new(IbmbNodeSpec {
            max_aux: Some(120),
            ..ibmb_node()
        }),
        Box::new(ibmb_batch()),
        Box::new(IbmbBatchSpec {
            partitioner: Partitioner::Auto,
            order: Order::Rand,
            ..ibmb_batch()
        }),
        Box::new(ClusterSpec {
            num_parts: 7,
            inference_parts: None,
            partitioner: Partitioner::Grow,
            order: Order::Rand,
        }),
        Box::new(NeighborSpec {
            batch_size: 45,
            fanouts: vec![4, 3],
            inference_scale: 2,
        }),
        Box::new(FullSpec {}),
    ];
    for spec in &specs {
        for (split, training) in [(SplitName::Train, true), (SplitName::Test, false)] {
            let infer = spec.facts().inference;
            let spec: &dyn BatcherSpec<NodeLevel> = match (training, &infer) {
                (false, Some(infer)) => infer.as_ref(),
                _ => spec.as_ref(),
            };
            for epoch in 0..2 {
                let plans = epoch_plans(spec, &g, split, training, epoch);
                let mut outs: Vec<u32> = plans.iter().flat_map(|p| p.outputs.clone()).collect();
                outs.sort_unstable();
                assert_eq!(
                    outs,
                    g.split(split),
                    "{}: outputs not covered exactly once",
                    spec.label()
                );
                for p in &plans {
                    assert!(
                        p.outputs.iter().all(|o| p.aux.binary_search(o).is_ok()),
                        "{}",
                        spec.label()
                    );
                    assert!(p.aux.windows(2).all(|w| w[0] < w[1]), "{}", spec.label());
                }
                let again = epoch_plans(spec, &g, split, training, epoch);
                assert_eq!(plans, again, "{}: not reproducible", spec.label());
            }
        }
    }
}

#[test]
fn neighbor_batches_keep_exactly_the_sampled_fanout_of_each_output() {
    use geobatch_node::{NodeBatch, NodeCollator};
    let g = graph(600, 3000);
    let spec = NeighborSpec {
        batch_size: 45,
        fanouts: vec![4, 3],
        inference_scale: 2,
    };
    let mut collator = NodeCollator::new();
    let (mut sampled, mut induced) = (NodeBatch::default(), NodeBatch::default());
    for p in epoch_plans(&spec, &g, SplitName::Train, true, 0) {
        assert!(!p.edges.is_empty());
        collator.collate(&g, &p, &mut sampled).unwrap();
        for (k, &o) in p.outputs.iter().enumerate() {
            let row = sampled
                .out_rows
                .iter()
                .filter(|&&r| r as usize == k)
                .count();
            // up to 4 distinct neighbours besides the self-loop, every one kept
            let want = (g.degree(o) as usize - 1).min(4) + 1;
            assert_eq!(row, want, "output {o}");
        }
        // no row keeps more than the larger fanout plus its self-loop
        assert!(sampled.row_ptr.windows(2).all(|w| w[1] - w[0] <= 5));
        let whole = NodePlan::new(p.outputs.clone(), p.aux.clone());
        collator.collate(&g, &whole, &mut induced).unwrap();
        assert!(sampled.n_entries() < induced.n_entries());
    }
}
