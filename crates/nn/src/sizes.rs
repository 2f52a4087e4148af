//! Size options shared by the study's message-passing models (SchNet, MPEU): defaults, checks
//! and their documented rows (each beside its default), so every model spells them the same way; and the memory check every
//! model makes of its sizes before anything is allocated.

use geobatch_core::step_memory::StepMemory;
use geobatch_core::{Error, OptionDoc, Result};

/// Default latent size C (spec §3.1).
pub fn default_latent() -> usize {
    64
}

/// Default number of message-passing steps T.
pub fn default_steps() -> usize {
    3
}

/// Default number of Gaussians K.
pub fn default_rbf() -> usize {
    150
}

/// Default Gaussian spacing delta (Angstrom).
pub fn default_rbf_spacing() -> f64 {
    0.1
}

/// The smallest Gaussian spacing (Angstrom): below it `1 / delta` leaves float32's precision for
/// any distance.
pub const MIN_RBF_SPACING: f64 = 1e-6;

/// The farthest Gaussian centre (`rbf x rbf_spacing`, Angstrom) the basis may reach.
pub const MAX_RBF_REACH: f64 = 1e4;

/// Checks the size options of a model (the Gaussian basis within [`MIN_RBF_SPACING`] and
/// [`MAX_RBF_REACH`]).
pub fn check_sizes(latent: usize, steps: usize, rbf: usize, rbf_spacing: f64) -> Result<()> {
    if latent < 2 || steps == 0 || rbf == 0 || rbf_spacing.is_nan() || rbf_spacing <= 0.0 {
        return Err(Error::invalid(
            "model: latent >= 2, steps >= 1, rbf >= 1 and rbf_spacing > 0 are required",
        ));
    }
    // the basis is exp(-(d - k delta)^2 / delta) in float32: a spacing whose centres leave any
    // distance, or that float32 cannot hold, gives NaN at the first step (then blamed on the
    // learning rate)
    if !(MIN_RBF_SPACING..=MAX_RBF_REACH).contains(&rbf_spacing) {
        return Err(Error::invalid(format!(
            "model.rbf_spacing = {rbf_spacing:?}: the Gaussians' spacing must be between \
             {MIN_RBF_SPACING:?} and {MAX_RBF_REACH:?} Angstrom (float32 holds neither end beyond)"
        )));
    }
    let reach = rbf as f64 * rbf_spacing;
    if reach > MAX_RBF_REACH {
        return Err(Error::invalid(format!(
            "model.rbf = {rbf} with model.rbf_spacing = {rbf_spacing:?}: the Gaussians' centres \
             k x rbf_spacing (k < rbf) reach {reach:.3e} Angstrom; rbf x rbf_spacing must be at \
             most {MAX_RBF_REACH:?} Angstrom"
        )));
    }
    Ok(())
}

/// The documented row of `latent` (default [`default_latent`]), for the models' specs
/// (`#[option(row = sizes::LATENT)]`).
pub const LATENT: OptionDoc = OptionDoc {
    name: "latent",
    ty: "integer",
    default: geobatch_core::value_default!(default_latent()),
    doc: "latent size C",
};

/// The documented row of `steps` (default [`default_steps`]).
pub const STEPS: OptionDoc = OptionDoc {
    name: "steps",
    ty: "integer",
    default: geobatch_core::value_default!(default_steps()),
    doc: "message-passing steps (separate weights)",
};

/// The documented row of `rbf` (default [`default_rbf`]).
pub const RBF: OptionDoc = OptionDoc {
    name: "rbf",
    ty: "integer",
    default: geobatch_core::value_default!(default_rbf()),
    doc: "number of Gaussians K",
};

/// The documented row of `rbf_spacing` (default [`default_rbf_spacing`]).
pub const RBF_SPACING: OptionDoc = OptionDoc {
    name: "rbf_spacing",
    ty: "float",
    default: geobatch_core::value_default!(default_rbf_spacing()),
    doc: "Gaussian spacing delta in Angstrom",
};

/// Edges of the batch a memory estimate assumes (a QM9 batch of 128 graphs has about 36,000).
pub const NOMINAL_EDGES: f64 = 50_000.0;

pub use geobatch_process::memory::{available_memory, memory_limit};

/// What a model's step holds per padded batch (core's `StepMemory`): `params` parameters (each
/// with its gradient and two Adam moments: 16 bytes) and `per_edge` floats of activations per
/// edge, kept for the backward pass. `sizes` names the options and their values for messages
/// (`model.latent = 64`).
pub fn step_memory(sizes: &str, params: f64, per_edge: f64) -> StepMemory {
    StepMemory {
        sizes: sizes.to_string(),
        fixed: params * 16.0,
        per_edge: per_edge * 4.0,
        per_node: 0.0,
    }
}

/// Refuses model sizes whose memory cannot be had, before anything is allocated: the
/// [`step_memory`] of a batch of [`NOMINAL_EDGES`] edges. The runner checks the real batches'.
pub fn check_memory(sizes: &str, params: f64, per_edge: f64) -> Result<()> {
    let m = step_memory(sizes, params, per_edge);
    let activations = m.per_edge * NOMINAL_EDGES;
    let need = m.fixed + activations;
    let gib = |b: f64| b / f64::from(1u32 << 30);
    match memory_limit() {
        Some((have, which)) if need > have => Err(Error::Memory(format!(
            "{sizes}: the model needs about {:.1} GiB ({:.3e} parameters with gradients and Adam \
             state: {:.1} GiB; activations of a batch of {NOMINAL_EDGES} edges: {:.1} GiB), more \
             than the {:.1} GiB {which}: choose smaller sizes",
            gib(need),
            params,
            gib(m.fixed),
            gib(activations),
            gib(have)
        ))),
        _ => Ok(()),
    }
}

/// The [`step_memory`] of the study's message-passing models: `latent` C, `steps` T and `rbf`
/// K, with about `T (K C + squares C^2) + 2 C^2` parameters and `T (K + edge_rows C)`
/// activations per edge.
pub fn message_passing_step_memory(
    latent: usize,
    steps: usize,
    rbf: usize,
    squares: f64,
    edge_rows: f64,
) -> StepMemory {
    let (c, t, k) = (latent as f64, steps as f64, rbf as f64);
    step_memory(
        &format!("model.latent = {latent}, model.steps = {steps}, model.rbf = {rbf}"),
        t * (k * c + squares * c * c) + 2.0 * c * c,
        t * (k + edge_rows * c),
    )
}

/// [`check_memory`] for the study's message-passing models ([`message_passing_step_memory`]).
pub fn check_message_passing_memory(
    latent: usize,
    steps: usize,
    rbf: usize,
    squares: f64,
    edge_rows: f64,
) -> Result<()> {
    let m = message_passing_step_memory(latent, steps, rbf, squares, edge_rows);
    check_memory(&m.sizes, m.fixed / 16.0, m.per_edge / 4.0)
}
