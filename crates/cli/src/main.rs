//! `geobatch`: study and speed up how GNN training batches are built.
//!
//! Exit codes: one rule, in [`exit`] (docs/exit-codes.md).

/// mimalloc instead of glibc's allocator: the tensor engine allocates and frees large buffers every
/// step; with glibc's defaults they go back to the kernel and come back as page faults
/// (docs/training.md has the measurement).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod advise_cmd;
mod data;
mod exit;
mod plugins;
mod sweep_cmd;

use clap::{Parser, Subcommand};
use exit::Exit;
use geobatch_core::RunStatus;
use geobatch_runner::LoadedConfig;
use geobatch_runner::jobs::AnyConfig;
use geobatch_runner::policy::{self, Ask, Claim, RunState};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
    List {
        /// Only this kind: dataset, model, batcher or sink.
        kind: Option<String>,
        /// Print every plugin's options and example as Markdown (docs/plugins.md).
        #[arg(long)]
        markdown: bool,
    },
    /// Print an example config table for one plugin, with its options.
    Example {
        /// dataset, model, batcher or sink.
        kind: String,
        /// The plugin's registered name.
        name: String,
    },
    /// Check a config without running it: keys, types, plugin names and option values.
    Validate {
        /// Experiment config (TOML).
        config: PathBuf,
        /// Print the resolved config (every default filled in).
        #[arg(long)]
        resolved: bool,
        /// Override a config value: `--set batcher.batch_size=64` (dotted key, TOML value).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Train the config's model with the study's timing protocol; results go to the sinks.
    Run {
        /// Experiment config (TOML).
        config: PathBuf,
        /// Training steps (same as `--set training.steps=N`).
        #[arg(long)]
        steps: Option<u64>,
        /// Training epochs of a node-level config (same as `--set training.epochs=N`).
        #[arg(long)]
        epochs: Option<u64>,
        /// Override a config value: `--set model.latent=32` (dotted key, TOML value).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Continue from the run's last checkpoint if it has one (same config, same results folder).
        #[arg(long)]
        resume: bool,
        /// Discard an earlier run of the same config (complete or not) and start over.
        #[arg(long)]
        restart: bool,
    },
    /// Benchmarks: `geobatch bench step` times the training step.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Fetch and import real data (`geobatch data fetch qm9`).
    Data {
        #[command(subcommand)]
        command: data::DataCommand,
    },
    /// The batching study: plan and collate N training batches, report fill, distinct shapes and
    /// time per batch, and record every batch through the configured sinks.
    Batches {
        /// Experiment config (TOML).
        config: PathBuf,
        /// Batches to make (overrides `[batches] steps`).
        #[arg(long)]
        steps: Option<u64>,
        /// Also write every batch's plan to this CSV file (step, real and padded shape, graph
        /// indices in the split), to compare with another planner's.
        #[arg(long, value_name = "FILE")]
        plans: Option<PathBuf>,
        /// Override a config value: `--set batcher.batch_size=64` (dotted key, TOML value).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Run every combination of a config's `[sweep]` table, one after another; complete runs are
    /// skipped and half-finished ones resume from their last checkpoint.
    Sweep {
        /// Sweep config (TOML with a `[sweep]` table; an optional `[slurm]` table for --slurm).
        config: PathBuf,
        /// List the runs without running them (with --slurm: write and print the sbatch script,
        /// submit nothing).
        #[arg(long)]
        dry_run: bool,
        /// Submit the sweep to SLURM as a job array (docs/sweeps.md), instead of running it here.
        #[arg(long, conflicts_with_all = ["task", "status"])]
        slurm: bool,
        /// Run only the share of array task I: runs I*R .. I*R+R-1 of the sweep (R =
        /// --runs-per-task), as a SLURM job array's task does.
        #[arg(long, value_name = "I")]
        task: Option<usize>,
        /// Runs per task for --task.
        #[arg(long, value_name = "R", default_value_t = 1, requires = "task")]
        runs_per_task: usize,
        /// Where every run stands (complete, running, interrupted, killed, failed, not started),
        /// from the results folder alone.
        #[arg(long, conflicts_with_all = ["dry_run", "task"])]
        status: bool,
        /// Override a config value in every run (dotted key, TOML value).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Which batcher trains this config fastest over N steps: probes each candidate with a short
    /// real run, plans the N steps of each without the model, ranks the predicted totals (with
    /// crossovers), writes advice.parquet; --validate runs the top two to check (docs/advise.md).
    Advise {
        /// Experiment config with a [model] (graph-level).
        config: PathBuf,
        /// Training steps the advice is for.
        #[arg(long)]
        steps: u64,
        /// Candidate batchers, comma-separated, each KIND[:KEY=VALUE...] (e.g. static:pad=pow2);
        /// default: dynamic, static:pad=multiple64, static:pad=pow2, pack and the config's own.
        #[arg(long, value_delimiter = ',')]
        batchers: Vec<String>,
        /// Steps of each candidate's probe.
        #[arg(long, default_value_t = 300)]
        probe_steps: u64,
        /// Time limit of each probe, seconds (it ends early, with what it measured).
        #[arg(long, default_value_t = 120.0)]
        probe_seconds: f64,
        /// Run the recommended batcher and the runner-up for the N steps and report predicted
        /// against measured total time.
        #[arg(long)]
        validate: bool,
        /// Output folder (default: RESULTS_DIR/EXPERIMENT/advise-MODEL-bsB-stepsN).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override a config value (dotted key, TOML value).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Tables, statistical tests and figures from the Parquet files of any number of runs.
    Report {
        /// A results folder (searched recursively for runs).
        results: PathBuf,
        /// Where the report goes (default: RESULTS/report).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Time the training step of a model at several batch sizes on real batches.
    Step {
        /// Experiment config with a [model] (default: SchNet, dynamic batching, QM9 as
        /// `source = "auto"` finds it).
        config: Option<PathBuf>,
        /// Model to time instead of the config's (e.g. schnet, mpeu).
        #[arg(long)]
        model: Option<String>,
        /// Batch sizes, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "16,32,64,128")]
        batch_sizes: Vec<usize>,
        /// Timed steps per batch size.
        #[arg(long, default_value_t = 50)]
        steps: usize,
        /// Untimed warm-up steps per batch size.
        #[arg(long, default_value_t = 5)]
        warmup: usize,
        /// Kernel thread counts to time, comma-separated (default: the config's
        /// training.threads, else every core this process may use).
        #[arg(long, value_delimiter = ',')]
        threads: Vec<usize>,
        /// Override a config value (dotted key, TOML value).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
}

/// The config `geobatch bench step` uses when none is given.
const DEFAULT_BENCH_CONFIG: &str = "[experiment]\nname = \"bench\"\nseed = 42\n[dataset]\nkind = \"qm9\"\n\
[model]\nkind = \"schnet\"\n[batcher]\nkind = \"dynamic\"\nbatch_size = 32\n[[sinks]]\nkind = \"console\"\n";

fn main() -> ExitCode {
    geobatch_catalog::link();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", message(&e));
            Exit::of_error(&e).into()
        }
    }
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

/// Says on stderr that a config without `[[sinks]]` records nothing of its run.
fn warn_without_sinks(loaded: &AnyConfig) {
    if !loaded.has_sinks() {
        eprintln!(
            "warning: the config has no [[sinks]]: nothing of this run is recorded (add \
             [[sinks]] kind = \"parquet\" to keep its results)"
        );
    }
}

/// Whether the config (with its overrides) is node-level, by its dataset plugin's task.
fn is_node_level(path: &std::path::Path, overrides: &[String]) -> anyhow::Result<bool> {
    let (text, _) = geobatch_runner::config::read_with_overrides(path, overrides)?;
    Ok(geobatch_runner::config::task_of(&text) == geobatch_core::Task::Node)
}

/// A stop flag set by the first Ctrl-C, which prints `message`; a second one kills the
/// process as usual.
fn stop_on_ctrl_c(message: &'static str) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(Exit::Interrupted.code().into());
        }
        eprintln!("{message}");
    });
    // SLURM's warning before a time limit (SIGUSR1) and scancel / a shutdown (SIGTERM) stop the
    // same way; a second SIGTERM ends the process at once
    use signal_hook::consts::{SIGTERM, SIGUSR1};
    let _ = signal_hook::flag::register_conditional_shutdown(
        SIGTERM,
        Exit::Killed.code().into(),
        Arc::clone(&stop),
    );
    let _ = signal_hook::flag::register(SIGTERM, Arc::clone(&stop));
    let _ = signal_hook::flag::register(SIGUSR1, Arc::clone(&stop));
    stop
}

/// Exit code 0, or 130 ([`Exit::Interrupted`]) when `interrupted`.
fn finished(interrupted: bool) -> ExitCode {
    Exit::finished(interrupted).into()
}

/// What the first Ctrl-C of a run says.
const STOPPING: &str = "stopping after this step (Ctrl-C again to kill)";

/// Runs one command; the exit code on success is 0, or [`Exit::Interrupted`] for a job that a
/// signal stopped early.
fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::List { kind, markdown } => {
            let kind = kind.as_deref().map(plugins::parse_kind).transpose()?;
            print!(
                "{}",
                if markdown {
                    plugins::markdown(kind)
                } else {
                    plugins::list(kind)
                }
            );
        }
        Command::Example { kind, name } => {
            print!("{}", plugins::example(plugins::parse_kind(&kind)?, &name)?)
        }
        Command::Validate {
            config,
            resolved,
            overrides,
        } => {
            let loaded = AnyConfig::from_file_with(&config, &overrides)?;
            if resolved {
                print!("{}", loaded.resolved());
            } else {
                println!("{}: ok ({})", config.display(), loaded.describe());
            }
        }
        Command::Data { command } => data::run(command)?,
        Command::Bench {
            command:
                BenchCommand::Step {
                    config,
                    model,
                    batch_sizes,
                    steps,
                    warmup,
                    threads,
                    mut overrides,
                },
        } => {
            if let Some(m) = &model {
                overrides.push(format!("model={{ kind = {m:?} }}"));
            }
            let loaded = match &config {
                Some(c) => LoadedConfig::from_file_with(c, &overrides)?,
                None => {
                    let mut table: toml::Table = toml::from_str(DEFAULT_BENCH_CONFIG)?;
                    for o in &overrides {
                        geobatch_runner::config::apply_override(&mut table, o)
                            .map_err(anyhow::Error::msg)?;
                    }
                    LoadedConfig::from_str(
                        &toml::to_string(&table)?,
                        std::path::Path::new("<default bench config>"),
                    )?
                }
            };
            let rows =
                geobatch_runner::bench::bench_step(&loaded, &batch_sizes, steps, warmup, &threads)?;
            let name = loaded
                .config
                .model
                .as_ref()
                .map_or("?", |m| m.typetag_name());
            print!("{}", geobatch_runner::bench::render(name, &rows));
        }
        Command::Run {
            config,
            steps,
            epochs,
            mut overrides,
            resume,
            restart,
        } => {
            if is_node_level(&config, &overrides)? {
                if steps.is_some() {
                    anyhow::bail!(plugins::UsageError(
                        "a node-level run counts epochs: --epochs N".into()
                    ));
                }
                if let Some(n) = epochs {
                    overrides.push(format!("training.epochs={n}"));
                }
            } else {
                if epochs.is_some() {
                    anyhow::bail!(plugins::UsageError(
                        "a graph-level run counts steps: --steps N".into()
                    ));
                }
                if let Some(n) = steps {
                    overrides.push(format!("training.steps={n}"));
                }
            }
            let loaded = AnyConfig::from_file_with(&config, &overrides)?;
            warn_without_sinks(&loaded);
            let dir = loaded.run_dir();
            let shown = dir.display();
            // the lock is held until the run ends: a second process on the folder is refused
            let claim = policy::claim(&dir, Ask::Run { resume, restart })?;
            match &claim {
                Claim::Complete => {
                    println!(
                        "already complete: {shown} (its results are left as they are; \
                         --restart runs it again and replaces them)"
                    );
                    return Ok(ExitCode::SUCCESS);
                }
                Claim::Run {
                    state: RunState::Fresh,
                    resume: true,
                    ..
                } => eprintln!(
                    "nothing to resume in {shown}: starting from the first step (a config changed \
                     by --steps or --set is another run, in another folder)"
                ),
                Claim::Run { .. } | Claim::Busy => {}
            }
            let stop = stop_on_ctrl_c(STOPPING);
            let run = loaded.train(&stop, resume)?;
            print!("{}", run.summary);
            return Ok(finished(run.status == RunStatus::Interrupted));
        }
        Command::Sweep {
            config,
            dry_run,
            slurm,
            task,
            runs_per_task,
            status,
            overrides,
        } => {
            let runs = geobatch_runner::sweep::expand(&config, &overrides)?;
            if status {
                return sweep_cmd::status(&runs);
            }
            if slurm {
                return sweep_cmd::submit(&config, &overrides, &runs, dry_run);
            }
            let range = match task {
                Some(t) => geobatch_runner::sweep::task_range(t, runs_per_task, runs.len())
                    .map_err(plugins::UsageError)?,
                None => 0..runs.len(),
            };
            if dry_run {
                return sweep_cmd::dry_run(&runs, range);
            }
            let stop = stop_on_ctrl_c(
                "stopping after this step (Ctrl-C again to kill); run the sweep again to resume",
            );
            return sweep_cmd::run(&runs, range, &stop);
        }
        Command::Advise {
            config,
            steps,
            batchers,
            probe_steps,
            probe_seconds,
            validate,
            out,
            overrides,
        } => {
            if is_node_level(&config, &overrides)? {
                anyhow::bail!(plugins::UsageError(
                    "advise compares graph batchers over training steps; this config is \
                     node-level (compare node batchers with a sweep and `geobatch report`)"
                        .into()
                ));
            }
            if !(probe_seconds > 0.0 && probe_seconds.is_finite()) {
                anyhow::bail!(plugins::UsageError(
                    "--probe-seconds must be a positive number".into()
                ));
            }
            let req = advise_cmd::Request {
                config,
                overrides,
                steps,
                batchers,
                probe_steps,
                probe_seconds,
                validate,
                out,
            };
            let stop = stop_on_ctrl_c("stopping the advice (Ctrl-C again to kill)");
            let (text, out) = advise_cmd::run(&req, &stop)?;
            print!("{text}");
            println!("\nadvice written to {}", out.display());
        }
        Command::Report { results, out } => {
            let out = out.unwrap_or_else(|| results.join("report"));
            let report = geobatch_report::report(&results, &out)?;
            print!("{}", report.markdown);
            println!("report written to {}", out.display());
            for d in &report.damaged {
                eprintln!("left out, unreadable: {d}");
            }
            for d in &report.inconsistent {
                eprintln!("left out, not what it recorded: {d}");
            }
            for d in &report.incomplete {
                eprintln!("left out, not complete: {d}");
            }
            // a report made without some runs says so in its exit code too
            if !report.damaged.is_empty()
                || !report.inconsistent.is_empty()
                || !report.incomplete.is_empty()
            {
                return Ok(Exit::LeftOut.into());
            }
        }
        Command::Batches {
            config,
            steps,
            plans,
            overrides,
        } => {
            if is_node_level(&config, &overrides)? {
                if plans.is_some() {
                    anyhow::bail!(plugins::UsageError(
                        "--plans writes graph-level plans; a node-level study has none".into()
                    ));
                }
                if steps.is_some() {
                    anyhow::bail!(plugins::UsageError(
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
            let summary =
                geobatch_runner::run_batches_with_plans(&loaded, steps, plans.as_deref(), &stop)?;
            print!("{}", summary.render());
            return Ok(finished(stop.load(Ordering::SeqCst)));
        }
    }
    Ok(ExitCode::SUCCESS)
}
