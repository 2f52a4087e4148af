//! `geobatch bench step`: the training step of a model timed at several batch sizes.

use anyhow::Context as _;
use clap::builder::RangedU64ValueParser;
use geobatch_datafiles::output::{self, Accept, Inputs, Output};
use geobatch_runner::LoadedConfig;
use std::path::PathBuf;
use std::process::ExitCode;

/// The benchmarks.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Time the training step of a model at several batch sizes on real batches.
    Step {
        /// Experiment config with a [model] (default: SchNet, dynamic batching, QM9 as
        /// `source = "auto"` finds it).
        config: Option<PathBuf>,
        /// Model to time instead of the config's (e.g. schnet, mpeu).
        #[arg(long)]
        model: Option<String>,
        /// Batch sizes, comma-separated (each 2 to 1,048,576: one graph is kept for padding).
        #[arg(long, value_delimiter = ',', default_value = "16,32,64,128",
              value_parser = RangedU64ValueParser::<usize>::new().range(2..=1_048_576))]
        batch_sizes: Vec<usize>,
        /// Timed steps per batch size (at least 1).
        #[arg(long, default_value_t = 50,
              value_parser = RangedU64ValueParser::<usize>::new().range(1..=100_000_000))]
        steps: usize,
        /// Untimed warm-up steps per batch size.
        #[arg(long, default_value_t = 5,
              value_parser = RangedU64ValueParser::<usize>::new().range(0..=100_000_000))]
        warmup: usize,
        /// Kernel thread counts to time, comma-separated (default: the config's
        /// training.threads, else every core this process may use).
        #[arg(long, value_delimiter = ',',
              value_parser = RangedU64ValueParser::<usize>::new().range(1..=65_536))]
        threads: Vec<usize>,
        /// Override a config value (dotted key, TOML value).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Also append the rows to this CSV file (header written when the file is new): engine,
        /// model, device, engine variant, threads, batch size and the timings, for
        /// scripts/gpu-ab.sh and other tables.
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
        /// Instead of timing, write a potential's first batches (at the first batch size), its
        /// initial weights and its first step's loss and predictions into this folder as NumPy
        /// files, for another engine to compute with (bench/torch/schnet_forces.py).
        #[arg(long, value_name = "DIR")]
        dump: Option<PathBuf>,
        /// Batches written by --dump.
        #[arg(long, default_value_t = 20,
              value_parser = RangedU64ValueParser::<usize>::new().range(1..=100_000))]
        dump_batches: usize,
    },
}

/// The config `geobatch bench step` uses when none is given.
const DEFAULT_BENCH_CONFIG: &str = "[experiment]\nname = \"bench\"\nseed = 42\n[dataset]\nkind = \"qm9\"\n\
[model]\nkind = \"schnet\"\n[batcher]\nkind = \"dynamic\"\nbatch_size = 32\n[[sinks]]\nkind = \"console\"\n";

/// Runs a benchmark and prints its table.
pub fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    let BenchCommand::Step {
        config,
        model,
        batch_sizes,
        steps,
        warmup,
        threads,
        overrides,
        csv,
        dump,
        dump_batches,
    } = command;
    // the CSV is appended to (never the config it reads, nor a folder or device it would rename
    // over), checked before the benchmark runs
    let csv = match &csv {
        Some(path) => {
            let inputs = config
                .as_deref()
                .map_or_else(Inputs::new, |c| Inputs::new().file(c, "the config"));
            let out = output::resolve(path, "--csv", &inputs, Accept::Streams, true)
                .map_err(geobatch_runner::RunError::Core)?;
            Some((path.clone(), out))
        }
        None => None,
    };
    let mut loaded = match &config {
        Some(c) => LoadedConfig::from_file_with(c, &overrides)?,
        None => LoadedConfig::from_str_with(
            DEFAULT_BENCH_CONFIG,
            std::path::Path::new("<default bench config>"),
            &overrides,
        )?,
    };
    if let Some(m) = &model {
        let spec = geobatch_runner::bench::model_named(m)?;
        loaded = loaded.edited(|c| c.model = Some(spec))?;
    }
    if let Some(dir) = dump {
        let bs = batch_sizes.first().copied().unwrap_or(16);
        let what = geobatch_potential_run::dump::dump_potential(&loaded, &dir, bs, dump_batches)?;
        geobatch_process::outln!("{what}");
        return Ok(ExitCode::SUCCESS);
    }
    let rows = geobatch_runner::bench::bench_step(&loaded, &batch_sizes, steps, warmup, &threads)?;
    let name = loaded
        .config
        .model
        .as_ref()
        .map_or("?", |m| m.plugin_name());
    geobatch_process::out!("{}", geobatch_runner::bench::render(name, &rows));
    if let Some((path, out)) = csv {
        let training = &loaded.config.training;
        let lines = geobatch_runner::bench::csv_rows(
            name,
            &training.device,
            &training.engine.label(),
            &rows,
        );
        append_csv(&out, &lines).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Appends `lines` to the CSV file `out`, with the header first when the file is new or empty
/// (and into a stream, which starts empty).
fn append_csv(out: &Output, lines: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    out.append(|file| {
        if file.metadata()?.len() == 0 {
            writeln!(file, "{}", geobatch_runner::bench::CSV_HEADER)?;
        }
        file.write_all(lines.as_bytes())
    })
}
