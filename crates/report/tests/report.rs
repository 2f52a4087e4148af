//! The report on a results folder made by short real runs: numbers checked against values
//! computed here from the Parquet files, figures written at the expected size.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, UInt64Type};
use geobatch_report::Summary;
use geobatch_runner::sweep::SweepRun;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// Every record batch of the files of `dir` whose names start with `prefix`, in name order.
fn batches(dir: &Path, prefix: &str) -> Vec<arrow_array::RecordBatch> {
    let parts = geobatch_testkit::results::files_starting(dir, prefix);
    parts
        .iter()
        .flat_map(|p| geobatch_testkit::results::read(p))
        .collect()
}

fn column_u64(dir: &Path, prefix: &str, name: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for b in batches(dir, prefix) {
        let c = b.column_by_name(name).unwrap().as_primitive::<UInt64Type>();
        out.extend(c.values().iter().copied());
    }
    out
}

fn column_bool(dir: &Path, prefix: &str, name: &str) -> Vec<bool> {
    let mut out = Vec::new();
    for b in batches(dir, prefix) {
        let c = b.column_by_name(name).unwrap().as_boolean();
        out.extend(c.iter().map(|v| v.unwrap()));
    }
    out
}

fn test_rmse(dir: &Path) -> f64 {
    let f = std::fs::File::open(dir.join("evals.parquet")).unwrap();
    let mut v = None;
    for b in ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
    {
        let b = b.unwrap();
        let split = b
            .column_by_name("split")
            .unwrap()
            .as_string::<i32>()
            .clone();
        let rmse = b
            .column_by_name("rmse")
            .unwrap()
            .as_primitive::<Float64Type>()
            .clone();
        for i in 0..b.num_rows() {
            if split.value(i) == "test" {
                v = Some(rmse.value(i));
            }
        }
    }
    v.unwrap()
}

fn png_size(p: &Path) -> (u32, u32) {
    let b = std::fs::read(p).unwrap();
    assert_eq!(&b[1..4], b"PNG");
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

/// A sweep of 12 short real runs (SchNet on the QM9 fixture, dynamic and static pow2, batch
/// sizes 8 and 16, seeds 1 to 3) in a temporary folder: the folder and the runs.
fn twelve_runs() -> (tempfile::TempDir, Vec<SweepRun>) {
    geobatch_catalog::link();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sweep.toml");
    std::fs::write(
        &cfg,
        format!(
            "[experiment]\nname = \"rep\"\nresults_dir = {:?}\ndata_dir = {:?}\n[dataset]\nkind = \"qm9\"\nsource = \"fixture\"\n\
             [model]\nkind = \"schnet\"\nlatent = 8\nrbf = 40\n[batcher]\nkind = \"dynamic\"\nbatch_size = 8\n\
             [training]\nsteps = 30\neval_every = 15\neval_splits = [\"validation\", \"test\"]\noptimizer = {{ learning_rate = 1e-3 }}\n\
             [[sinks]]\nkind = \"parquet\"\n[sweep]\nseeds = [1, 2, 3]\nbatcher = [{{ kind = \"dynamic\" }}, {{ kind = \"static\", pad = \"pow2\" }}]\n\
             \"batcher.batch_size\" = [8, 16]\n",
            dir.path().join("results").display().to_string(),
            dir.path().join("data").display().to_string()
        ),
    )
    .unwrap();
    let runs = geobatch_runner::sweep::expand(&cfg, &[]).unwrap();
    assert_eq!(runs.len(), 12);
    geobatch_runner::sweep::run_sweep(&runs, &AtomicBool::new(false), |_, _, _| {}).unwrap();

    (dir, runs)
}

/// The pow2 run of batch size 16 and seed 2.
fn pow2_16_seed_2(runs: &[SweepRun]) -> &SweepRun {
    runs.iter()
        .find(|r| {
            r.settings.iter().any(|s| s.contains("pow2"))
                && r.settings.iter().any(|s| s == "batcher.batch_size=16")
                && r.settings.iter().any(|s| s == "experiment.seed=2")
        })
        .unwrap()
}

#[test]
fn report_numbers_match_the_parquet_files() {
    let (dir, runs) = twelve_runs();
    let out = dir.path().join("report");
    let md = geobatch_report::report(&dir.path().join("results"), &out)
        .unwrap()
        .markdown;
    assert!(md.contains("12 runs read, 12 complete"), "{md}");
    let s = geobatch_report::summarise(&dir.path().join("results")).unwrap();
    let mean_ms = one_runs_times(&runs, &s);
    one_runs_compile_row(&out, mean_ms);
    one_runs_phases(&runs, &s, &out);
    welch_test_of_the_test_rmse(&runs, &s);
    a_damaged_run_is_left_out(dir.path(), &runs);
    different_configs_are_never_pooled(dir.path(), &runs);
    tables_and_figures_are_written(&out);
}

/// Combined mean and steady median of one run, computed here from its steps; returns the mean.
fn one_runs_times(runs: &[SweepRun], s: &Summary) -> f64 {
    let run = pow2_16_seed_2(runs);
    let combined = column_u64(&run.run_dir, "steps-", "combined_ns");
    assert_eq!(combined.len(), 30);
    let mean_ms = combined.iter().sum::<u64>() as f64 / 30.0 / 1e6;
    let row = s
        .rows
        .iter()
        .find(|r| r.batcher == "static-2n" && r.cell.3 == 16)
        .unwrap();
    assert_eq!(row.runs.len(), 3);
    assert!(
        row.runs
            .iter()
            .any(|m| (m.combined_mean_ms - mean_ms).abs() < 1e-9),
        "{mean_ms}"
    );

    mean_ms
}

/// The same run's row of compile_runs.csv: one row per run, never resumed, so every cold step
/// is a new shape.
fn one_runs_compile_row(out: &Path, mean_ms: f64) {
    let csv = std::fs::read_to_string(out.join("compile_runs.csv")).unwrap();
    assert_eq!(csv.lines().count(), 13, "{csv}");
    let fields: Vec<&str> = csv
        .lines()
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|f| f[3] == "16" && f[4] == "static-2n" && f[5] == "2")
        .unwrap_or_else(|| panic!("no row for the run: {csv}"));
    assert_eq!(fields[7], "30", "steps");
    assert_eq!(fields[8], fields[9], "shapes = cold steps");
    assert!(fields[8].parse::<usize>().unwrap() >= 1);
    assert!((fields[13].parse::<f64>().unwrap() - mean_ms).abs() < 1e-9);
}

/// The mean over seeds and the Welch t statistic of the test RMSE, computed here.
fn welch_test_of_the_test_rmse(runs: &[SweepRun], s: &Summary) {
    let rmse = |label: &str| -> Vec<f64> {
        runs.iter()
            .filter(|r| r.settings.iter().any(|s| s == "batcher.batch_size=16"))
            .filter(|r| r.loaded.batcher_label() == label)
            .map(|r| test_rmse(&r.run_dir))
            .collect()
    };
    let (a, b) = (rmse("dynamic"), rmse("static-2n"));
    let m = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let var = |v: &[f64]| v.iter().map(|x| (x - m(v)).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
    let t = (m(&a) - m(&b)) / (var(&a) / 3.0 + var(&b) / 3.0).sqrt();
    let dyn_row = s
        .rows
        .iter()
        .find(|r| r.batcher == "dynamic" && r.cell.3 == 16)
        .unwrap();
    assert!((dyn_row.stat(|x| x.test.map(|t| t.0)).0 - m(&a)).abs() < 1e-12);
    let test = s.tests.iter().find(|x| x.cell.3 == 16).unwrap();
    let sign = if test.a == "dynamic" { 1.0 } else { -1.0 };
    assert!(
        (test.t - sign * t).abs() < 1e-9 * t.abs().max(1.0),
        "{} vs {t}",
        test.t
    );
    assert_eq!(s.tests.len(), 2, "one test per batch size");
    assert!(s.tests.iter().all(|x| x.p_holm >= x.p && x.p_holm <= 1.0));
}

/// The phase split of one run: means over its steady steps of each phase column, computed here,
/// adding up to its combined time; `phases.csv` has a row per batcher and batch size.
fn one_runs_phases(runs: &[SweepRun], s: &Summary, out: &Path) {
    let run = pow2_16_seed_2(runs);
    let (warmup, cold) = (
        column_bool(&run.run_dir, "steps-", "warmup"),
        column_bool(&run.run_dir, "steps-", "cold_shape"),
    );
    let steady: Vec<usize> = (0..warmup.len())
        .filter(|&i| !warmup[i] && !cold[i])
        .collect();
    assert!(steady.len() >= 10, "{steady:?}");
    let mean = |name: &str| {
        let v = column_u64(&run.run_dir, "steps-", name);
        assert_eq!(v.len(), 30, "{name}: one value per step");
        steady.iter().map(|&i| v[i] as f64 / 1e6).sum::<f64>() / steady.len() as f64
    };
    let want = [
        mean("batching_ns"),
        mean("transfer_ns"),
        mean("forward_ns"),
        mean("backward_ns"),
        mean("optimizer_ns"),
        mean("combined_ns"),
    ];
    let row = s
        .rows
        .iter()
        .find(|r| r.batcher == "static-2n" && r.cell.3 == 16)
        .unwrap();
    let got: Vec<_> = row.runs.iter().map(|m| m.phases.unwrap()).collect();
    let p = got
        .iter()
        .find(|p| (p.combined_ms - want[5]).abs() < 1e-9)
        .unwrap_or_else(|| panic!("no run with steady combined mean {}: {got:?}", want[5]));
    let have = [
        p.batching_ms,
        p.transfer_ms,
        p.forward_ms.unwrap(),
        p.backward_ms.unwrap(),
        p.optimizer_ms.unwrap(),
        p.combined_ms,
    ];
    for (h, w) in have.iter().zip(want) {
        assert!((h - w).abs() < 1e-9, "{have:?} vs {want:?}");
    }
    let parts = have[..5].iter().sum::<f64>() + p.rest_ms;
    assert!((parts - p.combined_ms).abs() < 1e-9, "{p:?}");
    assert!(p.rest_ms >= 0.0, "the loop's own time: {p:?}");
    let csv = std::fs::read_to_string(out.join("phases.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(
        csv.starts_with("dataset,model,mode,batch_size,batcher,batching_ms_mean,"),
        "{csv}"
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Where a step's time goes"), "{md}");
}

/// A damaged run is left out and named; the report is made from the others.
fn a_damaged_run_is_left_out(dir: &Path, runs: &[SweepRun]) {
    let damaged = runs[0].run_dir.join("evals.parquet");
    let bytes = std::fs::read(&damaged).unwrap();
    std::fs::write(&damaged, &bytes[..bytes.len() / 2]).unwrap();
    let written = geobatch_report::report(&dir.join("results"), &dir.join("report2")).unwrap();
    assert!(
        written.markdown.contains("11 runs read, 11 complete"),
        "{}",
        written.markdown
    );
    assert_eq!(written.damaged.len(), 1);
    assert!(
        written.damaged[0].contains("evals.parquet"),
        "{:?}",
        written.damaged
    );
    assert!(
        written.markdown.contains("Left out, unreadable (1)"),
        "{}",
        written.markdown
    );
    std::fs::write(&damaged, &bytes).unwrap();
}

/// Runs of different configurations, or one seed twice, are never pooled into one cell.
fn different_configs_are_never_pooled(dir: &Path, runs: &[SweepRun]) {
    let config = runs[1].run_dir.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert_eq!(text.matches("steps = 30\n").count(), 1, "{text}");
    std::fs::write(&config, text.replace("steps = 30\n", "steps = 31\n")).unwrap();
    let err = geobatch_report::summarise(&dir.join("results"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("configs differ in training.steps"), "{err}");
    std::fs::write(&config, &text).unwrap();
    let copy = dir.join("results/copy/run");
    std::fs::create_dir_all(&copy).unwrap();
    for f in std::fs::read_dir(&runs[0].run_dir).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, copy.join(f.file_name().unwrap())).unwrap();
    }
    let err = geobatch_report::summarise(&dir.join("results"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("with seed") && err.contains("report each experiment"),
        "{err}"
    );
    std::fs::remove_dir_all(dir.join("results/copy")).unwrap();
}

/// Files: tables and non-empty figures of the expected size.
fn tables_and_figures_are_written(out: &Path) {
    for f in ["report.md", "summary.csv", "speedup.csv", "ttests.csv"] {
        assert!(std::fs::metadata(out.join(f)).unwrap().len() > 50, "{f}");
    }
    if !geobatch_report::figures::font_available() {
        eprintln!("figures not checked: no TrueType font on this machine");
        return;
    }
    let figures: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let svgs: Vec<&PathBuf> = figures
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        .collect();
    for kind in [
        "time_per_step",
        "fill",
        "shapes",
        "speedup",
        "learning_curves",
        "pvalues",
    ] {
        assert!(
            svgs.iter()
                .any(|p| p.file_name().unwrap().to_string_lossy().starts_with(kind)),
            "{kind} missing"
        );
    }
    for p in &svgs {
        let text = std::fs::read_to_string(p).unwrap();
        assert!(
            text.contains("<svg") && text.len() > 2000,
            "{}",
            p.display()
        );
    }
    let pngs: Vec<&PathBuf> = figures
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    assert_eq!(pngs.len(), svgs.len());
    for p in pngs {
        assert_eq!(
            png_size(p),
            geobatch_report::figures::SIZE,
            "{}",
            p.display()
        );
        assert!(
            std::fs::metadata(p).unwrap().len() > 5000,
            "{}",
            p.display()
        );
    }
}
