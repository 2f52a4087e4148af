//! QM9 held column-wise, as imported and as stored in Parquet.

use crate::properties::{POLARIZABILITY, PROPERTIES};

/// Molecules of QM9, column-wise.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Qm9Records {
    /// GDB index of each molecule (1..=133885).
    pub index: Vec<u32>,
    /// Id, e.g. `dsgdb9nsd_000001`.
    pub id: Vec<String>,
    /// SMILES of the relaxed geometry.
    pub smiles: Vec<String>,
    /// Atom offsets (molecules + 1).
    pub atom_offsets: Vec<u32>,
    /// Atomic numbers of every atom.
    pub atomic_numbers: Vec<u8>,
    /// Positions of every atom, Angstrom, flattened x, y, z.
    pub positions: Vec<f32>,
    /// The 15 scalar properties, one column each in [`PROPERTIES`] order.
    pub properties: [Vec<f64>; 15],
    /// Polarizability tensor components in [`POLARIZABILITY`] order; `None` when unknown.
    pub polarizability: [Vec<Option<f64>>; 6],
}

impl Qm9Records {
    /// Empty records.
    pub fn new() -> Self {
        Qm9Records {
            atom_offsets: vec![0],
            ..Default::default()
        }
    }

    /// Number of molecules.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether there is no molecule.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Atom range of molecule `m`.
    pub fn atoms(&self, m: usize) -> std::ops::Range<usize> {
        self.atom_offsets[m] as usize..self.atom_offsets[m + 1] as usize
    }

    /// Column of a stored property by name (`U0` is the raw Hartree value here).
    pub fn property(&self, name: &str) -> Option<&[f64]> {
        PROPERTIES
            .iter()
            .position(|p| p.name == name)
            .map(|i| self.properties[i].as_slice())
    }

    /// Column of a polarizability component by name.
    pub fn polarizability(&self, name: &str) -> Option<&[Option<f64>]> {
        POLARIZABILITY
            .iter()
            .position(|p| p.0 == name)
            .map(|i| self.polarizability[i].as_slice())
    }

    /// Appends one molecule.
    pub fn push(&mut self, m: Molecule) {
        self.index.push(m.index);
        self.id.push(m.id);
        self.smiles.push(m.smiles);
        self.atomic_numbers.extend_from_slice(&m.atomic_numbers);
        self.positions.extend(m.positions.iter().flatten());
        self.atom_offsets.push(self.atomic_numbers.len() as u32);
        for (col, v) in self.properties.iter_mut().zip(m.properties) {
            col.push(v);
        }
        for (col, v) in self.polarizability.iter_mut().zip(m.polarizability) {
            col.push(v);
        }
    }

    /// Appends the molecules of `other`.
    pub fn extend(&mut self, other: &Qm9Records) {
        let base = self.atomic_numbers.len() as u32;
        self.index.extend_from_slice(&other.index);
        self.id.extend_from_slice(&other.id);
        self.smiles.extend_from_slice(&other.smiles);
        self.atomic_numbers.extend_from_slice(&other.atomic_numbers);
        self.positions.extend_from_slice(&other.positions);
        self.atom_offsets
            .extend(other.atom_offsets.iter().skip(1).map(|&o| base + o));
        for (col, more) in self.properties.iter_mut().zip(&other.properties) {
            col.extend_from_slice(more);
        }
        for (col, more) in self.polarizability.iter_mut().zip(&other.polarizability) {
            col.extend_from_slice(more);
        }
    }

    /// The first `n` molecules.
    pub fn truncate(&mut self, n: usize) {
        if n >= self.len() {
            return;
        }
        let atoms = self.atom_offsets[n] as usize;
        self.index.truncate(n);
        self.id.truncate(n);
        self.smiles.truncate(n);
        self.atom_offsets.truncate(n + 1);
        self.atomic_numbers.truncate(atoms);
        self.positions.truncate(3 * atoms);
        self.properties.iter_mut().for_each(|c| c.truncate(n));
        self.polarizability.iter_mut().for_each(|c| c.truncate(n));
    }
}

/// One molecule while importing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Molecule {
    /// GDB index.
    pub index: u32,
    /// Id.
    pub id: String,
    /// SMILES.
    pub smiles: String,
    /// Atomic numbers.
    pub atomic_numbers: Vec<u8>,
    /// Positions (Angstrom).
    pub positions: Vec<[f32; 3]>,
    /// Scalar properties in [`PROPERTIES`] order.
    pub properties: [f64; 15],
    /// Polarizability components, when known.
    pub polarizability: [Option<f64>; 6],
}
