//! geobatch's disk-backed store: a data set too large for memory kept as one NumPy column file
//! per field (`positions.npy`, `n_node.npy`, ...) and a manifest (`store.json`).
//!
//! - **Written in bounded memory**: [`StoreWriter`] appends a set's structures part by part and
//!   commits each part (the columns, then the manifest that counts them), so an import holds one
//!   part in memory whatever the store's size, and a run that fails midway leaves every
//!   committed part readable.
//! - **Read a batch at a time**: [`DiskStore`] maps the columns; planning reads the size columns
//!   alone ([`DiskStore::sizes`]), and [`DiskStore::set`] is a `GraphSet` whose atom and edge
//!   columns are read in place, so that collating a batch reads only its rows from the disk.
//! - **Open to the user's tools**: every column is a `.npy` file NumPy maps as it is
//!   (`np.load("store/positions.npy", mmap_mode="r")`), the manifest is JSON.
//!
//! The layout and why it was chosen over Arrow IPC, Parquet and sharded files: docs/datasets.md,
//! "Data beyond memory".

mod column;
mod layout;
mod manifest;
pub mod npy;
pub mod pages;
mod reader;
mod splits;
mod writer;

pub use manifest::{FORMAT, MANIFEST, Manifest, StoreMeta, VERSION};
pub use reader::DiskStore;
pub use splits::{SplitWriter, Written, open_splits, split_dir, write_dataset};
pub use writer::{Classes, StoreWriter};

use std::path::{Path, PathBuf};

/// The column files' names (without `.npy`).
pub mod names {
    /// Atoms of each structure (u32).
    pub const N_NODE: &str = "n_node";
    /// Stored edges of each structure, or its pair count (u32).
    pub const N_EDGE: &str = "n_edge";
    /// Each structure's first atom row (u64).
    pub const NODE_START: &str = "node_start";
    /// Each structure's first edge row (u64).
    pub const EDGE_START: &str = "edge_start";
    /// Each structure's first id byte (u64).
    pub const ID_START: &str = "id_start";
    /// Each structure's id length in bytes (u32).
    pub const ID_LEN: &str = "id_len";
    /// Each structure's lattice vectors as rows (f64, 3 x 3).
    pub const CELL: &str = "cell";
    /// Each structure's periodicity along a, b, c (u8, 3).
    pub const PBC: &str = "pbc";
    /// Each structure's targets (f32, one per target name).
    pub const TARGETS: &str = "targets";
    /// Each structure's stress (f32, 3 x 3), where the store carries stress.
    pub const STRESS: &str = "stress";
    /// Whether each structure's stress is known (u8).
    pub const STRESS_KNOWN: &str = "stress_known";
    /// Every atom's atomic number (u8).
    pub const NUMBERS: &str = "numbers";
    /// Every atom's species class: its element's place in the manifest's `elements` (u32).
    pub const SPECIES: &str = "species";
    /// Every atom's position (f32, 3; Angstrom).
    pub const POSITIONS: &str = "positions";
    /// Every atom's force (f32, 3; eV/Angstrom), where the store carries forces.
    pub const FORCES: &str = "forces";
    /// Every stored edge's sender, local to its structure (u32).
    pub const SENDERS: &str = "senders";
    /// Every stored edge's receiver, local to its structure (u32).
    pub const RECEIVERS: &str = "receivers";
    /// Every stored edge's vector (f32, 3).
    pub const VECTORS: &str = "vectors";
    /// Every stored edge's lattice shift (i32, 3), in a store with a potential's labels.
    pub const SHIFTS: &str = "shifts";
    /// The structures' ids, concatenated (u8).
    pub const IDS: &str = "ids";
}

/// Why a store could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A file is not what the store's manifest says it is (truncated, damaged, another layout).
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the row where one is to blame.
        message: String,
    },
    /// A request the store refuses (an existing store overwritten, a set of another kind).
    #[error("{0}")]
    Refused(String),
}

impl StoreError {
    fn io(path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
