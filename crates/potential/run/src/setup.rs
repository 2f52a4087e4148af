//! What a potential is built from in a run: the config's model as a potential and its setup
//! fitted on the training split, when the dataset carries forces.

use geobatch_core::{Dataset, ModelSpec, SplitName};
use geobatch_potential::{ForceContext, Potential, potential_of};
use geobatch_runner::{LoadedConfig, RunError};

/// The config's model as a potential and what it is built with.
pub struct PotentialSetup {
    /// The potential of the config's model (the same name and options).
    pub spec: Box<dyn ModelSpec<Potential>>,
    /// Reference energies, scale, spreads, cutoff and loss weights, fitted on the training split.
    pub setup: ForceContext,
}

/// A potential's model and setup when the dataset carries forces (DESIGN.md §16): the model
/// must be a potential (`impl ModelSpec<Potential>` of the same name), the graph rule be smooth
/// in the positions, and `[training.loss]` is refused without forces (it would weigh nothing).
/// Whether the model can be a potential on these graphs and stresses its build checks.
pub fn potential_setup(
    loaded: &LoadedConfig,
    dataset: &dyn Dataset,
    model: &dyn ModelSpec,
) -> Result<Option<PotentialSetup>, RunError> {
    let train = dataset.split(SplitName::Train);
    let loss = loaded.config.training.loss;
    if !train.labels().forces {
        loss_without_forces(loaded)?;
        return Ok(None);
    }
    let spec = potential_of(model).map_err(|e| {
        loaded.input_error(&format!(
            "the dataset carries forces, so the model trains as a potential: {e}"
        ))
    })?;
    let cutoff = train
        .rule()
        .smooth_cutoff()
        .map_err(|e| loaded.input_error(&format!("dataset.{e}")))?;
    let weights = loss.unwrap_or_default();
    let stresses = train.stress_count() > 0;
    weights
        .check_stress(stresses)
        .map_err(|e| loaded.input_error(&e.to_string()))?;
    Ok(Some(PotentialSetup {
        spec,
        setup: ForceContext::fit(train, weights, cutoff)?,
    }))
}

/// `[training.loss]` weighs a potential's terms: refused for a run whose dataset carries no
/// forces (it would weigh nothing).
pub fn loss_without_forces(loaded: &LoadedConfig) -> Result<(), RunError> {
    match loaded.config.training.loss {
        Some(_) => Err(loaded.input_error(
            "[training.loss] weighs a potential's energy, forces and stress, but the dataset \
             carries no forces: name them among the dataset's targets (targets = \
             [\"energy\", \"forces\"]) or leave [training.loss] out",
        )),
        None => Ok(()),
    }
}
