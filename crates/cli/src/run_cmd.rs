//! `geobatch run CONFIG`: train a config's model, with the runner's run policy for its folder (start, `--resume`, `--restart`, already complete).

use crate::signals::{STOPPING, finished, stop_on_ctrl_c};
use geobatch_core::RunStatus;
use geobatch_runner::jobs::{AnyConfig, Request};
use geobatch_runner::policy::{self, Ask, Claim, RunState};
use geobatch_runner::world;
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
    // a launcher's ranks join their world first: the run's folder is named by its size
    if let Some(world) = world::from_launcher()? {
        world::join(world)?;
    }
    let loaded = AnyConfig::open(&config, &overrides, Request::Train { steps, epochs })?;
    loaded.require_model()?;
    if world::current().rank() == 0 {
        warn_without_sinks(&loaded);
    }
    let dir = loaded.run_dir();
    let shown = dir.display();
    if resume {
        refuse_another_world(&dir)?;
    }
    // the lock is held until the run ends: a second process on the folder is refused; in a
    // world of ranks rank 0 holds it and the others follow what it found
    let claim = match world::current().rank() {
        0 => Some(policy::claim(&dir, Ask::Run { resume, restart })?),
        _ => None,
    };
    if !follow_the_claim(claim.as_ref())? {
        return Ok(ExitCode::SUCCESS);
    }
    let Some(claim) = claim else {
        return train(&loaded, resume);
    };
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
    train(&loaded, resume)
}

/// `--resume` of a run that this world has not started, where the same run was trained by
/// another number of ranks: refused, naming its folder (a world of W ranks takes W batches a
/// step: another run, which `--resume` would otherwise start from its first step).
fn refuse_another_world(dir: &std::path::Path) -> anyhow::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let Some((w, other)) = geobatch_runner::identity::other_worlds(dir)
        .into_iter()
        .next()
    else {
        return Ok(());
    };
    let here = world::current().size();
    let ranks = |n: usize| match n {
        1 => "one process".to_string(),
        n => format!("{n} ranks"),
    };
    let how = match w {
        1 => "in one process, started without mpirun or srun".to_string(),
        w => format!("with {w} ranks (mpirun -n {w} or srun -n {w})"),
    };
    Err(
        geobatch_runner::RunError::Core(geobatch_core::Error::Refused(format!(
            "--resume: this run was trained by {} in {}; {} would be another run (its steps take \
         {here} batch(es) each, not {w}): resume it {how}, or leave out --resume to start a run \
         of its own with {}",
            ranks(w),
            other.display(),
            ranks(here),
            ranks(here),
        )))
        .into(),
    )
}

/// Trains the claimed run; exit 0, or 130 when a signal stopped it.
fn train(loaded: &AnyConfig, resume: bool) -> anyhow::Result<ExitCode> {
    let stop = stop_on_ctrl_c(STOPPING);
    let run = loaded.train(&stop, resume)?;
    if world::current().rank() == 0 {
        geobatch_process::out!("{}", run.summary);
    }
    Ok(finished(run.status == RunStatus::Interrupted))
}

/// Whether the ranks of a world go on to train after rank 0's `claim` of the run's folder (it
/// alone holds one): a complete run ends every rank, successfully; a damaged one every rank
/// with rank 0's error (the others end when it aborts the world). One process: what it claimed.
fn follow_the_claim(claim: Option<&Claim>) -> anyhow::Result<bool> {
    let w = world::current();
    let mine = match claim {
        Some(Claim::Complete) => 1.0,
        Some(Claim::Damaged(_)) => 2.0,
        _ => 0.0,
    };
    if w.size() == 1 {
        return Ok(true);
    }
    let mut decided = [mine];
    w.sum(&mut decided)?;
    Ok(decided[0] == 0.0 || claim.is_some())
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
