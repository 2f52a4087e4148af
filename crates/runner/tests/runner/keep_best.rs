//! `training.keep_best` on the graph level (model selection on the validation split): the
//! parameters of the evaluation with the lowest validation MAE are the ones the final evaluation
//! gives, recorded at their step; a selection that cannot select is refused before training. The
//! model is a test-only plugin whose predictions are worst far from step 10 of its training.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, UInt64Type};
use geobatch_core::{GraphBatch, Learner, ModelContext, ModelSpec, Result, StepStats, Trainer};
use geobatch_runner::ExperimentConfig;
use geobatch_runner::jobs::AnyConfig;
use geobatch_runner::run_train;
use geobatch_testkit::results::read;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// A model whose prediction after s steps is `1000 |s - 10|` for every target: its errors on
/// QM9's (negative) energies grow with the distance from step 10.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Scripted {
    /// Interrupts the run (as Ctrl-C does) after this many steps.
    #[serde(default)]
    stop_at: Option<u64>,
}

/// The stop flag the interrupted run is given.
static STOP: AtomicBool = AtomicBool::new(false);

#[derive(Default)]
struct ScriptedTrainer {
    steps: u64,
    kept: Option<u64>,
    stop_at: Option<u64>,
}

#[geobatch_core::plugin(
    name = "scripted-test",
    summary = "a test model whose predictions are best after 10 steps",
    example = "",
    options = &[]
)]
impl ModelSpec for Scripted {
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    fn build(&self, _ctx: &ModelContext) -> Result<Box<dyn Trainer>> {
        Ok(Box::new(ScriptedTrainer {
            stop_at: self.stop_at,
            ..ScriptedTrainer::default()
        }))
    }
}

impl Learner<GraphBatch> for ScriptedTrainer {
    fn train_step(&mut self, _batch: &GraphBatch, _step: u64) -> Result<StepStats> {
        self.steps += 1;
        if self.stop_at == Some(self.steps) {
            STOP.store(true, Ordering::SeqCst);
        }
        Ok(StepStats {
            loss: 0.5,
            ..StepStats::default()
        })
    }

    fn set_learning_rate(&mut self, _lr: f64) -> Result<()> {
        Ok(())
    }

    fn parameter_count(&self) -> usize {
        1
    }

    fn save(&self, dir: &Path) -> Result<()> {
        let kept = self.kept.map_or(String::new(), |k| k.to_string());
        std::fs::write(dir.join("scripted"), format!("{} {kept}", self.steps))
            .map_err(|e| geobatch_core::Error::invalid(e.to_string()))
    }

    fn load(&mut self, dir: &Path) -> Result<()> {
        let text = std::fs::read_to_string(dir.join("scripted"))
            .map_err(|e| geobatch_core::Error::invalid(e.to_string()))?;
        let mut words = text.split(' ');
        self.steps = words.next().unwrap().parse().unwrap();
        self.kept = words.next().and_then(|k| k.parse().ok());
        Ok(())
    }

    fn keep_best(&mut self) -> Result<()> {
        self.kept = Some(self.steps);
        Ok(())
    }

    fn restore_best(&mut self) -> Result<bool> {
        match self.kept {
            Some(s) => {
                self.steps = s;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

impl Trainer for ScriptedTrainer {
    fn predict(&mut self, batch: &GraphBatch, out: &mut Vec<f32>) -> Result<()> {
        let value = 1000.0 * (self.steps as f32 - 10.0).abs();
        out.clear();
        out.resize(batch.real().graphs * batch.n_targets(), value);
        Ok(())
    }
}

/// The config, or its refusal on load.
fn config(dir: &Path, training: &str) -> std::result::Result<AnyConfig, String> {
    config_of(dir, "", training)
}

/// The config with `model` options, or its refusal on load.
fn config_of(dir: &Path, model: &str, training: &str) -> std::result::Result<AnyConfig, String> {
    geobatch_catalog::link();
    let text = format!(
        "[experiment]\nname = \"t\"\nseed = 7\nresults_dir = {:?}\ndata_dir = {:?}\n\
         [dataset]\nkind = \"qm9\"\nsource = \"fixture\"\ntargets = [\"U0\"]\n\
         [batcher]\nkind = \"dynamic\"\nbatch_size = 8\n\
         [model]\nkind = \"scripted-test\"\n{model}\n[training]\n{training}\n\
         [[sinks]]\nkind = \"parquet\"\n",
        dir.join("results").display().to_string(),
        dir.join("data").display().to_string()
    );
    AnyConfig::from_str(&text, Path::new("test.toml")).map_err(|e| e.to_string())
}

/// The run of a config that loads.
fn run(dir: &Path, training: &str) -> std::result::Result<(), String> {
    let Some(loaded) = config(dir, training)?.into_loaded::<ExperimentConfig>() else {
        panic!("a graph-level config");
    };
    run_train(&loaded, None, &AtomicBool::new(false))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// (step, split, MAE) of every evaluation row of the run, in order.
fn evals(dir: &Path) -> Vec<(u64, String, f64)> {
    let runs: Vec<_> = std::fs::read_dir(dir.join("results/t"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let mut out = Vec::new();
    for b in read(&runs[0].join("evals.parquet")) {
        let step = b
            .column_by_name("step")
            .unwrap()
            .as_primitive::<UInt64Type>();
        let split = b.column_by_name("split").unwrap().as_string::<i32>();
        let mae = b
            .column_by_name("mae")
            .unwrap()
            .as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            out.push((step.value(i), split.value(i).to_string(), mae.value(i)));
        }
    }
    out
}

#[test]
fn the_final_evaluation_gives_the_parameters_of_the_best_validation_step() {
    let dir = tempfile::tempdir().unwrap();
    run(
        dir.path(),
        "steps = 30\neval_every = 10\nkeep_best = \"U0\"",
    )
    .unwrap();
    let rows = evals(dir.path());
    let at = |step: u64, split: &str| -> Vec<f64> {
        rows.iter()
            .filter(|r| r.0 == step && r.1 == split)
            .map(|r| r.2)
            .collect()
    };
    // periodic evaluations after 10 and 20 steps, the last step's validation, then the final
    // test evaluation with the parameters of step 10 (recorded at step 10)
    let order: Vec<(u64, &str)> = rows.iter().map(|r| (r.0, r.1.as_str())).collect();
    assert_eq!(
        order,
        [
            (10, "validation"),
            (10, "test"),
            (20, "validation"),
            (20, "test"),
            (30, "validation"),
            (10, "test"),
        ],
        "{rows:?}"
    );
    let (best, later) = (at(10, "validation")[0], at(20, "validation")[0]);
    assert!(best < later && later < at(30, "validation")[0], "{rows:?}");
    let test = at(10, "test");
    assert_eq!(
        test[0], test[1],
        "the final test rows are step 10's parameters"
    );
    // without it, the last step's parameters
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), "steps = 30\neval_every = 10").unwrap();
    let last: Vec<u64> = evals(dir.path()).iter().map(|r| r.0).collect();
    assert_eq!(last, [10, 10, 20, 20, 30, 30]);
}

#[test]
fn a_selection_that_cannot_select_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (training, expected) in [
        ("steps = 30\nkeep_best = \"U0\"", "set training.eval_every"),
        (
            "steps = 30\neval_every = 10\neval_splits = [\"test\"]\nkeep_best = \"U0\"",
            "add \"validation\" to training.eval_splits",
        ),
        (
            "steps = 30\neval_every = 10\nkeep_best = \"forces_meV_per_A\"",
            "no such label (valid: U0)",
        ),
    ] {
        let err = run(dir.path(), training).unwrap_err();
        assert!(
            err.contains("training.keep_best") && err.contains(expected),
            "{training}: {err}"
        );
    }
}

#[test]
fn a_resumed_run_keeps_its_selection() {
    let dir = tempfile::tempdir().unwrap();
    let training = "steps = 30\neval_every = 10\ncheckpoint_every = 10\nkeep_best = \"U0\"";
    let Some(loaded) = config_of(dir.path(), "stop_at = 25", training)
        .unwrap()
        .into_loaded::<ExperimentConfig>()
    else {
        panic!("a graph-level config");
    };
    let stopped = run_train(&loaded, None, &STOP).unwrap();
    assert_eq!(stopped.steps, 25, "interrupted after step 25");
    let resumed =
        geobatch_runner::train::run_train_with(&loaded, None, &AtomicBool::new(false), true);
    resumed.unwrap();
    let rows = evals(dir.path());
    let last = rows.last().unwrap();
    assert_eq!((last.0, last.1.as_str()), (10, "test"), "{rows:?}");
    let step10: Vec<f64> = rows
        .iter()
        .filter(|r| r.0 == 10 && r.1 == "test")
        .map(|r| r.2)
        .collect();
    assert_eq!(step10.len(), 2, "{rows:?}");
    assert_eq!(step10[0], step10[1]);
}
