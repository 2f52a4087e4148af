//! Reading runs back from a results folder: `run.parquet`, `steps-*.parquet`, `evals.parquet`
//! (docs/results-schema.md).

use crate::ReadError;
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use geobatch_core::Phases;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::{Path, PathBuf};

/// What identifies a run and groups it with others.
#[derive(Debug, Clone, PartialEq)]
pub struct RunIdentity {
    /// Run folder.
    pub dir: PathBuf,
    /// `run_id`.
    pub run_id: String,
    /// `batches` or `train`.
    pub job: String,
    /// Dataset plugin.
    pub dataset: String,
    /// Model plugin (`-` for the batching study).
    pub model: String,
    /// Batcher label.
    pub batcher: String,
    /// Batch size.
    pub batch_size: u32,
    /// Seed.
    pub seed: u64,
    /// `serial` or `prefetch`.
    pub mode: String,
    /// `complete`, `running`, `failed`, `interrupted`.
    pub status: String,
    /// The resolved `config.toml` less what a report compares or repeats over (the seed, the
    /// batcher table, the sinks): every run of a cell must share it. `None` without the file.
    pub config: Option<toml::Table>,
    /// The steps `run.parquet` says were recorded (0 in files without the column).
    pub recorded_steps: u64,
    /// `geobatch.schema_version` of `run.parquet` (0 when absent).
    pub schema_version: u32,
}

/// The run's `config.toml` without the seed, the batcher and the sinks (see
/// [`RunIdentity::config`]).
fn comparable_config(dir: &Path) -> Option<toml::Table> {
    let text = geobatch_datafiles::files::read_text(&dir.join("config.toml")).ok()?;
    let mut t: toml::Table = text.parse().ok()?;
    if let Some(toml::Value::Table(e)) = t.get_mut("experiment") {
        e.remove("seed");
    }
    t.remove("batcher");
    t.remove("sinks");
    Some(t)
}

/// The dotted keys whose values differ between two configs (at most `limit`).
pub fn differing_keys(a: &toml::Table, b: &toml::Table, limit: usize) -> Vec<String> {
    fn walk(a: &toml::Table, b: &toml::Table, prefix: &str, out: &mut Vec<String>) {
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for k in keys {
            let name = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match (a.get(k), b.get(k)) {
                (Some(toml::Value::Table(x)), Some(toml::Value::Table(y))) => {
                    walk(x, y, &name, out)
                }
                (x, y) if x != y => out.push(name),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(a, b, "", &mut out);
    out.truncate(limit);
    out
}

/// The step columns the report uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Steps {
    /// Step numbers.
    pub step: Vec<u64>,
    /// Host batching time (ns).
    pub batching_ns: Vec<u64>,
    /// Batching + update (ns).
    pub combined_ns: Vec<u64>,
    /// Real nodes per batch.
    pub real_nodes: Vec<u32>,
    /// Padded nodes per batch.
    pub padded_nodes: Vec<u32>,
    /// Real edges per batch.
    pub real_edges: Vec<u32>,
    /// Padded edges per batch.
    pub padded_edges: Vec<u32>,
    /// Real graphs per batch.
    pub real_graphs: Vec<u32>,
    /// Padded graphs per batch (zeros in files written before the column existed).
    pub padded_graphs: Vec<u32>,
    /// First appearance of the padded shape.
    pub new_shape: Vec<bool>,
    /// First step on the padded shape since the process started (a compile on a
    /// shape-specialising engine; `new_shape` in files written before the column existed).
    pub cold_shape: Vec<bool>,
    /// Warm-up step.
    pub warmup: Vec<bool>,
    /// The update's phases per step (ns; `None` where not recorded: the batching study, a
    /// trainer that cannot tell them apart, files written before the columns existed).
    pub phases: Vec<Phases>,
}

impl Steps {
    /// Whether step `i` is a steady one (the one definition, `geobatch_core::records::is_steady`:
    /// neither a warm-up step nor the first on its padded shape since the process started).
    pub fn is_steady(&self, i: usize) -> bool {
        geobatch_core::records::is_steady(self.warmup[i], self.cold_shape[i])
    }

    /// The combined time of every step (ms), in order.
    pub fn combined_ms(&self) -> Vec<f64> {
        self.combined_ns.iter().map(|&t| t as f64 / 1e6).collect()
    }

    /// The steps as the advice's cost model reads them: time, padded shape (graphs 0 in files
    /// written before the column existed), cold and warm-up flags.
    pub fn probe(&self) -> geobatch_advice::Probe {
        let mut p = geobatch_advice::Probe::default();
        for (i, ms) in self.combined_ms().into_iter().enumerate() {
            let shape = [
                self.padded_nodes[i],
                self.padded_edges[i],
                self.padded_graphs.get(i).copied().unwrap_or(0),
            ];
            p.push(ms, shape, self.cold_shape[i], self.warmup[i]);
        }
        p
    }
}

/// One evaluation row.
#[derive(Debug, Clone, PartialEq)]
pub struct Eval {
    /// Step after which it ran.
    pub step: u64,
    /// Split name.
    pub split: String,
    /// Target name (empty in files without the column).
    pub target: String,
    /// RMSE in target units.
    pub rmse: f64,
    /// MAE in target units.
    pub mae: f64,
    /// Accuracy (node classification; absent in version-1 files).
    pub accuracy: Option<f64>,
    /// `full` or the inference batcher's label (node classification).
    pub inference: Option<String>,
}

/// A run read back.
#[derive(Debug, Clone)]
pub struct Run {
    /// Identity.
    pub id: RunIdentity,
    /// Every step, in order.
    pub steps: Steps,
    /// Every evaluation.
    pub evals: Vec<Eval>,
    /// The step part files found, in name order, with their rows and step ranges (first and
    /// last row's step).
    pub parts: Vec<crate::PartEntry>,
    /// Whether `evals.parquet` exists.
    pub evals_file: bool,
}

fn batches(path: &Path) -> Result<Vec<RecordBatch>, ReadError> {
    Ok(batches_and_version(path)?.0)
}

/// The record batches of a Parquet file and its `geobatch.schema_version` (0 when absent).
fn batches_and_version(path: &Path) -> Result<(Vec<RecordBatch>, u32), ReadError> {
    let bad = |m: String| ReadError {
        path: path.to_path_buf(),
        message: m,
    };
    let file = geobatch_datafiles::files::open(path).map_err(|e| bad(e.to_string()))?;
    // flipped bytes can make the Parquet decoder panic: a damaged file, not a crash of the report
    std::panic::catch_unwind(|| {
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| bad(e.to_string()))?;
        let version = builder
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .and_then(|kv| {
                kv.iter()
                    .find(|k| k.key == "geobatch.schema_version")
                    .and_then(|k| k.value.as_deref())
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0);
        if version > crate::tables::schema_version() {
            return Err(bad(format!(
                "written by a newer geobatch (results schema version {version}; this geobatch \
                 reads versions up to {}): read it with that version, or update geobatch",
                crate::tables::schema_version()
            )));
        }
        let batches = builder
            .build()
            .map_err(|e| bad(e.to_string()))?
            .map(|b| b.map_err(|e| bad(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((batches, version))
    })
    .unwrap_or_else(|panic| {
        Err(bad(format!(
            "corrupt data, the Parquet decoder gave up ({})",
            geobatch_datafiles::parquet_store::panic_reason(panic.as_ref())
        )))
    })
}

fn col<'a>(b: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a dyn Array, ReadError> {
    b.column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| ReadError {
            path: path.to_path_buf(),
            message: format!("no column {name:?}"),
        })
}

/// The values of a text column as Arrow writers store text: `string` (geobatch's),
/// `large_string` (polars'), `string_view` and dictionary-encoded text (categoricals);
/// `None` for a column that is not text.
fn texts(c: &dyn Array) -> Option<Vec<Option<String>>> {
    let own = |v: Option<&str>| v.map(str::to_string);
    if let Some(s) = c.as_string_opt::<i32>() {
        return Some(s.iter().map(own).collect());
    }
    if let Some(s) = c.as_string_opt::<i64>() {
        return Some(s.iter().map(own).collect());
    }
    if let Some(s) = c.as_string_view_opt() {
        return Some(s.iter().map(own).collect());
    }
    let d = c.as_any_dictionary_opt()?;
    let values = texts(d.values().as_ref())?;
    let keys = d.normalized_keys();
    Some(
        (0..c.len())
            .map(|i| {
                if c.is_null(i) {
                    None
                } else {
                    values.get(keys[i]).cloned().flatten()
                }
            })
            .collect(),
    )
}

fn strings(b: &RecordBatch, name: &str, path: &Path) -> Result<Vec<String>, ReadError> {
    let c = col(b, name, path)?;
    let s = texts(c).ok_or_else(|| ReadError {
        path: path.to_path_buf(),
        message: format!(
            "column {name:?} is not text (it has type {})",
            c.data_type()
        ),
    })?;
    Ok(s.into_iter()
        .map(|v| v.unwrap_or_else(|| "-".into()))
        .collect())
}

/// The values of an integer column of any width and sign (a tool that rewrote the file may
/// have widened, narrowed or signed its types); `None` for a column that is not integers.
fn integers(c: &dyn Array) -> Option<Vec<i128>> {
    macro_rules! ints {
        ($($t:ty),*) => {$(
            if let Some(p) = c.as_primitive_opt::<$t>() {
                return Some(p.iter().map(|v| v.map_or(0, i128::from)).collect());
            }
        )*};
    }
    ints!(
        UInt64Type, UInt32Type, UInt16Type, UInt8Type, Int64Type, Int32Type, Int16Type, Int8Type
    );
    None
}

/// An unsigned column as `T`, refusing a value out of `T`'s range by name.
fn unsigned<T: TryFrom<i128>>(
    b: &RecordBatch,
    name: &str,
    path: &Path,
) -> Result<Vec<T>, ReadError> {
    let c = col(b, name, path)?;
    let bad = |why: String| ReadError {
        path: path.to_path_buf(),
        message: format!("column {name:?} {why}"),
    };
    integers(c)
        .ok_or_else(|| bad(format!("has type {}", c.data_type())))?
        .into_iter()
        .map(|v| T::try_from(v).map_err(|_| bad(format!("holds {v}, out of range"))))
        .collect()
}

fn u64s(b: &RecordBatch, name: &str, path: &Path) -> Result<Vec<u64>, ReadError> {
    unsigned(b, name, path)
}

fn u32s(b: &RecordBatch, name: &str, path: &Path) -> Result<Vec<u32>, ReadError> {
    unsigned(b, name, path)
}

/// A float column, float64 or float32 (an integer column a tool wrote for whole numbers is
/// read too).
fn f64s(b: &RecordBatch, name: &str, path: &Path) -> Result<Vec<f64>, ReadError> {
    let c = col(b, name, path)?;
    if let Some(p) = c.as_primitive_opt::<Float64Type>() {
        return Ok(p.iter().map(|v| v.unwrap_or_default()).collect());
    }
    if let Some(p) = c.as_primitive_opt::<Float32Type>() {
        return Ok(p.iter().map(|v| f64::from(v.unwrap_or_default())).collect());
    }
    integers(c)
        .map(|v| v.into_iter().map(|x| x as f64).collect())
        .ok_or_else(|| ReadError {
            path: path.to_path_buf(),
            message: format!("column {name:?} has type {}", c.data_type()),
        })
}

fn bools(b: &RecordBatch, name: &str, path: &Path) -> Result<Vec<bool>, ReadError> {
    let c = col(b, name, path)?;
    let p = c.as_boolean_opt().ok_or_else(|| ReadError {
        path: path.to_path_buf(),
        message: format!("column {name:?} is not boolean"),
    })?;
    Ok(p.iter().map(|v| v.unwrap_or(false)).collect())
}

/// Reads one run folder: its identity (`run.parquet`), its steps (the `steps-*.parquet` parts in
/// name order) and its evaluations (`evals.parquet`, when there).
pub fn read_run(dir: &Path) -> Result<Run, ReadError> {
    let id = read_identity(dir)?;
    let mut steps = Steps::default();
    let mut parts = Vec::new();
    for p in step_parts(dir)? {
        let before = steps.step.len();
        for b in batches(&p)? {
            append_steps(&mut steps, &b, &p)?;
        }
        let rows = &steps.step[before..];
        parts.push(crate::PartEntry {
            file: p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            rows: rows.len() as u64,
            first_step: rows.first().copied().unwrap_or(0),
            last_step: rows.last().copied().unwrap_or(0),
        });
    }
    let eval_path = dir.join("evals.parquet");
    let evals_file = eval_path.is_file();
    let evals = if evals_file {
        read_evals(&eval_path)?
    } else {
        Vec::new()
    };
    Ok(Run {
        id,
        steps,
        evals,
        parts,
        evals_file,
    })
}

/// The identity columns of a run folder's `run.parquet` (its first row).
fn read_identity(dir: &Path) -> Result<RunIdentity, ReadError> {
    let run_path = dir.join("run.parquet");
    let (b, schema_version) = batches_and_version(&run_path)?;
    let first = b.first().ok_or_else(|| ReadError {
        path: run_path.clone(),
        message: "no rows".into(),
    })?;
    let one = |name: &str| -> Result<String, ReadError> {
        Ok(strings(first, name, &run_path)?
            .into_iter()
            .next()
            .unwrap_or_default())
    };
    Ok(RunIdentity {
        dir: dir.to_path_buf(),
        run_id: one("run_id")?,
        job: one("job")?,
        dataset: one("dataset")?,
        model: one("model")?,
        batcher: one("batcher_label")?,
        batch_size: u32s(first, "batch_size", &run_path)?
            .first()
            .copied()
            .unwrap_or(0),
        seed: u64s(first, "seed", &run_path)?
            .first()
            .copied()
            .unwrap_or(0),
        mode: one("mode")?,
        status: one("status")?,
        config: comparable_config(dir),
        recorded_steps: match first.column_by_name("steps") {
            Some(_) => u64s(first, "steps", &run_path)?
                .first()
                .copied()
                .unwrap_or(0),
            None => 0,
        },
        schema_version,
    })
}

/// The `steps-*.parquet` files of a run folder, in name order.
fn step_parts(dir: &Path) -> Result<Vec<PathBuf>, ReadError> {
    let mut parts: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| ReadError {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("steps-") && n.ends_with(".parquet"))
        })
        .collect();
    parts.sort();
    Ok(parts)
}

/// Appends the rows of one record batch of the step part `p` to `steps`; the columns added in
/// later schema versions default as older files mean them.
fn append_steps(steps: &mut Steps, b: &RecordBatch, p: &Path) -> Result<(), ReadError> {
    steps.step.extend(u64s(b, "step", p)?);
    steps.batching_ns.extend(u64s(b, "batching_ns", p)?);
    steps.combined_ns.extend(u64s(b, "combined_ns", p)?);
    steps.real_nodes.extend(u32s(b, "real_nodes", p)?);
    steps.padded_nodes.extend(u32s(b, "padded_nodes", p)?);
    steps.real_edges.extend(u32s(b, "real_edges", p)?);
    steps.padded_edges.extend(u32s(b, "padded_edges", p)?);
    steps.real_graphs.extend(u32s(b, "real_graphs", p)?);
    steps
        .padded_graphs
        .extend(match b.column_by_name("padded_graphs") {
            Some(_) => u32s(b, "padded_graphs", p)?,
            None => vec![0; b.num_rows()],
        });
    let new_shape = bools(b, "new_shape", p)?;
    steps
        .cold_shape
        .extend(match b.column_by_name("cold_shape") {
            Some(_) => bools(b, "cold_shape", p)?,
            None => new_shape.clone(),
        });
    steps.new_shape.extend(new_shape);
    steps.warmup.extend(bools(b, "warmup", p)?);
    let [transfer, forward, backward, optimizer] =
        ["transfer_ns", "forward_ns", "backward_ns", "optimizer_ns"]
            .map(|name| optional_u64s(b, name, p));
    let (transfer, forward, backward, optimizer) = (transfer?, forward?, backward?, optimizer?);
    steps.phases.extend((0..b.num_rows()).map(|i| Phases {
        transfer_ns: transfer[i],
        forward_ns: forward[i],
        backward_ns: backward[i],
        optimizer_ns: optimizer[i],
    }));
    Ok(())
}

/// A nullable u64 column (all `None` when the file has no such column).
fn optional_u64s(b: &RecordBatch, name: &str, path: &Path) -> Result<Vec<Option<u64>>, ReadError> {
    let Some(c) = b.column_by_name(name) else {
        return Ok(vec![None; b.num_rows()]);
    };
    if let Some(p) = c.as_primitive_opt::<UInt64Type>() {
        return Ok(p.iter().collect());
    }
    // another integer type (a tool's rewrite): its values, its nulls kept
    let values = u64s(b, name, path)?;
    Ok((0..c.len())
        .map(|i| (!c.is_null(i)).then(|| values[i]))
        .collect())
}

/// Every row of an `evals.parquet`.
fn read_evals(eval_path: &Path) -> Result<Vec<Eval>, ReadError> {
    let mut evals = Vec::new();
    for b in batches(eval_path)? {
        let (step, split) = (
            u64s(&b, "step", eval_path)?,
            strings(&b, "split", eval_path)?,
        );
        let (rmse, mae) = (f64s(&b, "rmse", eval_path)?, f64s(&b, "mae", eval_path)?);
        let accuracy = b.column_by_name("accuracy").and_then(|c| {
            if let Some(p) = c.as_primitive_opt::<Float64Type>() {
                return Some(p.iter().collect::<Vec<_>>());
            }
            c.as_primitive_opt::<Float32Type>()
                .map(|p| p.iter().map(|v| v.map(f64::from)).collect::<Vec<_>>())
        });
        let inference = b
            .column_by_name("inference")
            .and_then(|c| texts(c.as_ref()));
        let target = b
            .column_by_name("target")
            .and_then(|c| texts(c.as_ref()))
            .map(|t| {
                t.into_iter()
                    .map(Option::unwrap_or_default)
                    .collect::<Vec<_>>()
            });
        for i in 0..step.len() {
            evals.push(Eval {
                step: step[i],
                split: split[i].clone(),
                target: target.as_ref().map(|t| t[i].clone()).unwrap_or_default(),
                rmse: rmse[i],
                mae: mae[i],
                accuracy: accuracy.as_ref().and_then(|a| a[i]),
                inference: inference.as_ref().and_then(|a| a[i].clone()),
            });
        }
    }
    Ok(evals)
}

/// Every run folder below `root` (folders holding a `run.parquet`), sorted. Links to folders
/// are followed (results gathered from several disks), each folder once: a link back to a
/// folder above it (a cycle) or to one already seen adds nothing (a link to its parent was
/// walked 40 levels deep, its runs counted at every level).
pub fn find_runs(root: &Path) -> Result<Vec<PathBuf>, ReadError> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        // the folder itself, whatever links led here
        let Ok(real) = std::fs::canonicalize(&d) else {
            continue;
        };
        if !seen.insert(real) {
            continue;
        }
        if d.join("run.parquet").is_file() {
            out.push(d);
            continue;
        }
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests;
