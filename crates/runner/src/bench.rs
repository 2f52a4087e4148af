//! `geobatch bench step`: the training step of a model timed at several batch sizes on real
//! batches (the training loop's own source and step), steady steps only, with the share of each
//! phase.

use crate::config::LoadedConfig;
use crate::config::Mode;
use crate::error::RunError;
use crate::train::graph_source::{GraphSource, batcher_for};
use crate::train::{Flow, Progress, feed, timed_update};
use geobatch_core::stats::{median, quantile};
use geobatch_core::{BatcherSpec, SplitName, StepRecord};
use std::fmt::Write as _;

/// Timing of one batch size.
#[derive(Debug, Clone, PartialEq)]
pub struct StepBench {
    /// Kernel threads.
    pub threads: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Timed steps: the steady ones (after warm-up, not the first on their shape); `steps`, or
    /// fewer when [`STEADY_TRIES`] times as many steps met too many new shapes.
    pub steps: usize,
    /// Steps that ran: the warm-up, the timed steps and the first steps on a new shape between.
    pub ran: usize,
    /// Median time of a whole step (batching + update), ms.
    pub median_ms: f64,
    /// 90th percentile of a whole step, ms.
    pub p90_ms: f64,
    /// Real graphs per second at the median step time.
    pub graphs_per_s: f64,
    /// Median of each phase, ms: batching, transfer, forward, backward, optimiser.
    pub phases_ms: [f64; 5],
    /// Median padded edge count of a batch: the work per step, to compare with other engines.
    pub padded_edges: usize,
}

/// At most this many times `--steps` steps run after the warm-up to time `--steps` steady ones
/// (a batcher that meets a new shape at most steps gives fewer).
pub const STEADY_TRIES: usize = 4;

/// Names of the phases in [`StepBench::phases_ms`].
pub const PHASES: [&str; 5] = ["batching", "transfer", "forward", "backward", "optimizer"];

/// The graph-level model `name` with its default options (`bench step --model`), refused with
/// the registered names when there is none of that name.
pub fn model_named(name: &str) -> Result<Box<dyn geobatch_core::ModelSpec>, RunError> {
    use geobatch_core::{PluginKind, Task, registry};
    let mut known: Vec<&str> = registry::descriptors()
        .into_iter()
        .filter(|d| d.kind == PluginKind::Model && d.task == Task::Graph)
        .map(|d| d.name)
        .collect();
    known.dedup();
    if !known.contains(&name) {
        return Err(RunError::Usage(format!(
            "--model {name:?}: no graph-level model of that name; registered: {}",
            known.join(", ")
        )));
    }
    let mut table = toml::Table::new();
    table.insert("kind".into(), toml::Value::String(name.into()));
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| RunError::Usage(format!("--model {name:?}: {e}")))
}

/// The config's model, for `what` a job does with it (`to benchmark`, `to dump`); refused as
/// the config's error when it has none.
pub fn model_to<'a>(
    loaded: &'a LoadedConfig,
    what: &str,
) -> Result<&'a (dyn geobatch_core::ModelSpec + 'static), RunError> {
    loaded
        .config
        .model
        .as_deref()
        .ok_or_else(|| loaded.input_error(&format!("no [model] table {what}")))
}

/// The training split's batch source with the config's batcher at batch size `bs`.
pub fn source_at<'d>(
    loaded: &LoadedConfig,
    train: &'d geobatch_core::GraphSet,
    bs: usize,
) -> Result<GraphSource<'d>, RunError> {
    let spec = with_batch_size(loaded.config.batcher.as_ref(), bs).map_err(RunError::Data)?;
    let batcher = batcher_for(loaded, spec.as_ref(), train, SplitName::Train)?;
    GraphSource::new(train, batcher, SplitName::Train, loaded)
}

/// The config's batcher with another batch size: a copy of its spec, edited; a size the
/// batcher cannot take is refused here, as in a config.
pub fn with_batch_size(
    spec: &(dyn BatcherSpec + 'static),
    batch_size: usize,
) -> geobatch_core::Result<Box<dyn BatcherSpec>> {
    let mut spec = dyn_clone::clone_box(spec);
    spec.set_batch_size(batch_size)?;
    Ok(spec)
}

/// Times `steps` training steps (after `warmup` untimed ones) at every batch size, on each
/// count of kernel threads in `threads` (none: the config's `training.threads`, else every core).
pub fn bench_step(
    loaded: &LoadedConfig,
    batch_sizes: &[usize],
    steps: usize,
    warmup: usize,
    threads: &[usize],
) -> Result<Vec<StepBench>, RunError> {
    let cfg = &loaded.config;
    let input = |m: String| RunError::Config {
        file: loaded.path.clone(),
        message: m,
    };
    model_to(loaded, "to benchmark")?;
    let dataset = crate::train::graph_source::load_dataset(loaded)?;
    let counts = if threads.is_empty() {
        vec![crate::threads::resolve(cfg.training.threads)]
    } else {
        threads.to_vec()
    };
    if let Some(bad) = counts
        .iter()
        .find(|&&t| t == 0 || t > crate::config::MAX_THREADS)
    {
        return Err(input(format!(
            "--threads {bad}: from 1 to {}",
            crate::config::MAX_THREADS
        )));
    }
    let mut out = Vec::new();
    for &t in &counts {
        out.extend(crate::threads::run_on(t, || {
            let mut rows = Vec::new();
            for &bs in batch_sizes {
                rows.push(bench_one(loaded, dataset.as_ref(), bs, steps, warmup, t)?);
            }
            Ok::<_, RunError>(rows)
        })??);
    }
    Ok(out)
}

/// Times one batch size on the current pool of `threads` kernel threads: the training loop's own
/// batch source ([`GraphSource`], fed in the config's `training.mode`, serial by default) and
/// step ([`timed_update`]); the medians are of the steady steps (`StepRecord::is_steady`), as in
/// every summary.
fn bench_one(
    loaded: &LoadedConfig,
    dataset: &dyn geobatch_core::Dataset,
    bs: usize,
    steps: usize,
    warmup: usize,
    threads: usize,
) -> Result<StepBench, RunError> {
    let cfg = &loaded.config;
    let model = model_to(loaded, "to benchmark")?;
    let mut source = source_at(loaded, dataset.split(SplitName::Train), bs)?;
    // a dataset with forces benchmarks a potential's step (energy, forces, stress)
    let mut trainer = crate::train::graph_model::graph_model(loaded, dataset, model)?;
    // steps on a shape met for the first time are not steady: the run goes on until `steps`
    // steady ones are timed, or at most STEADY_TRIES times as many steps have run
    let most = (warmup + steps.saturating_mul(STEADY_TRIES)) as u64;
    let mut progress = Progress::new(most);
    let mut records = Vec::with_capacity(steps);
    let mut ran = 0;
    let mode = cfg.training.mode;
    let stager = match mode {
        Mode::Prefetch => trainer.learner().stager(),
        Mode::Serial => None,
    };
    feed(
        mode,
        &mut source,
        0..most,
        &|_| false,
        stager,
        &mut |step, built| {
            let warm = step < warmup as u64;
            let (r, _) = timed_update(trainer.learner(), built, step, warm, &mut progress)?;
            records.extend(r.is_steady().then_some(r));
            ran += 1;
            Ok(if records.len() >= steps {
                Flow::Stop
            } else {
                Flow::Continue
            })
        },
    )?;
    Ok(StepBench {
        ran,
        ..summarise(&records, bs, threads)
    })
}

/// The row of one batch size from its steady steps (`ran` left 0).
fn summarise(records: &[StepRecord], bs: usize, threads: usize) -> StepBench {
    let sorted = |f: &dyn Fn(&StepRecord) -> u64| {
        let mut v: Vec<u64> = records.iter().map(f).collect();
        v.sort_unstable();
        v
    };
    let total = sorted(&|r| r.combined_ns);
    let phases = [
        sorted(&|r| r.batching_ns),
        sorted(&|r| r.phases.transfer_ns.unwrap_or(0)),
        sorted(&|r| r.phases.forward_ns.unwrap_or(0)),
        sorted(&|r| r.phases.backward_ns.unwrap_or(0)),
        sorted(&|r| r.phases.optimizer_ns.unwrap_or(0)),
    ];
    let edges = sorted(&|r| r.padded.edges as u64);
    let graphs: usize = records.iter().map(|r| r.real.graphs).sum();
    let med = median(&total).unwrap_or(0.0);
    let steps = records.len();
    StepBench {
        threads,
        batch_size: bs,
        steps,
        ran: 0,
        median_ms: med / 1e6,
        p90_ms: quantile(&total, 0.9).unwrap_or(0) as f64 / 1e6,
        graphs_per_s: if med > 0.0 {
            graphs as f64 / steps.max(1) as f64 / (med * 1e-9)
        } else {
            0.0
        },
        phases_ms: phases.map(|v| median(&v).unwrap_or(0.0) / 1e6),
        padded_edges: edges.get(edges.len() / 2).copied().unwrap_or(0) as usize,
    }
}

/// A table of benchmark rows.
pub fn render(model: &str, rows: &[StepBench]) -> String {
    let mut s = format!(
        "training step of {model} (median over steady steps: warm-up and first steps on a shape excluded)\n"
    );
    let _ = writeln!(
        s,
        "{:>7} {:>5} {:>6} {:>10} {:>9} {:>10} {:>8}  share: {}",
        "threads",
        "bs",
        "steps",
        "median ms",
        "p90 ms",
        "graphs/s",
        "edges",
        PHASES.join(" / ")
    );
    for r in rows {
        let sum: f64 = r.phases_ms.iter().sum::<f64>().max(1e-12);
        let shares: Vec<String> = r
            .phases_ms
            .iter()
            .map(|p| format!("{:.0}%", 100.0 * p / sum))
            .collect();
        let _ = writeln!(
            s,
            "{:>7} {:>5} {:>6} {:>10.2} {:>9.2} {:>10.0} {:>8}  {}",
            r.threads,
            r.batch_size,
            r.steps,
            r.median_ms,
            r.p90_ms,
            r.graphs_per_s,
            r.padded_edges,
            shares.join(" / ")
        );
    }
    s
}

/// The header of [`csv_rows`].
pub const CSV_HEADER: &str = "engine,model,device,variant,threads,bs,steps,median_ms,p90_ms,graphs_per_s,edges,batching_ms,transfer_ms,forward_ms,backward_ms,optimizer_ms";

/// Benchmark rows as CSV lines (no header; [`CSV_HEADER`] names the columns): `engine` is
/// `geobatch`, `variant` the config's `training.engine` label (`default`, `fusion+...`).
pub fn csv_rows(model: &str, device: &str, variant: &str, rows: &[StepBench]) -> String {
    let mut s = String::new();
    for r in rows {
        let [b, t, f, bw, o] = r.phases_ms;
        let _ = writeln!(
            s,
            "geobatch,{model},{device},{variant},{},{},{},{:.4},{:.4},{:.1},{},{b:.4},{t:.4},{f:.4},{bw:.4},{o:.4}",
            r.threads, r.batch_size, r.steps, r.median_ms, r.p90_ms, r.graphs_per_s, r.padded_edges,
        );
    }
    s
}
