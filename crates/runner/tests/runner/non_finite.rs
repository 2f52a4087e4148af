//! Issue 33, class 4, for every model (not only Python ones): a model whose loss is finite but
//! whose predictions are not numbers never ends a run `complete`; the evaluation row is recorded
//! as it is, the run fails naming the split and the metric, and the steps before stay. A model
//! that gives more or fewer predictions (or classes) than the batch asks for is an error, not a
//! panic or a silently shifted metric. The models are test-only plugins registered here, as any plugin is (`#[plugin]`).

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use geobatch_catalog::task_node::NodeConfig;
use geobatch_core::{
    Batch, GraphBatch, Learner, ModelContext, ModelSpec, Result, StepStats, Trainer,
};
use geobatch_node::{NodeBatch, NodeLevel, NodeModelContext, NodePredictions};
use geobatch_runner::ExperimentConfig;
use geobatch_runner::jobs::AnyConfig;
use geobatch_runner::run_train;
use geobatch_testkit::results::{read, run_value};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// A model that trains with a finite loss and predicts as `predict` says: "nan", "inf",
/// "short" (one value or class too few), "class" (a class past the last).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Broken {
    predict: String,
}

struct BrokenTrainer {
    predict: String,
}

impl BrokenTrainer {
    fn step() -> StepStats {
        StepStats {
            loss: 0.5,
            ..StepStats::default()
        }
    }
}

#[geobatch_core::plugin(
    name = "broken-test",
    summary = "a test model whose predictions are broken as `predict` says",
    example = "predict = \"nan\"\n",
    options = &[]
)]
impl ModelSpec for Broken {
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    fn build(&self, _ctx: &ModelContext) -> Result<Box<dyn Trainer>> {
        Ok(Box::new(BrokenTrainer {
            predict: self.predict.clone(),
        }))
    }
}

#[geobatch_core::plugin(
    name = "broken-test",
    summary = "a test model whose predictions are broken as `predict` says",
    example = "predict = \"nan\"\n",
    options = &[]
)]
impl ModelSpec<NodeLevel> for Broken {
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    fn build(&self, _ctx: &NodeModelContext) -> Result<Box<dyn Trainer<NodeLevel>>> {
        Ok(Box::new(BrokenTrainer {
            predict: self.predict.clone(),
        }))
    }
}

/// Its steps, whatever the task: a finite loss, nothing saved.
impl<B: Batch> Learner<B> for BrokenTrainer {
    fn train_step(&mut self, _batch: &B, _step: u64) -> Result<StepStats> {
        Ok(Self::step())
    }

    fn set_learning_rate(&mut self, _lr: f64) -> Result<()> {
        Ok(())
    }

    fn parameter_count(&self) -> usize {
        1
    }

    fn save(&self, _dir: &Path) -> Result<()> {
        Ok(())
    }

    fn load(&mut self, _dir: &Path) -> Result<()> {
        Ok(())
    }

    fn keep_best(&mut self) -> Result<()> {
        Ok(())
    }

    fn restore_best(&mut self) -> Result<bool> {
        Ok(false)
    }
}

impl Trainer for BrokenTrainer {
    fn predict(&mut self, batch: &GraphBatch, out: &mut Vec<f32>) -> Result<()> {
        let n = batch.real().graphs * batch.n_targets();
        out.clear();
        match self.predict.as_str() {
            "nan" => out.resize(n, f32::NAN),
            "inf" => out.resize(n, f32::INFINITY),
            "short" => out.resize(n - 1, 0.0),
            _ => out.resize(n, 0.0),
        }
        Ok(())
    }
}

impl Trainer<NodeLevel> for BrokenTrainer {
    fn predict(&mut self, batch: &NodeBatch, out: &mut NodePredictions) -> Result<()> {
        let n = batch.outputs.len();
        out.classes.clear();
        out.nll = 0.0;
        match self.predict.as_str() {
            "nan" => {
                out.classes.resize(n, 0);
                out.nll = f64::NAN;
            }
            "short" => out.classes.resize(n.saturating_sub(1), 0),
            "class" => out.classes.resize(n, batch.n_classes as u32),
            _ => out.classes.resize(n, 0),
        }
        Ok(())
    }
}

fn load(dir: &Path, dataset: &str, training: &str, predict: &str) -> AnyConfig {
    geobatch_catalog::link();
    let text = format!(
        "[experiment]\nname = \"t\"\nseed = 7\nresults_dir = {:?}\ndata_dir = {:?}\n\
         [dataset]\n{dataset}\n[model]\nkind = \"broken-test\"\npredict = \"{predict}\"\n\
         [training]\n{training}\n[[sinks]]\nkind = \"parquet\"\nrows_per_part = 4\n",
        dir.join("results").display().to_string(),
        dir.join("data").display().to_string()
    );
    AnyConfig::from_str(&text, Path::new("test.toml")).unwrap()
}

/// A graph-level run of the broken model; its error and its run folder.
fn graph_run(predict: &str) -> (String, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let Some(loaded) = load(
        dir.path(),
        "kind = \"qm9\"\nsource = \"fixture\"\n[batcher]\nkind = \"dynamic\"\nbatch_size = 8",
        "steps = 10\neval_every = 5",
        predict,
    )
    .into_loaded::<ExperimentConfig>() else {
        panic!("a graph-level config");
    };
    let err = run_train(&loaded, None, &AtomicBool::new(false))
        .unwrap_err()
        .to_string();
    (err, the_run(dir.path()), dir)
}

fn the_run(dir: &Path) -> PathBuf {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(dir.join("results/t"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs.pop().unwrap()
}

fn rmse(run: &Path) -> Vec<f64> {
    read(&run.join("evals.parquet"))
        .iter()
        .flat_map(|b| {
            b.column_by_name("rmse")
                .unwrap()
                .as_primitive::<Float64Type>()
                .values()
                .to_vec()
        })
        .collect()
}

fn steps(run: &Path) -> usize {
    geobatch_testkit::results::steps(run)
        .iter()
        .map(|b| b.num_rows())
        .sum()
}

/// NaN and infinite predictions with a finite loss: the first evaluation is recorded with its
/// non-finite metric, then the run fails naming the split and the metric (2 cases).
#[test]
fn non_finite_graph_predictions_fail_the_run_after_recording_it() {
    for (predict, value) in [("nan", "NaN"), ("inf", "inf")] {
        let (err, run, _dir) = graph_run(predict);
        assert!(
            err.contains(&format!("validation U0 RMSE {value}"))
                && err.contains("failed, not complete"),
            "{predict}: {err}"
        );
        assert_eq!(run_value(&run, "status"), "failed", "{predict}");
        let rmse = rmse(&run);
        assert!(
            !rmse.is_empty() && !rmse[0].is_finite(),
            "{predict}: {rmse:?}"
        );
        assert_eq!(
            steps(&run),
            5,
            "{predict}: the steps before the evaluation stay"
        );
    }
}

/// One prediction too few is an error naming the counts, not an index panic.
#[test]
fn a_wrong_number_of_graph_predictions_is_an_error() {
    let (err, run, _dir) = graph_run("short");
    assert!(
        err.contains("predictions for a batch of") && err.contains("graphs x 1 targets"),
        "{err}"
    );
    assert_eq!(run_value(&run, "status"), "failed");
}

/// Node level: non-finite class scores (a NaN negative log-likelihood), too few classes, and a
/// class past the last each fail the run with a message naming what is wrong (3 cases).
#[test]
fn broken_node_predictions_fail_the_run() {
    for (predict, want) in [
        ("nan", "validation split's class scores are not finite"),
        ("short", "classes for a batch of"),
        (
            "class",
            "the model predicted class 4, but the graph has 4 classes",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let Some(loaded) = load(
            dir.path(),
            "kind = \"sbm\"\nnodes = 400\nclasses = 4\ncommunities = 4\navg_degree = 6\n\
             [batcher]\nkind = \"cluster\"\nnum_parts = 4",
            "epochs = 3\neval_every = 1",
            predict,
        )
        .into_loaded::<NodeConfig>() else {
            panic!("a node-level config");
        };
        let err = run_train(&loaded, None, &AtomicBool::new(false))
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{predict}: wants {want:?}\n{err}");
        assert_eq!(run_value(&the_run(dir.path()), "status"), "failed");
    }
}
