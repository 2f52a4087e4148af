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

    /// The content key of structure `s` as its graph will have it
    /// ([`geobatch_core::graph::content_key_of`]: atoms, float32 positions, cell, energy).
    pub fn content_key(&self, s: usize) -> u64 {
        let atoms = self.atoms(s);
        let positions: Vec<[f32; 3]> = self.positions[atoms.clone()]
            .iter()
            .map(|p| p.map(|x| x as f32))
            .collect();
        let l = self.lattice[s];
        let cell = geobatch_core::Cell {
            lattice: [[l[0], l[1], l[2]], [l[3], l[4], l[5]], [l[6], l[7], l[8]]],
            pbc: [true; 3],
        };
        geobatch_core::graph::content_key_of(
            &self.numbers[atoms],
            &positions,
            &cell,
            &[self.energy[s] as f32],
        )
    }

    /// Which structures are validation or test structures that copy a training structure of
    /// their element (a test structure trained on would leak into the test errors).
    pub fn copies_of_training(&self) -> Vec<bool> {
        let train: std::collections::HashSet<(&str, u64)> = (0..self.len())
            .filter(|&s| self.split[s] == SplitName::Train)
            .map(|s| (self.element[s].as_str(), self.content_key(s)))
            .collect();
        (0..self.len())
            .map(|s| {
                self.split[s] != SplitName::Train
                    && train.contains(&(self.element[s].as_str(), self.content_key(s)))
            })
            .collect()
    }

    /// The records without the structures where `drop` is true.
    pub fn without(&self, drop: &[bool]) -> Records {
        let mut out = Records::new();
        for s in (0..self.len()).filter(|&s| !drop[s]) {
            let atoms = self.atoms(s);
            out.numbers.extend_from_slice(&self.numbers[atoms.clone()]);
            out.positions
                .extend_from_slice(&self.positions[atoms.clone()]);
            out.forces.extend_from_slice(&self.forces[atoms]);
            out.atom_offsets.push(out.numbers.len() as u32);
            out.element.push(self.element[s].clone());
            out.index.push(self.index[s]);
            out.id.push(self.id[s].clone());
            out.split.push(self.split[s]);
            out.lattice.push(self.lattice[s]);
            out.energy.push(self.energy[s]);
            out.stress.push(self.stress[s]);
        }
        out
    }

    /// Structures whose stress was dropped.
    pub fn dropped_stresses(&self) -> usize {
        self.stress.iter().filter(|s| s.is_none()).count()
    }
}
