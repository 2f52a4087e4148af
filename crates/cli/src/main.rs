//! `geobatch`: study and speed up how GNN training batches are built. One module per command
//! (its arguments and what it does); the policy it applies lives in the runner.
//!
//! Exit codes: one rule, in `geobatch_runner::exit` (docs/exit-codes.md); every error of a job
//! says which it ends with (`RunError::exit`).

/// mimalloc instead of glibc's allocator: the tensor engine allocates and frees large buffers every
/// step; with glibc's defaults they go back to the kernel and come back as page faults
/// (docs/training.md has the measurement).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod advise_cmd;
mod batches_cmd;
mod bench_cmd;
mod data;
mod plugins;
mod predict_cmd;
mod report_cmd;
mod run_cmd;
mod serve_cmd;
mod signals;
mod store_cmd;
mod sweep_cmd;
mod validate_cmd;

use clap::{Parser, Subcommand};
use geobatch_runner::RunError;
use geobatch_runner::exit::Exit;
use std::process::ExitCode;

/// Study and speed up how GNN training batches are built.
#[derive(Debug, Parser)]
#[command(name = "geobatch", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List registered plugins (datasets, models, batchers, sinks) with one-line summaries.
    List(plugins::ListArgs),
    /// Print an example config table for one plugin, with its options.
    Example(plugins::ExampleArgs),
    /// Check a config without running it: keys, types, plugin names and option values.
    Validate(validate_cmd::ValidateArgs),
    /// Train the config's model with the study's timing protocol; results go to the sinks.
    Run(run_cmd::RunArgs),
    /// Benchmarks: `geobatch bench step` times the training step.
    Bench {
        #[command(subcommand)]
        command: bench_cmd::BenchCommand,
    },
    /// Fetch and import real data (`geobatch data fetch qm9`).
    Data {
        #[command(subcommand)]
        command: data::DataCommand,
    },
    /// The batching study: plan and collate N training batches, report fill, distinct shapes and
    /// time per batch, and record every batch through the configured sinks.
    Batches(batches_cmd::BatchesArgs),
    /// Run every combination of a config's `[sweep]` table, one after another; complete runs are
    /// skipped and half-finished ones resume from their last checkpoint.
    Sweep(sweep_cmd::SweepArgs),
    /// Which batcher trains this config fastest over N steps: probes each candidate with a short
    /// real run, plans the N steps of each without the model, ranks the predicted totals (with
    /// crossovers), writes advice.parquet; --validate runs the top two to check (docs/advise.md).
    Advise(advise_cmd::AdviseArgs),
    /// Tables, statistical tests and figures from the Parquet files of any number of runs.
    Report(report_cmd::ReportArgs),
    /// A trained potential's energies, forces and stresses of new structures (extended XYZ or
    /// an ASE database in, extended XYZ out).
    Predict(predict_cmd::PredictArgs),
}

/// mimalloc's `purge_delay` option: its place in mimalloc 2's list of options (the sys crate names
/// only some), as `MIMALLOC_VERBOSE=1` lists them (mimalloc 2.x, pinned by Cargo.lock).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory is kept for reuse instead of returned to the kernel after 10 ms (mimalloc's
/// default): a training step frees and allocates its largest buffers every step, and each page
/// given back comes back as a page fault (a potential's step on mlearn, 40 steps: 24,447 faults,
/// 891 with memory kept; the step's median moved less than this machine's noise).
/// `MIMALLOC_PURGE_DELAY` still decides when set.
#[allow(unsafe_code)]
fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one of mimalloc's options, which it reads whenever it purges
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
    }
}

fn main() -> ExitCode {
    keep_freed_memory();
    geobatch_catalog::link();
    // long loads (graphs of many structures) say how far they are, every few seconds
    geobatch_process::progress::enable();
    let cli = Cli::parse();
    let outcome = run(cli);
    let world = geobatch_runner::world::current();
    match outcome {
        Ok(code) => {
            geobatch_runner::world::leave();
            code
        }
        Err(e) if world.size() > 1 => {
            // the other ranks may wait in a sum for this one: the whole world ends
            let exit = exit_of(&e);
            geobatch_process::errln!(
                "error: rank {} of {}: {}",
                world.rank(),
                world.size(),
                message(&e)
            );
            world.abort(exit.code().into());
            exit.into()
        }
        Err(e) => {
            geobatch_process::errln!("error: {}", message(&e));
            exit_of(&e).into()
        }
    }
}

/// Runs one command; the exit code on success is 0, or [`Exit::Interrupted`] for a job that a
/// signal stopped early, or [`Exit::LeftOut`] for a report without some runs.
fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some((launcher, n)) = geobatch_runner::world::launched() {
        let alone = !matches!(
            cli.command,
            Command::Run(_) | Command::List(_) | Command::Example(_) | Command::Validate(_)
        );
        if alone {
            return Err(RunError::Core(geobatch_core::Error::Refused(format!(
                "this process is one of {n} started by {launcher}: only `geobatch run` trains \
                 across processes (docs/distributed.md); each of the {n} would do this whole \
                 job, into the same folders"
            )))
            .into());
        }
    }
    match cli.command {
        Command::List(a) => plugins::list_command(a),
        Command::Example(a) => plugins::example_command(a),
        Command::Validate(a) => validate_cmd::run(a),
        Command::Run(a) => run_cmd::run(a),
        Command::Bench { command } => bench_cmd::run(command),
        Command::Data { command } => Ok(data::run(command).map(|()| ExitCode::SUCCESS)?),
        Command::Batches(a) => batches_cmd::run(a),
        Command::Sweep(a) => sweep_cmd::command(a),
        Command::Advise(a) => advise_cmd::command(a),
        Command::Report(a) => report_cmd::run(a),
        Command::Predict(a) => predict_cmd::run(a),
    }
}

/// How the process ends after `e`: the job's own error says ([`RunError::exit`]: bad input,
/// failure, stopped); anything else the command line itself met (a file it writes) is a failure.
fn exit_of(e: &anyhow::Error) -> Exit {
    e.downcast_ref::<RunError>()
        .map_or(Exit::Failed, RunError::exit)
}

/// An error and its causes, each cause once: most errors already write their source's text
/// (`path: No such file or directory`), which `{:#}` would print a second time.
fn message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}
