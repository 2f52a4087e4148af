//! Parsing speed of extended XYZ: a generated file of 1,000,000 atoms (1,000 periodic frames of
//! 1,000 atoms with species, positions and forces, energy, stress, Lattice and pbc on the comment
//! line), read from disk and parsed into frames. The target: under 2 s.
//!
//! `cargo bench -p geobatch-dataset-extxyz --bench parse`

#![allow(clippy::unwrap_used)] // benches fail loudly on purpose

use criterion::{Criterion, criterion_group, criterion_main};
use geobatch_dataset_extxyz::{frames, sources};
use std::fmt::Write;
use std::hint::black_box;

/// Frames of `atoms` atoms each, `total` atoms in all, as ASE writes them.
fn generate(frames: usize, atoms: usize) -> String {
    let species = ["Al", "O", "Si", "H"];
    let mut s = String::with_capacity(frames * atoms * 110);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    for f in 0..frames {
        writeln!(s, "{atoms}").unwrap();
        writeln!(
            s,
            "Lattice=\"24.0 0.0 0.0 0.0 24.0 0.0 0.0 0.0 24.0\" \
             Properties=species:S:1:pos:R:3:forces:R:3 energy={:.10} \
             stress=\"0.1 0.0 0.0 0.0 0.1 0.0 0.0 0.0 0.1\" step={f} pbc=\"T T T\"",
            -3.0 * atoms as f64 + next()
        )
        .unwrap();
        for a in 0..atoms {
            writeln!(
                s,
                "{:<2} {:16.8} {:16.8} {:16.8} {:16.8} {:16.8} {:16.8}",
                species[a % 4],
                24.0 * next(),
                24.0 * next(),
                24.0 * next(),
                next() - 0.5,
                next() - 0.5,
                next() - 0.5
            )
            .unwrap();
        }
    }
    s
}

fn parse(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("million.xyz");
    std::fs::write(&path, generate(1000, 1000)).unwrap();
    let name = path.display().to_string();
    let mut g = c.benchmark_group("extxyz");
    g.sample_size(10);
    g.bench_function("read and parse 1,000,000 atoms", |b| {
        b.iter(|| {
            let text = sources::read(&path).unwrap();
            let mut atoms = 0;
            for f in frames::frames(&text, &name, &[]) {
                atoms += f.unwrap().numbers.len();
            }
            assert_eq!(atoms, 1_000_000);
            black_box(atoms)
        })
    });
    let keep = vec!["forces".to_string()];
    g.bench_function("read and parse 1,000,000 atoms keeping forces", |b| {
        b.iter(|| {
            let text = sources::read(&path).unwrap();
            let mut n = 0;
            for f in frames::frames(&text, &name, &keep) {
                n += f.unwrap().columns.len();
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
