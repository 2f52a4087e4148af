//! The `python` model: a user's Python module (JAX, PyTorch, NumPy) trained through geobatch, on
//! graph-level tasks (padded graph batches) and node-level tasks (subgraph batches).
//!
//! The module runs in a worker process started with the interpreter the config names, so it uses
//! that environment's packages and geobatch needs no rebuild. Requests and replies travel as JSON
//! lines over pipes; every padded batch is written once into a shared-memory file that the worker
//! maps and hands to the module as read-only NumPy views (docs/python.md).

mod segment;
mod wire;
mod worker;

use geobatch_core::{
    Error, GraphBatch, Learner, ModelContext, ModelSpec, OptimizerSpec, Result, StepStats,
    TaskType, Trainer, plugin_options,
};
use geobatch_node::{NodeBatch, NodeLevel, NodeModelContext};
use segment::Segment;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;
use wire::Wire;
use worker::{Worker, request};

/// File a checkpoint keeps the module's state in (a pickle of `model.state()`).
const STATE_FILE: &str = "python-state.pkl";

/// Config of a Python model.
#[plugin_options]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PythonSpec {
    /// The interpreter: a path (a virtual environment's `bin/python`) or a name on `PATH`.
    #[option(ty = "string", default = "python3".into(), doc = "the interpreter (a virtual environment's bin/python, or a name on PATH)")]
    pub python: String,
    /// The module: a `.py` file (relative to the working directory) or a dotted module name
    /// importable by that interpreter.
    #[option(
        ty = "string",
        doc = "a .py file (relative to the working directory) or a module name"
    )]
    pub module: String,
    /// Options handed to the module's `build(ctx)` as `ctx.options`.
    #[serde(default)]
    #[option(ty = "table", doc = "handed to the module's build(ctx) as ctx.options")]
    pub options: toml::Table,
    /// The longest one call to the module may take, in seconds (a compile included); past it
    /// the worker is stopped and the run ends with an error naming the call. 1,800 s when absent
    /// (the worker's `DEFAULT_TIMEOUT`).
    #[serde(default)]
    #[option(
        ty = "float",
        toml = "absent: 1800 s",
        doc = "seconds one call to the module may take (compiles included) before the worker is stopped and the run ends with an error"
    )]
    pub timeout: Option<f64>,
}

impl PythonSpec {
    /// Checks the options; messages name the key.
    fn check(&self) -> Result<()> {
        if self.python.trim().is_empty() {
            return Err(Error::invalid(
                "model.python is empty: name a Python 3 interpreter",
            ));
        }
        if self.module.trim().is_empty() {
            return Err(Error::invalid(
                "model.module is empty: name a .py file or a module",
            ));
        }
        if let Some(t) = self.timeout
            && !(t.is_finite() && t > 0.0)
        {
            return Err(Error::invalid(format!(
                "model.timeout = {t}: give a positive number of seconds (or leave it out for the \
                 default of 1800)"
            )));
        }
        Ok(())
    }

    /// Checks the options and that a module named as a file exists, before starting anything.
    fn check_module(&self) -> Result<()> {
        self.check()?;
        if worker::is_file(&self.module) && !Path::new(&self.module).is_file() {
            return Err(Error::invalid(format!(
                "model.module = \"{}\": no such file (paths are relative to the working \
                 directory)",
                self.module
            )));
        }
        Ok(())
    }
}

#[geobatch_core::plugin(
    name = "python",
    summary = "a Python module (JAX, PyTorch, NumPy) as the model, run by the named interpreter in a worker fed through shared memory (docs/python.md)",
    example = "python = \"python3\"\nmodule = \"python/schnet_jax.py\"\noptions = { latent = 64 }\n"
)]
impl ModelSpec for PythonSpec {
    fn validate(&self) -> Result<()> {
        self.check()
    }

    fn build(&self, ctx: &ModelContext) -> Result<Box<dyn Trainer>> {
        self.check_module()?;
        Ok(Box::new(PythonTrainer::start(self, ctx)?))
    }
}

/// The same plugin for node-level tasks: the module classifies the output nodes of subgraph
/// batches (docs/python.md, "Node-level tasks").
#[geobatch_core::plugin(
    name = "python",
    summary = "a Python module as the node classifier of subgraph batches, run like the graph-level python model (docs/python.md)",
    example = "python = \"python3\"\nmodule = \"python/sgc_numpy.py\"\noptions = { hops = 2 }\n"
)]
impl ModelSpec<NodeLevel> for PythonSpec {
    fn validate(&self) -> Result<()> {
        self.check()
    }

    fn build(&self, ctx: &NodeModelContext) -> Result<Box<dyn Trainer<NodeLevel>>> {
        self.check_module()?;
        Ok(Box::new(PythonTrainer::start_node(self, ctx)?))
    }
}

/// How a trainer's learning rate is set.
#[derive(Debug, Clone)]
enum Rate {
    /// Graph-level runs: the schedule of `[training.optimizer]`, a function of the step.
    Schedule(OptimizerSpec),
    /// Node-level runs: set by the runner (the plateau schedule).
    Set(f64),
}

/// A trainer whose every call is answered by the module in the worker; `B` is the kind of batch
/// (graph batches, or node batches of a node-level task).
pub struct PythonTrainer<B: Wire = GraphBatch> {
    // behind a lock because `Trainer::save` takes `&self` and talking to the worker writes
    worker: Mutex<Worker>,
    segment: Segment,
    rate: Rate,
    parameter_count: usize,
    _batch: PhantomData<fn(&B)>,
}

impl PythonTrainer<GraphBatch> {
    /// Starts the worker and builds the module's model for a graph-level task.
    pub fn start(spec: &PythonSpec, ctx: &ModelContext) -> Result<Self> {
        Self::start_with(
            spec,
            json!({
                "n_species": ctx.n_species,
                "target_stats": ctx.target_stats,
                "seed": ctx.seed,
                "device": ctx.device,
                "optimizer": ctx.optimizer,
            }),
            Rate::Schedule(ctx.optimizer.clone()),
        )
    }
}

impl PythonTrainer<NodeBatch> {
    /// Starts the worker and builds the module's model for a node-level task.
    pub fn start_node(spec: &PythonSpec, ctx: &NodeModelContext) -> Result<Self> {
        Self::start_with(
            spec,
            json!({
                "n_features": ctx.n_features,
                "n_classes": ctx.n_classes,
                "seed": ctx.seed,
                "device": ctx.device,
                "optimizer": ctx.optimizer,
            }),
            Rate::Set(ctx.optimizer.learning_rate),
        )
    }
}

impl<B: Wire> PythonTrainer<B> {
    /// Starts the worker and sends `init` with the context `ctx` (task and options added).
    fn start_with(spec: &PythonSpec, mut ctx: Value, rate: Rate) -> Result<Self> {
        let timeout = spec.timeout.map(std::time::Duration::from_secs_f64);
        let mut worker = Worker::start(&spec.python, &spec.module, timeout)?;
        let options = serde_json::to_value(&spec.options)
            .map_err(|e| Error::invalid(format!("model.options: {e}")))?;
        if let Some(obj) = ctx.as_object_mut() {
            obj.insert("task".into(), json!(B::TASK));
            obj.insert("options".into(), options);
        }
        let reply = worker.call(
            "build",
            &request("init", json!({ "module": spec.module, "ctx": ctx })),
        )?;
        let parameter_count = match reply.get("parameter_count") {
            Some(n) => n
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "python model {}: parameter_count() returned {n}, not a whole number of \
                     parameters below 2^64",
                        spec.module
                    ))
                })?,
            None => {
                return Err(Error::invalid(
                    "python model: build gave no parameter count",
                ));
            }
        };
        Ok(PythonTrainer {
            worker: Mutex::new(worker),
            segment: Segment::new()?,
            rate,
            parameter_count,
            _batch: PhantomData,
        })
    }

    /// The worker's process id (tests kill it to check that a dead worker is an error).
    pub fn worker_pid(&self) -> u32 {
        self.worker().pid()
    }

    fn worker(&self) -> std::sync::MutexGuard<'_, Worker> {
        match self.worker.lock() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Sends request `op` with `fields`.
    fn call(&self, what: &str, op: &str, fields: Value) -> Result<Value> {
        self.worker().call(what, &request(op, fields))
    }

    /// Sends `op` with a batch written into the segment and `extra` fields; returns the reply
    /// and the time spent writing the batch.
    fn call_with_batch(
        &mut self,
        what: &str,
        op: &str,
        batch: &B,
        extra: Value,
    ) -> Result<(Value, u64)> {
        let t = Instant::now();
        let mut fields = self.segment.write(batch)?;
        let written = t.elapsed().as_nanos() as u64;
        if let (Some(obj), Value::Object(extra)) = (fields.as_object_mut(), extra) {
            obj.extend(extra);
        }
        Ok((self.call(what, op, fields)?, written))
    }

    fn state_path(dir: &Path) -> Value {
        json!({ "path": dir.join(STATE_FILE) })
    }
}

impl<B: Wire> Learner<B> for PythonTrainer<B> {
    fn train_step(&mut self, batch: &B, step: u64) -> Result<StepStats> {
        let what = format!("train_step at step {step}");
        let lr = match &self.rate {
            Rate::Schedule(o) => o.learning_rate_at(step),
            Rate::Set(lr) => *lr,
        };
        let (reply, transfer_ns) = self.call_with_batch(
            &what,
            "train_step",
            batch,
            json!({ "step": step, "learning_rate": lr }),
        )?;
        // a non-finite loss comes as its name ("nan", "inf"); the runner stops on it
        let Some(loss) = reply.get("loss").and_then(wire::number) else {
            return Err(Error::invalid(format!(
                "python model {}: {what} gave no loss",
                self.worker().module()
            )));
        };
        Ok(StepStats {
            loss: loss as f32,
            transfer_ns,
            // one call runs the module's whole step: forward, backward and update are not
            // told apart from outside (the step's update time holds them)
            forward_ns: None,
            backward_ns: None,
            optimizer_ns: None,
        })
    }

    fn parameter_count(&self) -> usize {
        self.parameter_count
    }

    fn save(&self, dir: &Path) -> Result<()> {
        self.call("save", "save", Self::state_path(dir)).map(|_| ())
    }

    fn load(&mut self, dir: &Path) -> Result<()> {
        self.call("load", "load", Self::state_path(dir)).map(|_| ())
    }

    fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        match &mut self.rate {
            Rate::Set(current) => {
                *current = lr;
                Ok(())
            }
            Rate::Schedule(_) => Err(Error::invalid(
                "this model's learning rate follows its own schedule",
            )),
        }
    }

    fn keep_best(&mut self) -> Result<()> {
        self.call("keep_best", "keep_best", json!({})).map(|_| ())
    }

    fn restore_best(&mut self) -> Result<bool> {
        let reply = self.call("restore_best", "restore_best", json!({}))?;
        Ok(reply.get("restored").and_then(Value::as_bool) == Some(true))
    }
}

impl<B: Wire> Trainer<B::Task> for PythonTrainer<B> {
    fn predict(&mut self, batch: &B, out: &mut <B::Task as TaskType>::Predictions) -> Result<()> {
        let (reply, _) = self.call_with_batch("predict", "predict", batch, json!({}))?;
        B::read_predictions(&reply, out)
    }
}

/// Forces this crate to be linked (called by `geobatch-catalog`).
pub fn link() {}
