//! ASE's JSON databases (`ase.db` with a `.json` name, and ASE's own collections such as
//! `ase/collections/dcdft.json`): an object of rows by id, with `ids` giving their order. Arrays
//! are nested lists, `{"__ndarray__": [shape, dtype, flat values]}`, or (cells) an object whose
//! `array` is one of those.

use crate::row::{COLUMNS, Row, element, number, parse_json};
use geobatch_core::{Error, Result};
use serde_json::{Map, Value};
use std::path::Path;

/// The numbers of an array in any of ASE's JSON spellings, flattened.
fn flat(v: &Value) -> Option<Vec<&Value>> {
    match v {
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                match i {
                    Value::Array(_) => out.extend(flat(i)?),
                    other => out.push(other),
                }
            }
            Some(out)
        }
        Value::Object(o) => {
            if let Some(Value::Array(nd)) = o.get("__ndarray__") {
                // [shape, dtype, flat values]
                return match nd.as_slice() {
                    [_, _, values] => flat(values),
                    _ => None,
                };
            }
            o.get("array").and_then(flat)
        }
        _ => None,
    }
}

fn reals(v: &Value) -> Option<Vec<f64>> {
    flat(v)?.into_iter().map(number).collect()
}

/// One row from its JSON object.
fn row(id: i64, o: &Map<String, Value>) -> std::result::Result<Row, String> {
    let field = |k: &str| o.get(k).ok_or_else(|| format!("no {k}"));
    let pos = reals(field("positions")?)
        .filter(|p| p.len().is_multiple_of(3))
        .ok_or("positions is not a list of 3-vectors of numbers")?;
    let positions: Vec<[f64; 3]> = pos.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
    let numbers = flat(field("numbers")?)
        .ok_or("numbers is not a list")?
        .into_iter()
        .map(|z| {
            z.as_i64()
                .and_then(element)
                .ok_or_else(|| format!("numbers: {z} is not an atomic number (1 to 118)"))
        })
        .collect::<std::result::Result<Vec<u8>, String>>()?;
    if numbers.len() != positions.len() {
        return Err(format!(
            "{} numbers for {} positions",
            numbers.len(),
            positions.len()
        ));
    }
    let cell = match o.get("cell") {
        None => vec![0.0; 9],
        Some(c) => reals(c)
            .filter(|c| c.len() == 9)
            .ok_or("cell is not 9 numbers")?,
    };
    let pbc = match o.get("pbc") {
        None => [false; 3],
        Some(p) => {
            let b: Option<Vec<bool>> = flat(p)
                .ok_or("pbc is not a list")?
                .into_iter()
                .map(|x| x.as_bool().or_else(|| x.as_i64().map(|i| i != 0)))
                .collect();
            match b.as_deref() {
                Some(&[a, b, c]) => [a, b, c],
                _ => return Err("pbc is not three booleans".into()),
            }
        }
    };
    let columns = columns_of(o)?;
    let key_value_pairs = match o.get("key_value_pairs") {
        None => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err("key_value_pairs is not an object".into()),
    };
    let forces = match o.get("forces") {
        None | Some(Value::Null) => None,
        Some(f) => {
            let v = reals(f).ok_or("forces is not a list of numbers")?;
            Some(crate::row::triples(&v, positions.len(), "forces")?)
        }
    };
    let stress = match o.get("stress") {
        None | Some(Value::Null) => None,
        Some(s) => Some(reals(s).ok_or("stress is not a list of numbers")?),
    };
    Ok(Row {
        forces,
        stress,
        id,
        unique_id: o
            .get("unique_id")
            .and_then(Value::as_str)
            .map(str::to_string),
        numbers,
        positions,
        cell: crate::row::cell_rows(&cell),
        pbc,
        columns,
        key_value_pairs,
    })
}

/// The numeric columns of a row (energy, free energy, magnetic moment, charge), `None` where
/// the row has none.
fn columns_of(o: &Map<String, Value>) -> std::result::Result<[Option<f64>; 4], String> {
    let mut columns = [None; 4];
    for (k, c) in COLUMNS.iter().enumerate() {
        columns[k] = match o.get(*c) {
            None | Some(Value::Null) => None,
            Some(v) => Some(number(v).ok_or_else(|| format!("{c} is not a number"))?),
        };
    }
    // ASE's JSON rows never store `charge`: ASE's row computes it as the sum of the initial
    // charges (its SQLite rows store that sum)
    let charge = COLUMNS.iter().position(|c| *c == "charge");
    if let (Some(k), Some(q)) = (charge, o.get("initial_charges"))
        && columns[k].is_none()
    {
        let q = reals(q).ok_or("initial_charges is not a list of numbers")?;
        columns[k] = Some(q.iter().sum());
    }
    Ok(columns)
}

/// Every row of an ASE JSON database, in the order of its `ids` (by id when it has none).
pub fn read(path: &Path, bytes: &[u8]) -> Result<Vec<Row>> {
    let name = path.display().to_string();
    let top: Value =
        parse_json(bytes).map_err(|e| Error::invalid(format!("{name}: not JSON: {e}")))?;
    let Value::Object(top) = top else {
        return Err(Error::invalid(format!(
            "{name}: not an ASE JSON database (not a JSON object of rows)"
        )));
    };
    let ids: Vec<i64> = match top.get("ids") {
        Some(v) => v
            .as_array()
            .and_then(|a| a.iter().map(Value::as_i64).collect())
            .ok_or_else(|| Error::invalid(format!("{name}: ids is not a list of integers")))?,
        None => {
            let mut ids: Vec<i64> = top.keys().filter_map(|k| k.parse().ok()).collect();
            ids.sort_unstable();
            ids
        }
    };
    if ids.is_empty() {
        return Err(Error::invalid(format!(
            "{name}: not an ASE JSON database (no rows: no ids, no numbered entries)"
        )));
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let bad = |m: String| Error::invalid(format!("{name}: row id {id}: {m}"));
        let o = top
            .get(&id.to_string())
            .and_then(Value::as_object)
            .ok_or_else(|| bad("listed in ids but not an object in the file".into()))?;
        out.push(row(id, o).map_err(bad)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_array_spellings_and_cell_objects_read() {
        let text = r#"{"1": {
 "cell": {"array": {"__ndarray__": [[3, 3], "float64", [0.0, 3.6, 3.6, 1.8, 0.0, 1.8, 1.8, 1.8, 0.0]]}, "__ase_objtype__": "cell"},
 "energy": -3.5,
 "key_value_pairs": {"name": "cu", "band_gap": 0.0, "ok": true},
 "numbers": {"__ndarray__": [[2], "int64", [29, 29]]},
 "pbc": {"__ndarray__": [[3], "bool", [true, true, true]]},
 "positions": {"__ndarray__": [[2, 3], "float64", [0.0, 0.0, 0.0, 0.0, 1.8, 1.8]]}},
"2": {"cell": [[0,0,0],[0,0,0],[0,0,0]], "numbers": [8, 1, 1], "pbc": [false, false, false],
 "positions": [[0.0, 0.0, 0.1], [0.0, 0.7, -0.4], [0.0, -0.7, -0.4]]},
"ids": [2, 1],
"nextid": 3}"#;
        let rows = read(Path::new("t.json"), text.as_bytes()).unwrap();
        assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), vec![2, 1]);
        assert_eq!(rows[1].numbers, vec![29, 29]);
        assert_eq!(rows[1].cell[0], [0.0, 3.6, 3.6]);
        assert_eq!(rows[1].pbc, [true; 3]);
        assert_eq!(rows[1].columns[0], Some(-3.5));
        assert_eq!(rows[0].positions[1], [0.0, 0.7, -0.4]);
        assert_eq!(rows[0].columns[0], None);
        let e = read(
            Path::new("t.json"),
            br#"{"1": {"numbers": [1], "positions": [[0, 0]]}, "ids": [1]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("t.json: row id 1: positions"), "{e}");
        let e = read(Path::new("t.json"), b"[1, 2]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an ASE JSON database"), "{e}");
    }
}
