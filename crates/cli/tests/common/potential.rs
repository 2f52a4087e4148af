//! A trained potential for the CLI tests that predict: aluminium frames and a SchNet potential
//! trained on `flashmd.xyz`.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use super::{geobatch, repo, run_dirs, text, with_sets};
use std::path::Path;

/// An extended XYZ frame of aluminium: the 32 atoms of a 2x2x2 fcc cell (a = 4.05 A) moved by
/// `jitter(atom, axis)`.
pub fn aluminium(jitter: impl Fn(usize, usize) -> f64) -> String {
    let mut out = String::from(
        "32\nLattice=\"8.1 0 0 0 8.1 0 0 0 8.1\" Properties=species:S:1:pos:R:3 pbc=\"T T T\"\n",
    );
    let basis = [
        [0.0, 0.0, 0.0],
        [0.5, 0.5, 0.0],
        [0.5, 0.0, 0.5],
        [0.0, 0.5, 0.5],
    ];
    let mut atom = 0;
    for i in 0..2 {
        for j in 0..2 {
            for k in 0..2 {
                for b in basis {
                    let p: Vec<String> = (0..3)
                        .map(|a| {
                            let cell = [i, j, k][a] as f64;
                            ((cell + b[a]) * 4.05 + jitter(atom, a)).to_string()
                        })
                        .collect();
                    out.push_str(&format!("Al {}\n", p.join(" ")));
                    atom += 1;
                }
            }
        }
    }
    out
}

/// A SchNet potential trained 6 steps on the aluminium frames of flashmd.xyz (energy, forces,
/// stress), the parameters of its better validation evaluation kept: its run folder.
pub fn train_on_aluminium(dir: &std::path::Path) -> std::path::PathBuf {
    let config = repo().join("configs/examples/extxyz-schnet-dynamic.toml");
    let xyz = repo().join("plugins/dataset-extxyz/tests/fixtures/flashmd.xyz");
    let line = format!(
        "dataset={{kind=\"extxyz\", path={:?}, targets=[\"energy\", \"forces\", \"stress\"], \
         graph={{kind=\"cutoff\", radius=4.0}}, split={{train=8, validation=1, test=1}}}}",
        xyz.to_str().unwrap()
    );
    let sets = [
        line.as_str(),
        "model={kind=\"schnet\", latent=16, steps=2, rbf=40, rbf_spacing=0.1}",
        "batcher.batch_size=3",
        // the saved potential is the one selected on validation (`keep_best`)
        "training.eval_every=3",
        "training.checkpoint_every=0",
        "training.eval_splits=[\"validation\", \"test\"]",
        "training.keep_best=\"forces_meV_per_A\"",
    ];
    let o = with_sets(dir, "run", &config, 6, &sets);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("forces_meV_per_A"), "{out}");
    assert!(
        out.contains("evaluating the parameters of step 3") || !out.contains("evaluating the"),
        "a kept step is a periodic evaluation's: {out}"
    );
    let run = run_dirs(&dir.join("results")).pop().unwrap();
    assert!(run.join("model/potential.json").is_file());
    run
}

/// `predict --run RUN --data DATA --out OUT` with `extra` arguments.
pub fn predict(
    dir: &Path,
    run: &Path,
    data: &Path,
    out: &Path,
    extra: &[&str],
) -> std::process::Output {
    let args = [
        "predict",
        "--run",
        run.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    geobatch(dir, &[&args[..], extra].concat())
}
