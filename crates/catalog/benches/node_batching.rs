//! Node-level batching on a generated 100,000-node stochastic block model (mean degree 10, 16
//! features): the PPR push of 1,000 output nodes, the whole node-wise IBMB build for 10,000
//! training outputs, METIS and the pure-Rust partitioner into 16 parts, and the collation of one
//! ~10,000-node batch into its induced subgraph.
//!
//! Run: `cargo bench -p geobatch-catalog --bench node_batching`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use geobatch_catalog::batcher_nodes::partition::{Partitioner, grow, partition};
use geobatch_catalog::batcher_nodes::ppr::push_all;
use geobatch_catalog::batcher_nodes::{IbmbNodeSpec, Order};
use geobatch_catalog::dataset_graphs::SbmParams;
use geobatch_core::{BatcherSpec, SplitName};
use geobatch_node::{NodeBatch, NodeBatcherContext, NodeCollator, NodeGraph, NodePlan};
use std::hint::black_box;

fn graph() -> NodeGraph {
    let p = SbmParams {
        nodes: 100_000,
        classes: 8,
        communities: 100,
        avg_degree: 10.0,
        homophily: 0.8,
        features: 16,
        signal: 0.3,
    };
    let g = p.generate(0).expect("sbm");
    let train: Vec<u32> = (0..100_000).step_by(10).collect();
    NodeGraph::from_edges(
        100_000,
        &g.edges,
        g.features,
        16,
        g.labels,
        [train, vec![], vec![]],
    )
    .expect("graph")
}

fn bench(c: &mut Criterion) {
    let g = graph();
    let mut group = c.benchmark_group("node-batching");
    group.sample_size(10);
    let sources: Vec<u32> = g.split(SplitName::Train)[..1000].to_vec();
    group.throughput(Throughput::Elements(1000));
    group.bench_function("ppr-push-1000-sources", |b| {
        b.iter(|| black_box(push_all(&g, &sources, 0.25, 2e-4, |_, e| e.len())))
    });
    group.throughput(Throughput::Elements(10_000));
    let spec = IbmbNodeSpec {
        outputs_per_batch: 1000,
        topk: 16,
        alpha: 0.25,
        eps: 2e-4,
        max_aux: None,
        order: Order::Order,
        inference_scale: 2,
    };
    let ctx = NodeBatcherContext {
        graph: &g,
        outputs: g.split(SplitName::Train),
        split: SplitName::Train,
        training: true,
        seed: 0,
    };
    group.bench_function("ibmb-node-build-10000-outputs", |b| {
        b.iter(|| black_box(spec.build(&ctx).expect("build").batches_per_epoch()))
    });
    group.throughput(Throughput::Elements(100_000));
    if Partitioner::Metis.check().is_ok() {
        group.bench_function("metis-16-parts", |b| {
            b.iter(|| black_box(partition(&g, 16, Partitioner::Metis, 0).expect("metis")))
        });
    }
    group.bench_function("grow-16-parts", |b| b.iter(|| black_box(grow(&g, 16, 0))));
    let mut plan = NodePlan::default();
    let mut batcher = spec.build(&ctx).expect("build");
    batcher.start_epoch(0).expect("epoch");
    batcher.next_plan(&g, &mut plan).expect("plan");
    let mut batch = NodeBatch::default();
    let mut collator = NodeCollator::new();
    group.throughput(Throughput::Elements(plan.aux.len() as u64));
    group.bench_function("collate-one-ibmb-batch", |b| {
        b.iter(|| {
            collator.collate(&g, &plan, &mut batch).expect("collate");
            black_box(batch.n_entries())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
