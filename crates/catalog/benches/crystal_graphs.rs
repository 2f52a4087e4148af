//! Periodic kNN graph construction (k = 12, the study's growing search radius) for every
//! Carbon-24 and Perov-5 structure in `../shared/data/crystals` (CIF parsing excluded), and the
//! whole load (read gzip CSV, parse CIFs, build graphs). Skips when the shared data is absent.
//!
//! Run: `cargo bench -p geobatch-catalog --bench crystal_graphs`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use geobatch_catalog::dataset_cif::table::{self, Columns};
use geobatch_core::GraphRule;
use geobatch_geometry::GraphSetBuilder;
use std::hint::black_box;
use std::path::Path;

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/crystals");
    let mut group = c.benchmark_group("crystal-graphs");
    group.sample_size(10);
    for (name, target) in [("carbon24", "energy_per_atom"), ("perov5", "heat_all")] {
        let dir = root.join(name);
        if !dir.is_dir() {
            eprintln!("skipped {name}: {} is absent", dir.display());
            continue;
        }
        let targets = [target.to_string()];
        let cols = Columns {
            id: "material_id",
            cif: "cif",
            targets: &targets,
        };
        let read_all = || {
            let mut b = GraphSetBuilder::new(targets.to_vec());
            for f in table::tables(&dir).expect("tables") {
                for row in table::read(&f, &cols).expect("rows") {
                    let y = row.targets[0].unwrap_or(0.0) as f32;
                    row.crystal
                        .expect("readable CIF")
                        .push_to(&mut b, &[y])
                        .expect("valid crystal");
                }
            }
            b
        };
        let builder = read_all();
        let rule = GraphRule::Knn { k: 12 };
        group.throughput(Throughput::Elements(builder.len() as u64));
        group.bench_function(format!("{name}/knn12-graphs"), |b| {
            b.iter(|| black_box(builder.clone().build(&rule, None).expect("graphs")))
        });
        group.bench_function(format!("{name}/read+parse+graphs"), |b| {
            b.iter(|| black_box(read_all().build(&rule, None).expect("graphs")))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
