//! The runs of a results folder aggregated: complete runs grouped into cells and batchers
//! ([`Row`]), their learning curves, and the Welch tests between the batchers of a cell.

use crate::ResultsError;
use crate::stats::{RunMetrics, holm, mean, run_metrics, sd, welch};
use geobatch_core::records::RunStatus;
use geobatch_results::read::{self, Run, find_runs, read_run};
use geobatch_results::verify;
use std::collections::BTreeMap;
use std::path::Path;

/// (dataset, model, mode, batch size): what batchers are compared within.
pub type Cell = (String, String, String, u32);

/// One row of the summary: a batcher within a cell, aggregated over seeds.
#[derive(Debug, Clone)]
pub struct Row {
    /// The cell.
    pub cell: Cell,
    /// Batcher label.
    pub batcher: String,
    /// Seeds (runs) aggregated.
    pub runs: Vec<RunMetrics>,
}

impl Row {
    /// Mean and sample sd over seeds of a metric.
    pub fn stat(&self, f: impl Fn(&RunMetrics) -> Option<f64>) -> (f64, f64) {
        let v: Vec<f64> = self.runs.iter().filter_map(&f).collect();
        (mean(&v), sd(&v))
    }
}

/// One Welch test between two batchers of a cell.
#[derive(Debug, Clone)]
pub struct Test {
    /// The cell.
    pub cell: Cell,
    /// First batcher.
    pub a: String,
    /// Second batcher.
    pub b: String,
    /// t statistic (a minus b).
    pub t: f64,
    /// Welch-Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p.
    pub p: f64,
    /// Holm-adjusted p over every test of the report.
    pub p_holm: f64,
}

/// Learning curves: (cell, batcher) -> (step, mean test-or-validation RMSE over seeds).
pub type Curves = BTreeMap<(Cell, String), Vec<(u64, f64)>>;

/// Everything a report holds.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Rows, sorted by cell then batcher.
    pub rows: Vec<Row>,
    /// Tests, Holm-corrected together.
    pub tests: Vec<Test>,
    /// Learning curves.
    pub curves: Curves,
    /// Runs read, and runs left out because they did not complete.
    pub runs_read: usize,
    /// Runs not complete (left out).
    pub incomplete: Vec<String>,
    /// Runs whose files cannot be read (left out): the file and why.
    pub damaged: Vec<String>,
    /// Complete runs whose files are not what they recorded (left out, see [`verify`]): the
    /// run folder and why.
    pub inconsistent: Vec<String>,
}

/// Complete, consistent runs grouped by (cell, batcher).
type Groups = BTreeMap<(Cell, String), Vec<Run>>;

/// Reads every run below `results` and aggregates it.
pub fn summarise(results: &Path) -> Result<Summary, ResultsError> {
    let dirs = find_runs(results)?;
    if dirs.is_empty() {
        return Err(ResultsError::Empty(format!(
            "{}: no runs (folders with run.parquet) below this folder",
            results.display()
        )));
    }
    let mut s = Summary::default();
    let groups = group_runs(&dirs, &mut s);
    check_cells(&groups)?;
    for ((cell, batcher), runs) in &groups {
        if let Some(curve) = learning_curve(runs) {
            s.curves.insert((cell.clone(), batcher.clone()), curve);
        }
        s.rows.push(Row {
            cell: cell.clone(),
            batcher: batcher.clone(),
            runs: runs.iter().map(run_metrics).collect(),
        });
    }
    s.tests = welch_tests(&s.rows);
    Ok(s)
}

/// Reads the run folders `dirs` and groups the complete, consistent ones; the others are
/// counted and named in `s` (a damaged run is left out, the others are still reported).
fn group_runs(dirs: &[std::path::PathBuf], s: &mut Summary) -> Groups {
    let mut groups = Groups::new();
    for d in dirs {
        let run = match read_run(d) {
            Ok(run) => run,
            Err(e) => {
                s.damaged.push(e.to_string());
                continue;
            }
        };
        s.runs_read += 1;
        if RunStatus::parse(&run.id.status) != Some(RunStatus::Complete) {
            s.incomplete
                .push(format!("{} ({})", run.id.run_id, run.id.status));
            continue;
        }
        if let Err(why) = verify::verify(&run) {
            s.inconsistent.push(why);
            continue;
        }
        let key = (cell_of(&run), run.id.batcher.clone());
        groups.entry(key).or_default().push(run);
    }
    groups
}

/// The cell of a run. Node-level batchers state incomparable sizes (outputs per batch, parts):
/// their runs are compared within (dataset, model, mode), shown as batch size 0.
fn cell_of(run: &Run) -> Cell {
    let id = &run.id;
    let node_level = run.evals.iter().any(|e| e.accuracy.is_some());
    (
        id.dataset.clone(),
        id.model.clone(),
        id.mode.clone(),
        if node_level { 0 } else { id.batch_size },
    )
}

/// The mean over seeds of the RMSE at each evaluated step (test, else validation); `None`
/// without regression evaluations.
fn learning_curve(runs: &[Run]) -> Option<Vec<(u64, f64)>> {
    let split = if runs
        .iter()
        .any(|r| r.evals.iter().any(|e| e.split == "test"))
    {
        "test"
    } else {
        "validation"
    };
    let mut by_step: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for r in runs {
        for e in r
            .evals
            .iter()
            .filter(|e| e.split == split && e.accuracy.is_none())
        {
            by_step.entry(e.step).or_default().push(e.rmse);
        }
    }
    (!by_step.is_empty()).then(|| by_step.into_iter().map(|(k, v)| (k, mean(&v))).collect())
}

/// Welch tests of the test RMSE (node classification: test accuracy with batched inference)
/// between every pair of batchers within a cell, Holm-corrected together.
pub fn welch_tests(rows: &[Row]) -> Vec<Test> {
    let metric = |r: &Row| {
        r.runs
            .iter()
            .filter_map(|m| m.test.map(|t| t.0).or(m.test_accuracy))
            .collect::<Vec<f64>>()
    };
    let mut raw = Vec::new();
    for (i, a) in rows.iter().enumerate() {
        for b in rows.iter().skip(i + 1).filter(|b| b.cell == a.cell) {
            if let Some((t, df, p)) = welch(&metric(a), &metric(b)) {
                raw.push(Test {
                    cell: a.cell.clone(),
                    a: a.batcher.clone(),
                    b: b.batcher.clone(),
                    t,
                    df,
                    p,
                    p_holm: p,
                });
            }
        }
    }
    let adjusted = holm(&raw.iter().map(|t| t.p).collect::<Vec<f64>>());
    for (t, p) in raw.iter_mut().zip(adjusted) {
        t.p_holm = p;
    }
    raw
}

/// The speedup rows: (cell, fastest batcher, slowest batcher, slowest/fastest combined mean).
/// Node-level cells (batch size 0: batchers with different batch counts per epoch) compare the
/// time per output node (`1 / graphs_per_s`) instead of the time per step.
pub fn speedups(s: &Summary) -> Vec<(Cell, String, String, f64)> {
    let mut cells: BTreeMap<Cell, Vec<(&str, f64)>> = BTreeMap::new();
    for r in &s.rows {
        let cost = if r.cell.3 == 0 {
            1.0 / r.stat(|m| Some(m.graphs_per_s)).0
        } else {
            r.stat(|m| Some(m.combined_mean_ms)).0
        };
        cells
            .entry(r.cell.clone())
            .or_default()
            .push((&r.batcher, cost));
    }
    cells
        .into_iter()
        .filter(|(_, v)| v.len() >= 2)
        .map(|(cell, v)| {
            let fast = v
                .iter()
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .copied()
                .unwrap_or(("", f64::NAN));
            let slow = v
                .iter()
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .copied()
                .unwrap_or(("", f64::NAN));
            (
                cell,
                fast.0.to_string(),
                slow.0.to_string(),
                slow.1 / fast.1,
            )
        })
        .collect()
}

/// A cell is one configuration less the seed and the batcher, with each seed once per batcher:
/// runs that break this are never pooled (averaging them would mix experiments).
fn check_cells(groups: &Groups) -> Result<(), ResultsError> {
    let mut first: BTreeMap<&Cell, &Run> = BTreeMap::new();
    for ((cell, batcher), runs) in groups {
        let (d, m, mode, bs) = cell;
        let name = format!("{d} {m} {mode} bs {bs}");
        let mut seeds = BTreeMap::new();
        for run in runs {
            if let Some(other) = seeds.insert(run.id.seed, run) {
                return Err(ResultsError::Mixed(format!(
                    "{} and {} are both {name} {batcher} with seed {}: report each experiment \
                     on its own (geobatch report RESULTS/EXPERIMENT)",
                    other.id.dir.display(),
                    run.id.dir.display(),
                    run.id.seed
                )));
            }
            let reference = *first.entry(cell).or_insert(run);
            if let (Some(a), Some(b)) = (&reference.id.config, &run.id.config) {
                let keys = read::differing_keys(a, b, 5);
                if !keys.is_empty() {
                    return Err(ResultsError::Mixed(format!(
                        "{} and {} are both {name} but their configs differ in {}: report \
                         each experiment on its own (geobatch report RESULTS/EXPERIMENT)",
                        reference.id.dir.display(),
                        run.id.dir.display(),
                        keys.join(", ")
                    )));
                }
            }
        }
    }
    Ok(())
}
