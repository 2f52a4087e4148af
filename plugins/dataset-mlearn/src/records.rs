//! The mlearn structures held column-wise, in ASE's units and conventions, as imported and as
//! stored in Parquet.

use geobatch_core::SplitName;

/// The six elements of mlearn, in the order they are imported.
pub const ELEMENTS: [&str; 6] = ["Cu", "Ge", "Li", "Mo", "Ni", "Si"];

/// mlearn structures, column-wise.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Records {
    /// Element of the structure's file (`Cu`, ..., `Si`).
    pub element: Vec<String>,
    /// Place of the structure in its element's `id_prop.json` (from 0).
    pub index: Vec<u32>,
    /// Id: `<element>-<jid>` (the JSON's `jid` is a counter within its element).
    pub id: Vec<String>,
    /// Split the element's `config.json` gives (data order kept: train, validation, test).
    pub split: Vec<SplitName>,
    /// Atom offsets (structures + 1).
    pub atom_offsets: Vec<u32>,
    /// Atomic number of every atom.
    pub numbers: Vec<u8>,
    /// Cartesian position of every atom (Angstrom).
    pub positions: Vec<[f64; 3]>,
    /// Force on every atom (eV/Angstrom).
    pub forces: Vec<[f64; 3]>,
    /// Lattice vectors as rows, row-major (Angstrom).
    pub lattice: Vec<[f64; 9]>,
    /// Total energy (eV).
    pub energy: Vec<f64>,
    /// Stress, row-major 3x3, ASE's convention (eV/Angstrom^3, positive under tension);
    /// `None` where the file's stress is a copy of a training structure's (dropped on import).
    pub stress: Vec<Option<[f64; 9]>>,
}

impl Records {
    /// Empty records.
    pub fn new() -> Self {
        Records {
            atom_offsets: vec![0],
            ..Default::default()
        }
    }

    /// Number of structures.
    pub fn len(&self) -> usize {
        self.id.len()
    }

    /// Whether there is no structure.
    pub fn is_empty(&self) -> bool {
        self.id.is_empty()
    }

    /// Atom range of structure `s`.
    pub fn atoms(&self, s: usize) -> std::ops::Range<usize> {
        self.atom_offsets[s] as usize..self.atom_offsets[s + 1] as usize
    }

    /// Structures whose stress was dropped.
    pub fn dropped_stresses(&self) -> usize {
        self.stress.iter().filter(|s| s.is_none()).count()
    }
}
