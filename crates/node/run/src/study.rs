//! The node-level batching study (`geobatch batches` on one large graph): precomputation,
//! output and auxiliary nodes per batch, edges kept against lost, time per batch and peak
//! memory, through the shared study loop.

use super::config::LoadedNodeConfig;
use super::source::NodeSource;
use super::{build_batcher, load_graph};
use geobatch_core::stats::median;
use geobatch_core::{SplitName, StepRecord};
use geobatch_node::NodeBatch;
use geobatch_runner::config::Mode;
use geobatch_runner::error::RunError;
use geobatch_runner::identity::{RunStart, new_run, threads_of};
use geobatch_runner::study::study;
use geobatch_runner::train::Schedule;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

/// Peak resident memory of this process so far (Linux `VmHWM`), in bytes.
pub fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// What the node-level batching study measured.
#[derive(Debug, Clone)]
pub struct NodeBatchSummary {
    /// Batcher label.
    pub batcher: String,
    /// Dataset source.
    pub dataset: String,
    /// Split batched and whether it was the inference variant.
    pub split: SplitName,
    /// Inference variant.
    pub inference: bool,
    /// Graph size (nodes, adjacency entries).
    pub graph: (usize, u64),
    /// Time to load or generate the graph (ns).
    pub load_ns: u64,
    /// Pre-computation (ns).
    pub precompute_ns: u64,
    /// Batches per epoch.
    pub batches: usize,
    /// Output nodes per batch: mean, min, max.
    pub outputs: (f64, usize, usize),
    /// Auxiliary nodes per batch (outputs included): mean, min, max.
    pub aux: (f64, usize, usize),
    /// Entries kept in the batches / entries of the batches' nodes in the full graph.
    pub kept: (u64, u64),
    /// Median batching time per batch (plan + collate, ns).
    pub median_batch_ns: f64,
    /// Peak resident memory of the process (bytes), when known.
    pub peak_rss: Option<u64>,
    /// Results folder.
    pub run_dir: PathBuf,
}

impl NodeBatchSummary {
    /// A human-readable report.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "node batching study: {}{} on {} ({} split; {} nodes, {} adjacency entries)",
            self.batcher,
            if self.inference {
                " (inference variant)"
            } else {
                ""
            },
            self.dataset,
            self.split,
            self.graph.0,
            self.graph.1
        );
        let _ = writeln!(
            s,
            "  graph load         {:.1} ms",
            self.load_ns as f64 / 1e6
        );
        let _ = writeln!(
            s,
            "  precomputation     {:.1} ms",
            self.precompute_ns as f64 / 1e6
        );
        let _ = writeln!(s, "  batches per epoch  {}", self.batches);
        let (m, lo, hi) = self.outputs;
        let _ = writeln!(s, "  output nodes/batch mean {m:.1}, min {lo}, max {hi}");
        let (m, lo, hi) = self.aux;
        let _ = writeln!(
            s,
            "  aux nodes/batch    mean {m:.1}, min {lo}, max {hi} (outputs included)"
        );
        let (kept, full) = self.kept;
        let _ = writeln!(
            s,
            "  edges kept         {kept} of {full} adjacency entries of the batches' nodes ({:.1}%; {} lost)",
            100.0 * kept as f64 / full.max(1) as f64,
            full - kept
        );
        let _ = writeln!(
            s,
            "  time per batch     {:.3} ms (median, plan + collate)",
            self.median_batch_ns / 1e6
        );
        if let Some(b) = self.peak_rss {
            let _ = writeln!(
                s,
                "  peak memory        {:.1} MiB (process peak RSS)",
                b as f64 / (1 << 20) as f64
            );
        }
        let _ = writeln!(s, "  results            {}", self.run_dir.display());
        s
    }
}

/// What the study counts of a node-level run's batches: outputs, auxiliary nodes and adjacency
/// entries kept of the first epoch, and the batching times after the warm-up.
#[derive(Default)]
struct Tally {
    outs: Vec<usize>,
    auxs: Vec<usize>,
    times: Vec<u64>,
    kept: u64,
    full: u64,
}

impl Tally {
    fn add(&mut self, record: &StepRecord, batch: &NodeBatch, per_epoch: u64) {
        if record.step < per_epoch {
            self.outs.push(batch.n_outputs());
            self.auxs.push(batch.n_nodes());
            self.kept += batch.n_entries() as u64;
            self.full += batch.full_entries;
        }
        if !record.warmup {
            self.times.push(record.batching_ns);
        }
    }
}

/// Mean, least and most of counts.
fn spread(v: &[usize]) -> (f64, usize, usize) {
    let mean = v.iter().sum::<usize>() as f64 / v.len().max(1) as f64;
    (
        mean,
        v.iter().copied().min().unwrap_or(0),
        v.iter().copied().max().unwrap_or(0),
    )
}

/// Builds the config's batcher for `[batches] split` and plans and collates `[batches] epochs`
/// epochs of batches without a model, recording every batch. The first epoch is warm-up when
/// there are more (it pays for first-touch allocations): the times leave it out, the output and
/// auxiliary node counts describe it.
pub fn run_node_batches(
    loaded: &LoadedNodeConfig,
    stop: &AtomicBool,
) -> Result<NodeBatchSummary, RunError> {
    let cfg = &loaded.config;
    let bc = &cfg.batches;
    let seed = cfg.experiment.seed;
    let (dataset, load_ns) = load_graph(cfg)?;
    let graph = dataset.graph();
    let mut slot = None;
    let spec = if bc.inference {
        cfg.inference_spec(&mut slot)
    } else {
        cfg.batcher.as_ref()
    };
    let mut source = NodeSource::new(
        graph,
        build_batcher(spec, graph, bc.split, !bc.inference, seed)?,
    )?;
    let per_epoch = source.per_epoch();
    let run = new_run(
        loaded,
        RunStart {
            job: "batches",
            model: None,
            dataset_source: dataset.source(),
            budget: None,
            planned_steps: bc.epochs * per_epoch,
            mode: "serial",
            device: "cpu",
            threads: threads_of(1, Mode::Serial, source.batcher().precompute_threads()),
        },
    )?;
    let schedule = Schedule {
        steps: bc.epochs * per_epoch,
        per_round: per_epoch,
        eval_every: 0,
        checkpoint_every: 0,
        warmup: u64::from(bc.epochs > 1),
    };
    let mut tally = Tally::default();
    study(
        &mut source,
        &run,
        &cfg.sinks,
        schedule,
        stop,
        &mut |record, batch| tally.add(record, batch, per_epoch),
    )?;
    tally.times.sort_unstable();
    Ok(NodeBatchSummary {
        batcher: spec.label(),
        dataset: dataset.source(),
        split: bc.split,
        inference: bc.inference,
        graph: (graph.n_nodes(), graph.n_entries()),
        load_ns,
        precompute_ns: source.batcher().precompute_ns(),
        batches: per_epoch as usize,
        outputs: spread(&tally.outs),
        aux: spread(&tally.auxs),
        kept: (tally.kept, tally.full),
        median_batch_ns: median(&tally.times).unwrap_or(f64::NAN),
        peak_rss: peak_rss(),
        run_dir: run.run_dir,
    })
}
