//! The report's tables, each one column list ([`Column`]) that gives its Markdown and its CSV:
//! the summary (`summary.csv`), the phase split of a step (`phases.csv`), new-shape costs (`compile.csv`, per run `compile_runs.csv`),
//! break-even (`break_even.csv`), speedup (`speedup.csv`) and Welch tests (`ttests.csv`).

use crate::compile::{self, BreakEven};
use crate::stats::RunMetrics;
use crate::summary::{Cell, Row, Test};
use crate::table::{Column, Field, Table, cell_columns, pm};

/// A statistic over seeds: one entry gives its Markdown header, its CSV names (`NAME_mean`,
/// `NAME_sd`), its decimals and its value per run.
pub struct Stat {
    /// Markdown header.
    pub header: &'static str,
    /// CSV name stem.
    pub name: &'static str,
    /// Decimals shown in the Markdown.
    pub digits: usize,
    /// The value of a run (`None`: not measured in that run).
    pub value: fn(&RunMetrics) -> Option<f64>,
}

/// The summary's statistics, in column order.
#[rustfmt::skip]
pub const SUMMARY_STATS: &[Stat] = &[
    Stat { header: "batching", name: "batching_ms", digits: 3, value: |m| Some(m.batching_mean_ms) },
    Stat { header: "update", name: "update_ms", digits: 3, value: |m| Some(m.update_mean_ms) },
    Stat { header: "combined", name: "combined_ms", digits: 3, value: |m| Some(m.combined_mean_ms) },
    Stat { header: "steady", name: "combined_steady_median_ms", digits: 3, value: |m| Some(m.combined_steady_median_ms) },
    Stat { header: "graphs/s", name: "graphs_per_s", digits: 0, value: |m| Some(m.graphs_per_s) },
    Stat { header: "nodes/s", name: "nodes_per_s", digits: 0, value: |m| Some(m.nodes_per_s) },
    Stat { header: "fill nodes", name: "fill_nodes", digits: 3, value: |m| Some(m.fill_nodes) },
    Stat { header: "fill edges", name: "fill_edges", digits: 3, value: |m| Some(m.fill_edges) },
    Stat { header: "shapes", name: "distinct_shapes", digits: 1, value: |m| Some(m.distinct_shapes as f64) },
    Stat { header: "val RMSE", name: "validation_rmse", digits: 4, value: |m| m.validation.map(|v| v.0) },
    Stat { header: "test RMSE", name: "test_rmse", digits: 4, value: |m| m.test.map(|v| v.0) },
    Stat { header: "test MAE", name: "test_mae", digits: 4, value: |m| m.test.map(|v| v.1) },
    Stat { header: "test acc", name: "test_accuracy", digits: 4, value: |m| m.test_accuracy },
    Stat { header: "test acc (full graph)", name: "test_accuracy_full", digits: 4, value: |m| m.test_accuracy_full },
];

/// The new-shape statistics of `compile.csv`, in column order.
#[rustfmt::skip]
pub const COMPILE_STATS: &[Stat] = &[
    Stat { header: "shapes", name: "shapes", digits: 1, value: |m| Some(m.distinct_shapes as f64) },
    Stat { header: "steady ms", name: "steady_ms", digits: 3, value: |m| Some(m.combined_steady_median_ms) },
    Stat { header: "per new shape ms", name: "per_new_shape_ms", digits: 1, value: |m| Some(m.compile_per_shape_ms) },
    Stat { header: "overhead s", name: "overhead_s", digits: 2, value: |m| Some(compile::overhead_ms(m) / 1e3) },
];

/// The phase split of a steady step (`phases.csv`), in column order: each part a mean over the
/// steady steps of a run, then mean ± sd over seeds.
#[rustfmt::skip]
pub const PHASE_STATS: &[Stat] = &[
    Stat { header: "batching", name: "batching_ms", digits: 3, value: |m| m.phases.map(|p| p.batching_ms) },
    Stat { header: "transfer", name: "transfer_ms", digits: 3, value: |m| m.phases.map(|p| p.transfer_ms) },
    Stat { header: "forward", name: "forward_ms", digits: 3, value: |m| m.phases.and_then(|p| p.forward_ms) },
    Stat { header: "backward", name: "backward_ms", digits: 3, value: |m| m.phases.and_then(|p| p.backward_ms) },
    Stat { header: "optimizer", name: "optimizer_ms", digits: 3, value: |m| m.phases.and_then(|p| p.optimizer_ms) },
    Stat { header: "rest", name: "rest_ms", digits: 3, value: |m| m.phases.map(|p| p.rest_ms) },
    Stat { header: "combined", name: "combined_ms", digits: 3, value: |m| m.phases.map(|p| p.combined_ms) },
];

/// The column of a statistic: `mean ± sd` in the Markdown, mean and sd in the CSV.
fn stat_column<'a>(s: &'a Stat) -> Column<'a, &'a Row> {
    Column {
        header: Some(s.header.to_string()),
        csv: vec![format!("{}_mean", s.name), format!("{}_sd", s.name)],
        value: Box::new(move |r: &&Row| {
            let (mean, sd) = r.stat(s.value);
            Field {
                text: pm((mean, sd), s.digits),
                csv: vec![mean.to_string(), sd.to_string()],
            }
        }),
    }
}

/// The columns of a row's cell and batcher.
fn row_columns<'a>() -> Vec<Column<'a, &'a Row>> {
    let mut cols = cell_columns(|r: &&Row| &r.cell);
    cols.push(Column::new("batcher", "batcher", |r: &&Row| {
        Field::same(&r.batcher)
    }));
    cols
}

/// Per row: seeds, times, throughput, fill, shapes and final errors (`summary.csv`).
pub fn summary(rows: &[Row]) -> Table {
    let mut cols = row_columns();
    cols.push(Column::new("seeds", "seeds", |r: &&Row| {
        Field::same(r.runs.len())
    }));
    cols.extend(SUMMARY_STATS.iter().map(stat_column));
    Table::of(&cols, rows)
}

/// Per row and target: the last test RMSE and MAE, mean ± sd over seeds (`targets.csv`), for
/// rows whose runs evaluate several targets (a potential's energy, forces and stress).
pub fn targets(rows: &[Row]) -> Table {
    type Item<'a> = (&'a Row, &'a str);
    let mut cols = cell_columns(|(r, _): &Item| &r.cell);
    cols.push(Column::new("batcher", "batcher", |(r, _): &Item| {
        Field::same(&r.batcher)
    }));
    cols.push(Column::new("target", "target", |(_, t): &Item| {
        Field::same(t)
    }));
    for (header, name, pick) in [
        ("test RMSE", "test_rmse", 0usize),
        ("test MAE", "test_mae", 1),
    ] {
        cols.push(Column {
            header: Some(header.to_string()),
            csv: vec![format!("{name}_mean"), format!("{name}_sd")],
            value: Box::new(move |(r, t): &Item| {
                let (mean, sd) = r.stat(|m| {
                    m.targets
                        .iter()
                        .find(|x| x.0 == *t)
                        .map(|x| if pick == 0 { x.1 } else { x.2 })
                });
                Field {
                    text: pm((mean, sd), 4),
                    csv: vec![mean.to_string(), sd.to_string()],
                }
            }),
        });
    }
    let items: Vec<Item> = rows
        .iter()
        .filter(|r| r.runs.iter().any(|m| m.targets.len() > 1))
        .flat_map(|r| {
            r.runs
                .first()
                .into_iter()
                .flat_map(move |m| m.targets.iter().map(move |t| (r, t.0.as_str())))
        })
        .collect();
    Table::of(&cols, items)
}

/// Per row whose runs recorded the update's phases: where a steady step's time goes
/// (`phases.csv`); rows without them (the batching study, no steady step) are left out.
pub fn phases(rows: &[Row]) -> Table {
    let mut cols = row_columns();
    cols.extend(PHASE_STATS.iter().map(stat_column));
    Table::of(
        &cols,
        rows.iter()
            .filter(|r| r.runs.iter().any(|m| m.phases.is_some())),
    )
}

/// Per row: shapes, steady step, cost per new shape and overhead (`compile.csv`).
pub fn compile(rows: &[Row]) -> Table {
    let mut cols = row_columns();
    cols.extend(COMPILE_STATS.iter().map(stat_column));
    Table::of(&cols, rows)
}

/// The same per run (seed), CSV only (`compile_runs.csv`).
pub fn compile_runs(rows: &[Row]) -> Table {
    type Item<'a> = (&'a Row, &'a RunMetrics);
    /// A CSV column of a run: its name and its value.
    type RunColumn = (&'static str, fn(&Item) -> String);
    let mut cols = cell_columns(|(r, _): &Item| &r.cell);
    let runs: [RunColumn; 10] = [
        ("batcher", |(r, _)| r.batcher.clone()),
        ("seed", |(_, m)| m.seed.to_string()),
        ("run_id", |(_, m)| m.run_id.clone()),
        ("steps", |(_, m)| m.steps.to_string()),
        ("shapes", |(_, m)| m.distinct_shapes.to_string()),
        ("cold_steps", |(_, m)| m.cold_shapes.to_string()),
        ("steady_ms", |(_, m)| {
            m.combined_steady_median_ms.to_string()
        }),
        ("per_new_shape_ms", |(_, m)| {
            m.compile_per_shape_ms.to_string()
        }),
        ("overhead_s", |(_, m)| {
            (compile::overhead_ms(m) / 1e3).to_string()
        }),
        ("combined_mean_ms", |(_, m)| m.combined_mean_ms.to_string()),
    ];
    cols.extend(runs.into_iter().map(|(name, f)| Column::csv_only(name, f)));
    Table::of(
        &cols,
        rows.iter().flat_map(|r| r.runs.iter().map(move |m| (r, m))),
    )
}

/// Per pair of batchers of a cell: steady steps, overheads and the break-even run length
/// (`break_even.csv`; overheads in s in the Markdown, in ms in the CSV).
pub fn break_even(pairs: &[BreakEven]) -> Table {
    let mut cols = cell_columns(|p: &&BreakEven| &p.cell);
    cols.push(Column::new("a (more shapes)", "a", |p: &&BreakEven| {
        Field::same(&p.a)
    }));
    cols.push(Column::new("b", "b", |p: &&BreakEven| Field::same(&p.b)));
    cols.push(Column {
        header: Some("steady ms a / b".into()),
        csv: vec!["steady_ms_a".into(), "steady_ms_b".into()],
        value: Box::new(|p: &&BreakEven| Field {
            text: format!("{:.3} / {:.3}", p.steady_ms.0, p.steady_ms.1),
            csv: vec![p.steady_ms.0.to_string(), p.steady_ms.1.to_string()],
        }),
    });
    cols.push(Column {
        header: Some("overhead s a / b".into()),
        csv: vec!["overhead_ms_a".into(), "overhead_ms_b".into()],
        value: Box::new(|p: &&BreakEven| Field {
            text: format!(
                "{:.2} / {:.2}",
                p.overhead_ms.0 / 1e3,
                p.overhead_ms.1 / 1e3
            ),
            csv: vec![p.overhead_ms.0.to_string(), p.overhead_ms.1.to_string()],
        }),
    });
    cols.push(Column::new(
        "break-even steps",
        "break_even_steps",
        |p: &&BreakEven| {
            let steps = p.verdict.steps();
            Field {
                text: steps.map_or("-".to_string(), |n| format!("{n:.0}")),
                csv: vec![steps.map_or(String::new(), |n| n.to_string())],
            }
        },
    ));
    cols.push(Column::new("verdict", "verdict", |p: &&BreakEven| {
        Field::same(p.verdict.words(&p.a))
    }));
    Table::of(&cols, pairs)
}

/// A speedup row: (cell, fastest batcher, slowest batcher, slowest/fastest).
pub type Speedup = (Cell, String, String, f64);

/// Per cell with two batchers or more: the fastest, the slowest and their ratio (`speedup.csv`).
pub fn speedup(rows: &[Speedup]) -> Table {
    let mut cols = cell_columns(|s: &&Speedup| &s.0);
    cols.push(Column::new("fastest", "fastest", |s: &&Speedup| {
        Field::same(&s.1)
    }));
    cols.push(Column::new("slowest", "slowest", |s: &&Speedup| {
        Field::same(&s.2)
    }));
    cols.push(Column::new("speedup", "speedup", |s: &&Speedup| Field {
        text: format!("{:.2}x", s.3),
        csv: vec![s.3.to_string()],
    }));
    Table::of(&cols, rows)
}

/// Per pair of batchers of a cell: Welch's t, df, p and Holm's p (`ttests.csv`).
pub fn ttests(tests: &[Test]) -> Table {
    let number = |digits: usize, f: fn(&Test) -> f64| {
        move |t: &&Test| Field {
            text: format!("{:.*}", digits, f(t)),
            csv: vec![f(t).to_string()],
        }
    };
    let mut cols = cell_columns(|t: &&Test| &t.cell);
    cols.push(Column::new("a", "a", |t: &&Test| Field::same(&t.a)));
    cols.push(Column::new("b", "b", |t: &&Test| Field::same(&t.b)));
    cols.push(Column::new("t", "t", number(3, |t| t.t)));
    cols.push(Column::new("df", "df", number(1, |t| t.df)));
    cols.push(Column::new("p", "p", number(4, |t| t.p)));
    cols.push(Column::new("p (Holm)", "p_holm", number(4, |t| t.p_holm)));
    Table::of(&cols, tests)
}

#[cfg(test)]
mod tests;
