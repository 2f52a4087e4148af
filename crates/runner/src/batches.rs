//! The batching study (`geobatch batches`): plan and collate N training batches for a dataset and
//! batcher, without a model, timing both phases and recording every batch through the sinks.

use crate::config::LoadedConfig;
use crate::error::RunError;
use crate::identity::{RunStart, new_run};
use crate::study::study;
use crate::train::Schedule;
use crate::train::graph_source::{GraphSource, batcher_for, load_dataset};
use geobatch_core::stats::{median, quantile};
use geobatch_core::{GraphBatch, RunStatus, Shape, StepRecord};
use geobatch_datafiles::output::{Output, Piecewise};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

/// What the batching study found.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchSummary {
    /// Dataset plugin name.
    pub dataset: String,
    /// Where the dataset came from.
    pub source: String,
    /// Batcher label.
    pub batcher: String,
    /// Batch size.
    pub batch_size: usize,
    /// Split batched.
    pub split: String,
    /// Graphs in that split.
    pub split_graphs: usize,
    /// Batches made.
    pub steps: u64,
    /// Complete, or interrupted by a stop signal before its last batch.
    pub status: RunStatus,
    /// Real nodes / padded nodes over all batches.
    pub node_fill: f64,
    /// Real edges / padded edges over all batches.
    pub edge_fill: f64,
    /// Real graphs / padded graphs over all batches.
    pub graph_fill: f64,
    /// Distinct padded shapes (what a shape-specialising compiler compiles).
    pub distinct_shapes: usize,
    /// Real graphs per batch: mean, min, max.
    pub graphs_per_batch: (f64, usize, usize),
    /// Median plan + collate time per batch after warm-up (ns).
    pub median_ns: f64,
    /// 99th percentile of plan + collate time after warm-up (ns).
    pub p99_ns: u64,
    /// Median planning time after warm-up (ns).
    pub median_plan_ns: f64,
    /// Median collation time after warm-up (ns).
    pub median_collate_ns: f64,
    /// Fixed shape of a budgeted batcher.
    pub budget: Option<Shape>,
    /// Folder of the run's results.
    pub run_dir: PathBuf,
}

impl BatchSummary {
    /// A human-readable report.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "batching study: {} on {} ({} split, {} graphs), batch_size {}",
            self.batcher, self.dataset, self.split, self.split_graphs, self.batch_size
        );
        let _ = writeln!(s, "  data               {}", self.source);
        if let Some(b) = self.budget {
            let _ = writeln!(s, "  budget             {b}");
        }
        let _ = writeln!(s, "  batches            {}", self.steps);
        if self.status != RunStatus::Complete {
            let _ = writeln!(s, "  status             {}", self.status.as_str());
        }
        let _ = writeln!(s, "  fill nodes         {:.4}", self.node_fill);
        let _ = writeln!(s, "  fill edges         {:.4}", self.edge_fill);
        let _ = writeln!(s, "  fill graphs        {:.4}", self.graph_fill);
        let _ = writeln!(s, "  distinct shapes    {}", self.distinct_shapes);
        let (mean, min, max) = self.graphs_per_batch;
        let _ = writeln!(
            s,
            "  real graphs/batch  mean {mean:.2}, min {min}, max {max}"
        );
        let _ = writeln!(
            s,
            "  time per batch     median {:.2} us, p99 {:.2} us (plan {:.2} us + collate {:.2} us)",
            self.median_ns / 1e3,
            self.p99_ns as f64 / 1e3,
            self.median_plan_ns / 1e3,
            self.median_collate_ns / 1e3
        );
        let _ = writeln!(s, "  results            {}", self.run_dir.display());
        s
    }
}

/// Runs the batching study of a loaded config; `steps` overrides `[batches] steps`.
///
/// Whatever happens after the sinks started, they are finished, so the rows written so far stay
/// readable; a failure mid-way returns the error after that.
pub fn run_batches(loaded: &LoadedConfig, steps: Option<u64>) -> Result<BatchSummary, RunError> {
    run_batches_with_plans(loaded, steps, None, &AtomicBool::new(false))
}

/// [`run_batches`], also writing every batch's plan to `plans` (CSV: step, real and padded
/// nodes, edges, graphs, and the graph indices in the split, space-separated), for comparing
/// geobatch's plans with another planner's (the Python package's tests do). `stop` ends the study
/// after the current batch (status `interrupted`; the summary covers the batches made).
pub fn run_batches_with_plans(
    loaded: &LoadedConfig,
    steps: Option<u64>,
    plans: Option<&Output>,
    stop: &AtomicBool,
) -> Result<BatchSummary, RunError> {
    let cfg = &loaded.config;
    let steps = steps.unwrap_or(cfg.batches.steps);
    if steps == 0 {
        return Err(loaded.input_error("--steps must be at least 1"));
    }
    let split = cfg.batches.split;
    let dataset = load_dataset(loaded)?;
    RunError::unless_stopped(stop, "loading the dataset")?;
    let set = dataset.split(split);
    let batcher = batcher_for(loaded, loaded.config.batcher.as_ref(), set, split)?;
    let budget = batcher.budget();
    let mut source = GraphSource::new(set, batcher, split, loaded)?;
    let run = new_run(
        loaded,
        RunStart {
            job: "batches",
            model: None,
            dataset_source: dataset.source(),
            budget,
            planned_steps: steps,
            mode: "serial",
            device: "cpu",
            threads: 1,
        },
    )?;
    let schedule = Schedule {
        steps,
        per_round: 1,
        eval_every: 0,
        checkpoint_every: 0,
        warmup: cfg.batches.warmup,
    };
    let mut acc = Accumulator::default();
    let mut csv = plans.map(PlanCsv::create).transpose()?;
    let studied = study(
        &mut source,
        &run,
        &cfg.sinks,
        schedule,
        stop,
        &mut |record, batch| {
            acc.add(record);
            if let Some(csv) = csv.as_mut() {
                csv.write(record, batch);
            }
        },
    )?;
    if let Some(csv) = csv {
        csv.finish()?;
    }
    Ok(acc.summary(SummaryHead {
        dataset: run.dataset,
        source: run.dataset_source,
        batcher: cfg.batcher.label(),
        batch_size: cfg.batcher.batch_size(),
        split: split.as_str().into(),
        split_graphs: set.len(),
        distinct_shapes: studied.distinct_shapes,
        status: studied.status,
        budget: run.budget,
        run_dir: run.run_dir,
    }))
}

/// `--plans FILE`: every batch's plan as a CSV row (step, real and padded shape, graph indices
/// in the split), written piece by piece (a file put in place when the study ends); the first
/// write error is kept and returned by [`PlanCsv::finish`].
struct PlanCsv<'p> {
    out: Piecewise,
    path: &'p std::path::Path,
    written: std::io::Result<()>,
}

impl<'p> PlanCsv<'p> {
    /// Opens the output and writes its header.
    fn create(output: &'p Output) -> Result<Self, RunError> {
        let path = output.path();
        let out = output.piecewise().map_err(|e| Self::error(path, e))?;
        let mut csv = PlanCsv {
            out,
            path,
            written: Ok(()),
        };
        csv.written = writeln!(
            csv.out,
            "step,real_nodes,real_edges,real_graphs,padded_nodes,padded_edges,padded_graphs,graphs"
        );
        Ok(csv)
    }

    /// Writes the row of one batch (nothing after a write failed).
    fn write(&mut self, record: &StepRecord, batch: &GraphBatch) {
        if self.written.is_err() {
            return;
        }
        let (r, p) = (record.real, record.padded);
        let graphs: Vec<String> = batch.graph_index.iter().map(u32::to_string).collect();
        self.written = writeln!(
            self.out,
            "{},{},{},{},{},{},{},{}",
            record.step,
            r.nodes,
            r.edges,
            r.graphs,
            p.nodes,
            p.edges,
            p.graphs,
            graphs.join(" ")
        );
    }

    /// Flushes the file and puts it in place; the first error of any write, named by the file.
    fn finish(self) -> Result<(), RunError> {
        let path = self.path;
        self.written
            .and_then(|()| self.out.finish())
            .map_err(|e| Self::error(path, e))
    }

    fn error(path: &std::path::Path, source: std::io::Error) -> RunError {
        RunError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Real content and padded shape of one planned batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedBatch {
    /// Real nodes, edges and graphs.
    pub real: Shape,
    /// The shape it is padded to.
    pub padded: Shape,
}

/// The first `steps` training batches of a config as its training run meets them (same seed,
/// stream and batcher), planned only: no collation, no model, no sinks. A shape-specialising
/// engine compiles once per distinct `padded` shape of this sequence.
pub fn planned_batches(loaded: &LoadedConfig, steps: u64) -> Result<Vec<PlannedBatch>, RunError> {
    let dataset = load_dataset(loaded)?;
    let split = geobatch_core::SplitName::Train;
    let set = dataset.split(split);
    let batcher = batcher_for(loaded, loaded.config.batcher.as_ref(), set, split)?;
    let mut source = GraphSource::new(set, batcher, split, loaded)?;
    geobatch_process::memory::check_available(
        &format!("{steps} planned steps"),
        steps as f64 * std::mem::size_of::<PlannedBatch>() as f64,
        "a planned shape per step",
    )?;
    let mut out = Vec::with_capacity(usize::try_from(steps).unwrap_or(0).min(1 << 24));
    for _ in 0..steps {
        source.plan_next()?;
        let plan = source.plan();
        out.push(PlannedBatch {
            real: plan.real,
            padded: plan.padded,
        });
    }
    Ok(out)
}

/// Identity part of a summary.
struct SummaryHead {
    dataset: String,
    source: String,
    batcher: String,
    batch_size: usize,
    split: String,
    split_graphs: usize,
    distinct_shapes: usize,
    status: RunStatus,
    budget: Option<Shape>,
    run_dir: PathBuf,
}

/// Running totals of the study.
#[derive(Default)]
struct Accumulator {
    steps: u64,
    real: [u64; 3],
    padded: [u64; 3],
    min_graphs: Option<usize>,
    max_graphs: usize,
    total_ns: Vec<u64>,
    plan_ns: Vec<u64>,
    collate_ns: Vec<u64>,
}

impl Accumulator {
    fn add(&mut self, r: &StepRecord) {
        self.steps += 1;
        for (i, (real, padded)) in [
            (r.real.nodes, r.padded.nodes),
            (r.real.edges, r.padded.edges),
            (r.real.graphs, r.padded.graphs),
        ]
        .into_iter()
        .enumerate()
        {
            self.real[i] += real as u64;
            self.padded[i] += padded as u64;
        }
        self.min_graphs = Some(
            self.min_graphs
                .map_or(r.real.graphs, |m| m.min(r.real.graphs)),
        );
        self.max_graphs = self.max_graphs.max(r.real.graphs);
        if !r.warmup {
            self.total_ns.push(r.batching_ns);
            self.plan_ns.push(r.plan_ns);
            self.collate_ns.push(r.collate_ns);
        }
    }

    fn summary(mut self, head: SummaryHead) -> BatchSummary {
        for v in [&mut self.total_ns, &mut self.plan_ns, &mut self.collate_ns] {
            v.sort_unstable();
        }
        let ratio = |i: usize| {
            if self.padded[i] == 0 {
                0.0
            } else {
                self.real[i] as f64 / self.padded[i] as f64
            }
        };
        BatchSummary {
            dataset: head.dataset,
            source: head.source,
            batcher: head.batcher,
            batch_size: head.batch_size,
            split: head.split,
            split_graphs: head.split_graphs,
            steps: self.steps,
            status: head.status,
            node_fill: ratio(0),
            edge_fill: ratio(1),
            graph_fill: ratio(2),
            distinct_shapes: head.distinct_shapes,
            graphs_per_batch: (
                if self.steps == 0 {
                    0.0
                } else {
                    self.real[2] as f64 / self.steps as f64
                },
                self.min_graphs.unwrap_or(0),
                self.max_graphs,
            ),
            median_ns: median(&self.total_ns).unwrap_or(0.0),
            p99_ns: quantile(&self.total_ns, 0.99).unwrap_or(0),
            median_plan_ns: median(&self.plan_ns).unwrap_or(0.0),
            median_collate_ns: median(&self.collate_ns).unwrap_or(0.0),
            budget: head.budget,
            run_dir: head.run_dir,
        }
    }
}
