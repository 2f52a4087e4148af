//! `geobatch advise CONFIG --steps N`: probes every candidate batcher with a short real run of
//! the config's model, plans the N steps of each without the model, predicts and ranks their
//! total training time, and with `--validate` runs the recommended batcher and the runner-up for
//! N steps to check the prediction (docs/advise.md). The job is `geobatch_runner::advise::job`.

use geobatch_runner::advise::job;
use std::path::PathBuf;
use std::process::ExitCode;

/// The arguments of `geobatch advise`.
#[derive(Debug, clap::Args)]
pub struct AdviseArgs {
    /// Experiment config with a [model] (graph-level).
    pub config: PathBuf,
    /// Training steps the advice is for.
    #[arg(long)]
    pub steps: u64,
    /// Candidate batchers, comma-separated, each KIND[:KEY=VALUE...] (e.g. static:pad=pow2);
    /// default: dynamic, static:pad=multiple64, static:pad=pow2, pack and the config's own.
    #[arg(long, value_delimiter = ',')]
    pub batchers: Vec<String>,
    /// Steps of each candidate's probe.
    #[arg(long, default_value_t = 300)]
    pub probe_steps: u64,
    /// Time limit of each probe, seconds (it ends early, with what it measured).
    #[arg(long, default_value_t = 120.0)]
    pub probe_seconds: f64,
    /// Run the recommended batcher and the runner-up for the N steps and report predicted
    /// against measured total time.
    #[arg(long)]
    pub validate: bool,
    /// Output folder (default: RESULTS_DIR/EXPERIMENT/advise-MODEL-bsB-stepsN).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override a config value (dotted key, TOML value).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// Advises a batcher for the config's run and prints the advice.
pub fn command(args: AdviseArgs) -> anyhow::Result<ExitCode> {
    let request = job::Request {
        config: args.config,
        overrides: args.overrides,
        steps: args.steps,
        batchers: args.batchers,
        probe_steps: args.probe_steps,
        probe_seconds: args.probe_seconds,
        validate: args.validate,
        out: args.out,
    };
    let stop = crate::signals::stop_on_ctrl_c("stopping the advice (the signal again to kill)");
    let (text, out) = job::run(&request, &stop)?;
    geobatch_process::out!("{text}");
    geobatch_process::outln!("\nadvice written to {}", out.display());
    Ok(ExitCode::SUCCESS)
}
