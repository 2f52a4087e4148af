//! geobatch-potential: the interatomic potential as a task (DESIGN.md §16). A graph-level run whose
//! dataset carries forces trains its model as a potential: energy from the positions, forces as
//! its negative gradient, stress as its strain derivative.
//!
//! * [`task`]: the task type [`Potential`] (the graph level's data and batches), what its models
//!   are built from ([`PotentialContext`]) and what they predict ([`ForcePredictions`]);
//! * [`setup`]: the loss weights ([`LossWeights`], `[training.loss]`) and the setup fitted on the
//!   training split ([`ForceContext`]: reference energies, scale, spreads).
//!
//! The task's room is `crates/potential/`: these contracts here, its run (setup, evaluation,
//! saved model, `predict`, `--dump`) in `geobatch-potential-run` beside them. Its trainer parts
//! (the loss, the nested-autodiff step) are the engine's (`geobatch_nn::potential`); its models are
//! the SchNet and PaiNN plugins, which register a potential beside their graph-level model.

pub mod setup;
pub mod task;

pub use setup::{ForceContext, LossWeights, MAX_SETUP_VALUE};
pub use task::{ForcePredictions, Potential, PotentialContext, potential_of};
