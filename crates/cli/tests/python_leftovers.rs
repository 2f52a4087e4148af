//! Issue 58, item 2: the Python worker never outlives geobatch. However `geobatch run` ends (a
//! second Ctrl-C, a second SIGTERM, a SIGKILL) while the module is busy in a step that does not
//! return, the worker and its children end, and its `geobatch-python-*` folder and its
//! `geobatch-batch-*` segment are removed. Skipped without an interpreter that has NumPy
//! (`scripts/python-env.sh`).

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{binary, python};

/// A module whose second step never returns (busy, as a compile or a long kernel is), with a
/// child it started in the worker's group; it writes the pids and where it lives first.
const MODULE: &str = r#"
import os, subprocess, sys
import numpy as np

class Busy:
    def __init__(self, ctx):
        self.child = subprocess.Popen(["sleep", "1000"])

    def train_step(self, batch, step, learning_rate):
        if step == 1:
            segment = [l.split()[-1] for l in open("/proc/self/maps") if "geobatch-batch-" in l]
            folder = os.path.dirname(sys.modules["geobatch_bridge"].__file__)
            with open("busy.tmp", "w") as f:
                f.write(f"{os.getpid()}\n{self.child.pid}\n{folder}\n{segment[0]}\n")
            os.replace("busy.tmp", "busy")
            x = 0
            while True:
                x += 1
        return 0.5

    def predict(self, batch):
        return np.zeros((batch.real_graphs, batch.n_targets))

    def parameter_count(self):
        return 1

    def state(self):
        return {}

    def load_state(self, state):
        pass

def build(ctx):
    return Busy(ctx)
"#;

/// What the busy module wrote: worker pid, child pid, folder, segment.
struct Busy {
    worker: i32,
    child: i32,
    folder: PathBuf,
    segment: PathBuf,
}

/// Starts `geobatch run` on the busy module in `dir` and waits until the module is in its
/// endless step.
fn start(dir: &Path, py: &Path) -> (Child, Busy) {
    std::fs::write(dir.join("busy.py"), MODULE).unwrap();
    let config = format!(
        "[experiment]\nname = \"py\"\n[dataset]\nkind = \"qm9\"\nsource = \"fixture\"\n\
         [model]\nkind = \"python\"\npython = \"{}\"\nmodule = \"busy.py\"\n\
         [batcher]\nkind = \"dynamic\"\nbatch_size = 8\n[training]\nsteps = 10\n\
         [[sinks]]\nkind = \"parquet\"\n",
        py.display()
    );
    std::fs::write(dir.join("busy.toml"), config).unwrap();
    let child = Command::new(binary())
        .args(["run", "busy.toml"])
        .current_dir(dir)
        .env("TMPDIR", dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let busy = dir.join("busy");
    while !busy.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the module never started its step"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(busy).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let b = Busy {
        worker: lines[0].parse().unwrap(),
        child: lines[1].parse().unwrap(),
        folder: PathBuf::from(lines[2]),
        segment: PathBuf::from(lines[3]),
    };
    assert!(b.folder.exists() && b.segment.exists(), "{text}");
    (child, b)
}

/// Whether process `pid` still runs (a zombie does not).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// Sends `signal` to `pid`.
fn kill(signal: &str, pid: u32) {
    let sent = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// Within 10 s the worker and its child are gone and so are the folder and the segment;
/// whatever is left is killed and removed so that a failing test leaves nothing either.
fn assert_nothing_left(b: &Busy, how: &str) {
    let started = Instant::now();
    let left = || {
        let mut left = Vec::new();
        for (name, pid) in [("worker", b.worker), ("its child", b.child)] {
            if alive(pid) {
                left.push(format!("{name} {pid}"));
            }
        }
        for p in [&b.folder, &b.segment] {
            if p.exists() {
                left.push(p.display().to_string());
            }
        }
        left
    };
    while !left().is_empty() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let found = left();
    if !found.is_empty() {
        let _ = Command::new("kill")
            .args(["-KILL", &format!("-{}", b.worker)])
            .status();
        let _ = std::fs::remove_file(&b.segment);
    }
    assert!(found.is_empty(), "after {how}, left behind: {found:?}");
}

/// A second Ctrl-C or SIGTERM ends geobatch at once (130, 143) and ends the worker's group
/// and removes its files with it; a SIGKILL, which geobatch cannot answer, is answered by the
/// worker itself.
#[test]
fn no_way_geobatch_ends_leaves_the_python_worker_or_its_files() {
    let Some(py) = python("numpy") else { return };
    for (signals, code) in [
        (&["INT", "INT"][..], Some(130)),
        (&["TERM", "TERM"][..], Some(143)),
        (&["KILL"][..], None),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (mut child, busy) = start(dir.path(), &py);
        for s in signals {
            kill(s, child.id());
            std::thread::sleep(Duration::from_millis(300));
        }
        let started = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if started.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                panic!("geobatch did not end after {signals:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.code(), code, "after {signals:?}");
        assert_nothing_left(&busy, &format!("{signals:?}"));
    }
}
