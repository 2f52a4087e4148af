//! Issue 58, item 1: a closed pipe (`geobatch run ... 2>&1 | head -1`, `batches ... | head -0`,
//! `report ... | head`) ends no command and leaves no run marked `running`: output that cannot be
//! written is dropped, as a Unix tool's is, and the job goes on to its end and its status.
//! Every line geobatch prints goes through core's `console` macros, which this file also holds
//! every source file to.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

mod common;
use common::{binary, repo, walk};

/// Runs `geobatch ARGS` in `dir` with stdout and stderr on a pipe whose reader is gone.
fn into_closed_pipe(dir: &Path, args: &[&str]) -> ExitStatus {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(binary())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .status()
        .unwrap()
}

/// Every command that prints, with nothing to read its output: the exit it has with a reader,
/// and for `run` and `batches` a run folder that says `complete`.
#[test]
fn a_closed_pipe_ends_no_command_and_leaves_no_run_running() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = |name: &str| repo().join("configs/smoke").join(name);
    let schnet = cfg("qm9-fixture-schnet.toml");
    let synthetic = cfg("synthetic-dynamic.toml");
    let sweep = d.join("sweep.toml");
    let text = std::fs::read_to_string(&schnet).unwrap();
    std::fs::write(
        &sweep,
        format!("{text}\n[sweep]\n\"batcher.batch_size\" = [8, 16]\n"),
    )
    .unwrap();
    let (schnet, synthetic) = (schnet.to_str().unwrap(), synthetic.to_str().unwrap());
    let cases: [&[&str]; 8] = [
        &["run", schnet, "--steps", "4"],
        &["batches", synthetic, "--steps", "20"],
        &["report", "results", "--out", "report"],
        &["list"],
        &["example", "batcher", "dynamic"],
        &["validate", schnet, "--resolved"],
        &["sweep", "sweep.toml", "--dry-run"],
        &["--help"],
    ];
    for args in cases {
        let status = into_closed_pipe(d, args);
        assert_eq!(status.code(), Some(0), "geobatch {args:?}");
    }
    let statuses: Vec<PathBuf> = walk(&d.join("results"))
        .into_iter()
        .filter(|p| p.ends_with("status.json"))
        .collect();
    assert_eq!(statuses.len(), 2, "{statuses:?}");
    for s in statuses {
        let text = std::fs::read_to_string(&s).unwrap();
        assert!(text.contains("\"complete\""), "{}: {text}", s.display());
    }
    assert!(
        d.join("report/report.md").is_file(),
        "the report is written"
    );
}

/// No source file prints with `print!`, `println!`, `eprint!` or `eprintln!` (which panic when
/// their stream is closed) outside its tests: `geobatch_process::{out, outln, errln}` instead.
#[test]
fn nothing_prints_with_a_macro_that_panics_on_a_closed_pipe() {
    let root = repo();
    let mut found = Vec::new();
    for top in ["crates", "plugins", "python/src", "examples"] {
        for path in walk(&root.join(top)) {
            let p = path.to_string_lossy().replace('\\', "/");
            let skipped = !p.ends_with(".rs")
                || p.contains("/tests/")
                || p.contains("/benches/")
                || p.ends_with("tests.rs")
                || p.contains("/crates/testkit/");
            if skipped {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // a module's tests sit at its end, after `#[cfg(test)]`
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for (i, line) in code.lines().enumerate() {
                let line = line.trim_start();
                if line.starts_with("//") {
                    continue;
                }
                for m in ["println!(", "print!(", "eprintln!(", "eprint!("] {
                    let at = line.find(m);
                    let bare = at.is_some_and(|k| {
                        k == 0 || !line[..k].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                    });
                    if bare {
                        found.push(format!("{p}:{}: {line}", i + 1));
                    }
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}
