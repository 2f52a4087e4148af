//! `geobatch run CONFIG`: train a config's model, with the runner's run policy for its folder (start, `--resume`, `--restart`, already complete).

use crate::signals::{STOPPING, finished, stop_on_ctrl_c};
use geobatch_core::RunStatus;
use geobatch_runner::jobs::{AnyConfig, Request};
use geobatch_runner::policy::{self, Ask, Claim, RunState};
use std::path::PathBuf;
use std::process::ExitCode;

/// The arguments of `geobatch run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Experiment config (TOML).
    pub config: PathBuf,
    /// Training steps (same as `--set training.steps=N`).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Training epochs of a node-level config (same as `--set training.epochs=N`).
    #[arg(long)]
    pub epochs: Option<u64>,
    /// Override a config value: `--set model.latent=32` (dotted key, TOML value).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Continue from the run's last checkpoint if it has one (same config, same results folder).
    #[arg(long)]
    pub resume: bool,
    /// Discard an earlier run of the same config (complete or not) and start over.
    #[arg(long)]
    pub restart: bool,
}

/// Trains the config's model; exit 0, or 130 when a signal stopped it.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let RunArgs {
        config,
        steps,
        epochs,
        overrides,
        resume,
        restart,
    } = args;
    let loaded = AnyConfig::open(&config, &overrides, Request::Train { steps, epochs })?;
    loaded.require_model()?;
    warn_without_sinks(&loaded);
    let dir = loaded.run_dir();
    let shown = dir.display();
    // the lock is held until the run ends: a second process on the folder is refused
    let claim = policy::claim(&dir, Ask::Run { resume, restart })?;
    match &claim {
        Claim::Damaged(why) => {
            return Err(geobatch_runner::RunError::Core(geobatch_core::Error::Refused(format!(
                "{shown} says it is complete, but it is not what it recorded: {why}; it is left \
                 as it is: --restart runs it again and replaces it"
            )))
            .into());
        }
        Claim::Complete => {
            geobatch_process::outln!(
                "already complete: {shown} (its results are left as they are; \
                 --restart runs it again and replaces them)"
            );
            return Ok(ExitCode::SUCCESS);
        }
        Claim::Run {
            state: RunState::Fresh,
            resume: true,
            ..
        } => geobatch_process::errln!(
            "nothing to resume in {shown}: starting from the first step (a config changed \
             by --steps or --set is another run, in another folder)"
        ),
        Claim::Run { .. } | Claim::Busy => {}
    }
    let stop = stop_on_ctrl_c(STOPPING);
    let run = loaded.train(&stop, resume)?;
    geobatch_process::out!("{}", run.summary);
    Ok(finished(run.status == RunStatus::Interrupted))
}

/// Says on stderr that a config without `[[sinks]]` records nothing of its run.
fn warn_without_sinks(loaded: &AnyConfig) {
    if !loaded.has_sinks() {
        geobatch_process::errln!(
            "warning: the config has no [[sinks]]: nothing of this run is recorded (add \
             [[sinks]] kind = \"parquet\" to keep its results)"
        );
    }
}
