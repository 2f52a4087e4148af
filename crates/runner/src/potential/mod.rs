//! The potential task's room in the runner (DESIGN.md §16): a graph-level run whose dataset
//! carries forces trains the config's model as a potential ([`setup`]), evaluates it by its own
//! metrics ([`evaluate`]), saves it once complete and predicts with it ([`predict`]), and dumps
//! its batches for another engine ([`dump`]). The task's contracts are core's
//! `geobatch_core::potential`, its trainer parts `geobatch_nn::potential`; the graph-level kind
//! decides between the two tasks (`crate::train::graph::GraphModel`).

pub mod dump;
pub mod evaluate;
pub mod predict;
pub mod setup;
