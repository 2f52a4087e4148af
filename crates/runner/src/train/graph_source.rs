//! The batches of a graph-level split: [`GraphSource`] (a split's seeded stream planned by a
//! batcher and collated by the core), and the config's dataset and batcher it is made from. The
//! training loop, the batching study and `bench step` take their batches from it.

use super::feed::BatchSource;
use crate::config::LoadedConfig;
use crate::error::RunError;
use geobatch_core::rules::EdgeCoverage;
use geobatch_core::step_memory::StepMemory;
use geobatch_core::{
    Batcher, Error, GraphBatch, GraphDraw, GraphSet, GraphStream, Plan, Shape, SplitName,
    StreamMode,
};

/// Batches of one split: its seeded stream, planned by a batcher and collated by the core.
pub struct GraphSource<'a> {
    set: &'a GraphSet,
    split: SplitName,
    batcher: Box<dyn Batcher>,
    stream: GraphStream,
    plan: Plan,
    /// What the model's step holds per batch, checked for every padded shape larger than
    /// `checked` before the batch is handed to the trainer (`None`: the model does not say).
    memory: Option<StepMemory>,
    checked: Shape,
}

impl<'a> GraphSource<'a> {
    /// The repeating, shuffled stream of `split` batched by `batcher`.
    pub fn new(
        set: &'a GraphSet,
        batcher: Box<dyn Batcher>,
        split: SplitName,
        loaded: &LoadedConfig,
    ) -> Result<Self, RunError> {
        let e = &loaded.config.experiment;
        Ok(GraphSource {
            set,
            split,
            batcher,
            stream: GraphStream::new(
                set.len(),
                StreamMode::Train,
                e.seed,
                e.quirks,
                split.as_str(),
            )?,
            plan: Plan::default(),
            memory: None,
            checked: Shape::default(),
        })
    }

    /// Checks every padded batch larger than any checked before against `memory` (the model's
    /// [`StepMemory`]) before it is trained on: a batch whose step this process cannot hold is
    /// refused ([`Error::Memory`]) instead of aborting the process in the allocation.
    pub fn with_memory_check(mut self, memory: Option<StepMemory>) -> Self {
        self.memory = memory;
        self
    }

    /// [`GraphSource::with_memory_check`]'s check of `padded`.
    fn check_memory(&mut self, padded: Shape) -> Result<(), Error> {
        let Some(m) = &self.memory else {
            return Ok(());
        };
        if padded.edges <= self.checked.edges && padded.nodes <= self.checked.nodes {
            return Ok(());
        }
        geobatch_process::memory::check_step(
            m,
            padded,
            &format!("a padded {} batch", self.split.as_str()),
        )?;
        self.checked = Shape {
            nodes: padded.nodes.max(self.checked.nodes),
            edges: padded.edges.max(self.checked.edges),
            graphs: padded.graphs.max(self.checked.graphs),
        };
        Ok(())
    }
}

impl GraphSource<'_> {
    /// Plans the next batch without collating it; the plan is [`GraphSource::plan`].
    pub fn plan_next(&mut self) -> Result<(), Error> {
        let planned = self
            .batcher
            .next_plan(
                GraphDraw::new(&mut self.stream, self.set.sizes()),
                &mut self.plan,
            )
            .map_err(|e| e.naming_graph(self.split.as_str(), self.set))?;
        if !planned {
            return Err(Error::invalid(
                "the batcher ended a repeating training stream",
            ));
        }
        Ok(())
    }

    /// The last plan made.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }
}

impl BatchSource for GraphSource<'_> {
    type Batch = GraphBatch;
    const QUEUE: usize = 2;

    fn skip(&mut self) -> Result<(), Error> {
        self.plan_next()
    }

    fn collate(&mut self, batch: &mut GraphBatch) -> Result<(), Error> {
        self.check_memory(self.plan.padded)?;
        // a disk-backed set's rows asked for all at once (a read per page, one after another,
        // was most of a batch's time)
        self.set.will_need(&self.plan.graphs);
        batch.collate(self.set, &self.plan)
    }

    fn position(&self) -> Result<serde_json::Value, Error> {
        let stream =
            serde_json::to_value(&self.stream).map_err(|e| Error::invalid(e.to_string()))?;
        Ok(serde_json::json!({ "stream": stream, "batcher": self.batcher.state()? }))
    }

    fn restore(&mut self, position: serde_json::Value) -> Result<(), Error> {
        let (stream, batcher) = match position {
            serde_json::Value::Object(mut o) if o.contains_key("stream") => (
                o.remove("stream").unwrap_or_default(),
                o.remove("batcher").unwrap_or_default(),
            ),
            // checkpoints written before batchers had a state hold the stream alone
            stream => (stream, serde_json::Value::Null),
        };
        let stream: GraphStream = serde_json::from_value(stream)
            .map_err(|e| Error::invalid(format!("the checkpoint's stream: {e}")))?;
        stream.check_covers(self.set.len())?;
        self.stream = stream;
        self.batcher.restore(batcher)
    }
}

/// The config's dataset, loaded with its seed and data folder; what the plugin refuses is bad
/// input ([`RunError::Data`]).
pub fn load_dataset(loaded: &LoadedConfig) -> Result<Box<dyn geobatch_core::Dataset>, RunError> {
    let cfg = &loaded.config;
    let dataset = cfg
        .dataset
        .load(&cfg.experiment.dataset_context())
        .map_err(RunError::loading)?;
    // a graph rule that leaves every graph without edges gives a model nothing to pass; most
    // atoms alone may be meant (a short cutoff on purpose), but is worth the figure
    let train = dataset.split(geobatch_core::SplitName::Train);
    match train.edge_coverage() {
        EdgeCoverage::NoEdge(m) => {
            return Err(RunError::Data(geobatch_core::Error::invalid(format!(
                "dataset.graph, on the train split: {m}"
            ))));
        }
        EdgeCoverage::MostAlone(m) => {
            geobatch_process::errln!("warning: dataset.graph, on the train split: {m}");
        }
        EdgeCoverage::Fine => {}
    }
    Ok(dataset)
}

/// The batcher `spec` (the config's, or it at another batch size: `bench step`, `--dump`) for
/// the graphs of `split`; what it refuses of its options against the split (a budget or window
/// larger than the split) is bad input ([`RunError::Data`]). A budget given by hand that is far
/// from the split's sizes is warned about on stderr.
pub(crate) fn batcher_for(
    loaded: &LoadedConfig,
    spec: &dyn geobatch_core::BatcherSpec,
    set: &geobatch_core::GraphSet,
    split: geobatch_core::SplitName,
) -> Result<Box<dyn geobatch_core::Batcher>, RunError> {
    let cfg = &loaded.config;
    if let Some(warning) = spec
        .facts()
        .budget
        .and_then(|b| geobatch_core::batcher::budget_warning(set.sizes(), b))
    {
        geobatch_process::errln!(
            "warning: batcher.budget, on the {} split: {warning}",
            split.as_str()
        );
    }
    geobatch_core::batcher::build_for_training(
        spec,
        &geobatch_core::BatcherContext {
            sizes: set.sizes(),
            split: split.as_str(),
            quirks: cfg.experiment.quirks,
        },
    )
    .map_err(RunError::Data)
}
