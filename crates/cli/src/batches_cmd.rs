//! `geobatch batches CONFIG`: the batching study (no model), graph- or node-level.

use crate::signals::{STOPPING, finished, stop_on_ctrl_c};
use geobatch_datafiles::output::{self, Accept, Inputs};
use geobatch_runner::jobs::{AnyConfig, Request};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

/// The arguments of `geobatch batches`.
#[derive(Debug, clap::Args)]
pub struct BatchesArgs {
    /// Experiment config (TOML).
    pub config: PathBuf,
    /// Batches to make (overrides `[batches] steps`).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Also write every batch's plan to this CSV file (step, real and padded shape, graph
    /// indices in the split), to compare with another planner's.
    #[arg(long, value_name = "FILE")]
    pub plans: Option<PathBuf>,
    /// Replace a file already at --plans (never the config this command reads).
    #[arg(long, requires = "plans")]
    pub force: bool,
    /// Override a config value: `--set batcher.batch_size=64` (dotted key, TOML value).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// Runs the batching study and prints its summary; exit 0, or 130 when a signal stopped it.
pub fn run(args: BatchesArgs) -> anyhow::Result<ExitCode> {
    let BatchesArgs {
        config,
        steps,
        plans,
        force,
        overrides,
    } = args;
    // the plans' CSV: never the config, a file there only with --force, a stream in place
    let plans = plans
        .map(|p| {
            let inputs = Inputs::new().file(&config, "the config");
            output::resolve(&p, "--plans", &inputs, Accept::Streams, force)
        })
        .transpose()
        .map_err(geobatch_runner::RunError::Core)?;
    let request = Request::Batches {
        steps,
        plans: plans.is_some(),
    };
    let loaded = AnyConfig::open(&config, &overrides, request)?;
    let stop = stop_on_ctrl_c(STOPPING);
    geobatch_process::out!("{}", loaded.batches(steps, plans.as_ref(), &stop)?);
    Ok(finished(stop.load(Ordering::SeqCst)))
}
