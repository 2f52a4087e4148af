//! `geobatch batches CONFIG`: the batching study (no model), graph- or node-level; with
//! `--world-size`, the straggler study of a distributed run's plans (graph-level).

use crate::signals::{STOPPING, finished, stop_on_ctrl_c};
use geobatch_datafiles::output::{self, Accept, Inputs};
use geobatch_runner::jobs::{AnyConfig, Request};
use geobatch_runner::straggler;
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
    /// The straggler study instead: deal one epoch's plan to each of these numbers of ranks
    /// (comma-separated) and compare how evenly each batcher shares out a step with torch's
    /// DistributedSampler and fairchem's max-atoms sampler (docs/distributed.md).
    #[arg(long, value_delimiter = ',', value_name = "W,...", conflicts_with_all = ["steps", "plans"])]
    pub world_size: Vec<usize>,
    /// With --world-size: the batchers compared, comma-separated, each KIND[:KEY=VALUE...];
    /// default: dynamic, static with pad=multiple64, pow2 and constant, pack, atoms and the
    /// config's own.
    #[arg(long, value_delimiter = ',', requires = "world_size")]
    pub batchers: Vec<String>,
    /// With --world-size: leave out what does not divide among the ranks instead of repeating
    /// it (torch's drop_last).
    #[arg(long, requires = "world_size")]
    pub drop_last: bool,
    /// With --world-size: epochs pooled per row (default: enough for 256 steps, at most 100).
    #[arg(long, requires = "world_size")]
    pub epochs: Option<u64>,
}

/// Runs the batching study and prints its summary; exit 0, or 130 when a signal stopped it.
pub fn run(args: BatchesArgs) -> anyhow::Result<ExitCode> {
    let BatchesArgs {
        config,
        steps,
        plans,
        force,
        overrides,
        world_size,
        batchers,
        drop_last,
        epochs,
    } = args;
    if !world_size.is_empty() {
        let request = straggler::Request {
            config,
            overrides,
            world_sizes: world_size,
            batchers,
            drop_last,
            epochs,
        };
        let stop = stop_on_ctrl_c(STOPPING);
        geobatch_process::out!("{}", straggler::run(&request, &stop)?);
        return Ok(finished(stop.load(Ordering::SeqCst)));
    }
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
