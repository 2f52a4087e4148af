//! The straggler study (`geobatch batches CONFIG --world-size 8,64`): how evenly each batcher's
//! plan of the config's split, dealt to `W` ranks as a distributed run deals it
//! ([`geobatch_plans::deal_all`]), shares out a step's work, against torch's
//! `DistributedSampler` with graph-count batches and fairchem's max-atoms sampler on the same
//! graphs ([`geobatch_plans::anchors`]). Plans only: no batch is collated, no model runs.

use crate::jobs::{self, AnyConfig};
use crate::train::graph_source::load_dataset;
use crate::{ExperimentConfig, LoadedConfig, RunError, candidates};
use geobatch_core::BatcherSpec;
use geobatch_core::graph::{GraphSize, SizeStats};
use geobatch_plans::balance::{Balance, Pooled};
use geobatch_plans::{Dealing, Plans, anchors, deal_all, plan_epoch};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

/// Steps a row's statistics are taken over at least: epochs are added (at most
/// [`MAX_EPOCHS`]) until every rank has taken this many.
pub const MIN_STEPS: usize = 256;

/// The most epochs a row pools by itself.
pub const MAX_EPOCHS: u64 = 100;

/// The most epochs `--epochs` may ask for (each is planned whole, for every plan and world size).
pub const MAX_EPOCHS_ASKED: u64 = 1_000;

/// What the straggler study is asked.
#[derive(Debug, Clone)]
pub struct Request {
    /// Experiment config (graph-level).
    pub config: PathBuf,
    /// `--set KEY=VALUE` overrides of the config.
    pub overrides: Vec<String>,
    /// The world sizes, each a row group.
    pub world_sizes: Vec<usize>,
    /// Batchers compared, each `KIND[:KEY=VALUE...]`; empty: [`candidates::STRAGGLER_BATCHERS`]
    /// and the config's own.
    pub batchers: Vec<String>,
    /// Leave out what does not divide among the ranks (torch's `drop_last`) instead of
    /// repeating.
    pub drop_last: bool,
    /// Epochs pooled per row; `None`: enough for [`MIN_STEPS`] steps (at most [`MAX_EPOCHS`]).
    pub epochs: Option<u64>,
}

/// One row: a plan at one world size.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Ranks.
    pub world_size: usize,
    /// The batcher's label, or the anchor's name.
    pub plan: String,
    /// What was measured, or why the plan cannot be dealt to that many ranks.
    pub balance: Result<Balance, String>,
}

/// The study's rows and what they were measured on.
#[derive(Debug, Clone, PartialEq)]
pub struct Straggler {
    /// Where the graphs came from.
    pub source: String,
    /// The split planned and its graph count.
    pub split: (String, usize),
    /// Graphs per batch of the batchers and of `DistributedSampler`.
    pub batch_size: usize,
    /// The max-atoms sampler's limit: the batch size times the split's mean atoms per graph.
    pub max_atoms: usize,
    /// Every plan at every world size.
    pub rows: Vec<Row>,
}

/// Runs the study and returns its rendered table.
pub fn run(req: &Request, stop: &AtomicBool) -> Result<String, RunError> {
    Ok(study(req, stop)?.render())
}

/// Runs the study.
pub fn study(req: &Request, stop: &AtomicBool) -> Result<Straggler, RunError> {
    let loaded = open(req)?;
    let cfg = &loaded.config;
    let split = cfg.batches.split;
    let dataset = load_dataset(&loaded)?;
    RunError::unless_stopped(stop, "loading the dataset")?;
    let sizes = dataset.split(split).sizes();
    let stats = SizeStats::of(sizes).ok_or_else(|| {
        loaded.input_error(&format!(
            "the {} split is empty: nothing to deal to ranks",
            split.as_str()
        ))
    })?;
    let batch_size = cfg.batcher.batch_size();
    let max_atoms = ((batch_size as f64 * stats.mean_nodes).round() as usize).max(1);
    let study = Study {
        sizes,
        epochs: req.epochs,
    };
    let plans = batchers(req, cfg, batch_size)?;
    let mut rows = Vec::new();
    let seed = cfg.experiment.seed;
    for &w in &req.world_sizes {
        let how = |epoch| Dealing {
            world_size: w,
            drop_last: req.drop_last,
            seed,
            epoch,
        };
        for (label, spec) in &plans {
            RunError::unless_stopped(stop, "dealing plans to ranks")?;
            rows.push(study.row(w, label, |epoch| {
                let quirks = cfg.experiment.quirks;
                let global = plan_epoch(spec.as_ref(), sizes, seed, epoch, true, quirks)?;
                deal_all(&global, sizes, how(epoch))
            })?);
        }
        rows.push(study.row(
            w,
            &format!("DistributedSampler, {batch_size} graphs"),
            |epoch| anchors::distributed_sampler(sizes, batch_size, how(epoch)),
        )?);
        rows.push(study.row(
            w,
            &format!("fairchem max-atoms, {max_atoms} atoms"),
            |epoch| anchors::max_atoms_sampler(sizes, max_atoms, how(epoch)),
        )?);
    }
    Ok(Straggler {
        source: dataset.source(),
        split: (split.as_str().to_string(), sizes.len()),
        batch_size,
        max_atoms,
        rows,
    })
}

/// The config as `req` asks for it, graph-level, and the request's numbers checked.
fn open(req: &Request) -> Result<LoadedConfig, RunError> {
    let loaded = AnyConfig::open(
        &req.config,
        &req.overrides,
        jobs::Request::Batches {
            steps: None,
            plans: false,
        },
    )?
    .into_loaded::<ExperimentConfig>()
    .ok_or_else(|| {
        RunError::Usage(
            "--world-size deals a graph-level plan to ranks; this config is node-level".into(),
        )
    })?;
    if req.world_sizes.is_empty() || req.world_sizes.contains(&0) {
        return Err(RunError::Usage(format!(
            "--world-size {:?}: give ranks of at least 1, comma-separated (e.g. 1,8,64)",
            req.world_sizes
        )));
    }
    if let Some(n) = req.epochs.filter(|&n| n == 0 || n > MAX_EPOCHS_ASKED) {
        return Err(RunError::Usage(format!(
            "--epochs {n}: give 1 to {MAX_EPOCHS_ASKED} epochs (each is planned whole, for every \
             plan and world size)"
        )));
    }
    Ok(loaded)
}

/// A batcher and its label.
type Labelled = (String, Box<dyn BatcherSpec>);

/// The batchers compared, by label (the config's own left out when a default has its label).
fn batchers(
    req: &Request,
    cfg: &ExperimentConfig,
    batch_size: usize,
) -> Result<Vec<Labelled>, RunError> {
    let mut plans = Vec::new();
    for table in candidates::tables(
        &req.batchers,
        candidates::STRAGGLER_BATCHERS,
        cfg,
        batch_size,
    )? {
        let spec = candidates::spec(&table)?;
        let label = spec.label();
        if plans.iter().any(|(l, _)| *l == label) {
            continue;
        }
        plans.push((label, spec));
    }
    Ok(plans)
}

struct Study<'a> {
    sizes: &'a [GraphSize],
    epochs: Option<u64>,
}

impl Study<'_> {
    /// The row of a plan whose ranks' shares of epoch `e` are `shares(e)`: epochs pooled until
    /// [`MIN_STEPS`] steps (or the requested count); a plan that cannot be dealt is a row saying
    /// why.
    fn row(
        &self,
        world_size: usize,
        plan: &str,
        shares: impl Fn(u64) -> geobatch_core::Result<Vec<Plans>>,
    ) -> Result<Row, RunError> {
        let mut pooled = Pooled::default();
        let mut epoch = 0;
        let balance = loop {
            let dealt = match shares(epoch) {
                Ok(d) => d,
                Err(e) => break Err(e.to_string()),
            };
            pooled
                .add(&dealt, self.sizes.len())
                .map_err(|e| RunError::Failed(format!("{plan} on {world_size} ranks: {e}")))?;
            epoch += 1;
            let enough = match self.epochs {
                Some(n) => epoch >= n,
                None => pooled.steps() >= MIN_STEPS || epoch >= MAX_EPOCHS,
            };
            if enough {
                break Ok(pooled.balance());
            }
        };
        Ok(Row {
            world_size,
            plan: plan.into(),
            balance,
        })
    }
}

impl Straggler {
    /// The study as a Markdown table, headed by what it was measured on.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "straggler study: {} split, {} graphs, {}\n\
             slowest/mean: the slowest rank's real edges over the step's mean (mean and p95 over \
             the steps); padding: padded over real edges; repeated and dropped: graph samples \
             per epoch; batch size {} graphs, max-atoms limit {} atoms (batch size x mean atoms)\n",
            self.split.0, self.split.1, self.source, self.batch_size, self.max_atoms
        );
        let _ = writeln!(
            s,
            "| ranks | plan | steps/epoch | epochs | slowest/mean | p95 | padding | repeated | dropped |"
        );
        let _ = writeln!(s, "|---:|---|---:|---:|---:|---:|---:|---:|---:|");
        for r in &self.rows {
            match &r.balance {
                Ok(b) => {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {} | {:.3} | {:.3} | {:.1}% | {:.0} | {:.0} |",
                        r.world_size,
                        r.plan,
                        b.steps as u64 / b.epochs.max(1),
                        b.epochs,
                        b.slowest_mean,
                        b.slowest_p95,
                        100.0 * b.padding,
                        b.repeated,
                        b.dropped,
                    );
                }
                Err(why) => {
                    let _ = writeln!(
                        s,
                        "| {} | {} | refused: {why} |||||||",
                        r.world_size, r.plan
                    );
                }
            }
        }
        s
    }
}
