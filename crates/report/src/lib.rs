//! `geobatch report RESULTS`: reads the Parquet files of any number of runs and writes, into a
//! report folder, Markdown for people (`report.md`), CSV for machines (`summary.csv`,
//! `speedup.csv`, `ttests.csv`) and figures (`*.svg`, `*.png`).
//!
//! Per (dataset, model, batch size, batcher, mode), over seeds: batching, update and combined time
//! per step (mean over every step, warm-up and new shapes included, as the study's figures; and the
//! steady-state median), graphs/s and nodes/s, fill, distinct shapes, final validation and test
//! RMSE/MAE as mean ± sd. Per (dataset, model, mode, batch size): the speedup of the fastest over
//! the slowest batcher (combined mean), and Welch t-tests of the test RMSE between every pair of
//! batchers, Holm-corrected across all tests of the report.

pub mod advise;
pub mod compile;
pub mod figures;
pub mod read;
pub mod stats;
pub mod verify;
pub mod write;

use read::{Run, find_runs, read_run};
use stats::{RunMetrics, holm, mean, run_metrics, sd, welch};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What can go wrong while reporting.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A results file cannot be read.
    #[error("{}: {message}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A report file cannot be written.
    #[error("cannot write {}: {message}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Nothing to report.
    #[error("{0}")]
    Empty(String),
    /// Runs of different configurations (or the same seed twice) would share a cell.
    #[error("{0}")]
    Mixed(String),
}

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

/// Everything a report holds.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Rows, sorted by cell then batcher.
    pub rows: Vec<Row>,
    /// Tests, Holm-corrected together.
    pub tests: Vec<Test>,
    /// Learning curves: (cell, batcher) -> (step, mean test-or-validation RMSE over seeds).
    pub curves: BTreeMap<(Cell, String), Vec<(u64, f64)>>,
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

/// What [`report`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// The Markdown of `report.md`.
    pub markdown: String,
    /// Runs left out because their files cannot be read: the file and why.
    pub damaged: Vec<String>,
    /// Complete runs left out because their files are not what they recorded: why.
    pub inconsistent: Vec<String>,
    /// Runs left out because they did not complete: run id and status.
    pub incomplete: Vec<String>,
}

/// Reads every run below `results` and aggregates it.
pub fn summarise(results: &Path) -> Result<Summary, ReportError> {
    let dirs = find_runs(results)?;
    if dirs.is_empty() {
        return Err(ReportError::Empty(format!(
            "{}: no runs (folders with run.parquet) below this folder",
            results.display()
        )));
    }
    let mut s = Summary::default();
    let mut groups: BTreeMap<(Cell, String), Vec<Run>> = BTreeMap::new();
    for d in dirs {
        // a damaged run is left out and named; the others are still reported
        let run = match read_run(&d) {
            Ok(run) => run,
            Err(e) => {
                s.damaged.push(e.to_string());
                continue;
            }
        };
        s.runs_read += 1;
        if run.id.status != "complete" {
            s.incomplete
                .push(format!("{} ({})", run.id.run_id, run.id.status));
            continue;
        }
        // a complete run whose files are not what it recorded is left out and named
        if let Err(why) = verify::verify(&run) {
            s.inconsistent.push(why);
            continue;
        }
        let id = &run.id;
        // node-level batchers state incomparable sizes (outputs per batch, parts): their runs
        // are compared within (dataset, model, mode), shown as batch size 0
        let node_level = run.evals.iter().any(|e| e.accuracy.is_some());
        let cell = (
            id.dataset.clone(),
            id.model.clone(),
            id.mode.clone(),
            if node_level { 0 } else { id.batch_size },
        );
        groups
            .entry((cell, id.batcher.clone()))
            .or_default()
            .push(run);
    }
    check_cells(&groups)?;
    for ((cell, batcher), runs) in &groups {
        // learning curve: mean over seeds of the RMSE at each evaluated step (test, else validation)
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
        if !by_step.is_empty() {
            s.curves.insert(
                (cell.clone(), batcher.clone()),
                by_step.into_iter().map(|(k, v)| (k, mean(&v))).collect(),
            );
        }
        s.rows.push(Row {
            cell: cell.clone(),
            batcher: batcher.clone(),
            runs: runs.iter().map(run_metrics).collect(),
        });
    }
    // Welch tests of the test RMSE (node classification: test accuracy with batched inference)
    // between every pair of batchers within a cell
    let mut raw = Vec::new();
    for (i, a) in s.rows.iter().enumerate() {
        for b in s.rows.iter().skip(i + 1).filter(|b| b.cell == a.cell) {
            let rmse = |r: &Row| {
                r.runs
                    .iter()
                    .filter_map(|m| m.test.map(|t| t.0).or(m.test_accuracy))
                    .collect::<Vec<f64>>()
            };
            if let Some((t, df, p)) = welch(&rmse(a), &rmse(b)) {
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
    s.tests = raw;
    Ok(s)
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

/// The compilation section: per row the cost of a new padded shape, per pair of batchers the
/// break-even step count (`compile.csv`, per run `compile_runs.csv`, `break_even.csv`).
fn compile_section(md: &mut String, s: &Summary, out: &Path) -> Result<(), ReportError> {
    let _ = writeln!(
        md,
        "\n## New padded shapes: cost and break-even\n\nPer new shape: mean over the steps that met a padded shape cold (new to the run, or met again for the first time after a resume) of their combined time minus the steady median (a compile on a shape-specialising engine such as JAX's jit; about zero on geobatch's eager engine); cold steps are left out of the steady median; per run (seed) in `compile_runs.csv`, with `cold_steps` (the compiles: the distinct shapes, plus the shapes met again after a resume). Overhead = shapes x cost per shape. Break-even: the run length after which the batcher with more shapes (and less padding) is the faster over the whole run, n = (overhead a - overhead b) / (steady b - steady a); shapes are those met in the measured runs, so for a batcher that keeps meeting new ones it is a lower bound.\n"
    );
    let _ = writeln!(
        md,
        "| dataset | model | mode | bs | batcher | shapes | steady ms | per new shape ms | overhead s |\n|---|---|---|---|---|---|---|---|---|"
    );
    let mut rows = Vec::new();
    for r in &s.rows {
        let (d, m, mode, bs) = &r.cell;
        let shapes = r.stat(|m| Some(m.distinct_shapes as f64));
        let steady = r.stat(|m| Some(m.combined_steady_median_ms));
        let per = r.stat(|m| Some(m.compile_per_shape_ms));
        let over = r.stat(|m| Some(compile::overhead_ms(m) / 1e3));
        let _ = writeln!(
            md,
            "| {d} | {m} | {mode} | {bs} | {} | {} | {} | {} | {} |",
            r.batcher,
            pm(shapes, 1),
            pm(steady, 3),
            pm(per, 1),
            pm(over, 2)
        );
        let mut row = vec![
            d.clone(),
            m.clone(),
            mode.clone(),
            bs.to_string(),
            r.batcher.clone(),
        ];
        for (mean, sd) in [shapes, steady, per, over] {
            row.push(mean.to_string());
            row.push(sd.to_string());
        }
        rows.push(row);
    }
    write_csv(
        &out.join("compile.csv"),
        &[
            "dataset",
            "model",
            "mode",
            "batch_size",
            "batcher",
            "shapes_mean",
            "shapes_sd",
            "steady_ms_mean",
            "steady_ms_sd",
            "per_new_shape_ms_mean",
            "per_new_shape_ms_sd",
            "overhead_s_mean",
            "overhead_s_sd",
        ],
        rows,
    )?;
    // the same per run
    let mut rows = Vec::new();
    for r in &s.rows {
        let (d, m, mode, bs) = &r.cell;
        for run in &r.runs {
            rows.push(vec![
                d.clone(),
                m.clone(),
                mode.clone(),
                bs.to_string(),
                r.batcher.clone(),
                run.seed.to_string(),
                run.run_id.clone(),
                run.steps.to_string(),
                run.distinct_shapes.to_string(),
                run.cold_shapes.to_string(),
                run.combined_steady_median_ms.to_string(),
                run.compile_per_shape_ms.to_string(),
                (compile::overhead_ms(run) / 1e3).to_string(),
                run.combined_mean_ms.to_string(),
            ]);
        }
    }
    write_csv(
        &out.join("compile_runs.csv"),
        &[
            "dataset",
            "model",
            "mode",
            "batch_size",
            "batcher",
            "seed",
            "run_id",
            "steps",
            "shapes",
            "cold_steps",
            "steady_ms",
            "per_new_shape_ms",
            "overhead_s",
            "combined_mean_ms",
        ],
        rows,
    )?;
    let pairs = compile::break_even(&s.rows);
    let _ = writeln!(
        md,
        "\n| dataset | model | mode | bs | a (more shapes) | b | steady ms a / b | overhead s a / b | break-even steps | verdict |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    let mut rows = Vec::new();
    for p in &pairs {
        let (d, m, mode, bs) = &p.cell;
        let steps = p
            .verdict
            .steps()
            .map_or("-".to_string(), |n| format!("{n:.0}"));
        let _ = writeln!(
            md,
            "| {d} | {m} | {mode} | {bs} | {} | {} | {:.3} / {:.3} | {:.2} / {:.2} | {steps} | {} |",
            p.a,
            p.b,
            p.steady_ms.0,
            p.steady_ms.1,
            p.overhead_ms.0 / 1e3,
            p.overhead_ms.1 / 1e3,
            p.verdict.words(&p.a)
        );
        rows.push(vec![
            d.clone(),
            m.clone(),
            mode.clone(),
            bs.to_string(),
            p.a.clone(),
            p.b.clone(),
            p.steady_ms.0.to_string(),
            p.steady_ms.1.to_string(),
            p.overhead_ms.0.to_string(),
            p.overhead_ms.1.to_string(),
            p.verdict.steps().map_or(String::new(), |n| n.to_string()),
            p.verdict.words(&p.a),
        ]);
    }
    write_csv(
        &out.join("break_even.csv"),
        &[
            "dataset",
            "model",
            "mode",
            "batch_size",
            "a",
            "b",
            "steady_ms_a",
            "steady_ms_b",
            "overhead_ms_a",
            "overhead_ms_b",
            "break_even_steps",
            "verdict",
        ],
        rows,
    )
}

fn pm(x: (f64, f64), digits: usize) -> String {
    if x.0.is_nan() {
        "-".into()
    } else if x.1.is_nan() {
        format!("{:.*}", digits, x.0)
    } else {
        format!("{:.*} ± {:.*}", digits, x.0, digits, x.1)
    }
}

fn write_csv(path: &Path, header: &[&str], rows: Vec<Vec<String>>) -> Result<(), ReportError> {
    let fail = |m: String| ReportError::Write {
        path: path.to_path_buf(),
        message: m,
    };
    let mut w = csv::Writer::from_path(path).map_err(|e| fail(e.to_string()))?;
    w.write_record(header).map_err(|e| fail(e.to_string()))?;
    for r in rows {
        w.write_record(&r).map_err(|e| fail(e.to_string()))?;
    }
    w.flush().map_err(|e| fail(e.to_string()))
}

fn slug(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| {
            p.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("_")
}

/// A cell is one configuration less the seed and the batcher, with each seed once per batcher:
/// runs that break this are never pooled (averaging them would mix experiments).
fn check_cells(groups: &BTreeMap<(Cell, String), Vec<Run>>) -> Result<(), ReportError> {
    let mut first: BTreeMap<&Cell, &Run> = BTreeMap::new();
    for ((cell, batcher), runs) in groups {
        let (d, m, mode, bs) = cell;
        let name = format!("{d} {m} {mode} bs {bs}");
        let mut seeds = BTreeMap::new();
        for run in runs {
            if let Some(other) = seeds.insert(run.id.seed, run) {
                return Err(ReportError::Mixed(format!(
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
                    return Err(ReportError::Mixed(format!(
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

/// Writes the report into `out` from every readable run; returns its Markdown and the runs left
/// out as unreadable or inconsistent. The files are written as one set: into a temporary folder
/// beside `out`, which then replaces `out` (an earlier report there is removed whole; a folder
/// holding anything else is refused).
pub fn report(results: &Path, out: &Path) -> Result<Written, ReportError> {
    let s = summarise(results)?;
    write::as_one_set(out, |staging| write_report(results, s, staging))
}

/// Writes every file of the report of `s` into `out`.
fn write_report(results: &Path, s: Summary, out: &Path) -> Result<Written, ReportError> {
    if s.rows.is_empty() {
        return Err(ReportError::Empty(format!(
            "{}: {} runs read, none complete ({}){}",
            results.display(),
            s.runs_read,
            s.incomplete.join(", "),
            s.damaged
                .iter()
                .map(|d| format!("; unreadable: {d}"))
                .chain(
                    s.inconsistent
                        .iter()
                        .map(|d| format!("; not what it recorded: {d}"))
                )
                .collect::<String>()
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| ReportError::Write {
        path: out.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut md = String::new();
    let _ = writeln!(md, "# geobatch report: {}\n", results.display());
    let _ = writeln!(
        md,
        "{} runs read, {} complete and reported{}. Times per step in ms: means over every step (warm-up and new shapes included, as the study's figures), steady = median without them; update = combined - batching. Values are mean ± sd over seeds.\n",
        s.runs_read,
        s.rows.iter().map(|r| r.runs.len()).sum::<usize>(),
        if s.incomplete.is_empty() {
            String::new()
        } else {
            format!("; left out: {}", s.incomplete.join(", "))
        }
    );
    if !s.damaged.is_empty() {
        let _ = writeln!(md, "**Left out, unreadable ({}):**\n", s.damaged.len());
        for d in &s.damaged {
            let _ = writeln!(md, "- {d}");
        }
        let _ = writeln!(md);
    }
    if !s.inconsistent.is_empty() {
        let _ = writeln!(
            md,
            "**Left out, complete but not what they recorded ({}; docs/reliability.md):**\n",
            s.inconsistent.len()
        );
        for d in &s.inconsistent {
            let _ = writeln!(md, "- {d}");
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(
        md,
        "| dataset | model | mode | bs | batcher | seeds | batching | update | combined | steady | graphs/s | nodes/s | fill nodes | fill edges | shapes | val RMSE | test RMSE | test MAE | test acc | test acc (full graph) |"
    );
    let _ = writeln!(
        md,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let mut csv_rows = Vec::new();
    for r in &s.rows {
        let (d, m, mode, bs) = &r.cell;
        let st = |f: &dyn Fn(&RunMetrics) -> Option<f64>| r.stat(f);
        let cols = [
            st(&|m| Some(m.batching_mean_ms)),
            st(&|m| Some(m.update_mean_ms)),
            st(&|m| Some(m.combined_mean_ms)),
            st(&|m| Some(m.combined_steady_median_ms)),
            st(&|m| Some(m.graphs_per_s)),
            st(&|m| Some(m.nodes_per_s)),
            st(&|m| Some(m.fill_nodes)),
            st(&|m| Some(m.fill_edges)),
            st(&|m| Some(m.distinct_shapes as f64)),
            st(&|m| m.validation.map(|v| v.0)),
            st(&|m| m.test.map(|v| v.0)),
            st(&|m| m.test.map(|v| v.1)),
            st(&|m| m.test_accuracy),
            st(&|m| m.test_accuracy_full),
        ];
        let digits = [3, 3, 3, 3, 0, 0, 3, 3, 1, 4, 4, 4, 4, 4];
        let text: Vec<String> = cols.iter().zip(digits).map(|(c, dg)| pm(*c, dg)).collect();
        let _ = writeln!(
            md,
            "| {d} | {m} | {mode} | {bs} | {} | {} | {} |",
            r.batcher,
            r.runs.len(),
            text.join(" | ")
        );
        let mut row = vec![
            d.clone(),
            m.clone(),
            mode.clone(),
            bs.to_string(),
            r.batcher.clone(),
            r.runs.len().to_string(),
        ];
        for c in cols {
            row.push(format!("{}", c.0));
            row.push(format!("{}", c.1));
        }
        csv_rows.push(row);
    }
    let names = [
        "batching_ms",
        "update_ms",
        "combined_ms",
        "combined_steady_median_ms",
        "graphs_per_s",
        "nodes_per_s",
        "fill_nodes",
        "fill_edges",
        "distinct_shapes",
        "validation_rmse",
        "test_rmse",
        "test_mae",
        "test_accuracy",
        "test_accuracy_full",
    ];
    let mut header: Vec<String> = ["dataset", "model", "mode", "batch_size", "batcher", "seeds"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for n in names {
        header.push(format!("{n}_mean"));
        header.push(format!("{n}_sd"));
    }
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    write_csv(&out.join("summary.csv"), &header_refs, csv_rows)?;

    compile_section(&mut md, &s, out)?;

    let sp = speedups(&s);
    let _ = writeln!(
        md,
        "\n## Speedup (slowest / fastest combined mean per step; node-level cells, bs 0: per output node)\n"
    );
    let _ = writeln!(
        md,
        "| dataset | model | mode | bs | fastest | slowest | speedup |\n|---|---|---|---|---|---|---|"
    );
    for ((d, m, mode, bs), fast, slow, x) in &sp {
        let _ = writeln!(
            md,
            "| {d} | {m} | {mode} | {bs} | {fast} | {slow} | {x:.2}x |"
        );
    }
    write_csv(
        &out.join("speedup.csv"),
        &[
            "dataset",
            "model",
            "mode",
            "batch_size",
            "fastest",
            "slowest",
            "speedup",
        ],
        sp.iter()
            .map(|((d, m, mode, bs), f, sl, x)| {
                vec![
                    d.clone(),
                    m.clone(),
                    mode.clone(),
                    bs.to_string(),
                    f.clone(),
                    sl.clone(),
                    x.to_string(),
                ]
            })
            .collect(),
    )?;

    let _ = writeln!(
        md,
        "\n## Welch t-tests of the test RMSE (node classification: test accuracy) between batchers (Holm-corrected over all {} tests)\n",
        s.tests.len()
    );
    if s.tests.is_empty() {
        let _ = writeln!(
            md,
            "No test: a cell needs two batchers with at least two seeds each and some spread in the test RMSE."
        );
    } else {
        let _ = writeln!(
            md,
            "| dataset | model | mode | bs | a | b | t | df | p | p (Holm) |\n|---|---|---|---|---|---|---|---|---|---|"
        );
        for t in &s.tests {
            let (d, m, mode, bs) = &t.cell;
            let _ = writeln!(
                md,
                "| {d} | {m} | {mode} | {bs} | {} | {} | {:.3} | {:.1} | {:.4} | {:.4} |",
                t.a, t.b, t.t, t.df, t.p, t.p_holm
            );
        }
    }
    write_csv(
        &out.join("ttests.csv"),
        &[
            "dataset",
            "model",
            "mode",
            "batch_size",
            "a",
            "b",
            "t",
            "df",
            "p",
            "p_holm",
        ],
        s.tests
            .iter()
            .map(|t| {
                let (d, m, mode, bs) = &t.cell;
                vec![
                    d.clone(),
                    m.clone(),
                    mode.clone(),
                    bs.to_string(),
                    t.a.clone(),
                    t.b.clone(),
                    t.t.to_string(),
                    t.df.to_string(),
                    t.p.to_string(),
                    t.p_holm.to_string(),
                ]
            })
            .collect(),
    )?;

    // figures, one set per (dataset, model, mode)
    let mut figs = Vec::new();
    let mut panels: BTreeMap<(String, String, String), Vec<&Row>> = BTreeMap::new();
    for r in &s.rows {
        panels
            .entry((r.cell.0.clone(), r.cell.1.clone(), r.cell.2.clone()))
            .or_default()
            .push(r);
    }
    for ((d, m, mode), rows) in &panels {
        let name = format!("{d} / {m} / {mode}");
        let mut by_batcher: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
        for r in rows {
            by_batcher.entry(&r.batcher).or_default().push(r);
        }
        let series = |f: &dyn Fn(&Row) -> f64| -> Vec<figures::Series> {
            by_batcher
                .iter()
                .map(|(b, rs)| {
                    (
                        b.to_string(),
                        rs.iter().map(|r| (f64::from(r.cell.3), f(r))).collect(),
                    )
                })
                .collect()
        };
        let stem = |kind: &str| out.join(slug(&[kind, d, m, mode]));
        figs.extend(figures::line_chart(
            &stem("time_per_step"),
            &format!("combined time per step: {name}"),
            "batch size",
            "ms per step (mean)",
            &series(&|r| r.stat(|m| Some(m.combined_mean_ms)).0),
            true,
        )?);
        figs.extend(figures::line_chart(
            &stem("fill"),
            &format!("node fill: {name}"),
            "batch size",
            "real / padded nodes",
            &series(&|r| r.stat(|m| Some(m.fill_nodes)).0),
            true,
        )?);
        figs.extend(figures::line_chart(
            &stem("shapes"),
            &format!("distinct padded shapes: {name}"),
            "batch size",
            "shapes",
            &series(&|r| r.stat(|m| Some(m.distinct_shapes as f64)).0),
            true,
        )?);
        let bars: Vec<(String, f64)> = sp
            .iter()
            .filter(|(c, ..)| (&c.0, &c.1, &c.2) == (d, m, mode))
            .map(|(c, _, _, x)| (format!("bs {}", c.3), *x))
            .collect();
        if !bars.is_empty() {
            figs.extend(figures::bar_chart(
                &stem("speedup"),
                &format!("slowest / fastest batcher: {name}"),
                "speedup",
                &bars,
            )?);
        }
        let curves: Vec<figures::Series> = s
            .curves
            .iter()
            .filter(|((c, _), _)| (&c.0, &c.1, &c.2) == (d, m, mode))
            .map(|((c, b), pts)| {
                (
                    format!("{b} bs{}", c.3),
                    pts.iter().map(|&(x, y)| (x as f64, y)).collect(),
                )
            })
            .collect();
        if !curves.is_empty() {
            figs.extend(figures::line_chart(
                &stem("learning_curves"),
                &format!("RMSE vs step: {name}"),
                "step",
                "RMSE (target units)",
                &curves,
                false,
            )?);
        }
        for bs in rows
            .iter()
            .map(|r| r.cell.3)
            .collect::<std::collections::BTreeSet<_>>()
        {
            let tests: Vec<&Test> = s
                .tests
                .iter()
                .filter(|t| (&t.cell.0, &t.cell.1, &t.cell.2, t.cell.3) == (d, m, mode, bs))
                .collect();
            if tests.is_empty() {
                continue;
            }
            let names: Vec<String> = rows
                .iter()
                .filter(|r| r.cell.3 == bs)
                .map(|r| r.batcher.clone())
                .collect();
            let p: Vec<Vec<Option<f64>>> = names
                .iter()
                .map(|a| {
                    names
                        .iter()
                        .map(|b| {
                            tests
                                .iter()
                                .find(|t| (&t.a == a && &t.b == b) || (&t.a == b && &t.b == a))
                                .map(|t| t.p_holm)
                        })
                        .collect()
                })
                .collect();
            figs.extend(figures::heatmap(
                &out.join(slug(&["pvalues", d, m, mode, &format!("bs{bs}")])),
                &format!("Holm p, test RMSE: {name}, bs {bs}"),
                &names,
                &p,
            )?);
        }
    }
    let _ = writeln!(md, "\n## Figures\n");
    for f in figs
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "svg"))
    {
        if let Some(n) = f.file_name().and_then(|n| n.to_str()) {
            let _ = writeln!(md, "![{n}]({n})");
        }
    }
    if !figures::font_available() {
        let _ = writeln!(
            md,
            "\n(No figures: no TrueType font found; set GEOBATCH_FONT to a .ttf file.)"
        );
    }
    let path = out.join("report.md");
    std::fs::write(&path, &md).map_err(|e| ReportError::Write {
        path,
        message: e.to_string(),
    })?;
    Ok(Written {
        markdown: md,
        damaged: s.damaged,
        inconsistent: s.inconsistent,
        incomplete: s.incomplete,
    })
}
