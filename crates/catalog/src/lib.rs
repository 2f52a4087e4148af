//! geobatch-catalog: re-exports every plugin crate (one cargo feature each, all on by default).
//!
//! This is the single list of what a build contains. Plugins register themselves (`#[plugin]`) with
//! inventory at link time; a crate nobody references is not linked and its plugins would silently
//! vanish, so binaries call [`link`], which references every enabled plugin crate. The tasks the
//! runner does not know itself are linked the same way: the node-level task (`geobatch-node-run`,
//! feature `task-node`) and the potential (`geobatch-potential-run`, feature `task-potential`).

/// Declares the catalog from one line per plugin crate: `"feature" => crate as alias: [(kind,
/// name), ...];` gives the re-export `alias`, the crate's entry in [`CRATES`], its plugins in
/// [`EXPECTED`] and its call in [`link`], all under its cargo feature, so that none can be
/// forgotten apart from the others.
macro_rules! plugins {
    ($($feature:literal => $krate:ident as $alias:ident: [$(($kind:literal, $name:literal)),* $(,)?];)*) => {
        $(
            #[cfg(feature = $feature)]
            pub use $krate as $alias;
        )*

        /// The plugin crates this build links, by cargo feature (package name without `geobatch-`).
        pub const CRATES: &[&str] = &[$(
            #[cfg(feature = $feature)]
            $feature,
        )*];

        /// Plugin names this build must register, as (kind, name).
        pub const EXPECTED: &[(&str, &str)] = &[$($(
            #[cfg(feature = $feature)]
            ($kind, $name),
        )*)*];

        /// References every enabled plugin and task crate so the linker keeps their
        /// registrations.
        pub fn link() {
            #[cfg(feature = "task-node")]
            geobatch_node_run::link();
            #[cfg(feature = "task-potential")]
            geobatch_potential_run::link();
            $(
                #[cfg(feature = $feature)]
                $alias::link();
            )*
        }
    };
}

// One line per plugin crate (its cargo feature is its package name without `geobatch-`); a plugin
// crate under plugins/ that is missing here fails the catalog's tests.
plugins! {
    "batcher-atoms" => geobatch_batcher_atoms as batcher_atoms: [("batcher", "atoms")];
    "batcher-dynamic" => geobatch_batcher_dynamic as batcher_dynamic: [("batcher", "dynamic")];
    "batcher-nodes" => geobatch_batcher_nodes as batcher_nodes: [("batcher", "ibmb-node"), ("batcher", "ibmb-batch"), ("batcher", "cluster"), ("batcher", "neighbor"), ("batcher", "full")];
    "batcher-pack" => geobatch_batcher_pack as batcher_pack: [("batcher", "pack")];
    "batcher-static" => geobatch_batcher_static as batcher_static: [("batcher", "static")];
    "dataset-aflow" => geobatch_dataset_aflow as dataset_aflow: [("dataset", "aflow")];
    "dataset-asedb" => geobatch_dataset_asedb as dataset_asedb: [("dataset", "asedb")];
    "dataset-cif" => geobatch_dataset_cif as dataset_cif: [("dataset", "cif")];
    "dataset-extxyz" => geobatch_dataset_extxyz as dataset_extxyz: [("dataset", "extxyz")];
    "dataset-graphs" => geobatch_dataset_graphs as dataset_graphs: [("dataset", "npz"), ("dataset", "ogb"), ("dataset", "sbm")];
    "dataset-mlearn" => geobatch_dataset_mlearn as dataset_mlearn: [("dataset", "mlearn")];
    "dataset-store" => geobatch_dataset_store as dataset_store: [("dataset", "store")];
    "dataset-qm9" => geobatch_dataset_qm9 as dataset_qm9: [("dataset", "qm9")];
    "dataset-synthetic" => geobatch_dataset_synthetic as dataset_synthetic: [("dataset", "synthetic")];
    "model-gcn" => geobatch_model_gcn as model_gcn: [("model", "gcn"), ("model", "sage")];
    "model-mpeu" => geobatch_model_mpeu as model_mpeu: [("model", "mpeu")];
    // registered twice: for the graph-level task and as a potential
    "model-painn" => geobatch_model_painn as model_painn: [("model", "painn"), ("model", "painn")];
    // registered twice: for graph-level and for node-level tasks
    "model-python" => geobatch_model_python as model_python: [("model", "python"), ("model", "python")];
    // registered twice: for the graph-level task and as a potential
    "model-schnet" => geobatch_model_schnet as model_schnet: [("model", "schnet"), ("model", "schnet")];
    "sink-console" => geobatch_sink_console as sink_console: [("sink", "console")];
    "sink-parquet" => geobatch_sink_parquet as sink_parquet: [("sink", "parquet")];
}

/// The node-level task's runner part (its configs, training, evaluation and study).
#[cfg(feature = "task-node")]
pub use geobatch_node_run as task_node;

/// The potential's runner part (its training on the graph level's data, metrics, saved model,
/// `predict` and `--dump`).
#[cfg(feature = "task-potential")]
pub use geobatch_potential_run as task_potential;
