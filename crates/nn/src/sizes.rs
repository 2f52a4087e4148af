//! Size options shared by the study's message-passing models (SchNet, MPEU): defaults, checks
//! and their documentation, so every model spells them the same way.

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

/// Checks the size options of a model.
pub fn check_sizes(latent: usize, steps: usize, rbf: usize, rbf_spacing: f64) -> Result<()> {
    if latent < 2 || steps == 0 || rbf == 0 || rbf_spacing.is_nan() || rbf_spacing <= 0.0 {
        return Err(Error::invalid(
            "model: latent >= 2, steps >= 1, rbf >= 1 and rbf_spacing > 0 are required",
        ));
    }
    Ok(())
}

/// Documentation of the size options, for plugin descriptors.
pub const SIZE_OPTIONS: &[OptionDoc] = &[
    OptionDoc {
        name: "latent",
        ty: "integer",
        default: "64",
        doc: "latent size C",
    },
    OptionDoc {
        name: "steps",
        ty: "integer",
        default: "3",
        doc: "message-passing steps (separate weights)",
    },
    OptionDoc {
        name: "rbf",
        ty: "integer",
        default: "150",
        doc: "number of Gaussians K",
    },
    OptionDoc {
        name: "rbf_spacing",
        ty: "float",
        default: "0.1",
        doc: "Gaussian spacing delta in Angstrom",
    },
];
