//! The `python` model: a user's Python module (JAX, PyTorch, NumPy) trained through geobatch.
//!
//! The module runs in a worker process started with the interpreter the config names, so it uses
//! that environment's packages and geobatch needs no rebuild. Requests and replies travel as JSON
//! lines over pipes; every padded batch is written once into a shared-memory file that the worker
//! maps and hands to the module as read-only NumPy views (docs/python.md).

mod segment;
mod worker;

use geobatch_core::registry::OptionDoc;
use geobatch_core::{
    Error, GraphBatch, ModelContext, ModelSpec, OptimizerSpec, PluginDescriptor, PluginKind,
    Result, StepStats, Task, Trainer,
};
use segment::Segment;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;
use worker::{Worker, request};

/// File a checkpoint keeps the module's state in (a pickle of `model.state()`).
const STATE_FILE: &str = "python-state.pkl";

/// Config of a Python model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PythonSpec {
    /// The interpreter: a path (a virtual environment's `bin/python`) or a name on `PATH`.
    #[serde(default = "default_python")]
    pub python: String,
    /// The module: a `.py` file (relative to the working directory) or a dotted module name
    /// importable by that interpreter.
    pub module: String,
    /// Options handed to the module's `build(ctx)` as `ctx.options`.
    #[serde(default)]
    pub options: toml::Table,
    /// The longest one call to the module may take, in seconds (a compile included); past it
    /// the worker is stopped and the run ends with an error naming the call. No limit when absent.
    #[serde(default)]
    pub timeout: Option<f64>,
}

fn default_python() -> String {
    "python3".into()
}

#[typetag::serde(name = "python")]
impl ModelSpec for PythonSpec {
    fn validate(&self) -> Result<()> {
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
                "model.timeout = {t}: give a positive number of seconds (or leave it out for no \
                 limit)"
            )));
        }
        Ok(())
    }

    fn build(&self, ctx: &ModelContext) -> Result<Box<dyn Trainer>> {
        self.validate()?;
        if worker::is_file(&self.module) && !Path::new(&self.module).is_file() {
            return Err(Error::invalid(format!(
                "model.module = \"{}\": no such file (paths are relative to the working \
                 directory)",
                self.module
            )));
        }
        Ok(Box::new(PythonTrainer::start(self, ctx)?))
    }
}

/// A trainer whose every call is answered by the module in the worker.
pub struct PythonTrainer {
    // behind a lock because `Trainer::save` takes `&self` and talking to the worker writes
    worker: Mutex<Worker>,
    segment: Segment,
    optimizer: OptimizerSpec,
    parameter_count: usize,
}

impl PythonTrainer {
    /// Starts the worker and builds the module's model.
    pub fn start(spec: &PythonSpec, ctx: &ModelContext) -> Result<PythonTrainer> {
        let timeout = spec.timeout.map(std::time::Duration::from_secs_f64);
        let mut worker = Worker::start(&spec.python, &spec.module, timeout)?;
        let options = serde_json::to_value(&spec.options)
            .map_err(|e| Error::invalid(format!("model.options: {e}")))?;
        let reply = worker.call(
            "build",
            &request(
                "init",
                json!({
                    "module": spec.module,
                    "ctx": {
                        "n_species": ctx.n_species,
                        "target_stats": ctx.target_stats,
                        "seed": ctx.seed,
                        "device": ctx.device,
                        "optimizer": ctx.optimizer,
                        "options": options,
                    },
                }),
            ),
        )?;
        let parameter_count = reply
            .get("parameter_count")
            .and_then(Value::as_u64)
            .ok_or_else(|| Error::invalid("python model: build gave no parameter count"))?
            as usize;
        Ok(PythonTrainer {
            worker: Mutex::new(worker),
            segment: Segment::new()?,
            optimizer: ctx.optimizer.clone(),
            parameter_count,
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
        batch: &GraphBatch,
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

impl Trainer for PythonTrainer {
    fn train_step(&mut self, batch: &GraphBatch, step: u64) -> Result<StepStats> {
        let what = format!("train_step at step {step}");
        let lr = self.optimizer.learning_rate_at(step);
        let t = Instant::now();
        let (reply, transfer_ns) = self.call_with_batch(
            &what,
            "train_step",
            batch,
            json!({ "step": step, "learning_rate": lr }),
        )?;
        let total = t.elapsed().as_nanos() as u64;
        let loss = match reply.get("loss") {
            Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN) as f32,
            // a non-finite loss comes as its name ("nan", "inf"); the runner stops on it
            Some(Value::String(s)) => s.parse::<f32>().unwrap_or(f32::NAN),
            _ => {
                return Err(Error::invalid(format!(
                    "python model {}: {what} gave no loss",
                    self.worker().module()
                )));
            }
        };
        Ok(StepStats {
            loss,
            transfer_ns,
            // one call runs the module's whole step: forward, backward and update are not
            // told apart from outside
            forward_ns: total.saturating_sub(transfer_ns),
            backward_ns: 0,
            optimizer_ns: 0,
        })
    }

    fn predict(&mut self, batch: &GraphBatch, out: &mut Vec<f32>) -> Result<()> {
        let (reply, _) = self.call_with_batch("predict", "predict", batch, json!({}))?;
        let values = reply
            .get("predictions")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::invalid("python model: predict gave no predictions"))?;
        out.clear();
        out.extend(
            values
                .iter()
                .map(|v| v.as_f64().map_or(f32::NAN, |x| x as f32)),
        );
        Ok(())
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

    fn keep_best(&mut self) -> Result<()> {
        self.call("keep_best", "keep_best", json!({})).map(|_| ())
    }

    fn restore_best(&mut self) -> Result<bool> {
        let reply = self.call("restore_best", "restore_best", json!({}))?;
        Ok(reply.get("restored").and_then(Value::as_bool) == Some(true))
    }
}

inventory::submit! {
    PluginDescriptor {
        kind: PluginKind::Model,
        task: Task::Graph,
        name: "python",
        summary: "a Python module (JAX, PyTorch, NumPy) as the model, run by the named interpreter in a worker fed through shared memory (docs/python.md)",
        options: &[
            OptionDoc {
                name: "python",
                ty: "string",
                default: "python3",
                doc: "the interpreter (a virtual environment's bin/python, or a name on PATH)",
            },
            OptionDoc {
                name: "module",
                ty: "string",
                default: "(required)",
                doc: "a .py file (relative to the working directory) or a module name",
            },
            OptionDoc {
                name: "options",
                ty: "table",
                default: "{}",
                doc: "handed to the module's build(ctx) as ctx.options",
            },
            OptionDoc {
                name: "timeout",
                ty: "float",
                default: "(no limit)",
                doc: "seconds one call to the module may take (compiles included) before the worker is stopped and the run ends with an error",
            },
        ],
        example: "kind = \"python\"\npython = \"python3\"\nmodule = \"python/schnet_jax.py\"\noptions = { latent = 64 }\n",
    }
}

/// Forces this crate to be linked (called by `geobatch-catalog`).
pub fn link() {}
