//! Experiment configs: TOML in, validated and fully resolved (defaults filled in) out. By job:
//! `schema` (the graph-level tables and defaults), `load` (the one parse, [`Document`]; validate,
//! resolve, hash; the traits every config kind implements), `overrides` (`--set`), `checks` (the
//! sections every kind shares).

mod checks;
mod load;
mod overrides;
mod schema;

pub use checks::{
    MAX_ROUNDS, MAX_THREADS, check_device, check_rounds, check_sinks, check_threads, in_table,
};
#[doc(hidden)]
pub use geobatch_core::SinkSpec;
pub use load::{Document, Loaded, LoadedConfig, RunConfig, Validate, plugin_from_table};
pub use overrides::{after_overrides, apply_override, parse_file_with, read_with_overrides};
pub use schema::{
    BatchesSection, DEFAULT_SINKS, ExperimentConfig, ExperimentSection, Mode, TrainingSection,
    default_sinks,
};

/// A batcher's options as JSON (what [`RunConfig::batcher_options`] returns; empty where they
/// cannot be written).
pub fn options_json<T: serde::Serialize + ?Sized>(options: &T) -> String {
    serde_json::to_string(options).unwrap_or_default()
}
