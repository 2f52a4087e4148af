//! What keeps CI's one build small (DEVELOPERS.md: under 40 minutes on 2 cores).
//!
//! The Python extension's build (`pip install ./python`: geobatch-py alone) and the workspace's
//! test build (the README's test command, which `.ci/run` runs) compile their common
//! dependencies once: every
//! unit the extension's build needs is one the workspace's build makes too, same package, same
//! features, same profile, same dependencies, apart from what only the extension has (PyO3,
//! NumPy's bindings, the catalog without models, the extension itself). python/Cargo.toml's
//! "feature alignment" entries keep it so; this test names what to add there when a change to
//! the workspace gives a shared package another feature. Measured by cargo's own unit graph
//! (`--unit-graph`, unstable, read here through `RUSTC_BOOTSTRAP`), nothing is compiled.
//!
//! A crate whose unit-test build is off (`[lib] test = false`: the model plugins, whose tests
//! are in their tests/) has no unit test that would silently never run.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use serde_json::Value;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A unit as its compiled artefact depends on it: package, target, mode, features, profile and
/// the same of every dependency (recursively), hashed (one process: one hasher's keys).
fn unit_keys(graph: &Value) -> Vec<u64> {
    fn key(i: usize, units: &[Value], keys: &mut HashMap<usize, u64>) -> u64 {
        if let Some(&k) = keys.get(&i) {
            return k;
        }
        let u = &units[i];
        let mut deps: Vec<u64> = u["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| key(d["index"].as_u64().unwrap() as usize, units, keys))
            .collect();
        deps.sort_unstable();
        let mut h = DefaultHasher::new();
        for part in [
            &u["pkg_id"],
            &u["target"]["name"],
            &u["mode"],
            &u["features"],
            &u["profile"],
        ] {
            part.to_string().hash(&mut h);
        }
        deps.hash(&mut h);
        let k = h.finish();
        keys.insert(i, k);
        k
    }
    let units = graph["units"].as_array().unwrap();
    let mut keys = HashMap::new();
    (0..units.len()).map(|i| key(i, units, &mut keys)).collect()
}

/// Cargo's unit graph of `args` (a build or a test build, not run).
fn unit_graph(args: &[&str]) -> Value {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let scratch = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .args([
            "-Z",
            "unstable-options",
            "--unit-graph",
            "--release",
            "--offline",
        ])
        .current_dir(&repo)
        .env("RUSTC_BOOTSTRAP", "1")
        // the artefacts' profile as CI builds them; the graph is read, nothing is built there
        .env("CARGO_INCREMENTAL", "0")
        .env("CARGO_TARGET_DIR", scratch.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo {args:?} --unit-graph: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The README's test command, the one `.ci/run` runs.
fn test_command(repo: &Path) -> String {
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    readme
        .lines()
        .find(|l| l.starts_with("cargo test --workspace"))
        .expect("README.md has the test command on a line of its own")
        .trim()
        .to_string()
}

#[test]
fn ci_runs_the_readmes_test_command() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let command = test_command(&repo);
    let ci = std::fs::read_to_string(repo.join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim_end().ends_with(&command)),
        ".ci/run does not run the README's test command `{command}`"
    );
}

#[test]
fn the_python_extension_shares_every_common_dependency_with_the_workspace_build() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let command = test_command(&repo);
    // the test build's arguments after `cargo` (the unit graph adds --release itself)
    let args: Vec<&str> = command
        .split_whitespace()
        .skip(1)
        .filter(|a| *a != "--release")
        .chain(["--no-run"])
        .collect();
    let py = unit_graph(&["build", "-p", "geobatch-py", "--lib"]);
    let ws = unit_graph(&args);
    let ws_keys: HashSet<u64> = unit_keys(&ws).into_iter().collect();
    let ws_packages: HashSet<&str> = ws["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["pkg_id"].as_str().unwrap())
        .collect();
    let units = py["units"].as_array().unwrap();
    let keys = unit_keys(&py);
    let own = |pkg: &str| {
        // the catalog is built without models for the wheel: its features differ by design
        !ws_packages.contains(pkg)
            || pkg.contains("geobatch-catalog")
            || pkg.contains("geobatch-py")
    };
    // units the workspace's build has under other features, all of whose dependencies it shares:
    // where the two builds part
    let mut parted = BTreeSet::new();
    for (u, k) in units.iter().zip(&keys) {
        let pkg = u["pkg_id"].as_str().unwrap();
        if ws_keys.contains(k) || own(pkg) {
            continue;
        }
        let deps_shared = u["dependencies"].as_array().unwrap().iter().all(|d| {
            let i = d["index"].as_u64().unwrap() as usize;
            ws_keys.contains(&keys[i]) || own(units[i]["pkg_id"].as_str().unwrap())
        });
        if deps_shared {
            let theirs: BTreeSet<String> = ws["units"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|w| {
                    w["pkg_id"] == u["pkg_id"] && w["target"]["name"] == u["target"]["name"]
                })
                .map(|w| w["features"].to_string())
                .collect();
            if theirs.contains(&u["features"].to_string()) {
                // the same features on the other side of the build (a target-side crate the
                // workspace has only as a compiler-side one: rustc-hash, NumPy's there and
                // bindgen's here): a profile apart, which no feature alignment changes
                continue;
            }
            parted.insert(format!(
                "{} ({}, {}): features {} here, {:?} in the workspace's build",
                pkg.rsplit('#').next().unwrap_or(pkg),
                u["target"]["name"],
                u["mode"],
                u["features"],
                theirs
            ));
        }
    }
    assert!(
        parted.is_empty(),
        "the extension's build compiles these again with other features than the workspace's \
         test build (add the workspace's features to python/Cargo.toml's feature alignment; a \
         compiler-side unit, opt_level 0, goes under [build-dependencies]):\n{}",
        parted.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// The `[lib]` sections of the workspace's crates that turn the unit-test build off.
fn crates_without_unit_tests(repo: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    // the crates of each group, and the crates inside them (a task's room: `crates/node/run`)
    let dirs = |d: &Path| -> Vec<PathBuf> {
        let read = std::fs::read_dir(d).into_iter().flatten().flatten();
        read.map(|e| e.path()).filter(|p| p.is_dir()).collect()
    };
    for group in ["crates", "plugins", "examples"] {
        let top = dirs(&repo.join(group));
        for dir in top.iter().cloned().chain(top.iter().flat_map(|d| dirs(d))) {
            let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
                continue;
            };
            let table: toml::Table = manifest.parse().unwrap();
            if table.get("lib").and_then(|l| l.get("test")) == Some(&toml::Value::Boolean(false)) {
                found.push(dir);
            }
        }
    }
    found
}

#[test]
fn a_crate_whose_unit_test_build_is_off_has_no_unit_tests() {
    // `test = false` saves compiling a model crate a second time (20-30 s each on 2 cores); a
    // `#[cfg(test)]` module added later would then never run, so it is refused here
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let off = crates_without_unit_tests(&repo);
    assert!(off.len() >= 7, "{off:?}");
    for nested in ["crates/node/run", "crates/potential/run"] {
        assert!(
            off.iter().any(|d| d.ends_with(nested)),
            "{nested} not found: {off:?}"
        );
    }
    let mut silent = Vec::new();
    for krate in &off {
        let mut stack = vec![krate.join("src")];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if std::fs::read_to_string(&p).is_ok_and(|t| t.contains("#[cfg(test)]")) {
                    silent.push(p);
                }
            }
        }
    }
    assert!(
        silent.is_empty(),
        "unit tests in a crate built with `[lib] test = false` never run: {silent:?} (move them \
         to the crate's tests/ or remove `test = false`)"
    );
}
