//! The `geobatch` binary as a user runs it: smoke configs, listings, bad input and a run killed
//! mid-way.
//!
//! One integration-test binary of the built `geobatch` (each test file is a binary to link against
//! the whole stack, minutes on CI's two cores), its tests in modules named for what they try.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use arrow_array::cast::AsArray;
use geobatch_testkit::results::run_value;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

#[path = "../common/mod.rs"]
mod common;

use common::{
    QUICK_RUN, assert_refused, binary, geobatch, geobatch_with, kill_when, repo, run_dirs,
    signal_when, steps_column, steps_table, text, walk, with_sets,
};

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_string_lossy().into_owned()
}

const HEAD: &str = "[experiment]\nname = \"bad\"\n[dataset]\nkind = \"synthetic\"\ngraphs = 60\n";

mod bad_input;
mod bench_step;
mod configs;
mod crystals;
mod kills;
#[cfg(feature = "mpi")]
mod mpi;
mod ranks;
mod stores;
mod sweeps;
