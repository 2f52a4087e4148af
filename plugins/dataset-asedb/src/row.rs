//! One row of an ASE database: the atoms, the cell, the stored scalar properties and the
//! key-value pairs, whichever backend it came from.

use serde_json::{Map, Value};

/// The scalar columns of ASE's `systems` table (and keys of a JSON database's rows) that can be
/// targets, besides key-value pairs.
pub const COLUMNS: [&str; 4] = ["energy", "free_energy", "magmom", "charge"];

/// A row as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The row's id in the database.
    pub id: i64,
    /// ASE's `unique_id`, when present.
    pub unique_id: Option<String>,
    /// Atomic number of every atom.
    pub numbers: Vec<u8>,
    /// Cartesian positions (Angstrom).
    pub positions: Vec<[f64; 3]>,
    /// Lattice vectors as rows.
    pub cell: [[f64; 3]; 3],
    /// Periodicity along each lattice vector.
    pub pbc: [bool; 3],
    /// The values of [`COLUMNS`], in that order (`None`: NULL or absent).
    pub columns: [Option<f64>; 4],
    /// The key-value pairs.
    pub key_value_pairs: Map<String, Value>,
}

/// A value looked up by name in a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup<'a> {
    /// Not there (or NULL).
    Absent,
    /// A number.
    Number(f64),
    /// Something else (a string, a boolean), from the key-value pairs.
    Other(&'a Value),
}

impl Row {
    /// A column of [`COLUMNS`], or else a key-value pair, by name.
    pub fn get(&self, name: &str) -> Lookup<'_> {
        if let Some(i) = COLUMNS.iter().position(|c| *c == name) {
            return self.columns[i].map_or(Lookup::Absent, Lookup::Number);
        }
        match self.key_value_pairs.get(name) {
            None | Some(Value::Null) => Lookup::Absent,
            Some(v) => v.as_f64().map_or(Lookup::Other(v), Lookup::Number),
        }
    }
}

/// An atomic number from a stored integer, when it is one (1 to 118).
pub fn element(z: i64) -> Option<u8> {
    u8::try_from(z).ok().filter(|z| (1..=118).contains(z))
}

/// The periodic directions of ASE's `pbc` bit mask (1: a, 2: b, 4: c).
pub fn pbc_of_mask(mask: i64) -> [bool; 3] {
    [mask & 1 != 0, mask & 2 != 0, mask & 4 != 0]
}
