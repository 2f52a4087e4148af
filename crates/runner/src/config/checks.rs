//! Checks of the sections every kind of config shares: sinks, `[experiment]`, threads, device.

use geobatch_core::SinkSpec;
use geobatch_core::engine::DeviceKind;

/// A plugin's check, its message prefixed by its config table (`[dataset] ...`).
pub fn in_table<E: std::fmt::Display>(table: &str, check: Result<(), E>) -> Result<(), String> {
    check.map_err(|e| format!("[{table}] {e}"))
}

/// Checks every sink's options, and that no two sinks write the same file of the run folder
/// (one writer per table: two `parquet` sinks would write the same part files twice over).
pub fn check_sinks(sinks: &[Box<dyn SinkSpec>]) -> Result<(), String> {
    for (i, s) in sinks.iter().enumerate() {
        s.validate()
            .map_err(|e| format!("[[sinks]] #{}: {e}", i + 1))?;
    }
    if let Some((a, b, file)) = geobatch_core::sink::colliding_files(sinks) {
        return Err(format!(
            "[[sinks]] #{a} ({}) and #{b} ({}) would both write {file} in the run folder: a run \
             folder has one writer per table; keep one of them",
            sinks[a - 1].plugin_name(),
            sinks[b - 1].plugin_name()
        ));
    }
    Ok(())
}

/// Checks `experiment.name`: a folder name.
pub fn check_experiment_name(name: &str) -> Result<(), String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.+".contains(c);
    if name.is_empty() || !name.chars().all(plain) || name.starts_with('.') {
        return Err(format!(
            "experiment.name = {name:?}: must be a folder name of letters, digits and - _ . + \
             (no slashes, spaces or quotes)"
        ));
    }
    Ok(())
}

/// The most steps or epochs a run may have: the largest whole number a config (TOML) and the
/// results' step column (int64, as polars and DuckDB read it) hold.
pub const MAX_ROUNDS: u64 = i64::MAX as u64;

/// `key = rounds` (steps, epochs) is at least 1 and at most [`MAX_ROUNDS`], however it was set
/// (the config, `--set`, `run --steps`).
pub fn check_rounds(key: &str, rounds: u64) -> Result<(), String> {
    match rounds {
        0 => Err(format!("{key} must be at least 1")),
        r if r > MAX_ROUNDS => Err(format!(
            "{key} = {r}: at most {MAX_ROUNDS}, the largest whole number a config (TOML) and the \
             results' step column hold"
        )),
        _ => Ok(()),
    }
}

/// Checks `training.threads`: at least one, at most [`MAX_THREADS`].
pub fn check_threads(threads: Option<usize>) -> Result<(), String> {
    match threads {
        Some(0) => Err(
            "training.threads = 0: at least 1 (leave the key out to use every core this process \
             may use)"
                .into(),
        ),
        Some(t) if t > MAX_THREADS => Err(format!("training.threads = {t}: at most {MAX_THREADS}")),
        _ => Ok(()),
    }
}

/// Most kernel threads a run may ask for.
pub const MAX_THREADS: usize = 1024;

/// Checks `training.accumulate`: at least one batch a step, at most [`MAX_ACCUMULATE`] (each is
/// a padded batch held in memory for the step).
pub fn check_accumulate(accumulate: Option<usize>) -> Result<(), String> {
    match accumulate {
        Some(0) => Err("training.accumulate = 0: at least 1 batch a step (the default)".into()),
        Some(a) if a > MAX_ACCUMULATE => Err(format!(
            "training.accumulate = {a}: at most {MAX_ACCUMULATE} batches a step"
        )),
        _ => Ok(()),
    }
}

/// Checks `training.keep_best`: a selection needs periodic evaluations of the validation split
/// (the label itself is checked against the model's once it is built).
pub fn check_keep_best(tr: &super::schema::TrainingSection) -> Result<(), String> {
    let Some(label) = &tr.keep_best else {
        return Ok(());
    };
    if tr.eval_every == 0 {
        return Err(format!(
            "training.keep_best = {label:?} selects among periodic evaluations: set \
             training.eval_every to a step count (now 0: only the end is evaluated)"
        ));
    }
    if !tr
        .eval_splits
        .contains(&geobatch_core::SplitName::Validation)
    {
        return Err(format!(
            "training.keep_best = {label:?} selects on the validation split: add \"validation\" \
             to training.eval_splits (now {:?})",
            tr.eval_splits
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
        ));
    }
    Ok(())
}

/// Most batches a process may accumulate in one step.
pub const MAX_ACCUMULATE: usize = 4096;

/// Checks a `training.device` value's spelling ([`DeviceKind::parse`]); whether this build
/// can use it is the engine's check, when the model trains.
pub fn check_device(device: &str) -> Result<(), String> {
    DeviceKind::parse(device)
        .map(|_| ())
        .map_err(|_| format!("training.device = {device:?}: {}", DeviceKind::EXPECTED))
}
