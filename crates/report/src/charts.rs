//! The report's figures, one set per (dataset, model, mode): time per step, fill and shapes
//! against batch size, the speedup, the learning curves and the Holm p-values of each batch size.

use crate::ResultsError;
use crate::figures::{self, Series};
use crate::summary::{Row, Summary, Test};
use crate::tables::Speedup;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// (dataset, model, mode): what one set of figures shows.
type Panel = (String, String, String);

/// Draws every figure of `s` into `out`; returns the files written.
pub fn draw(s: &Summary, speedups: &[Speedup], out: &Path) -> Result<Vec<PathBuf>, ResultsError> {
    let mut panels: BTreeMap<Panel, Vec<&Row>> = BTreeMap::new();
    for r in &s.rows {
        panels
            .entry((r.cell.0.clone(), r.cell.1.clone(), r.cell.2.clone()))
            .or_default()
            .push(r);
    }
    let mut figs = Vec::new();
    for (panel, rows) in &panels {
        figs.extend(against_batch_size(panel, rows, out)?);
        figs.extend(speedup_bars(panel, speedups, out)?);
        figs.extend(learning_curves(panel, s, out)?);
        figs.extend(p_values(panel, rows, &s.tests, out)?);
    }
    Ok(figs)
}

/// `kind_dataset_model_mode`, with every character outside `[A-Za-z0-9_]` made `-`.
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

/// The file stem of a figure of `kind` for `panel`.
fn stem(out: &Path, kind: &str, (d, m, mode): &Panel) -> PathBuf {
    out.join(slug(&[kind, d, m, mode]))
}

/// `dataset / model / mode`, for titles.
fn name((d, m, mode): &Panel) -> String {
    format!("{d} / {m} / {mode}")
}

/// Combined time per step, node fill and distinct shapes against batch size, one line per
/// batcher.
fn against_batch_size(
    panel: &Panel,
    rows: &[&Row],
    out: &Path,
) -> Result<Vec<PathBuf>, ResultsError> {
    let mut by_batcher: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        by_batcher.entry(&r.batcher).or_default().push(r);
    }
    let series = |f: &dyn Fn(&Row) -> f64| -> Vec<Series> {
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
    let name = name(panel);
    let mut figs = figures::line_chart(
        &stem(out, "time_per_step", panel),
        &format!("combined time per step: {name}"),
        "batch size",
        "ms per step (mean)",
        &series(&|r| r.stat(|m| Some(m.combined_mean_ms)).0),
        true,
    )?;
    figs.extend(figures::line_chart(
        &stem(out, "fill", panel),
        &format!("node fill: {name}"),
        "batch size",
        "real / padded nodes",
        &series(&|r| r.stat(|m| Some(m.fill_nodes)).0),
        true,
    )?);
    figs.extend(figures::line_chart(
        &stem(out, "shapes", panel),
        &format!("distinct padded shapes: {name}"),
        "batch size",
        "shapes",
        &series(&|r| r.stat(|m| Some(m.distinct_shapes as f64)).0),
        true,
    )?);
    Ok(figs)
}

/// Whether `cell`'s dataset, model and mode are `panel`'s.
fn in_panel(cell: &crate::summary::Cell, (d, m, mode): &Panel) -> bool {
    (&cell.0, &cell.1, &cell.2) == (d, m, mode)
}

/// The slowest / fastest ratio per batch size, as bars (none with fewer than two batchers).
fn speedup_bars(
    panel: &Panel,
    speedups: &[Speedup],
    out: &Path,
) -> Result<Vec<PathBuf>, ResultsError> {
    let bars: Vec<(String, f64)> = speedups
        .iter()
        .filter(|(c, ..)| in_panel(c, panel))
        .map(|(c, _, _, x)| (format!("bs {}", c.3), *x))
        .collect();
    if bars.is_empty() {
        return Ok(Vec::new());
    }
    figures::bar_chart(
        &stem(out, "speedup", panel),
        &format!("slowest / fastest batcher: {}", name(panel)),
        "speedup",
        &bars,
    )
}

/// RMSE against step, one line per batcher and batch size (none without evaluations).
fn learning_curves(panel: &Panel, s: &Summary, out: &Path) -> Result<Vec<PathBuf>, ResultsError> {
    let curves: Vec<Series> = s
        .curves
        .iter()
        .filter(|((c, _), _)| in_panel(c, panel))
        .map(|((c, b), pts)| {
            (
                format!("{b} bs{}", c.3),
                pts.iter().map(|&(x, y)| (x as f64, y)).collect(),
            )
        })
        .collect();
    if curves.is_empty() {
        return Ok(Vec::new());
    }
    figures::line_chart(
        &stem(out, "learning_curves", panel),
        &format!("RMSE vs step: {}", name(panel)),
        "step",
        "RMSE (target units)",
        &curves,
        false,
    )
}

/// Per batch size with tests: the Holm p of every pair of batchers, as a heat map.
fn p_values(
    panel: &Panel,
    rows: &[&Row],
    tests: &[Test],
    out: &Path,
) -> Result<Vec<PathBuf>, ResultsError> {
    let (d, m, mode) = panel;
    let mut figs = Vec::new();
    for bs in rows.iter().map(|r| r.cell.3).collect::<BTreeSet<_>>() {
        let tests: Vec<&Test> = tests
            .iter()
            .filter(|t| in_panel(&t.cell, panel) && t.cell.3 == bs)
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
            &format!("Holm p, test RMSE: {}, bs {bs}", name(panel)),
            &names,
            &p,
        )?);
    }
    Ok(figs)
}
