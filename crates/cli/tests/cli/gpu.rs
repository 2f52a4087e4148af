//! GPU and CPU losses agree for every model, batcher and engine variant (run where a GPU is).

#[cfg(any(feature = "cuda", feature = "wgpu"))]
use super::*;

/// CPU and GPU train the same first steps, for every model and batcher and every engine variant
/// (builds with `--features cuda` or `wgpu`, when `GEOBATCH_GPU` names the device: `cuda:0`
/// (or `1`) on a machine with a CUDA GPU, `wgpu` with a Vulkan driver, Mesa's lavapipe
/// included; `scripts/gpu-smoke.sh` and `scripts/gpu-ab.sh` run it). One line per check.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
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
    let dir = tempfile::tempdir().unwrap();
    let mut failures = 0;
    for (i, (label, config, steps)) in gpu_cases().iter().enumerate() {
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
#[cfg(any(feature = "cuda", feature = "wgpu"))]
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
    // the engine variants (`[training.engine]`), each model with dynamic batching; the last
    // overlaps uploads with steps, in prefetch mode
    for model in models {
        for (engine, mode) in [
            ("fusion = true", "serial"),
            ("basis = \"device\"", "serial"),
            ("segments = \"csr\"", "serial"),
            (
                "fusion = true\nbasis = \"device\"\nsegments = \"csr\"\nupload = \"worker\"",
                "prefetch",
            ),
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
