//! Sweeps: a `[sweep]` table of dotted keys with value lists (and `seeds`) expands to the cartesian
//! product of runs; `geobatch sweep` runs them one after another, skipping complete runs (same
//! resolved config, hence the same run folder) and resuming half-finished ones from their last
//! checkpoint.
//!
//! ```toml
//! [sweep]
//! seeds = [42, 43, 44]
//! "model.kind" = ["schnet", "mpeu"]
//! batcher = [{ kind = "dynamic" }, { kind = "static", pad = "pow2" }, { kind = "static", pad = "multiple64" }]
//! "batcher.batch_size" = [16, 32, 64, 128]
//! ```
//!
//! Keys are applied shortest first, so a whole table (`batcher`) is set before its fields.

use crate::config::apply_override;
use crate::error::RunError;
use crate::jobs::AnyConfig;
use crate::policy::{self, Ask, Claim};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// One run of a sweep.
#[derive(Debug)]
pub struct SweepRun {
    /// The sweep's settings of this run, as `KEY=VALUE`.
    pub settings: Vec<String>,
    /// The run's config (graph- or node-level, by its dataset plugin's task).
    pub loaded: AnyConfig,
    /// Where its results go.
    pub run_dir: PathBuf,
}

/// What happened to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Already complete: left alone.
    Skipped,
    /// Continued from its checkpoint.
    Resumed,
    /// Run from the start.
    Ran,
    /// Left to the other process that is running it now.
    Busy,
    /// Complete, but its folder is not what it recorded: left as it is, and failed.
    Damaged,
}

/// What a sweep did: each run's outcome in order, and the runs that failed.
#[derive(Debug, Default)]
pub struct Swept {
    /// The outcome of each run reached, in order.
    pub outcomes: Vec<Outcome>,
    /// The runs that failed (index into the runs given, and why); the sweep went on with the
    /// others, and a rerun of the sweep retries them.
    pub failed: Vec<(usize, String)>,
}

/// The sweep config at `path` as a TOML table (errors name the file).
pub fn read_table(path: &Path) -> Result<toml::Table, RunError> {
    let fail = |message: String| RunError::Config {
        file: path.to_path_buf(),
        message,
    };
    let text = geobatch_datafiles::files::read_text(path)
        .map_err(|e| fail(format!("cannot read: {e}")))?;
    toml::from_str(&text).map_err(|e| fail(e.to_string().trim_end().to_string()))
}

/// A config error about the sweep file `path`.
fn sweep_error(path: &Path, message: String) -> RunError {
    RunError::Config {
        file: path.to_path_buf(),
        message,
    }
}

/// The most runs a sweep may expand to: each is a folder and a training run, and expanding
/// (every run's config loaded and checked) takes about a millisecond a run.
pub const MAX_RUNS: usize = 100_000;

/// Expands a sweep config (with `--set` overrides applied first) into its runs.
pub fn expand(path: &Path, overrides: &[String]) -> Result<Vec<SweepRun>, RunError> {
    let fail = |message: String| sweep_error(path, message);
    let mut table = read_table(path)?;
    let mut sweep = match table.remove("sweep") {
        Some(toml::Value::Table(t)) => t,
        Some(_) => {
            return Err(fail(
                "`sweep` must be a table of dotted keys with value lists".into(),
            ));
        }
        None => {
            return Err(fail(
                "no [sweep] table: `geobatch run` runs a single config".into(),
            ));
        }
    };
    // how the sweep is submitted to a cluster is not part of any run's config
    table.remove("slurm");
    let plain = split_overrides(path, &mut sweep, overrides)?;
    let axes = axes_of(path, sweep, &plain)?;
    for (_, o) in &plain {
        apply_override(&mut table, o).map_err(|m| fail(format!("--set {o}: {m}")))?;
    }
    runs_of(path, &table, &axes)
}

/// `--set sweep.KEY=[...]` replaces a list of the sweep (in `sweep`); the other overrides set
/// the base config and are returned as (key, override); `slurm.` ones are the submission's.
fn split_overrides<'o>(
    path: &Path,
    sweep: &mut toml::Table,
    overrides: &'o [String],
) -> Result<Vec<(&'o str, &'o String)>, RunError> {
    let fail = |message: String| sweep_error(path, message);
    let mut plain = Vec::new();
    for o in overrides {
        let (key, value) = o
            .split_once('=')
            .ok_or_else(|| fail(format!("--set {o}: expected KEY=VALUE")))?;
        if key.trim().starts_with("slurm.") {
            continue;
        }
        match key.trim().strip_prefix("sweep.") {
            Some(k) => {
                let mut v = toml::Table::new();
                apply_override(&mut v, &format!("v={value}"))
                    .map_err(|m| fail(format!("--set {o}: {m}")))?;
                let k = k.trim().trim_matches('"').to_string();
                sweep.insert(k, v.remove("v").unwrap_or(toml::Value::Array(vec![])));
            }
            None => plain.push((key.trim(), o)),
        }
    }
    Ok(plain)
}

/// The sweep's axes (dotted key, values), checked: lists, not empty, no value twice, no key
/// also set by a plain `--set`; sorted shallow keys first.
fn axes_of(
    path: &Path,
    sweep: toml::Table,
    plain: &[(&str, &String)],
) -> Result<Vec<(String, Vec<toml::Value>)>, RunError> {
    let fail = |message: String| sweep_error(path, message);
    if sweep.contains_key("seeds") && sweep.contains_key("experiment.seed") {
        return Err(fail(
            "[sweep] has both `seeds` and `experiment.seed`, which set the same key: keep one"
                .into(),
        ));
    }
    let mut axes: Vec<(String, Vec<toml::Value>)> = Vec::new();
    let mut names = Vec::new();
    for (name, values) in sweep {
        let key = if name == "seeds" {
            "experiment.seed".to_string()
        } else {
            name.clone()
        };
        let swept = |k: &str| {
            k == key || key.starts_with(&format!("{k}.")) || k.starts_with(&format!("{key}."))
        };
        if let Some((k, o)) = plain.iter().find(|(k, _)| swept(k)) {
            return Err(fail(format!(
                "--set {o}: `{k}` is swept by [sweep] `{name}`; replace the sweep's list \
                 instead: --set 'sweep.{name}=[...]'"
            )));
        }
        let toml::Value::Array(values) = values else {
            return Err(fail(format!(
                "key `sweep.{key}`: expected a list of values"
            )));
        };
        if values.is_empty() {
            return Err(fail(format!("key `sweep.{key}`: the list is empty")));
        }
        axes.push((key, values));
        names.push(name);
    }
    // the bound first: every later check is a pass over the values
    run_count(&axes).map_err(fail)?;
    for ((_, values), name) in axes.iter().zip(&names) {
        // a value listed twice is the same run twice (one folder, one result counted twice);
        // found by its TOML text in one pass (a million seeds took a quadratic 16 s)
        let mut seen = std::collections::HashSet::with_capacity(values.len());
        if let Some(twice) = values.iter().find(|v| !seen.insert(v.to_string())) {
            return Err(fail(format!(
                "key `sweep.{name}`: {twice} is listed twice (the same run twice): list each \
                 value once"
            )));
        }
    }
    axes.sort_by_key(|(k, _)| (k.split('.').count(), k.clone()));
    overlapping_axes(&axes).map_err(fail)?;
    Ok(axes)
}

/// Refuses two axes of which one sets a table holding the other's key (`training = [{steps = 9}]`
/// beside `training.steps`): one overrides the other, so runs would run with values their labels
/// do not say (a label `training={steps=9}` on a run of 3 steps). Tables that leave the inner key
/// out (`batcher = [{kind = "dynamic"}]` beside `batcher.batch_size`) combine as their labels say.
fn overlapping_axes(axes: &[(String, Vec<toml::Value>)]) -> Result<(), String> {
    for (i, (outer, values)) in axes.iter().enumerate() {
        let holds = |inner: &str| {
            let Some(rest) = inner.strip_prefix(&format!("{outer}.")) else {
                return false;
            };
            values.iter().any(|v| {
                rest.split('.')
                    .try_fold(v, |v, part| v.as_table().and_then(|t| t.get(part)))
                    .is_some()
            })
        };
        if let Some((inner, _)) = axes[i + 1..].iter().find(|(k, _)| holds(k)) {
            return Err(format!(
                "[sweep] `{outer}` and `{inner}` both set {inner} (a value of `{outer}` is a \
                 table that holds it): one would override the other under labels that say \
                 otherwise; sweep `{inner}` alone, or put every value in `{outer}`'s tables"
            ));
        }
    }
    Ok(())
}

/// The runs of a sweep of `axes`: the product of their lengths, refused past [`MAX_RUNS`]
/// (naming each axis and its length).
fn run_count(axes: &[(String, Vec<toml::Value>)]) -> Result<usize, String> {
    axes.iter()
        .try_fold(1usize, |n, a| n.checked_mul(a.1.len()))
        .filter(|&n| n <= MAX_RUNS)
        .ok_or_else(|| {
            let sizes: Vec<String> = axes
                .iter()
                .map(|(k, v)| format!("{k} {}", v.len()))
                .collect();
            format!(
                "the sweep has more than {MAX_RUNS} runs ({}): split it into sweeps of fewer \
                 values (each run is a folder and a training run)",
                sizes.join(" x ")
            )
        })
}

/// Every combination of the axes' values applied to the base `table`, loaded: the runs, the
/// last axis varying fastest.
fn runs_of(
    path: &Path,
    table: &toml::Table,
    axes: &[(String, Vec<toml::Value>)],
) -> Result<Vec<SweepRun>, RunError> {
    let fail = |message: String| sweep_error(path, message);
    let total = run_count(axes).map_err(fail)?;
    let mut runs = Vec::with_capacity(total);
    let mut progress =
        geobatch_process::progress::Progress::new("expanding the sweep", Some(total));
    for i in 0..total {
        progress.at(i);
        let mut t = table.clone();
        let mut settings = Vec::with_capacity(axes.len());
        let mut rest = i;
        for (key, values) in axes.iter().rev() {
            let v = &values[rest % values.len()];
            rest /= values.len();
            settings.push(format!("{key}={v}"));
        }
        settings.reverse();
        for s in &settings {
            apply_override(&mut t, s).map_err(|m| fail(format!("sweep {s}: {m}")))?;
        }
        let text = toml::to_string(&t).map_err(|e| fail(e.to_string()))?;
        let named = |e: RunError| match e {
            RunError::Config { file, message } => RunError::Config {
                file,
                message: format!("run with {}: {message}", settings.join(", ")),
            },
            other => other,
        };
        let loaded = AnyConfig::from_str(&text, path).map_err(named)?;
        let run_dir = loaded.run_dir();
        runs.push(SweepRun {
            settings,
            loaded,
            run_dir,
        });
    }
    progress.done(total);
    Ok(runs)
}

/// The runs of array task `task` when each task runs `per_task` consecutive runs of the sweep's
/// (deterministic) expansion: the index range into it.
pub fn task_range(
    task: usize,
    per_task: usize,
    runs: usize,
) -> Result<std::ops::Range<usize>, String> {
    if per_task == 0 {
        return Err("--runs-per-task must be at least 1".into());
    }
    let tasks = runs.div_ceil(per_task);
    if task >= tasks {
        return Err(format!(
            "--task {task}: the sweep has {runs} runs, {tasks} task(s) of {per_task} (0..{})",
            tasks.saturating_sub(1)
        ));
    }
    Ok(task * per_task..((task + 1) * per_task).min(runs))
}

/// Runs every run of a sweep in order; `on_start(i, run, outcome)` is called before each.
/// A run killed before its first checkpoint starts again from nothing (its folder is cleared).
/// A run whose folder another process has locked ([`crate::lock::RunLock`]) is left to it, so several
/// sweeps on one results folder share the runs. A run that fails is recorded in
/// [`Swept::failed`] and the sweep goes on with the next one. A complete run is skipped only
/// when its folder is what it recorded ([`Claim::Damaged`] otherwise); otherwise
/// it is a failed run, named with why, and its folder is left as it is.
pub fn run_sweep(
    runs: &[SweepRun],
    stop: &AtomicBool,
    mut on_start: impl FnMut(usize, &SweepRun, Outcome),
) -> Result<Swept, RunError> {
    let mut swept = Swept::default();
    for (i, run) in runs.iter().enumerate() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match run_one(run, stop, |o| on_start(i, run, o)) {
            Ok(outcome) => swept.outcomes.push(outcome),
            Err((outcome, e)) => {
                swept.outcomes.push(outcome);
                swept.failed.push((i, e.to_string()));
            }
        }
    }
    Ok(swept)
}

/// One run of a sweep (see [`run_sweep`]); an error comes with the outcome it was going to
/// have.
fn run_one(
    run: &SweepRun,
    stop: &AtomicBool,
    on_start: impl FnOnce(Outcome),
) -> Result<Outcome, (Outcome, RunError)> {
    let claim = policy::claim(&run.run_dir, Ask::Sweep).map_err(|e| (Outcome::Ran, e))?;
    let outcome = match &claim {
        Claim::Damaged(why) => {
            let e = geobatch_core::Error::Refused(format!(
                "complete, but not what it recorded: {why}; it is left as it is: \
                 `geobatch run CONFIG --restart` (with the sweep's settings) runs it again"
            ));
            return Err((Outcome::Damaged, RunError::Core(e)));
        }
        Claim::Complete => Outcome::Skipped,
        Claim::Busy => Outcome::Busy,
        Claim::Run { resume: true, .. } => Outcome::Resumed,
        Claim::Run { resume: false, .. } => Outcome::Ran,
    };
    on_start(outcome);
    let ran = match outcome {
        Outcome::Skipped | Outcome::Busy | Outcome::Damaged => Ok(()),
        Outcome::Resumed => run.loaded.train(stop, true).map(drop),
        Outcome::Ran if run.loaded.has_model() => run.loaded.train(stop, false).map(drop),
        Outcome::Ran => run.loaded.batches(None, None, stop).map(drop),
    };
    drop(claim);
    ran.map(|()| outcome).map_err(|e| (outcome, e))
}
