//! `training.threads`: every model trains to the same bits on 1, 2 and 3 kernel threads, and the
//! run records the count it used.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use geobatch_testkit::results::{read, run_count};
use std::path::Path;

mod common;
use common::{geobatch, run_dirs, steps_table, text};

/// The evaluation metrics of a run (every row's rmse, mae and accuracy, as bits).
fn eval_bits(run: &Path) -> Vec<u64> {
    let mut out = Vec::new();
    for b in read(&run.join("evals.parquet")) {
        for name in ["rmse", "mae", "accuracy"] {
            let c = b
                .column_by_name(name)
                .unwrap()
                .as_primitive::<Float64Type>();
            out.extend((0..c.len()).map(|i| {
                if c.is_null(i) {
                    0
                } else {
                    c.value(i).to_bits()
                }
            }));
        }
    }
    out
}

#[test]
fn every_model_trains_to_the_same_bits_on_any_number_of_threads() {
    let dir = tempfile::tempdir().unwrap();
    let graph = |model: &str| {
        format!(
            "[experiment]\nname = \"threads\"\nseed = 5\n[dataset]\nkind = \"qm9\"\nsource = \"fixture\"\n\
             [model]\n{model}\n[batcher]\nkind = \"dynamic\"\nbatch_size = 32\n\
             [training]\nsteps = 8\neval_every = 4\neval_splits = [\"validation\"]\nthreads = THREADS\n\
             [[sinks]]\nkind = \"parquet\"\n"
        )
    };
    let cases = [
        ("schnet", graph("kind = \"schnet\"")),
        ("mpeu", graph("kind = \"mpeu\"")),
        ("painn", graph("kind = \"painn\"\nhidden = 32")),
        (
            "gcn (node-level, prefetch)",
            "[experiment]\nname = \"threads\"\nseed = 5\n[dataset]\nkind = \"sbm\"\nnodes = 3000\n\
             [model]\nkind = \"gcn\"\nhidden = 32\nlayers = 2\n[batcher]\nkind = \"cluster\"\nnum_parts = 4\n\
             [training]\nepochs = 2\neval_every = 1\nmode = \"prefetch\"\nthreads = THREADS\n\
             [[sinks]]\nkind = \"parquet\"\n"
                .to_string(),
        ),
    ];
    for (case, (label, config)) in cases.iter().enumerate() {
        let mut seen = Vec::new();
        for threads in [1u64, 2, 3] {
            let work = dir.path().join(format!("case{case}-{threads}"));
            std::fs::create_dir_all(&work).unwrap();
            let cfg = work.join("run.toml");
            std::fs::write(&cfg, config.replace("THREADS", &threads.to_string())).unwrap();
            let o = geobatch(&work, &["run", cfg.to_str().unwrap()]);
            assert!(
                o.status.success(),
                "{label}, {threads} threads: {}",
                text(&o)
            );
            let runs = run_dirs(&work.join("results"));
            assert_eq!(runs.len(), 1, "{label}");
            let prefetch = u64::from(label.contains("prefetch"));
            assert_eq!(
                run_count(&runs[0], "threads"),
                threads + prefetch,
                "{label}: run.parquet records the kernel threads (and the batcher thread)"
            );
            let losses: Vec<(u64, u32)> = steps_table(&runs[0])
                .into_iter()
                .map(|(s, l)| (s, l.to_bits()))
                .collect();
            assert!(!losses.is_empty(), "{label}: no steps");
            seen.push((losses, eval_bits(&runs[0])));
        }
        for (i, t) in [(1, 2), (2, 3)] {
            assert!(
                seen[i].0 == seen[0].0,
                "{label}: the losses on {t} threads differ from 1 thread"
            );
            assert!(
                seen[i].1 == seen[0].1,
                "{label}: the evaluations on {t} threads differ from 1 thread"
            );
        }
    }
}

#[test]
fn a_thread_count_of_zero_is_refused_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("zero.toml");
    std::fs::write(
        &cfg,
        "[experiment]\nname = \"t\"\n[dataset]\nkind = \"qm9\"\nsource = \"fixture\"\n[model]\nkind = \"schnet\"\n\
         [batcher]\nkind = \"dynamic\"\nbatch_size = 8\n[training]\nthreads = 0\n",
    )
    .unwrap();
    let o = geobatch(dir.path(), &["validate", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("training.threads = 0"), "{}", text(&o));
    let text_of = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text_of.replace("threads = 0\n", "")).unwrap();
    let o = geobatch(
        dir.path(),
        &[
            "bench",
            "step",
            cfg.to_str().unwrap(),
            "--threads",
            "0",
            "--steps",
            "1",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("invalid value '0' for '--threads"),
        "{}",
        text(&o)
    );
}
