//! A run's identity: its id, its folder (with the resolved config in it) and its [`RunInfo`].

use crate::config::{Loaded, Mode, RunConfig};
use crate::env;
use crate::error::RunError;
use geobatch_core::{RunInfo, Shape};

/// What differs between jobs when a run starts.
#[derive(Debug, Clone)]
pub struct RunStart<'a> {
    /// `batches` or `train`.
    pub job: &'a str,
    /// Model plugin name, for training.
    pub model: Option<&'a str>,
    /// Where the dataset came from.
    pub dataset_source: String,
    /// Fixed padded shape of the batcher, if any.
    pub budget: Option<Shape>,
    /// Steps planned.
    pub planned_steps: u64,
    /// `serial` or `prefetch`.
    pub mode: &'a str,
    /// Device name.
    pub device: &'a str,
    /// Threads the run may use: the kernel threads of training, a prefetching batcher thread, and
    /// parallel pre-computation (see [`threads_of`]).
    pub threads: u32,
}

/// Threads a run may use: its `kernel` threads (`training.threads`; 1 for a batching study),
/// one more with a prefetching batcher thread, or more when the batcher's pre-computation ran
/// in parallel on `precompute` threads.
pub fn threads_of(kernel: usize, mode: Mode, precompute: usize) -> u32 {
    let batcher = match mode {
        Mode::Serial => 0,
        Mode::Prefetch => 1,
    };
    let training = kernel.max(1).saturating_add(batcher);
    u32::try_from(training.max(precompute)).unwrap_or(u32::MAX)
}

/// What names a run, from any kind of config.
#[derive(Debug, Clone)]
pub struct RunNames<'a> {
    /// The `[experiment]` table.
    pub experiment: &'a crate::config::ExperimentSection,
    /// Dataset plugin name.
    pub dataset: String,
    /// Batcher plugin name.
    pub batcher: String,
    /// Batcher label.
    pub batcher_label: String,
    /// Batcher options as JSON.
    pub batcher_options: String,
    /// Batch size as the batcher states it.
    pub batch_size: usize,
    /// The resolved config text.
    pub resolved: &'a str,
    /// Its SHA-256 (hex).
    pub hash: &'a str,
}

impl RunNames<'_> {
    /// The run id:
    /// `<job>[-<model>]-<batcher label>-bs<B>-seed<S>-<first 10 hex of the config hash>`, and
    /// `-w<W>` for a world of W ranks (a run of its own: its steps take W times the batches).
    pub fn run_id(&self, job: &str, model: Option<&str>) -> String {
        let model_part = model.map(|m| format!("{m}-")).unwrap_or_default();
        let world = world_suffix(crate::world::current().size());
        format!(
            "{job}-{model_part}{}-bs{}-seed{}-{}{world}",
            self.batcher_label,
            self.batch_size,
            self.experiment.seed,
            &self.hash[..10]
        )
    }
}

/// The end of a run id for a world of `w` ranks: `-w<W>`, nothing for one process.
fn world_suffix(w: usize) -> String {
    match w {
        1 => String::new(),
        w => format!("-w{w}"),
    }
}

/// The folders of the same run trained by another number of ranks, beside `run_dir` (a run's
/// id ends in `-wW` for a world of W ranks, nothing for one process), with their rank counts:
/// what `--resume` finds when it is asked to resume at another world size.
pub fn other_worlds(run_dir: &std::path::Path) -> Vec<(usize, std::path::PathBuf)> {
    let (Some(parent), Some(name)) = (run_dir.parent(), run_dir.file_name()) else {
        return Vec::new();
    };
    let name = name.to_string_lossy();
    // a name's (run id without its world, ranks): the inverse of world_suffix
    let size = |n: &str| -> Option<(String, usize)> {
        let (base, w) = n.rsplit_once("-w")?;
        let w: usize = w.parse().ok().filter(|&w| w > 1)?;
        (format!("{base}{}", world_suffix(w)) == n).then(|| (base.to_string(), w))
    };
    let (base, mine) = size(&name).unwrap_or((name.to_string(), 1));
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut found: Vec<(usize, std::path::PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let (b, w) = size(&n).unwrap_or((n.clone(), 1));
            (b == base && w != mine && e.path().is_dir()).then(|| (w, e.path()))
        })
        .collect();
    found.sort();
    found
}

/// Creates the run folder `results_dir/experiment/run_id` (see [`RunNames::run_id`]), writes
/// the resolved config into it as `config.toml`, and returns the run's identity.
pub fn new_run<T: RunConfig>(loaded: &Loaded<T>, start: RunStart<'_>) -> Result<RunInfo, RunError> {
    create_run(&loaded.names(), start)
}

/// [`new_run`] for any config, named by `names`; in a world of ranks, rank 0 writes the folder.
pub fn create_run(names: &RunNames<'_>, start: RunStart<'_>) -> Result<RunInfo, RunError> {
    let exp = names.experiment;
    let run_id = names.run_id(start.job, start.model);
    let run_dir = exp.results_dir.join(&exp.name).join(&run_id);
    if crate::world::current().rank() == 0 {
        std::fs::create_dir_all(&run_dir).map_err(|source| RunError::Io {
            path: run_dir.clone(),
            source,
        })?;
        let cfg_path = run_dir.join("config.toml");
        geobatch_datafiles::atomic::write_atomic(&cfg_path, |f| {
            std::io::Write::write_all(f, names.resolved.as_bytes())
        })
        .map_err(|source| RunError::Io {
            path: cfg_path,
            source,
        })?;
    }
    Ok(RunInfo {
        experiment: exp.name.clone(),
        run_id,
        run_dir,
        job: start.job.into(),
        dataset: names.dataset.clone(),
        dataset_source: start.dataset_source,
        model: start.model.map(str::to_string),
        batcher: names.batcher.clone(),
        batcher_label: names.batcher_label.clone(),
        batcher_options: names.batcher_options.clone(),
        batch_size: names.batch_size as u32,
        seed: exp.seed,
        quirks: exp.quirks.as_str().into(),
        mode: start.mode.into(),
        device: start.device.into(),
        threads: start.threads,
        host: env::host(),
        cpu: env::cpu_model(),
        git_revision: env::git_revision(),
        version: env!("CARGO_PKG_VERSION").into(),
        started_at: env::unix_now(),
        config_hash: names.hash.to_string(),
        planned_steps: start.planned_steps,
        budget: start.budget,
        resumed_from: None,
    })
}
