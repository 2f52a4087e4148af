//! geobatch-potential-run: the potential on the runner (DESIGN.md §16). A graph-level run whose
//! training split carries forces is handed to this crate ([`model`], registered with
//! `geobatch_runner::graph_task!`): the config's model trained as a potential on the setup fitted
//! on the training split ([`setup`]), evaluated by its own metrics ([`evaluate`]: energy per atom,
//! force and stress components), saved once the run is complete and predicting new structures
//! ([`predict`], `geobatch predict`), and its batches and weights dumped for another engine
//! ([`dump`], `geobatch bench step --dump`).
//!
//! The task's contracts are `geobatch-potential`'s, beside this crate in `crates/potential/`.

pub mod dump;
pub mod evaluate;
pub mod model;
pub mod predict;
pub mod setup;

pub use model::PotentialModel;
pub use predict::{Potential, SavedPotential};

/// References this crate so the linker keeps its registration with the runner
/// (`geobatch_catalog::link` calls it).
pub fn link() {}
