//! Each table on small hand-made runs: headers, Markdown text and CSV values computed by hand.

use super::*;
use crate::summary::{Summary, speedups, welch_tests};

/// A run of a hand-made row: combined mean `combined` ms (batching a tenth of it), steady
/// median `steady`, `shapes` shapes costing `per_shape` ms each, test RMSE `rmse`.
fn run(
    seed: u64,
    combined: f64,
    steady: f64,
    shapes: usize,
    per_shape: f64,
    rmse: f64,
) -> RunMetrics {
    RunMetrics {
        run_id: format!("run-{seed}"),
        seed,
        steps: 100,
        batching_mean_ms: combined / 10.0,
        update_mean_ms: combined * 0.9,
        combined_mean_ms: combined,
        combined_steady_median_ms: steady,
        graphs_per_s: 32_000.0 / combined,
        nodes_per_s: 576_000.0 / combined,
        fill_nodes: 0.5,
        fill_edges: 0.25,
        distinct_shapes: shapes,
        cold_shapes: shapes,
        compile_per_shape_ms: per_shape,
        validation: Some((rmse * 1.1, rmse)),
        test: Some((rmse, rmse / 2.0)),
        test_accuracy: None,
        test_accuracy_full: None,
        ..RunMetrics::default()
    }
}

fn cell() -> Cell {
    ("qm9".into(), "schnet".into(), "serial".into(), 32)
}

/// dynamic: 2 seeds, 10 and 12 ms, 40 shapes at 50 ms; static-64: 2 seeds, 14 and 14 ms, 4
/// shapes at 60 ms.
fn rows() -> Vec<Row> {
    vec![
        Row {
            cell: cell(),
            batcher: "dynamic".into(),
            runs: vec![
                run(1, 10.0, 9.0, 40, 50.0, 0.10),
                run(2, 12.0, 11.0, 40, 50.0, 0.12),
            ],
        },
        Row {
            cell: cell(),
            batcher: "static-64".into(),
            runs: vec![
                run(1, 14.0, 13.0, 4, 60.0, 0.20),
                run(2, 14.0, 13.0, 4, 60.0, 0.22),
            ],
        },
    ]
}

#[test]
fn summary_shows_mean_and_sd_over_seeds_in_both_files() {
    let t = summary(&rows());
    let md = t.markdown();
    let mut lines = md.lines();
    assert_eq!(
        lines.next(),
        Some(
            "| dataset | model | mode | bs | batcher | seeds | batching | update | combined | steady | graphs/s | nodes/s | fill nodes | fill edges | shapes | val RMSE | test RMSE | test MAE | test acc | test acc (full graph) |"
        )
    );
    assert_eq!(lines.next().map(|l| l.matches("---|").count()), Some(20));
    // combined 10 and 12: mean 11, sd sqrt(2); node classification columns unmeasured
    assert_eq!(
        lines.next(),
        Some(
            "| qm9 | schnet | serial | 32 | dynamic | 2 | 1.100 ± 0.141 | 9.900 ± 1.273 | 11.000 ± 1.414 | 10.000 ± 1.414 | 2933 ± 377 | 52800 ± 6788 | 0.500 ± 0.000 | 0.250 ± 0.000 | 40.0 ± 0.0 | 0.1210 ± 0.0156 | 0.1100 ± 0.0141 | 0.0550 ± 0.0071 | - | - |"
        )
    );
    let header = t.csv_header();
    assert_eq!(header.len(), 6 + 2 * SUMMARY_STATS.len());
    assert_eq!(
        &header[..7],
        [
            "dataset",
            "model",
            "mode",
            "batch_size",
            "batcher",
            "seeds",
            "batching_ms_mean"
        ]
    );
    assert_eq!(header.last(), Some(&"test_accuracy_full_sd"));
    let row = &t.csv_rows()[0];
    let at = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(at("combined_ms_mean"), "11");
    assert_eq!(at("combined_ms_sd"), 2f64.sqrt().to_string());
    assert_eq!(at("test_accuracy_mean"), "NaN");
    assert_eq!(at("seeds"), "2");
}

#[test]
fn compile_tables_price_shapes_per_row_and_per_run() {
    let t = compile(&rows());
    assert_eq!(
        t.markdown().lines().nth(3),
        // 4 shapes x 60 ms = 0.24 s, no spread
        Some(
            "| qm9 | schnet | serial | 32 | static-64 | 4.0 ± 0.0 | 13.000 ± 0.000 | 60.0 ± 0.0 | 0.24 ± 0.00 |"
        )
    );
    assert_eq!(t.csv_header()[5..7], ["shapes_mean", "shapes_sd"]);
    let runs = compile_runs(&rows());
    assert_eq!(
        runs.csv_header(),
        [
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
            "combined_mean_ms"
        ]
    );
    assert_eq!(runs.rows.len(), 4, "one row per run");
    assert_eq!(
        runs.csv_rows()[1],
        [
            "qm9", "schnet", "serial", "32", "dynamic", "2", "run-2", "100", "40", "40", "11",
            "50", "2", "12"
        ]
    );
}

#[test]
fn break_even_gives_the_run_length_in_the_markdown_and_overheads_in_ms_in_the_csv() {
    // dynamic: steady 10 ms, overhead 2 s; static-64: 13 ms, 0.24 s: (2000 - 240) / 3 steps
    let pairs = compile::break_even(&rows());
    let t = break_even(&pairs);
    let line = t.markdown().lines().nth(2).unwrap().to_string();
    assert!(
        line.starts_with("| qm9 | schnet | serial | 32 | dynamic | static-64 | 10.000 / 13.000 | 2.00 / 0.24 | 587 |"),
        "{line}"
    );
    let row = &t.csv_rows()[0];
    assert_eq!(row[8..10], ["2000", "240"]);
    assert!(
        (row[10].parse::<f64>().unwrap() - 1760.0 / 3.0).abs() < 1e-9,
        "{row:?}"
    );
}

#[test]
fn speedup_and_ttests_compare_the_batchers_of_a_cell() {
    let s = Summary {
        rows: rows(),
        ..Summary::default()
    };
    let sp = speedup(&speedups(&s));
    // combined means 11 and 14
    assert_eq!(
        sp.markdown().lines().nth(2),
        Some("| qm9 | schnet | serial | 32 | dynamic | static-64 | 1.27x |")
    );
    assert_eq!(sp.csv_rows()[0][6], (14.0f64 / 11.0).to_string());
    let tests = welch_tests(&s.rows);
    assert_eq!(tests.len(), 1);
    // equal spreads (sd 0.01414 each): t = (0.11 - 0.21) / 0.01414 = -7.071, df 2
    let t = ttests(&tests);
    let line = t.markdown().lines().nth(2).unwrap().to_string();
    assert!(
        line.starts_with("| qm9 | schnet | serial | 32 | dynamic | static-64 | -7.071 | 2.0 |"),
        "{line}"
    );
    assert_eq!(t.csv_header()[9], "p_holm");
    assert_eq!(
        t.csv_rows()[0][8],
        t.csv_rows()[0][9],
        "one test: Holm changes nothing"
    );
}

#[test]
fn phases_show_where_a_steady_step_goes_and_leave_out_rows_without_them() {
    use crate::stats::PhaseSplit;
    let split = |forward: Option<f64>, rest: f64| PhaseSplit {
        batching_ms: 1.0,
        transfer_ms: 0.5,
        forward_ms: forward,
        backward_ms: forward.map(|f| 2.0 * f),
        optimizer_ms: forward.map(|_| 0.25),
        rest_ms: rest,
        combined_ms: 10.0,
    };
    let mut rows = rows();
    // dynamic: forward 2 and 4 ms over its two seeds; static-64 recorded no phases
    rows[0].runs[0].phases = Some(split(Some(2.0), 2.25));
    rows[0].runs[1].phases = Some(split(Some(4.0), -3.75));
    let mut python = rows[0].clone();
    python.batcher = "python-model".into();
    for m in &mut python.runs {
        m.phases = Some(split(None, 8.5));
    }
    rows.push(python);
    let t = phases(&rows);
    assert_eq!(t.rows.len(), 2, "the row without phases is left out");
    let md = t.markdown();
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(
        lines[0],
        "| dataset | model | mode | bs | batcher | batching | transfer | forward | backward | optimizer | rest | combined |"
    );
    assert_eq!(
        lines[2],
        "| qm9 | schnet | serial | 32 | dynamic | 1.000 ± 0.000 | 0.500 ± 0.000 | 3.000 ± 1.414 | 6.000 ± 2.828 | 0.250 ± 0.000 | -0.750 ± 4.243 | 10.000 ± 0.000 |"
    );
    // a trainer that cannot tell its phases apart: forward, backward, optimizer unknown
    assert_eq!(
        lines[3],
        "| qm9 | schnet | serial | 32 | python-model | 1.000 ± 0.000 | 0.500 ± 0.000 | - | - | - | 8.500 ± 0.000 | 10.000 ± 0.000 |"
    );
    let header = t.csv_header();
    assert_eq!(header.len(), 5 + 2 * PHASE_STATS.len());
    assert_eq!(header[5..7], ["batching_ms_mean", "batching_ms_sd"]);
    let row = &t.csv_rows()[1];
    let at = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(at("forward_ms_mean"), "NaN");
    assert_eq!(at("rest_ms_mean"), "8.5");
}
