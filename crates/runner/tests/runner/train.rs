//! Training end to end on the QM9 fixture: the loss falls for every model and batcher, runs are
//! bitwise reproducible, prefetch trains exactly as serial, and divergence stops a run cleanly.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, UInt64Type};
use geobatch_runner::{LoadedConfig, run_train};
use geobatch_testkit::results::{run_count, run_value};

use std::path::Path;
use std::sync::atomic::AtomicBool;

fn config(dir: &Path, model: &str, batcher: &str, training: &str) -> LoadedConfig {
    geobatch_catalog::link();
    let text = format!(
        "[experiment]\nname = \"t\"\nseed = 7\nresults_dir = {:?}\ndata_dir = {:?}\n\
         [dataset]\nkind = \"qm9\"\nsource = \"fixture\"\n[model]\n{model}\n[batcher]\n{batcher}\n\
         [training]\n{training}\n[[sinks]]\nkind = \"parquet\"\nrows_per_part = 40\n",
        dir.join("results").display().to_string(),
        dir.join("data").display().to_string()
    );
    LoadedConfig::from_str(&text, Path::new("test.toml")).unwrap()
}

fn column(run_dir: &Path, name: &str) -> Vec<f64> {
    let mut out = Vec::new();
    for b in geobatch_testkit::results::steps(run_dir) {
        let c = b.column_by_name(name).unwrap().clone();
        if name == "loss" {
            out.extend(
                c.as_primitive::<Float32Type>()
                    .values()
                    .iter()
                    .map(|&v| f64::from(v)),
            );
        } else {
            out.extend(
                c.as_primitive::<UInt64Type>()
                    .iter()
                    .map(|v| v.map_or(-1.0, |v| v as f64)),
            );
        }
    }
    out
}

#[test]
fn the_loss_falls_for_every_model_and_batcher() {
    let dir = tempfile::tempdir().unwrap();
    let training =
        "steps = 150\neval_splits = [\"validation\"]\noptimizer = { learning_rate = 1e-3 }";
    for model in [
        "kind = \"schnet\"\nlatent = 32",
        "kind = \"mpeu\"\nlatent = 32",
        "kind = \"painn\"\nhidden = 32",
    ] {
        for batcher in [
            "kind = \"dynamic\"\nbatch_size = 16",
            "kind = \"static\"\nbatch_size = 16\npad = \"multiple64\"",
            "kind = \"static\"\nbatch_size = 16\npad = \"pow2\"",
            "kind = \"static\"\nbatch_size = 16\npad = \"constant\"",
        ] {
            let loaded = config(dir.path(), model, batcher, training);
            let s = run_train(&loaded, None, &AtomicBool::new(false)).unwrap();
            let what = format!("{} with {}", s.model, loaded.config.batcher.label());
            assert_eq!(s.steps, 150, "{what}");
            let (first, last) = (s.loss_first.unwrap(), s.loss_last.unwrap());
            assert!(last < 0.75 * first, "{what}: loss {first} -> {last}");
            assert_eq!(s.evals.len(), 1);
            assert_eq!(
                s.evals[0].graphs, 100,
                "{what}: every validation graph exactly once"
            );
            // the summary's evaluation is the one the results file holds, to the bit
            let stored = geobatch_testkit::results::read(&s.run_dir.join("evals.parquet"));
            let rmse = stored[0]
                .column_by_name("rmse")
                .unwrap()
                .as_primitive::<arrow_array::types::Float64Type>()
                .value(0);
            assert!(s.evals[0].rmse.is_finite(), "{what}");
            assert_eq!(rmse.to_bits(), s.evals[0].rmse.to_bits(), "{what}");
            assert_eq!(column(&s.run_dir, "loss").len(), 150);
        }
    }
}

#[test]
fn training_is_bitwise_reproducible_and_prefetch_trains_as_serial() {
    let dir = tempfile::tempdir().unwrap();
    let model = "kind = \"schnet\"\nlatent = 16";
    let batcher = "kind = \"dynamic\"\nbatch_size = 8";
    let run = |name: &str, mode: &str| {
        let d = dir.path().join(name);
        let loaded = config(
            &d,
            model,
            batcher,
            &format!("steps = 40\nmode = \"{mode}\"\neval_splits = []\nthreads = 1"),
        );
        let s = run_train(&loaded, None, &AtomicBool::new(false)).unwrap();
        let threads = run_count(&s.run_dir, "threads");
        (
            column(&s.run_dir, "loss"),
            column(&s.run_dir, "wait_ns"),
            threads,
        )
    };
    let (a, wait_a, threads_a) = run("a", "serial");
    let (b, _, _) = run("b", "serial");
    let (c, wait_c, threads_c) = run("c", "prefetch");
    assert_eq!(
        (threads_a, threads_c),
        (1, 2),
        "one kernel thread, and a batcher thread beside it"
    );
    assert_eq!(a.len(), 40);
    assert_eq!(a, b, "same seed, same losses, bit for bit");
    assert_eq!(a, c, "prefetch builds the same batches in the same order");
    assert!(
        wait_a.iter().all(|&w| w < 0.0),
        "serial steps record no wait"
    );
    assert!(
        wait_c.iter().all(|&w| w >= 0.0),
        "prefetch steps record their wait"
    );
}

#[test]
fn a_diverging_run_stops_with_a_clear_message_and_finished_files() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = config(
        dir.path(),
        "kind = \"schnet\"\nlatent = 16",
        "kind = \"dynamic\"\nbatch_size = 8",
        "steps = 50\noptimizer = { learning_rate = 10.0 }",
    );
    let err = run_train(&loaded, None, &AtomicBool::new(false))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("training diverged") && err.contains("lower the learning rate"),
        "{err}"
    );
    let run_dir = std::fs::read_dir(dir.path().join("results/t"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(run_value(&run_dir, "status"), "failed");
    assert!(
        !column(&run_dir, "loss").is_empty(),
        "the steps before the divergence are kept"
    );
}

#[test]
fn a_config_without_a_model_cannot_train() {
    geobatch_catalog::link();
    let text = "[experiment]\nname = \"t\"\n[dataset]\nkind = \"synthetic\"\n[batcher]\nkind = \"dynamic\"\nbatch_size = 4\n";
    let loaded = LoadedConfig::from_str(text, Path::new("x.toml")).unwrap();
    let err = run_train(&loaded, Some(3), &AtomicBool::new(false)).unwrap_err();
    assert!(
        err.is_input_error() && err.to_string().contains("no [model] table"),
        "{err}"
    );
}

/// `bench step` times the training loop's own batches and step, and its medians are of the
/// steady steps only (the one definition): with one constant padded shape, every step after the
/// warm-up is steady (the one cold step, the first, is a warm-up step).
#[test]
fn bench_step_times_the_steady_steps_of_the_training_loop() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = config(
        dir.path(),
        "kind = \"schnet\"\nlatent = 8",
        "kind = \"static\"\nbatch_size = 4\npad = \"constant\"",
        "steps = 5\nthreads = 1",
    );
    let rows = geobatch_runner::bench::bench_step(&loaded, &[4, 8], 6, 2, &[1]).unwrap();
    assert_eq!(rows.len(), 2);
    for (r, bs) in rows.iter().zip([4, 8]) {
        assert_eq!((r.batch_size, r.threads), (bs, 1));
        assert_eq!((r.steps, r.ran), (6, 8), "{r:?}");
        assert!(r.median_ms > 0.0 && r.p90_ms >= r.median_ms, "{r:?}");
        assert!(r.phases_ms[0] > 0.0 && r.phases_ms[2] > 0.0, "{r:?}");
        assert!(r.graphs_per_s > 0.0 && r.padded_edges > 0, "{r:?}");
    }
    // padded shapes that change: a step on a shape met for the first time is not steady, and
    // the bench runs on until it has timed as many steady steps as asked
    let loaded = config(
        dir.path(),
        "kind = \"schnet\"\nlatent = 8",
        "kind = \"static\"\nbatch_size = 4\npad = \"pow2\"",
        "steps = 5\nthreads = 1",
    );
    let rows = geobatch_runner::bench::bench_step(&loaded, &[4], 12, 1, &[1]).unwrap();
    assert_eq!(rows[0].steps, 12, "{:?}", rows[0]);
    assert!(
        rows[0].ran > 13,
        "new shapes after the warm-up: {:?}",
        rows[0]
    );
    assert!(geobatch_runner::bench::render("schnet", &rows).contains("steady steps"));
}

/// The engine's GPU variants on the CPU: the prefetch worker's staged inputs and the grouping
/// (which the CPU kernels do not use) train the same bits as the default; a basis made by
/// tensor operations rounds differently, by little; the run folder's config names the variant
/// and leaves the default out; a wrong key is named with the valid ones.
#[test]
fn engine_variants_on_the_cpu_train_as_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, training: &str| {
        let loaded = config(
            &dir.path().join(name),
            "kind = \"schnet\"\nlatent = 16",
            "kind = \"dynamic\"\nbatch_size = 8",
            &format!("steps = 20\neval_splits = []\nthreads = 1\n{training}"),
        );
        let s = run_train(&loaded, None, &AtomicBool::new(false)).unwrap();
        let config = std::fs::read_to_string(s.run_dir.join("config.toml")).unwrap();
        let mut transfer = column(&s.run_dir, "transfer_ns");
        transfer.sort_by(f64::total_cmp);
        (
            column(&s.run_dir, "loss"),
            config,
            transfer[transfer.len() / 2],
        )
    };
    let (base, base_config, base_transfer) = run("a", "");
    assert_eq!(base.len(), 20);
    assert!(!base_config.contains("engine"), "{base_config}");
    let (worker, worker_config, worker_transfer) =
        run("b", "mode = \"prefetch\"\nengine = { upload = \"worker\" }");
    assert_eq!(
        worker, base,
        "inputs staged on the prefetch worker train the same bits"
    );
    assert!(
        worker_transfer < base_transfer,
        "the step only takes the staged inputs over: transfer {worker_transfer} ns vs {base_transfer} ns"
    );
    assert!(
        worker_config.contains("[training.engine]")
            && worker_config.contains("upload = \"worker\""),
        "{worker_config}"
    );
    let (csr, _, _) = run("c", "engine = { segments = \"csr\" }");
    assert_eq!(csr, base, "the CPU keeps its segment kernels");
    let (device, _, _) = run("d", "engine = { basis = \"device\", fusion = true }");
    for (a, b) in device.iter().zip(&base) {
        assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "{a} vs {b}");
    }
    let wrong = LoadedConfig::from_str(
        "[experiment]\nname = \"t\"\n[dataset]\nkind = \"synthetic\"\n[batcher]\nkind = \"dynamic\"\nbatch_size = 8\n\
         [training]\nengine = { fuse = true }\n",
        Path::new("wrong.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        wrong.contains("training.engine") && wrong.contains("fuse") && wrong.contains("fusion"),
        "{wrong}"
    );
}
