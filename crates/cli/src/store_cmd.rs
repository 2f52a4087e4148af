//! `geobatch data store CONFIG --out DIR`: a config's dataset written into a disk-backed store
//! (docs/datasets.md, "Data beyond memory").

use geobatch_runner::RunError;
use geobatch_runner::config::ExperimentConfig;
use geobatch_runner::jobs::AnyConfig;
use geobatch_store::{Written, split_dir, write_dataset};
use std::path::{Path, PathBuf};

/// The arguments of `geobatch data store`.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// Experiment config (TOML) whose `[dataset]` is written, with its graph rule and split.
    pub config: PathBuf,
    /// The store's folder: `train/`, `validation/` and `test/` inside, one store each.
    #[arg(long)]
    pub out: PathBuf,
    /// Structures per committed part: what memory holds at once while the store is written.
    #[arg(long, default_value_t = 10_000)]
    pub part: usize,
    /// Replace a store already at --out.
    #[arg(long)]
    pub force: bool,
    /// Override a config value: `--set dataset.graphs=1000000` (dotted key, TOML value).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// Writes the store and says what it holds.
pub fn run(args: StoreArgs) -> Result<String, RunError> {
    let loaded = AnyConfig::from_file_with(&args.config, &args.overrides)?
        .into_loaded::<ExperimentConfig>()
        .ok_or_else(|| {
            RunError::Usage(format!(
                "{}: a store holds a graph-level dataset (structures); this config's dataset is \
                 of another task",
                args.config.display()
            ))
        })?;
    if args.part == 0 {
        return Err(RunError::Usage("--part must be at least 1".into()));
    }
    clear(&args.out, args.force)?;
    let config = &loaded.config;
    // the dataset's own progress shows; a part's commit is quick beside making it
    let mut shown = |_: &Written| {};
    let written = write_dataset(
        config.dataset.as_ref(),
        &config.experiment.dataset_context(),
        &args.out,
        args.part,
        &mut shown,
    )
    .map_err(|e| RunError::Data(geobatch_core::Error::invalid(e.to_string())))?;
    let bytes = folder_bytes(&args.out);
    Ok(format!(
        "wrote {}: {} train, {} validation, {} test structures in {} parts, {:.2} GiB",
        args.out.display(),
        written.graphs[0],
        written.graphs[1],
        written.graphs[2],
        written.parts,
        bytes as f64 / f64::from(1u32 << 30)
    ))
}

/// Refuses a store already at `out` unless `force` (then removes its three splits); anything
/// else there is left alone (the writer refuses to write over it).
fn clear(out: &Path, force: bool) -> Result<(), RunError> {
    let held: Vec<PathBuf> = geobatch_core::SplitName::ALL
        .iter()
        .map(|&s| split_dir(out, s))
        .filter(|d| d.join(geobatch_store::MANIFEST).exists())
        .collect();
    if held.is_empty() {
        return Ok(());
    }
    if !force {
        return Err(RunError::Usage(format!(
            "{} already holds a store: add --force to replace it, or give another --out",
            out.display()
        )));
    }
    for d in held {
        std::fs::remove_dir_all(&d).map_err(|source| RunError::Io { path: d, source })?;
    }
    Ok(())
}

/// Bytes of the regular files under `dir`.
fn folder_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => folder_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}
