//! geobatch-runner: loads and validates experiment configs, runs jobs (training, the batching
//! study, sweeps) and fans their measurements out to the configured sinks.
//!
//! One training loop ([`train`]) and one batching-study loop ([`study`]) serve both kinds of
//! task: graph batches of many small graphs ([`train::graph`], [`batches`]; a potential where
//! the dataset carries forces, trained by its own crate, `geobatch-potential-run`, registered
//! with [`graph_task!`]) and node batches of one large graph (the node task's own crate,
//! `geobatch-node-run`, registered with [`task_kind!`]).
//! [`jobs::AnyConfig`] picks the kind by the config's dataset plugin.
//!
//! The runner knows the plugin contracts of `geobatch-core` (and the potential's loss weights,
//! which its config reads), no plugin: plugins and task crates reach it through the registries,
//! so any binary that links `geobatch-catalog` (or its own plugin crates) can run every config.

pub mod advise;
pub mod batches;
pub mod bench;
pub mod candidates;
pub mod config;

pub mod env;
pub mod error;
pub mod evaluate;
pub mod exit;
pub mod identity;
pub mod jobs;
pub mod lock;
pub mod policy;

pub mod request;
pub mod sinks;
pub mod slurm;
pub mod straggler;
pub mod study;
pub mod sweep;
pub mod threads;
pub mod train;
pub mod world;

pub use batches::{BatchSummary, run_batches, run_batches_with_plans};
pub use config::{ExperimentConfig, LoadedConfig};
pub use error::RunError;
pub use train::{RunSummary, TrainSummary, run_train};
