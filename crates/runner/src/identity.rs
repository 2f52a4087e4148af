//! A run's identity: its id, its folder (with the resolved config in it) and its [`RunInfo`].

use crate::config::LoadedConfig;
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
}

/// The id of a run of `loaded`:
/// `<job>[-<model>]-<batcher label>-bs<B>-seed<S>-<first 10 hex of the config hash>`.
pub fn run_id(loaded: &LoadedConfig, job: &str, model: Option<&str>) -> String {
    let cfg = &loaded.config;
    let model_part = model.map(|m| format!("{m}-")).unwrap_or_default();
    format!(
        "{job}-{model_part}{}-bs{}-seed{}-{}",
        cfg.batcher.label(),
        cfg.batcher.batch_size(),
        cfg.experiment.seed,
        &loaded.hash[..10]
    )
}

/// Creates the run folder `results_dir/experiment/run_id` (see [`run_id`]), writes the resolved
/// config into it as `config.toml`, and returns the run's identity.
pub fn new_run(loaded: &LoadedConfig, start: RunStart<'_>) -> Result<RunInfo, RunError> {
    let cfg = &loaded.config;
    let label = cfg.batcher.label();
    let bs = cfg.batcher.batch_size();
    let seed = cfg.experiment.seed;
    let run_id = run_id(loaded, start.job, start.model);
    let run_dir = cfg
        .experiment
        .results_dir
        .join(&cfg.experiment.name)
        .join(&run_id);
    std::fs::create_dir_all(&run_dir).map_err(|source| RunError::Io {
        path: run_dir.clone(),
        source,
    })?;
    let cfg_path = run_dir.join("config.toml");
    std::fs::write(&cfg_path, &loaded.resolved).map_err(|source| RunError::Io {
        path: cfg_path,
        source,
    })?;
    Ok(RunInfo {
        experiment: cfg.experiment.name.clone(),
        run_id,
        run_dir,
        job: start.job.into(),
        dataset: cfg.dataset.typetag_name().to_string(),
        dataset_source: start.dataset_source,
        model: start.model.map(str::to_string),
        batcher: cfg.batcher.typetag_name().to_string(),
        batcher_label: label,
        batcher_options: serde_json::to_string(&cfg.batcher).unwrap_or_default(),
        batch_size: bs as u32,
        seed,
        quirks: cfg.experiment.quirks.as_str().into(),
        mode: start.mode.into(),
        device: start.device.into(),
        threads: 1,
        host: env::host(),
        cpu: env::cpu_model(),
        git_revision: env::git_revision(),
        version: env!("CARGO_PKG_VERSION").into(),
        started_at: env::unix_now(),
        config_hash: loaded.hash.clone(),
        planned_steps: start.planned_steps,
        budget: start.budget,
        resumed_from: None,
    })
}
