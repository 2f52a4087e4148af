//! One row of an ASE database: the atoms, the cell, the stored scalar properties and the
//! key-value pairs, whichever backend it came from.

use serde_json::{Map, Value};
use std::borrow::Cow;

/// What a non-finite number becomes in [`parse_json`]: a string JSON cannot otherwise hold.
const NON_FINITE: char = '\u{0}';

/// Parses JSON as Python's `json` (ASE's writer) writes it: the bare tokens `NaN`, `Infinity`
/// and `-Infinity`, which JSON has not, are read as those numbers ([`number`] gives them back)
/// instead of refusing the whole text.
pub fn parse_json(bytes: &[u8]) -> serde_json::Result<Value> {
    serde_json::from_slice(&mark_non_finite(bytes))
}

/// The text with `NaN`, `Infinity` and `-Infinity` outside strings made into marker strings.
fn mark_non_finite(bytes: &[u8]) -> Cow<'_, [u8]> {
    const TOKENS: [&[u8]; 3] = [b"-Infinity", b"Infinity", b"NaN"];
    let mut out: Option<Vec<u8>> = None;
    let (mut in_string, mut escaped, mut i) = (false, false, 0);
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            (escaped, in_string) = (!escaped && b == b'\\', b != b'"' || escaped);
        } else if b == b'"' {
            in_string = true;
        } else if let Some(t) = TOKENS.iter().find(|t| bytes[i..].starts_with(t)) {
            let o = out.get_or_insert_with(|| bytes[..i].to_vec());
            o.extend_from_slice(format!("\"\\u0000{}\"", String::from_utf8_lossy(t)).as_bytes());
            i += t.len();
            continue;
        }
        if let Some(o) = out.as_mut() {
            o.push(b);
        }
        i += 1;
    }
    out.map_or(Cow::Borrowed(bytes), Cow::Owned)
}

/// A number of a value [`parse_json`] read: a JSON number, or a non-finite one it marked.
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.strip_prefix(NON_FINITE).and_then(|t| match t {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        }),
        _ => None,
    }
}

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
    /// The calculator's forces (eV/Angstrom, one row per atom), when stored.
    pub forces: Option<Vec<[f64; 3]>>,
    /// The calculator's stress as stored (6 Voigt values `xx yy zz yz xz xy` or 9, eV/A^3).
    pub stress: Option<Vec<f64>>,
}

/// Rows of three from a flat list whose length is `3 * n`, for `n` atoms.
pub fn triples(v: &[f64], n: usize, what: &str) -> std::result::Result<Vec<[f64; 3]>, String> {
    if v.len() != 3 * n {
        return Err(format!("{what} has {} values for {n} atoms", v.len()));
    }
    Ok(v.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect())
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
            Some(v) => number(v).map_or(Lookup::Other(v), Lookup::Number),
        }
    }
}

/// A cell's nine numbers (lattice vectors one after another) as its three rows.
pub fn cell_rows(c: &[f64]) -> [[f64; 3]; 3] {
    [[c[0], c[1], c[2]], [c[3], c[4], c[5]], [c[6], c[7], c[8]]]
}

/// An atomic number from a stored integer, when it is one (1 to 118).
pub fn element(z: i64) -> Option<u8> {
    u8::try_from(z).ok().filter(|z| (1..=118).contains(z))
}

/// The periodic directions of ASE's `pbc` bit mask (1: a, 2: b, 4: c).
pub fn pbc_of_mask(mask: i64) -> [bool; 3] {
    [mask & 1 != 0, mask & 2 != 0, mask & 4 != 0]
}
