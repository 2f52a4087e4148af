//! The Python package's tests (python/tests, pytest) in the interpreter of
//! `scripts/python-env.sh`, which installs the package from python/; they compare the package's
//! plans with this build's `geobatch batches --plans`. Skips without that interpreter (fails
//! under CI).

mod common;

use common::{python, repo};
use std::process::Command;

#[test]
fn the_python_package_passes_its_tests() {
    let Some(py) = python("geobatch, numpy, jraph, pytest") else {
        return;
    };
    let out = Command::new(&py)
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "python/tests",
        ])
        .current_dir(repo())
        .env("GEOBATCH_BIN", env!("CARGO_BIN_EXE_geobatch"))
        .output()
        .expect("pytest starts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "pytest failed:\n{text}");
    assert!(text.contains(" passed"), "{text}");
}
