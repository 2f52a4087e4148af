//! `store.json`: what a store holds, written after its columns at every commit (replaced whole,
//! by a rename), so that a reader sees the rows of the last commit and no others.

use crate::StoreError;
use geobatch_core::GraphRule;
use geobatch_core::graph::{Edges, GraphSet, LabelKinds};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The manifest's name in a store's folder.
pub const MANIFEST: &str = "store.json";
/// The `format` every manifest names.
pub const FORMAT: &str = "geobatch-store";
/// The layout version this build writes and reads.
pub const VERSION: u32 = 2;

/// What a store holds: its committed counts and the sets' common description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The layout version ([`VERSION`]).
    pub version: u32,
    /// Committed structures.
    pub graphs: u64,
    /// Committed atoms (the rows of the atom columns).
    pub atoms: u64,
    /// Committed stored edges (0 where the edges are all pairs, made on the fly).
    pub edges: u64,
    /// Committed bytes of structure ids.
    pub id_bytes: u64,
    /// Commits so far (one per appended part).
    pub commits: u64,
    /// Whether the writer finished: every structure it was to write is committed (a store
    /// whose import stopped midway holds the parts committed before, readable, and says so).
    #[serde(default)]
    pub finished: bool,
    /// Atoms of the committed structures that could have an edge and receive none (what the
    /// graph rule leaves alone), counted as they were written; absent: count them from the
    /// edges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alone: Option<u64>,
    /// The sets' common description.
    #[serde(flatten)]
    pub meta: StoreMeta,
    /// The atomic numbers met, in the order first met: the store's species classes (a class
    /// keeps its number as structures with new elements are appended).
    pub elements: Vec<u8>,
}

/// What every set appended to a store shares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreMeta {
    /// The targets' names, in their column order.
    pub target_names: Vec<String>,
    /// Which labels the structures carry.
    pub labels: LabelKinds,
    /// The rule the edges were made by.
    pub rule: GraphRule,
    /// Whether edges are stored (false: all pairs, made when a batch is collated).
    pub stored_edges: bool,
    /// Whether every stored edge keeps its lattice shift.
    pub shifts: bool,
}

impl StoreMeta {
    /// The description of `set`.
    pub fn of(set: &GraphSet) -> StoreMeta {
        // a stored edge keeps its shift in a set with a potential's labels (StoredEdges)
        let stored_edges = matches!(set.edges(), Edges::Stored(_));
        StoreMeta {
            target_names: set.target_names().to_vec(),
            labels: set.labels(),
            rule: set.rule().clone(),
            stored_edges,
            shifts: stored_edges && set.labels().any(),
        }
    }
}

impl Manifest {
    /// An empty store's manifest.
    pub fn empty(meta: StoreMeta) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            version: VERSION,
            graphs: 0,
            atoms: 0,
            edges: 0,
            id_bytes: 0,
            commits: 0,
            finished: false,
            alone: Some(0),
            meta,
            elements: Vec::new(),
        }
    }

    /// Reads and checks the manifest of the store in `dir`.
    pub fn read(dir: &Path) -> Result<Manifest, StoreError> {
        let path = dir.join(MANIFEST);
        let text =
            geobatch_datafiles::files::read_text(&path).map_err(|e| StoreError::io(&path, e))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| StoreError::Format {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if m.format != FORMAT || m.version != VERSION {
            return Err(StoreError::Format {
                path,
                message: format!(
                    "a {:?} store of version {}, where this geobatch reads {FORMAT:?} version {VERSION}",
                    m.format, m.version
                ),
            });
        }
        if m.alone.is_some_and(|a| a > m.atoms) {
            return Err(StoreError::Format {
                path,
                message: format!(
                    "alone: {} atoms without an edge, of {} atoms in all",
                    m.alone.unwrap_or(0),
                    m.atoms
                ),
            });
        }
        Ok(m)
    }

    /// Writes the manifest into `dir` whole, on the disk when this returns: a reader sees the
    /// old one or this one.
    pub fn write(&self, dir: &Path) -> Result<(), StoreError> {
        let path = dir.join(MANIFEST);
        let text = serde_json::to_string_pretty(self).map_err(|e| StoreError::Format {
            path: path.clone(),
            message: e.to_string(),
        })?;
        geobatch_datafiles::atomic::write_atomic(&path, |file| {
            std::io::Write::write_all(file, text.as_bytes())?;
            file.sync_all()
        })
        .map_err(|e| StoreError::io(&path, e))
    }
}
