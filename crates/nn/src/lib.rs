//! geobatch-nn: the ML engine glue (burn 0.21).
//!
//! * [`inputs`]: a padded [`GraphBatch`](geobatch_core::GraphBatch) as backend tensors.
//! * [`layers`]: bias-free dense layers with the study's initialisation, shifted softplus, the
//!   Gaussian radial basis, segment sums and means over receiver-sorted edges, mean readout.
//! * [`index`]: gathers of rows and segment sums with their gradients, chunked on backends whose
//!   index-add kernels are serial (CUDA).
//! * [`state`]: what a trainer checkpoints (model, best parameters, optimiser) and its files.
//! * [`trainer`]: the generic [`Trainer`](geobatch_core::Trainer): Adam, the staircase learning
//!   rate, MSE over real graphs, predictions in target units.
//! * [`potential`]: models trained as potentials: energy, forces and stress, with exact
//!   second-order gradients on nested autodiff (DESIGN.md §16).
//! * [`backend`]: the backends a build offers (flex on the CPU; CUDA with the `cuda` feature).

pub mod backend;
#[cfg(any(test, feature = "checks"))]
pub mod checks;
#[cfg(feature = "cube")]
pub mod cube;
pub mod export;
pub mod fastmath;
pub mod flex_kernels;
pub mod fused;
pub mod gemm;
pub mod index;
pub mod init;
pub mod inputs;
pub mod layers;
pub mod parallel;
pub mod potential;
pub mod shared;
pub mod sizes;
pub mod state;
mod tracked;
pub mod trainer;

pub use inputs::BatchInputs;
pub use trainer::{GnnTrainer, GraphRegressor};
