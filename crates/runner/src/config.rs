//! Experiment configs: TOML in, validated and fully resolved (defaults filled in) out. By job:
//! `schema` (the graph-level tables and defaults), `load` (the one parse, [`Document`]; validate,
//! resolve, hash; the traits every config kind implements), `overrides` (`--set`), `checks` (the
//! sections every kind shares).

mod checks;
mod load;
mod overrides;
mod schema;

pub use checks::{MAX_ROUNDS, MAX_THREADS, check_device, check_rounds, check_sinks, check_threads};
pub(crate) use load::run_config;
pub use load::{Document, Loaded, LoadedConfig, RunConfig, Validate, plugin_from_table};
pub use overrides::{after_overrides, apply_override, parse_file_with, read_with_overrides};
pub use schema::{
    BatchesSection, DEFAULT_SINKS, ExperimentConfig, ExperimentSection, Mode, TrainingSection,
    default_sinks,
};
