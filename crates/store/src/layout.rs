//! The columns a store keeps, by what it describes: their files, element types, row widths and
//! what counts their rows.

use crate::manifest::{Manifest, StoreMeta};
use crate::names;
use crate::npy::Element;

/// What counts a column's rows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rows {
    /// One row per structure.
    Graphs,
    /// One row per atom.
    Atoms,
    /// One row per stored edge.
    Edges,
    /// One row per byte of the concatenated ids.
    IdBytes,
}

impl Rows {
    /// The committed rows of a column counted so, by `m`.
    pub(crate) fn of(self, m: &Manifest) -> u64 {
        match self {
            Rows::Graphs => m.graphs,
            Rows::Atoms => m.atoms,
            Rows::Edges => m.edges,
            Rows::IdBytes => m.id_bytes,
        }
    }
}

/// One column: its file's stem, NumPy type, element size, row width and row count.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) name: &'static str,
    pub(crate) descr: &'static str,
    pub(crate) size: usize,
    pub(crate) width: Vec<usize>,
    pub(crate) rows: Rows,
}

fn spec<T: Element>(name: &'static str, width: &[usize], rows: Rows) -> Spec {
    Spec {
        name,
        descr: T::DESCR,
        size: size_of::<T>(),
        width: width.to_vec(),
        rows,
    }
}

/// Every column a store described by `meta` keeps.
pub(crate) fn columns(meta: &StoreMeta) -> Vec<Spec> {
    use Rows::{Atoms, Edges, Graphs, IdBytes};
    let mut all = vec![
        spec::<u32>(names::N_NODE, &[], Graphs),
        spec::<u32>(names::N_EDGE, &[], Graphs),
        spec::<u64>(names::NODE_START, &[], Graphs),
        spec::<u64>(names::EDGE_START, &[], Graphs),
        spec::<u64>(names::ID_START, &[], Graphs),
        spec::<u32>(names::ID_LEN, &[], Graphs),
        spec::<f64>(names::CELL, &[3, 3], Graphs),
        spec::<u8>(names::PBC, &[3], Graphs),
        spec::<f32>(names::TARGETS, &[meta.target_names.len()], Graphs),
        spec::<u8>(names::NUMBERS, &[], Atoms),
        spec::<u32>(names::SPECIES, &[], Atoms),
        spec::<f32>(names::POSITIONS, &[3], Atoms),
        spec::<u8>(names::IDS, &[], IdBytes),
    ];
    if meta.labels.stress {
        all.push(spec::<f32>(names::STRESS, &[3, 3], Graphs));
        all.push(spec::<u8>(names::STRESS_KNOWN, &[], Graphs));
    }
    if meta.labels.forces {
        all.push(spec::<f32>(names::FORCES, &[3], Atoms));
    }
    if meta.stored_edges {
        all.push(spec::<u32>(names::SENDERS, &[], Edges));
        all.push(spec::<u32>(names::RECEIVERS, &[], Edges));
        all.push(spec::<f32>(names::VECTORS, &[3], Edges));
        if meta.shifts {
            all.push(spec::<i32>(names::SHIFTS, &[3], Edges));
        }
    }
    all
}
