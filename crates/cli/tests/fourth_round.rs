//! Issue 67, the fourth round of hostile inputs, driven through the binary as a user would:
//! plans past memory refused before they are made; records a hand can edit (status.json, a
//! checkpoint's state.json) believed only as far as the files agree; FIFOs and devices where a
//! config or a run's part is expected refused by name instead of read forever; a sweep past its
//! bound refused; copies of a structure kept out of two splits; an import that reads nothing
//! refused.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::Path;
use std::time::{Duration, Instant};

mod common;
use common::{assert_refused, geobatch, repo, run_dirs, signal_after_part, steps_table};

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_string_lossy().into_owned()
}

/// A tiny graph-level run on generated molecules, a part every 7 steps.
fn graph_config(steps: u64) -> String {
    format!(
        "[experiment]\nname = \"round4\"\nseed = 3\n[dataset]\nkind = \"synthetic\"\ngraphs = 60\n\
         [model]\nkind = \"schnet\"\nlatent = 8\nrbf = 10\n[batcher]\nkind = \"dynamic\"\nbatch_size = 4\n\
         [training]\nsteps = {steps}\neval_every = 0\nmode = \"serial\"\n\
         [[sinks]]\nkind = \"parquet\"\nrows_per_part = 7\n"
    )
}

/// Class 2: a run interrupted with a checkpoint. Its status.json edited to `complete` is not
/// believed by `run` (exit 2, run.parquet's record named); its checkpoint's step edited is not
/// resumed (exit 2: the parts hold other steps); `--restart` runs it again, whole.
#[test]
fn records_edited_by_hand_are_believed_only_as_far_as_the_files_agree() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "run.toml", &graph_config(4000));
    let (status, _) = signal_after_part(dir.path(), &["run", &cfg], "steps-00001.parquet", "INT");
    assert_eq!(status.code(), Some(130), "{status:?}");
    let run = run_dirs(&dir.path().join("results"))
        .into_iter()
        .next()
        .unwrap();
    let status_file = run.join("status.json");
    let recorded = std::fs::read_to_string(&status_file).unwrap();
    std::fs::write(&status_file, r#"{"status":"complete","steps":4000}"#).unwrap();
    let o = geobatch(dir.path(), &["run", &cfg]);
    assert_refused(
        &o,
        &[
            "status.json records it complete, but run.parquet records it",
            "--restart",
        ],
    );
    std::fs::write(&status_file, recorded).unwrap();

    let state = run.join("checkpoint/state.json");
    let text = std::fs::read_to_string(&state).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let step = v["step"].as_u64().unwrap();
    v["step"] = serde_json::json!(step + 100);
    std::fs::write(&state, v.to_string()).unwrap();
    let o = geobatch(dir.path(), &["run", &cfg, "--resume"]);
    assert_refused(
        &o,
        &[
            &format!("its checkpoint continues at step {}", step + 100),
            "--restart",
        ],
    );
    let o = geobatch(dir.path(), &["run", &cfg, "--restart"]);
    assert!(o.status.success(), "{}", common::text(&o));
    assert_eq!(steps_table(&run).len(), 4000);
}

/// Class 5: a device or a FIFO where a config is expected, and a FIFO named like a run's part,
/// are refused by name at once (they used to be read forever, or block `report`).
#[test]
fn reads_that_would_never_end_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let started = Instant::now();
    assert_refused(
        &geobatch(d, &["validate", "/dev/zero"]),
        &["/dev/zero", "a character device"],
    );
    let fifo = d.join("config.toml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped the FIFO cases: mkfifo is not available");
        return;
    }
    assert_refused(
        &geobatch(d, &["validate", "config.toml"]),
        &["a FIFO (named pipe)"],
    );

    let cfg = write(d, "run.toml", &graph_config(20));
    assert!(geobatch(d, &["run", &cfg]).status.success());
    let run = run_dirs(&d.join("results")).into_iter().next().unwrap();
    let part = run.join("steps-00009.parquet");
    std::process::Command::new("mkfifo")
        .arg(&part)
        .status()
        .unwrap();
    let o = geobatch(d, &["report", "results/round4", "--out", "report"]);
    let out = common::text(&o);
    assert!(
        out.contains("steps-00009.parquet") && out.contains("a FIFO"),
        "{out}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "{:?}",
        started.elapsed()
    );
}

/// Classes 1 and 5: `advise` refuses a plan it could not hold before planning anything (it
/// aborted in an allocation after 20 s), and a sweep past its bound is refused naming its axes.
#[test]
fn plans_and_sweeps_past_their_bounds_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = write(d, "run.toml", &graph_config(20));
    let started = Instant::now();
    let o = geobatch(d, &["advise", &cfg, "--steps", "1000000000000"]);
    assert_refused(&o, &["--steps 1000000000000: needs at least", "GiB"]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(!d.join("results").exists(), "nothing written");

    let seeds: Vec<String> = (0..400).map(|s| s.to_string()).collect();
    let steps: Vec<String> = (1..=300).map(|s| s.to_string()).collect();
    let sweep = format!(
        "{}[sweep]\nseeds = [{}]\n\"training.steps\" = [{}]\n",
        graph_config(20),
        seeds.join(", "),
        steps.join(", ")
    );
    let sweep = write(d, "sweep.toml", &sweep);
    let o = geobatch(d, &["sweep", &sweep, "--dry-run"]);
    assert_refused(
        &o,
        &[
            "more than 100000 runs",
            "experiment.seed 400 x training.steps 300",
        ],
    );
}

/// Class 7: a structure present twice (another id, the same atoms) is kept once, said on
/// stderr, so it cannot be trained on and tested on; an import that reads nothing fails.
#[test]
fn copies_are_kept_out_of_two_splits_and_empty_imports_fail() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let one = std::fs::read_to_string(
        repo().join("plugins/dataset-extxyz/tests/fixtures/qm9_reduced_100.xyz"),
    )
    .unwrap();
    std::fs::write(d.join("twice.xyz"), format!("{one}{one}")).unwrap();
    let cfg = write(
        d,
        "twice.toml",
        "[experiment]\nname = \"twice\"\ndata_dir = \"data\"\n[dataset]\nkind = \"extxyz\"\n\
         path = \"twice.xyz\"\ntargets = [\"U0\"]\ngraph = { kind = \"cutoff\", radius = 5.0 }\n\
         [batcher]\nkind = \"dynamic\"\nbatch_size = 8\n[training]\nsteps = 5\n",
    );
    let o = geobatch(d, &["batches", &cfg]);
    let out = common::text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("100 of 200 structures are copies of earlier ones"),
        "{out}"
    );
    // 100 structures split 80 / 10 / 10, not 200 split 160 / 20 / 20
    assert!(out.contains("(train split, 80 graphs)"), "{out}");

    std::fs::write(d.join("empty.jsonl"), "").unwrap();
    let o = geobatch(
        d,
        &["data", "import", "aflow", "empty.jsonl", "--out", "a.jsonl"],
    );
    assert_refused(&o, &["no AFLOW records read (nothing is written)"]);
    assert!(!d.join("a.jsonl").exists());
}
