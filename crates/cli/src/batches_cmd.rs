//! `geobatch batches CONFIG`: the batching study (no model), graph- or node-level.

use crate::plugins::UsageError;
use crate::signals::{STOPPING, finished, stop_on_ctrl_c};
use geobatch_runner::LoadedConfig;
use geobatch_runner::jobs::AnyConfig;
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
        overrides,
    } = args;
    if crate::is_node_level(&config, &overrides)? {
        if plans.is_some() {
            anyhow::bail!(UsageError(
                "--plans writes graph-level plans; a node-level study has none".into()
            ));
        }
        if steps.is_some() {
            anyhow::bail!(UsageError(
                "a node-level batching study counts epochs: --set batches.epochs=N".into()
            ));
        }
        let stop = stop_on_ctrl_c(STOPPING);
        print!(
            "{}",
            AnyConfig::from_file_with(&config, &overrides)?.batches(&stop)?
        );
        return Ok(finished(stop.load(Ordering::SeqCst)));
    }
    let loaded = LoadedConfig::from_file_with(&config, &overrides)?;
    let stop = stop_on_ctrl_c(STOPPING);
    let summary = geobatch_runner::run_batches_with_plans(&loaded, steps, plans.as_deref(), &stop)?;
    print!("{}", summary.render());
    Ok(finished(stop.load(Ordering::SeqCst)))
}
