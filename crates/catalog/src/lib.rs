//! geobatch-catalog: re-exports every plugin crate (one cargo feature each, all on by default).
//!
//! This is the single list of what a build contains. Plugins register themselves with typetag and
//! inventory at link time; a crate nobody references is not linked and its plugins would silently
//! vanish, so binaries call [`link`], which references every enabled plugin crate.

#[cfg(feature = "batcher-dynamic")]
pub use geobatch_batcher_dynamic as batcher_dynamic;
#[cfg(feature = "batcher-static")]
pub use geobatch_batcher_static as batcher_static;
#[cfg(feature = "dataset-aflow")]
pub use geobatch_dataset_aflow as dataset_aflow;
#[cfg(feature = "dataset-cif")]
pub use geobatch_dataset_cif as dataset_cif;
#[cfg(feature = "dataset-qm9")]
pub use geobatch_dataset_qm9 as dataset_qm9;
#[cfg(feature = "dataset-synthetic")]
pub use geobatch_dataset_synthetic as dataset_synthetic;
#[cfg(feature = "model-mpeu")]
pub use geobatch_model_mpeu as model_mpeu;
#[cfg(feature = "model-painn")]
pub use geobatch_model_painn as model_painn;
#[cfg(feature = "model-schnet")]
pub use geobatch_model_schnet as model_schnet;
#[cfg(feature = "sink-console")]
pub use geobatch_sink_console as sink_console;
#[cfg(feature = "sink-parquet")]
pub use geobatch_sink_parquet as sink_parquet;

/// Plugin names this build must register, as (kind, name).
pub const EXPECTED: &[(&str, &str)] = &[
    #[cfg(feature = "dataset-aflow")]
    ("dataset", "aflow"),
    #[cfg(feature = "dataset-cif")]
    ("dataset", "cif"),
    #[cfg(feature = "dataset-qm9")]
    ("dataset", "qm9"),
    #[cfg(feature = "dataset-synthetic")]
    ("dataset", "synthetic"),
    #[cfg(feature = "model-schnet")]
    ("model", "schnet"),
    #[cfg(feature = "model-mpeu")]
    ("model", "mpeu"),
    #[cfg(feature = "model-painn")]
    ("model", "painn"),
    #[cfg(feature = "batcher-dynamic")]
    ("batcher", "dynamic"),
    #[cfg(feature = "batcher-static")]
    ("batcher", "static"),
    #[cfg(feature = "sink-parquet")]
    ("sink", "parquet"),
    #[cfg(feature = "sink-console")]
    ("sink", "console"),
];

/// References every enabled plugin crate so the linker keeps their registrations.
pub fn link() {
    #[cfg(feature = "batcher-dynamic")]
    batcher_dynamic::link();
    #[cfg(feature = "batcher-static")]
    batcher_static::link();
    #[cfg(feature = "dataset-aflow")]
    dataset_aflow::link();
    #[cfg(feature = "dataset-cif")]
    dataset_cif::link();
    #[cfg(feature = "dataset-qm9")]
    dataset_qm9::link();
    #[cfg(feature = "dataset-synthetic")]
    dataset_synthetic::link();
    #[cfg(feature = "model-schnet")]
    model_schnet::link();
    #[cfg(feature = "model-mpeu")]
    model_mpeu::link();
    #[cfg(feature = "model-painn")]
    model_painn::link();
    #[cfg(feature = "sink-parquet")]
    sink_parquet::link();
    #[cfg(feature = "sink-console")]
    sink_console::link();
}
