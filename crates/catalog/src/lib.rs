//! geobatch-catalog: re-exports every plugin crate (one cargo feature each, all on by default).
//!
//! This is the single list of what a build contains. Plugins register themselves with typetag and
//! inventory at link time; a crate nobody references is not linked and its plugins would silently
//! vanish, so binaries call [`link`], which references every enabled plugin crate.

#[cfg(feature = "batcher-dynamic")]
pub use geobatch_batcher_dynamic as batcher_dynamic;
#[cfg(feature = "batcher-nodes")]
pub use geobatch_batcher_nodes as batcher_nodes;
#[cfg(feature = "batcher-static")]
pub use geobatch_batcher_static as batcher_static;
#[cfg(feature = "dataset-aflow")]
pub use geobatch_dataset_aflow as dataset_aflow;
#[cfg(feature = "dataset-cif")]
pub use geobatch_dataset_cif as dataset_cif;
#[cfg(feature = "dataset-graphs")]
pub use geobatch_dataset_graphs as dataset_graphs;
#[cfg(feature = "dataset-qm9")]
pub use geobatch_dataset_qm9 as dataset_qm9;
#[cfg(feature = "dataset-synthetic")]
pub use geobatch_dataset_synthetic as dataset_synthetic;
#[cfg(feature = "model-gcn")]
pub use geobatch_model_gcn as model_gcn;
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
    #[cfg(feature = "dataset-graphs")]
    ("dataset", "npz"),
    #[cfg(feature = "dataset-graphs")]
    ("dataset", "ogb"),
    #[cfg(feature = "dataset-graphs")]
    ("dataset", "sbm"),
    #[cfg(feature = "batcher-nodes")]
    ("batcher", "ibmb-node"),
    #[cfg(feature = "batcher-nodes")]
    ("batcher", "ibmb-batch"),
    #[cfg(feature = "batcher-nodes")]
    ("batcher", "cluster"),
    #[cfg(feature = "batcher-nodes")]
    ("batcher", "neighbor"),
    #[cfg(feature = "batcher-nodes")]
    ("batcher", "full"),
    #[cfg(feature = "model-gcn")]
    ("model", "gcn"),
    #[cfg(feature = "model-gcn")]
    ("model", "sage"),
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
    #[cfg(feature = "dataset-graphs")]
    dataset_graphs::link();
    #[cfg(feature = "batcher-nodes")]
    batcher_nodes::link();
    #[cfg(feature = "model-gcn")]
    model_gcn::link();
}
