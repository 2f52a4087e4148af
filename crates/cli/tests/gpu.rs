//! GPU and CPU losses agree for every model, batcher and engine variant (run where a GPU is).
//!
//! A test binary of its own, linking only the helpers it uses, so that the GPU pack
//! (scripts/gpu-pack.sh) carries it small: the GPU machine runs it against a prebuilt `geobatch`.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose
#![cfg(any(feature = "cuda", feature = "wgpu"))]

mod common;
use common::{geobatch, steps_table, text};
use std::path::Path;

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_string_lossy().into_owned()
}

/// CPU and GPU train the same first steps, for every model and batcher and every engine variant
/// (builds with `--features cuda` or `wgpu`, when `GEOBATCH_GPU` names the device: `cuda:0`
/// (or `1`) on a machine with a CUDA GPU, `wgpu` with a Vulkan driver, Mesa's lavapipe
/// included; `scripts/gpu-smoke.sh` and `scripts/gpu-ab.sh` run it). One line per check;
/// `GEOBATCH_GPU_CASES` keeps the cases whose label contains it (`potential`, `painn`, ...).
#[test]
fn gpu_and_cpu_losses_agree_for_every_model_batcher_and_engine_variant() {
    let gpu = match std::env::var("GEOBATCH_GPU").as_deref() {
        Ok("1") => "cuda:0".to_string(),
        Ok(d) if !d.is_empty() => d.to_string(),
        _ => {
            eprintln!("skipped: set GEOBATCH_GPU to the device (cuda:0 or wgpu)");
            return;
        }
    };
    let only = std::env::var("GEOBATCH_GPU_CASES").unwrap_or_default();
    let dir = tempfile::tempdir().unwrap();
    let mut failures = 0;
    for (i, (label, config, steps)) in gpu_cases().iter().enumerate() {
        if !label.contains(only.as_str()) {
            continue;
        }
        let mut losses = Vec::new();
        for device in ["cpu", gpu.as_str()] {
            let work = dir
                .path()
                .join(format!("case{i}-{}", device.replace(':', "")));
            std::fs::create_dir_all(&work).unwrap();
            let cfg = write(&work, "gpu.toml", &config.replace("DEVICE", device));
            let o = geobatch(&work, &["run", &cfg]);
            assert!(o.status.success(), "{device}: {}", text(&o));
            losses.push(steps_table(&work.join("results")));
        }
        // float32 on different hardware: the first steps agree to 1e-3 relative
        let worst = losses[0]
            .iter()
            .zip(&losses[1])
            .take(5)
            .map(|(a, b)| ((a.1 - b.1).abs() / a.1.abs().max(1e-6)) as f64)
            .fold(0.0, f64::max);
        let ok = worst <= 1e-3 && steps.is_none_or(|n| losses[1].len() == n);
        if !ok {
            failures += 1;
        }
        println!(
            "{} {label}: first 5 losses, worst relative difference {worst:.2e} (tolerance 1e-3)",
            if ok { "ok  " } else { "FAIL" },
        );
    }
    assert_eq!(failures, 0, "CPU and GPU losses disagree");
}

/// The cases of [`gpu_and_cpu_losses_agree_for_every_model_batcher_and_engine_variant`]: (label,
/// config with DEVICE for the device, steps expected).
fn gpu_cases() -> Vec<(String, String, Option<usize>)> {
    let models = [
        "kind = \"schnet\"",
        "kind = \"mpeu\"",
        "kind = \"painn\"\nhidden = 64",
    ];
    let batchers = [
        "kind = \"dynamic\"\nbatch_size = 16",
        "kind = \"static\"\nbatch_size = 16\npad = \"multiple64\"",
        "kind = \"static\"\nbatch_size = 16\npad = \"pow2\"",
        "kind = \"static\"\nbatch_size = 16\npad = \"constant\"",
    ];
    let mut cases: Vec<(String, String, Option<usize>)> = Vec::new();
    for model in models {
        for batcher in batchers {
            cases.push((
                format!("{} / {}", model.lines().next().unwrap_or(""), batcher.replace('\n', " ")),
                format!(
                    "[experiment]\nname = \"gpu\"\nseed = 7\n[dataset]\nkind = \"qm9\"\nsource = \"fixture\"\n\
                     [model]\n{model}\n[batcher]\n{batcher}\n[training]\nsteps = 20\neval_every = 20\n\
                     eval_splits = [\"validation\"]\ndevice = \"DEVICE\"\n[[sinks]]\nkind = \"parquet\"\n"
                ),
                Some(20),
            ));
        }
    }
    // the engine variants (`[training.engine]`; the cases above run the GPU's default, fusion
    // with the device basis and the CSR sums), each model with dynamic batching: the unfused
    // engine with the host basis and the chunked sums, each default option turned back alone,
    // and uploads overlapping steps, in prefetch mode
    for model in models {
        for (engine, mode) in [
            (
                "fusion = false\nbasis = \"host\"\nsegments = \"chunked\"",
                "serial",
            ),
            ("fusion = false", "serial"),
            ("basis = \"host\"", "serial"),
            ("segments = \"chunked\"", "serial"),
            ("upload = \"worker\"", "prefetch"),
        ] {
            cases.push((
                format!(
                    "{} / dynamic / {mode} / engine {}",
                    model.lines().next().unwrap_or(""),
                    engine.replace('\n', ", ")
                ),
                format!(
                    "[experiment]\nname = \"gpu\"\nseed = 7\n[dataset]\nkind = \"qm9\"\nsource = \"fixture\"\n\
                     [model]\n{model}\n[batcher]\nkind = \"dynamic\"\nbatch_size = 16\n[training]\nsteps = 20\n\
                     eval_every = 20\neval_splits = [\"validation\"]\ndevice = \"DEVICE\"\nmode = \"{mode}\"\n\
                     [training.engine]\n{engine}\n[[sinks]]\nkind = \"parquet\"\n"
                ),
                Some(20),
            ));
        }
    }
    // potentials: energy, forces and stress on the mlearn fixture (nested autodiff on the device)
    // (the default on a GPU: fusion with the chunked sums; unfused, the CSR sums)
    for (model, engine) in [
        ("kind = \"schnet\"", ""),
        ("kind = \"schnet\"", "fusion = false"),
        ("kind = \"painn\"\nhidden = 64\ncutoff = 5.0", ""),
    ] {
        cases.push((
            format!(
                "{} / dynamic / potential (energy, forces, stress) / engine {{{engine}}}",
                model.lines().next().unwrap_or("")
            ),
            format!(
                "[experiment]\nname = \"gpu\"\nseed = 7\n[dataset]\nkind = \"mlearn\"\nsource = \"fixture\"\n\
                 elements = [\"Cu\", \"Ge\", \"Li\", \"Mo\", \"Ni\", \"Si\"]\n\
                 targets = [\"energy\", \"forces\", \"stress\"]\ngraph = {{ kind = \"cutoff\", radius = 5.0 }}\n\
                 [model]\n{model}\n[batcher]\nkind = \"dynamic\"\nbatch_size = 4\n[training]\nsteps = 10\n\
                 eval_every = 10\neval_splits = [\"test\"]\ndevice = \"DEVICE\"\n[training.engine]\n{engine}\n\
                 [training.loss]\nenergy = 1.0\nforces = 1.0\nstress = 1.0\n[[sinks]]\nkind = \"parquet\"\n"
            ),
            Some(10),
        ));
    }
    // node-level: GCN on a generated graph (dropout off: the devices draw different masks)
    for batcher in [
        "kind = \"ibmb-node\"\noutputs_per_batch = 100",
        "kind = \"cluster\"\nnum_parts = 4",
    ] {
        cases.push((
            format!("gcn (node-level) / {}", batcher.replace('\n', " ")),
            format!(
                "[experiment]\nname = \"gpu\"\nseed = 7\n[dataset]\nkind = \"sbm\"\nnodes = 2000\n\
                 [model]\nkind = \"gcn\"\nhidden = 32\nlayers = 2\ndropout = 0.0\n[batcher]\n{batcher}\n\
                 [training]\nepochs = 3\neval_every = 0\ndevice = \"DEVICE\"\n[[sinks]]\nkind = \"parquet\"\n"
            ),
            None,
        ));
    }
    cases
}
