//! Node-level tasks as a user runs them: every node batcher on a generated graph, GCN on Cora and
//! CiteSeer (skipped when `../shared/data/graphs` is absent), and bad input.
//!
//! One integration-test binary (each is a link of the whole stack), its tests in modules named for
//! what they try; the node-level commands share its generated graphs and helpers.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use geobatch_testkit::results::{read, run_count, run_value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[path = "../common/mod.rs"]
mod common;

use common::{eval_rows, geobatch, geobatch_with, repo, steps_table, text};

/// The single run folder below `results/<experiment>` whose name starts with `prefix`.
fn run_dir(dir: &Path, experiment: &str, prefix: &str) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir.join("results").join(experiment))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    assert_eq!(found.len(), 1, "{prefix}: {found:?}");
    found.pop().unwrap()
}

/// Accuracy of every (split, inference) evaluated at the last step.
fn final_accuracy(run: &Path) -> HashMap<(String, String), f64> {
    let rows = eval_rows(run);
    let last = rows.iter().map(|r| r.0).max().unwrap();
    rows.into_iter()
        .filter(|r| r.0 == last)
        .map(|r| ((r.1, r.2), r.3))
        .collect()
}

/// Validation accuracies of the periodic evaluations (all but the last step) with `inference`.
fn validation_history(run: &Path, inference: &str) -> Vec<f64> {
    let rows = eval_rows(run);
    let last = rows.iter().map(|r| r.0).max().unwrap_or(0);
    rows.into_iter()
        .filter(|r| r.0 < last && r.1 == "validation" && r.2 == inference)
        .map(|r| r.3)
        .collect()
}

fn sbm_config(dir: &Path, batcher: &str) -> PathBuf {
    let p = dir.join(format!("sbm-{}.toml", batcher.split('"').nth(1).unwrap()));
    std::fs::write(
        &p,
        format!(
            "[experiment]\nname = \"sbm\"\nseed = 3\n\
             [dataset]\nkind = \"sbm\"\nnodes = 3000\nclasses = 4\ncommunities = 16\navg_degree = 8\nsignal = 0.5\n\
             [model]\nkind = \"gcn\"\nhidden = 32\nlayers = 2\n\
             [batcher]\n{batcher}\n\
             [training]\nepochs = 8\neval_every = 4\noptimizer = {{ learning_rate = 0.01 }}\n\
             [[sinks]]\nkind = \"parquet\"\n"
        ),
    )
    .unwrap();
    p
}

fn ogb(dir: &Path, edges: &str, labels: &str) {
    for (p, t) in [
        ("raw/edge.csv", edges),
        ("raw/node-feat.csv", "1,0\n0,1\n1,1\n0,0\n"),
        ("raw/node-label.csv", labels),
        ("split/s/train.csv", "0\n1\n"),
        ("split/s/valid.csv", "3\n"),
        ("split/s/test.csv", "2\n"),
    ] {
        let p = dir.join("g").join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, t).unwrap();
    }
}

mod batchers;
mod citations;
mod runs;
