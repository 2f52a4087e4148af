//! [`NodeSource`]: node batches epoch after epoch, as the node-level training loop and batching
//! study take them.

use geobatch_core::{Batcher, Error};
use geobatch_node::{NodeBatch, NodeCollator, NodeGraph, NodeLevel, NodePlan};
use geobatch_runner::error::RunError;
use geobatch_runner::train::BatchSource;
use serde::{Deserialize, Serialize};

/// Node batches epoch after epoch: the batcher's plans of each epoch, collated into induced
/// subgraphs. An epoch must have exactly the batches the batcher announces.
pub struct NodeSource<'a> {
    graph: &'a NodeGraph,
    batcher: Box<dyn Batcher<NodeLevel>>,
    collator: NodeCollator,
    plan: NodePlan,
    per_epoch: u64,
    epoch: u64,
    taken: u64,
    started: bool,
}

/// Where a [`NodeSource`] stands: `batches` of epoch `epoch` taken.
#[derive(Debug, Serialize, Deserialize)]
struct NodePosition {
    epoch: u64,
    batches: u64,
}

impl<'a> NodeSource<'a> {
    /// Batches of `batcher` over `graph`, from epoch 0.
    pub fn new(
        graph: &'a NodeGraph,
        batcher: Box<dyn Batcher<NodeLevel>>,
    ) -> Result<Self, RunError> {
        let per_epoch = batcher.batches_per_epoch().unwrap_or(0) as u64;
        if per_epoch == 0 {
            return Err(Error::invalid(
                "the batcher makes no batches per epoch (or cannot say how many)",
            )
            .into());
        }
        Ok(NodeSource {
            graph,
            batcher,
            collator: NodeCollator::new(),
            plan: NodePlan::default(),
            per_epoch,
            epoch: 0,
            taken: 0,
            started: false,
        })
    }

    /// Batches per epoch.
    pub fn per_epoch(&self) -> u64 {
        self.per_epoch
    }

    /// The batcher.
    pub fn batcher(&self) -> &dyn Batcher<NodeLevel> {
        self.batcher.as_ref()
    }

    /// Plans the next batch of the epoch, moving to the next epoch after the last one.
    fn plan_next(&mut self) -> Result<(), Error> {
        if self.started && self.taken == self.per_epoch {
            if self.batcher.next_plan(self.graph, &mut self.plan)? {
                return Err(Error::invalid(format!(
                    "the batcher made more than the {} batches per epoch it announced",
                    self.per_epoch
                )));
            }
            (self.epoch, self.taken, self.started) = (self.epoch + 1, 0, false);
        }
        if !self.started {
            self.batcher.start_epoch(self.epoch)?;
            self.started = true;
        }
        if !self.batcher.next_plan(self.graph, &mut self.plan)? {
            return Err(Error::invalid(format!(
                "the batcher made {} batches in epoch {} but announced {}",
                self.taken, self.epoch, self.per_epoch
            )));
        }
        self.taken += 1;
        Ok(())
    }
}

impl BatchSource for NodeSource<'_> {
    type Batch = NodeBatch;
    const QUEUE: usize = 1;

    fn skip(&mut self) -> Result<(), Error> {
        self.plan_next()
    }

    fn collate(&mut self, batch: &mut NodeBatch) -> Result<(), Error> {
        self.collator.collate(self.graph, &self.plan, batch)
    }

    fn position(&self) -> Result<serde_json::Value, Error> {
        let p = if self.started && self.taken == self.per_epoch {
            NodePosition {
                epoch: self.epoch + 1,
                batches: 0,
            }
        } else {
            NodePosition {
                epoch: self.epoch,
                batches: if self.started { self.taken } else { 0 },
            }
        };
        serde_json::to_value(p).map_err(|e| Error::invalid(e.to_string()))
    }

    /// Starts the saved epoch again (its order and samples depend only on the seed and the
    /// epoch) and skips the plans already taken.
    fn restore(&mut self, position: serde_json::Value) -> Result<(), Error> {
        let p: NodePosition = serde_json::from_value(position)
            .map_err(|e| Error::invalid(format!("the checkpoint's batch position: {e}")))?;
        (self.epoch, self.taken, self.started) = (p.epoch, 0, false);
        for _ in 0..p.batches {
            self.plan_next()?;
        }
        Ok(())
    }
}
