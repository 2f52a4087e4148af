//! Running the `geobatch` binary from the CLI tests.

#![allow(dead_code)] // each test file uses a part

pub mod potential;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The binary under test: `GEOBATCH_BIN` if set (a prebuilt binary, as `scripts/gpu-smoke.sh
/// --prebuilt` uses on a machine without a Rust toolchain), else the one cargo built with the tests.
pub fn binary() -> PathBuf {
    std::env::var_os("GEOBATCH_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_geobatch")),
        PathBuf::from,
    )
}

/// Runs `geobatch ARGS` in `dir`.
pub fn geobatch(dir: &Path, args: &[&str]) -> Output {
    geobatch_with(dir, args, &[])
}

/// The `--set`s of a short test run: batches of 3, evaluated at step 4 on the validation split
/// only, no checkpoint.
pub const QUICK_RUN: [&str; 4] = [
    "batcher.batch_size=3",
    "training.eval_every=4",
    "training.checkpoint_every=0",
    "training.eval_splits=[\"validation\"]",
];

/// `geobatch COMMAND CONFIG --steps STEPS` in `dir` (`run`, `batches`), each of `sets` given as
/// a `--set`.
pub fn with_sets(dir: &Path, command: &str, config: &Path, steps: u32, sets: &[&str]) -> Output {
    let (config, steps) = (config.to_str().expect("a UTF-8 path"), steps.to_string());
    let mut args = vec![command, config, "--steps", &steps];
    for set in sets {
        args.extend(["--set", set]);
    }
    geobatch(dir, &args)
}

/// Runs `geobatch ARGS` in `dir` with extra environment variables.
pub fn geobatch_with(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    Command::new(binary())
        .args(args)
        .envs(vars.iter().copied())
        .current_dir(dir)
        .output()
        .expect("geobatch runs")
}

/// Runs `geobatch ARGS` in `dir` under an address-space limit of `kib` KiB (`ulimit -v`, as a
/// cluster's job or a container sets one), set by the shell that execs it.
pub fn geobatch_limited(dir: &Path, kib: u64, args: &[&str]) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg("ulimit -v \"$0\" && exec \"$@\"")
        .arg(kib.to_string())
        .arg(binary())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("bash runs")
}

/// Standard output and error together.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs `geobatch run c.toml` in `dir` with `cfg` written there; past `limit` kills geobatch,
/// calls `on_hang` (to kill what it started) and fails. Returns the output and how long it took.
pub fn run_within(
    dir: &Path,
    cfg: &str,
    limit: Duration,
    on_hang: impl FnOnce(),
) -> (Output, Duration) {
    std::fs::write(dir.join("c.toml"), cfg).expect("config written");
    let child = Command::new(binary())
        .args(["run", "c.toml"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("geobatch starts");
    let pid = child.id();
    let start = Instant::now();
    let waiter = std::thread::spawn(move || child.wait_with_output().expect("its output"));
    while !waiter.is_finished() {
        if start.elapsed() > limit {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            on_hang();
            panic!("geobatch did not end within {limit:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (waiter.join().expect("the waiter ends"), start.elapsed())
}

/// Runs `geobatch bench step ARGS` in `dir`.
pub fn bench_step(dir: &Path, args: &[&str]) -> Output {
    geobatch(dir, &[&["bench", "step"], args].concat())
}

/// Runs `geobatch advise CONFIG --steps STEPS --batchers BATCHERS --probe-steps PROBE` in `dir`
/// (with `--validate` when asked), its advice written to `dir/advice`; returns the output and
/// that folder.
pub fn advise(
    dir: &Path,
    cfg: &str,
    steps: u32,
    batchers: &str,
    probe: u32,
    validate: bool,
) -> (Output, PathBuf) {
    let out = dir.join("advice");
    let (steps, probe, out_arg) = (
        steps.to_string(),
        probe.to_string(),
        out.display().to_string(),
    );
    let mut args = vec!["advise", cfg, "--steps", &steps, "--batchers", batchers];
    args.extend(["--probe-steps", &probe, "--out", &out_arg]);
    if validate {
        args.push("--validate");
    }
    (geobatch(dir, &args), out)
}

/// Runs `geobatch ARGS` in `dir` without output, polls `ready` until it holds (failing with
/// `what` after `limit`), then kills the process with SIGKILL and returns how it ended.
pub fn kill_when(
    dir: &Path,
    args: &[&str],
    limit: Duration,
    what: &str,
    ready: impl FnMut() -> bool,
) -> ExitStatus {
    signal_when(dir, args, limit, what, ready, "KILL").0
}

/// As [`kill_when`], with the signal `name` (`KILL`, `INT` for a Ctrl-C) sent by `kill -NAME`;
/// returns how the process ended and its standard output.
pub fn signal_when(
    dir: &Path,
    args: &[&str],
    limit: Duration,
    what: &str,
    ready: impl FnMut() -> bool,
    name: &str,
) -> (ExitStatus, String) {
    let out = signal_when_output(dir, args, limit, what, ready, name);
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// As [`signal_when`], returning the whole output (standard error too).
pub fn signal_when_output(
    dir: &Path,
    args: &[&str],
    limit: Duration,
    what: &str,
    mut ready: impl FnMut() -> bool,
    name: &str,
) -> std::process::Output {
    // its temporary files (a Python worker's folder) in `dir`, where a test can see them
    let mut child = Command::new(binary())
        .args(args)
        .current_dir(dir)
        .env("TMPDIR", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("geobatch starts");
    let started = Instant::now();
    while !ready() {
        if started.elapsed() >= limit {
            let _ = child.kill();
            panic!("{what}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let sent = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -{name} failed");
    child.wait_with_output().expect("wait")
}

/// [`signal_when`] once the part file `part` (`steps-00001.parquet`) is written anywhere below
/// `dir/results`.
pub fn signal_after_part(
    dir: &Path,
    args: &[&str],
    part: &str,
    name: &str,
) -> (ExitStatus, String) {
    let results = dir.join("results");
    signal_when(
        dir,
        args,
        Duration::from_secs(120),
        "no part file was written",
        || {
            walk(&results)
                .iter()
                .any(|p| p.to_string_lossy().ends_with(part))
        },
        name,
    )
}

/// A refusal: exit code 2, no panic, and every one of `parts` in the message.
pub fn assert_refused(o: &Output, parts: &[&str]) {
    let out = text(o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(!out.contains("panicked"), "{out}");
    for p in parts {
        assert!(out.contains(p), "the message says {p:?}: {out}");
    }
}

/// Every file below `dir`, recursively.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Every run folder (one with a `run.parquet`) below `results`, sorted.
pub fn run_dirs(results: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walk(results)
        .into_iter()
        .filter(|p| p.ends_with("run.parquet"))
        .map(|p| p.parent().map(Path::to_path_buf).unwrap_or_default())
        .collect();
    v.sort();
    v
}

/// Every record batch of the `steps-*.parquet` parts below `run_dir` (one run, or a results
/// folder of one run).
pub fn step_parts(run_dir: &Path) -> Vec<arrow_array::RecordBatch> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let mut out = Vec::new();
    for p in walk(run_dir).into_iter().filter(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("steps-"))
            && p.extension().is_some_and(|e| e == "parquet")
    }) {
        let file = std::fs::File::open(&p).expect("a part opens");
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .expect("a part reads");
        out.extend(reader.map(|b| b.expect("a record batch")));
    }
    out
}

/// Every step below `run_dir` as (step, loss), from all its parts, by step.
pub fn steps_table(run_dir: &Path) -> Vec<(u64, f32)> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float32Type, UInt64Type};
    let mut rows = Vec::new();
    for b in step_parts(run_dir) {
        let column = |name: &str| b.column_by_name(name).expect("a steps column");
        let step = column("step").as_primitive::<UInt64Type>();
        let loss = column("loss").as_primitive::<Float32Type>();
        rows.extend(
            step.values()
                .iter()
                .copied()
                .zip(loss.values().iter().copied()),
        );
    }
    rows.sort_by_key(|r| r.0);
    rows
}

/// One step column below `run_dir` as f64 per step (numbers; booleans as 0/1), from all its
/// parts, by step.
pub fn steps_column(run_dir: &Path, name: &str) -> Vec<f64> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float32Type, UInt32Type, UInt64Type};
    use arrow_schema::DataType;
    let mut rows = Vec::new();
    for b in step_parts(run_dir) {
        let step = b
            .column_by_name("step")
            .expect("a step column")
            .as_primitive::<UInt64Type>();
        let c = b
            .column_by_name(name)
            .unwrap_or_else(|| panic!("no column {name}"));
        let values: Vec<f64> = match c.data_type() {
            DataType::Boolean => c
                .as_boolean()
                .iter()
                .map(|v| f64::from(u8::from(v.unwrap_or(false))))
                .collect(),
            DataType::UInt64 => c
                .as_primitive::<UInt64Type>()
                .iter()
                .map(|v| v.map_or(f64::NAN, |x| x as f64))
                .collect(),
            DataType::UInt32 => c
                .as_primitive::<UInt32Type>()
                .iter()
                .map(|v| v.map_or(f64::NAN, f64::from))
                .collect(),
            DataType::Float32 => c
                .as_primitive::<Float32Type>()
                .iter()
                .map(|v| v.map_or(f64::NAN, f64::from))
                .collect(),
            other => panic!("column {name} has type {other}"),
        };
        assert_eq!(values.len(), c.len());
        rows.extend(step.values().iter().copied().zip(values));
    }
    rows.sort_by_key(|r| r.0);
    rows.into_iter().map(|r| r.1).collect()
}

/// The number that follows `marker` in `out` (a step or an epoch the output names).
pub fn number_after(out: &str, marker: &str) -> u64 {
    out.split(marker)
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {marker:?}: {out}"))
}

/// Runs `geobatch run CONFIG` in `work` (whose run checkpoints every 20 steps) and kills it
/// with SIGKILL once a checkpoint after step 20 is written; returns how it ended.
pub fn kill_after_second_checkpoint(work: &Path, cfg: &str) -> ExitStatus {
    let results = work.join("results");
    kill_when(
        work,
        &["run", cfg],
        Duration::from_secs(300),
        "no second checkpoint appeared",
        || {
            walk(&results)
                .into_iter()
                .find(|p| p.ends_with("checkpoint/state.json"))
                .and_then(|s| std::fs::read_to_string(s).ok())
                // at least the second checkpoint is written
                .is_some_and(|t| t.contains("\"step\":") && !t.contains("\"step\":20,"))
        },
    )
}

/// Runs `geobatch run CONFIG` (which checkpoints every 20 steps) to its end in `dir/reference`,
/// and again in `dir/work`, killed with SIGKILL once its second checkpoint is written; returns
/// the reference's steps (checked to number `steps`) and the work folder, ready for `--resume`.
pub fn reference_and_killed_run(dir: &Path, cfg: &str, steps: usize) -> (Vec<(u64, f32)>, PathBuf) {
    let reference = dir.join("reference");
    std::fs::create_dir_all(&reference).expect("a folder");
    let o = geobatch(&reference, &["run", cfg]);
    assert!(o.status.success(), "{}", text(&o));
    let want = steps_table(&reference.join("results"));
    assert_eq!(want.len(), steps);
    let work = dir.join("work");
    std::fs::create_dir_all(&work).expect("a folder");
    let killed = kill_after_second_checkpoint(&work, cfg);
    assert!(!killed.success());
    (want, work)
}

/// The test interpreter, if it can import `modules`.
pub fn python(modules: &str) -> Option<PathBuf> {
    let path = std::env::var_os("GEOBATCH_PYTHON").map_or_else(
        || repo().join("target/python-env/bin/python"),
        PathBuf::from,
    );
    let found = importing(&path, modules);
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} cannot import {modules}: scripts/python-env.sh makes it",
            path.display()
        );
    }
    found
}

/// `path` if it can import `modules`; else None, saying so.
pub fn importing(path: &Path, modules: &str) -> Option<PathBuf> {
    let ok = Command::new(path)
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(path.to_path_buf());
    }
    eprintln!(
        "skipped: {} cannot import {modules} (scripts/python-env.sh, GEOBATCH_PYTHON)",
        path.display()
    );
    None
}

/// Every evaluation row of a run as (step, split, inference, accuracy), from `evals.parquet`.
pub fn eval_rows(run: &Path) -> Vec<(u64, String, String, f64)> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, UInt64Type};
    let mut rows = Vec::new();
    for b in geobatch_testkit::results::read(&run.join("evals.parquet")) {
        let step = b
            .column_by_name("step")
            .expect("a step column")
            .as_primitive::<UInt64Type>();
        let split = b
            .column_by_name("split")
            .expect("a split column")
            .as_string::<i32>();
        let how = b
            .column_by_name("inference")
            .expect("an inference column")
            .as_string::<i32>();
        let acc = b
            .column_by_name("accuracy")
            .expect("an accuracy column")
            .as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            rows.push((
                step.value(i),
                split.value(i).to_string(),
                how.value(i).to_string(),
                acc.value(i),
            ));
        }
    }
    rows
}

/// The value of `column` in the first row of a report's `summary.csv`.
pub fn summary_value(report: &Path, column: &str) -> String {
    let summary = std::fs::read_to_string(report.join("summary.csv")).expect("summary.csv");
    let mut lines = summary.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let i = header
        .iter()
        .position(|h| *h == column)
        .unwrap_or_else(|| panic!("no column {column}: {summary}"));
    row.get(i).map(|v| v.to_string()).unwrap_or_default()
}

/// A config of a short data-parallel test run in `dir` (`mpi.toml`): QM9's embedded molecules, a
/// small SchNet, one kernel thread a rank, steps recorded in parts of `rows` rows; `training`
/// adds to its `[training]` table.
pub fn world_config(dir: &Path, rows: usize, training: &str) -> String {
    let p = dir.join("mpi.toml");
    std::fs::write(
        &p,
        format!(
            "[experiment]\nname = \"mpi\"\nseed = 7\n\
             [dataset]\nkind = \"qm9\"\nsource = \"fixture\"\ntargets = [\"U0\"]\n\
             [model]\nkind = \"schnet\"\nlatent = 16\nsteps = 2\n\
             [batcher]\nkind = \"dynamic\"\nbatch_size = 4\n\
             [training]\nthreads = 1\neval_splits = [\"validation\"]\n{training}\n\
             [[sinks]]\nkind = \"parquet\"\nrows_per_part = {rows}\n"
        ),
    )
    .expect("the config is written");
    p.to_string_lossy().into_owned()
}

/// The one run folder below `dir/results` whose name ends with `suffix` (`-w2`), or that has no
/// world suffix.
pub fn world_run_dir(dir: &Path, world: Option<&str>) -> PathBuf {
    let dirs: Vec<PathBuf> = run_dirs(&dir.join("results"))
        .into_iter()
        .filter(|d| {
            let name = d
                .file_name()
                .expect("a run folder name")
                .to_string_lossy()
                .into_owned();
            match world {
                Some(w) => name.ends_with(w),
                None => !name.contains("-w"),
            }
        })
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

/// Losses step by step equal to 1e-5 (relative to the loss).
pub fn assert_same_losses(a: &[(u64, f32)], b: &[(u64, f32)]) {
    assert_eq!(a.len(), b.len(), "{a:?}\n{b:?}");
    for ((s, x), (t, y)) in a.iter().zip(b) {
        assert_eq!(s, t);
        let tol = 1e-5 * x.abs().max(1.0);
        assert!((x - y).abs() <= tol, "step {s}: {x} against {y}");
    }
}
