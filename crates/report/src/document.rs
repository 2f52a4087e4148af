//! The report folder's files from a [`Summary`]: `report.md` section by section, each table's
//! CSV file beside it, and the figures.

use crate::summary::{Summary, speedups};
use crate::table::Table;
use crate::{ResultsError, Written, charts, compile, tables};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Writes every file of the report of `s` (on the runs below `results`) into `out`.
pub fn write(results: &Path, s: Summary, out: &Path) -> Result<Written, ResultsError> {
    if s.rows.is_empty() {
        return Err(nothing_complete(results, &s));
    }
    std::fs::create_dir_all(out).map_err(|e| ResultsError::Write {
        path: out.to_path_buf(),
        message: e.to_string(),
    })?;
    let speedups = speedups(&s);
    let mut md = intro(results, &s);
    md += &section(out, &tables::summary(&s.rows), "summary.csv")?;
    md += &target_section(out, &tables::targets(&s.rows))?;
    md += &phase_section(out, &tables::phases(&s.rows))?;
    md += &compile_section(&s, out)?;
    md += &speedup_section(out, &tables::speedup(&speedups))?;
    md += &ttest_section(&s, out)?;
    md += &figure_list(&charts::draw(&s, &speedups, out)?);
    let path = out.join("report.md");
    std::fs::write(&path, &md).map_err(|e| ResultsError::Write {
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

/// The error of a results folder with no complete, readable and consistent run.
fn nothing_complete(results: &Path, s: &Summary) -> ResultsError {
    ResultsError::Empty(format!(
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
    ))
}

/// The title, what was read and how to read the numbers, and the runs left out.
fn intro(results: &Path, s: &Summary) -> String {
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
    md += &left_out(
        &format!("**Left out, unreadable ({}):**", s.damaged.len()),
        &s.damaged,
    );
    md += &left_out(
        &format!(
            "**Left out, complete but not what they recorded ({}; docs/reliability.md):**",
            s.inconsistent.len()
        ),
        &s.inconsistent,
    );
    md
}

/// A titled list of runs left out (nothing when there are none).
fn left_out(title: &str, runs: &[String]) -> String {
    if runs.is_empty() {
        return String::new();
    }
    let mut md = format!("{title}\n\n");
    for r in runs {
        let _ = writeln!(md, "- {r}");
    }
    md + "\n"
}

/// A table's Markdown, its CSV written to `out/csv`.
fn section(out: &Path, table: &Table, csv: &str) -> Result<String, ResultsError> {
    table.write_csv(&out.join(csv))?;
    Ok(table.markdown())
}

/// Test errors by target (`targets.csv`), for runs that evaluate several; nothing otherwise.
fn target_section(out: &Path, table: &Table) -> Result<String, ResultsError> {
    if table.rows.is_empty() {
        return Ok(String::new());
    }
    Ok(format!(
        "\n## Test errors by target\n\nThe runs above evaluate several targets; the summary's test columns (and the t-tests) are of each run's last one. Every target's last test RMSE and MAE, mean ± sd over seeds (a potential's: energy per atom in meV/atom, force components in meV/A, stress components in meV/A^3; docs/results-schema.md):\n\n{}",
        section(out, table, "targets.csv")?
    ))
}

/// Where a steady step's time goes (`phases.csv`); nothing when no run recorded the update's
/// phases.
fn phase_section(out: &Path, table: &Table) -> Result<String, ResultsError> {
    if table.rows.is_empty() {
        return Ok(String::new());
    }
    Ok(format!(
        "\n## Where a step's time goes\n\nMeans over the steady steps (no warm-up, no cold shape), ms, so the parts add up to combined: batching on the host, then the update's phases as each step recorded them (transfer of the batch to the device, forward pass and loss, backward pass, optimiser and the loss read-back; each ends with a device synchronisation); rest = combined minus these (the loop's own time, the wait for a prefetched batch, and where a trainer cannot tell forward, backward and optimiser apart, as the `python` model, its whole call). Rows whose runs recorded no phases (the batching study, results older than schema version 5) or have no steady step (every step on a new shape) are left out.\n\n{}",
        section(out, table, "phases.csv")?
    ))
}

/// New padded shapes: what one costs per row, and the break-even run length per pair of
/// batchers (`compile.csv`, `compile_runs.csv`, `break_even.csv`).
fn compile_section(s: &Summary, out: &Path) -> Result<String, ResultsError> {
    let mut md = String::from(
        "\n## New padded shapes: cost and break-even\n\nPer new shape: mean over the steps that met a padded shape cold (new to the run, or met again for the first time after a resume) of their combined time minus the steady median (a compile on a shape-specialising engine such as JAX's jit; about zero on geobatch's eager engine); cold steps are left out of the steady median; per run (seed) in `compile_runs.csv`, with `cold_steps` (the compiles: the distinct shapes, plus the shapes met again after a resume). Overhead = shapes x cost per shape. Break-even: the run length after which the batcher with more shapes (and less padding) is the faster over the whole run, n = (overhead a - overhead b) / (steady b - steady a); shapes are those met in the measured runs, so for a batcher that keeps meeting new ones it is a lower bound.\n\n",
    );
    md += &section(out, &tables::compile(&s.rows), "compile.csv")?;
    tables::compile_runs(&s.rows).write_csv(&out.join("compile_runs.csv"))?;
    let pairs = compile::break_even(&s.rows);
    md += "\n";
    md += &section(out, &tables::break_even(&pairs), "break_even.csv")?;
    Ok(md)
}

/// The slowest / fastest batcher per cell (`speedup.csv`).
fn speedup_section(out: &Path, table: &Table) -> Result<String, ResultsError> {
    Ok(format!(
        "\n## Speedup (slowest / fastest combined mean per step; node-level cells, bs 0: per output node)\n\n{}",
        section(out, table, "speedup.csv")?
    ))
}

/// Welch tests between the batchers of each cell (`ttests.csv`).
fn ttest_section(s: &Summary, out: &Path) -> Result<String, ResultsError> {
    let table = tables::ttests(&s.tests);
    let mut md = format!(
        "\n## Welch t-tests of the test RMSE (node classification: test accuracy) between batchers (Holm-corrected over all {} tests)\n\n",
        s.tests.len()
    );
    let shown = section(out, &table, "ttests.csv")?;
    if s.tests.is_empty() {
        md += "No test: a cell needs two batchers with at least two seeds each and some spread in the test RMSE.\n";
    } else {
        md += &shown;
    }
    Ok(md)
}

/// The figures' SVG files as images, or why there are none.
fn figure_list(figs: &[PathBuf]) -> String {
    let mut md = String::from("\n## Figures\n\n");
    for f in figs
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "svg"))
    {
        if let Some(n) = f.file_name().and_then(|n| n.to_str()) {
            let _ = writeln!(md, "![{n}]({n})");
        }
    }
    if !crate::figures::font_available() {
        md += "\n(No figures: no TrueType font found; set GEOBATCH_FONT to a .ttf file.)\n";
    }
    md
}
