//! The `python` model end to end: a NumPy-only module (python/tests/linear_numpy.py) checks the
//! arrays it gets on every call (read-only views of the shared segment, jraph's padding layout)
//! while geobatch trains it with every batcher, serially and with prefetch, through sweeps,
//! checkpoints and the report; protocol breaches, Python exceptions and a killed worker end the
//! run with a clear error and readable results; the study's SchNet in JAX compiles once per
//! padded shape.
//!
//! The interpreter is `GEOBATCH_PYTHON`, else `target/python-env/bin/python` (made by
//! `scripts/python-env.sh`, which `.ci/run` calls). Without it (or without NumPy or JAX in it)
//! these tests say so and pass without running, except under CI (`CI` set), where that fails.
//!
//! One integration-test binary (each is a link of the whole stack) that shares one Python
//! environment and its worker modules, its tests in modules named for what they try.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

#[path = "../common/mod.rs"]
mod common;

use common::{geobatch, importing, python, repo, steps_column, steps_table, text};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// An interpreter with PyTorch: `GEOBATCH_TORCH_PYTHON`, else the test interpreter. PyTorch is
/// not in the pinned environment (its wheels bring gigabytes of CUDA libraries), so its tests
/// skip without it, under CI too.
fn torch_python() -> Option<PathBuf> {
    let path = std::env::var_os("GEOBATCH_TORCH_PYTHON").map_or_else(
        || repo().join("target/python-env/bin/python"),
        PathBuf::from,
    );
    importing(&path, "torch, numpy")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

/// A training config on the QM9 fixture with the NumPy module and `options`.
fn numpy_config(python: &Path, batcher: &str, training: &str, options: &str) -> String {
    format!(
        "[experiment]\nname = \"py\"\n[dataset]\nkind = \"qm9\"\nsource = \"fixture\"\n\
         [model]\nkind = \"python\"\npython = \"{}\"\nmodule = \"{}\"\noptions = {{ {options} }}\n\
         [batcher]\n{batcher}\n[training]\n{training}\n\
         [[sinks]]\nkind = \"parquet\"\nrows_per_part = 7\n[[sinks]]\nkind = \"console\"\nprogress = false\n",
        python.display(),
        repo().join("python/tests/linear_numpy.py").display()
    )
}

mod jax_schnet;
mod numpy_model;
