//! ASE's SQLite databases (`ase.db`, format versions 5 to 9): the `systems` table's atoms,
//! positions, cell, periodicity, scalar properties and key-value pairs (JSON text). Arrays are
//! stored as the raw little-endian bytes of NumPy arrays: atomic numbers as 32-bit integers
//! (64-bit ones are read too), positions and cells as 64-bit floats.

use crate::row::{COLUMNS, Row, element, pbc_of_mask};
use geobatch_core::{Error, Result};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// The first bytes of every SQLite file.
pub const MAGIC: &[u8] = b"SQLite format 3\0";

/// The ASE database format versions read.
pub const VERSIONS: std::ops::RangeInclusive<i64> = 5..=9;

fn f64s(blob: &[u8]) -> Option<Vec<f64>> {
    blob.len().is_multiple_of(8).then(|| {
        blob.chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect()
    })
}

/// The atomic numbers of `n` atoms from a blob of 32-bit (or 64-bit) integers.
fn numbers(blob: &[u8], n: usize) -> std::result::Result<Vec<u8>, String> {
    let ints: Vec<i64> = if blob.len() == 4 * n {
        blob.chunks_exact(4)
            .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect()
    } else if blob.len() == 8 * n {
        blob.chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect()
    } else {
        return Err(format!(
            "numbers is {} bytes, which is no array of integers for {n} atoms",
            blob.len()
        ));
    };
    ints.iter()
        .map(|&z| element(z).ok_or_else(|| format!("atomic number {z} is not an element")))
        .collect()
}

fn blob<'a>(v: ValueRef<'a>, what: &str) -> std::result::Result<&'a [u8], String> {
    match v {
        ValueRef::Blob(b) => Ok(b),
        ValueRef::Null => Err(format!("{what} is NULL")),
        _ => Err(format!("{what} is not a blob")),
    }
}

fn real(v: ValueRef<'_>, what: &str) -> std::result::Result<Option<f64>, String> {
    match v {
        ValueRef::Null => Ok(None),
        ValueRef::Real(x) => Ok(Some(x)),
        ValueRef::Integer(i) => Ok(Some(i as f64)),
        _ => Err(format!("{what} is not a number")),
    }
}

fn text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        _ => None,
    }
}

/// Hands every row of an ASE SQLite database to `each`, by id, one row in memory at a time.
pub fn for_each_row(path: &Path, each: &mut dyn FnMut(Row) -> Result<()>) -> Result<()> {
    let name = path.display().to_string();
    let sql = sql_error(&name);
    let con = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql)?;
    let version: String = con
        .query_row(
            "SELECT value FROM information WHERE name = 'version'",
            [],
            |r| r.get(0),
        )
        .map_err(sql)?;
    let v = version.trim().parse::<i64>().unwrap_or(-1);
    if !VERSIONS.contains(&v) {
        return Err(Error::invalid(format!(
            "{name}: ASE database format version {version:?}; versions {} to {} are read \
             (convert with a current ase: `ase db OLD.db --insert-into NEW.db`)",
            VERSIONS.start(),
            VERSIONS.end()
        )));
    }
    let mut stmt = con
        .prepare(&format!(
            "SELECT id, unique_id, numbers, positions, cell, pbc, {}, key_value_pairs, forces, \
             stress FROM systems ORDER BY id",
            COLUMNS.join(", ")
        ))
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    while let Some(r) = rows.next().map_err(sql)? {
        each(row_of(r, &name)?)?;
    }
    Ok(())
}

/// An SQLite error of the file `name`, as the error of a read.
fn sql_error(name: &str) -> impl Fn(rusqlite::Error) -> Error + Copy + '_ {
    move |e| {
        Error::invalid(format!(
            "{name}: {e} (is this an ASE database written by ase.db?)"
        ))
    }
}

/// One row of the `systems` table (the columns of [`read`]'s query, in order); `name` names the
/// file in errors.
fn row_of(r: &rusqlite::Row<'_>, name: &str) -> Result<Row> {
    let sql = sql_error(name);
    let id: i64 = r.get(0).map_err(sql)?;
    let bad = |m: String| Error::invalid(format!("{name}: row id {id}: {m}"));
    let get = |i: usize| r.get_ref(i).map_err(sql);
    let pos = f64s(blob(get(3)?, "positions").map_err(bad)?)
        .filter(|p| p.len().is_multiple_of(3))
        .ok_or_else(|| bad("positions is not an array of 3-vectors of 64-bit floats".into()))?;
    let positions: Vec<[f64; 3]> = pos.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
    let numbers = numbers(blob(get(2)?, "numbers").map_err(bad)?, positions.len()).map_err(bad)?;
    let cell = f64s(blob(get(4)?, "cell").map_err(bad)?)
        .filter(|c| c.len() == 9)
        .ok_or_else(|| bad("cell is not 9 64-bit floats".into()))?;
    let pbc = match get(5)? {
        ValueRef::Integer(m) => pbc_of_mask(m),
        ValueRef::Null => [false; 3],
        _ => return Err(bad("pbc is not an integer".into())),
    };
    let mut columns = [None; 4];
    for (k, c) in COLUMNS.iter().enumerate() {
        columns[k] = real(get(6 + k)?, c).map_err(bad)?;
    }
    let kvp = match get(6 + COLUMNS.len())? {
        ValueRef::Null => serde_json::Map::new(),
        v => {
            let t = text(v).ok_or_else(|| bad("key_value_pairs is not text".into()))?;
            match crate::row::parse_json(t.as_bytes()) {
                Ok(serde_json::Value::Object(m)) => m,
                Ok(_) => return Err(bad("key_value_pairs is not a JSON object".into())),
                Err(e) => {
                    return Err(bad(format!("key_value_pairs is not JSON ({e})")));
                }
            }
        }
    };
    let arrays = 7 + COLUMNS.len();
    let optional_blob = |i: usize, what: &str| -> Result<Option<Vec<f64>>> {
        match get(i)? {
            ValueRef::Null => Ok(None),
            ValueRef::Blob(b) => f64s(b)
                .map(Some)
                .ok_or_else(|| bad(format!("{what} is not an array of 64-bit floats"))),
            _ => Err(bad(format!("{what} is not a blob"))),
        }
    };
    let forces = optional_blob(arrays, "forces")?
        .map(|f| crate::row::triples(&f, positions.len(), "forces"))
        .transpose()
        .map_err(bad)?;
    let stress = optional_blob(arrays + 1, "stress")?;
    Ok(Row {
        forces,
        stress,
        id,
        unique_id: text(get(1)?),
        numbers,
        positions,
        cell: crate::row::cell_rows(&cell),
        pbc,
        columns,
        key_value_pairs: kvp,
    })
}
