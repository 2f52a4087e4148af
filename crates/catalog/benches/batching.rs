//! Plan + collate of one batch for QM9-sized synthetic molecules (fully connected, 3-29 atoms,
//! mean 18), at batch sizes 16/32/64/128, for the dynamic, static-64 and pack batchers.
//!
//! Run: `cargo bench -p geobatch-catalog --bench batching`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use geobatch_catalog::batcher_dynamic::DynamicSpec;
use geobatch_catalog::batcher_static::{Pad, StaticSpec};
use geobatch_catalog::dataset_synthetic::SyntheticSpec;
use geobatch_core::{
    BatchSize, BatcherContext, BatcherSpec, GraphBatch, GraphDraw, GraphStream, Plan, Quirks,
    StreamMode,
};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let spec: SyntheticSpec = toml::from_str("graphs = 5000").expect("valid synthetic spec");
    let set = spec.generate(42).expect("synthetic molecules");
    let mut group = c.benchmark_group("plan+collate");
    for bs in [16usize, 32, 64, 128] {
        let pack: Box<dyn BatcherSpec> =
            toml::from_str(&format!("kind = \"pack\"\nbatch_size = {bs}\n")).expect("pack spec");
        let batchers: [(&str, Box<dyn BatcherSpec>); 3] = [
            (
                "dynamic",
                Box::new(DynamicSpec {
                    batch_size: BatchSize::try_from(bs).expect("a batch size"),
                    num_estimation_graphs: None,
                    budget: None,
                }),
            ),
            (
                "static-64",
                Box::new(StaticSpec {
                    batch_size: BatchSize::try_from(bs).expect("a batch size"),
                    pad: Pad::Multiple64,
                }),
            ),
            ("pack", pack),
        ];
        for (name, spec) in batchers {
            let ctx = BatcherContext {
                sizes: set.sizes(),
                split: "train",
                quirks: Quirks::Clean,
            };
            let mut batcher = spec.build(&ctx).expect("batcher");
            let mut stream =
                GraphStream::new(set.len(), StreamMode::Train, 42, Quirks::Clean, "train")
                    .expect("stream");
            let (mut plan, mut batch) = (Plan::default(), GraphBatch::new());
            group.throughput(Throughput::Elements(bs as u64));
            group.bench_with_input(BenchmarkId::new(name, bs), &bs, |b, _| {
                b.iter(|| {
                    batcher
                        .next_plan(GraphDraw::new(&mut stream, set.sizes()), &mut plan)
                        .expect("plan");
                    batch.collate(&set, &plan).expect("collate");
                    black_box(batch.senders.len())
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
