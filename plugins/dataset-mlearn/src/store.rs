//! geobatch's mlearn Parquet file: one row per structure, in ASE's units.
//!
//! Columns: `element`, `id`, `split` (string), `index` (uint32), `numbers` (list<uint8>),
//! `positions` and `forces` (list<float64>, x y z per atom: Angstrom, eV/Angstrom), `lattice`
//! (list<float64>, the three lattice vectors as rows, Angstrom), `energy` (float64, total, eV),
//! `stress` (list<float64>, row-major 3x3, eV/Angstrom^3, ASE's sign; null where dropped).
//! Key-value metadata: `geobatch.schema = "mlearn/1"`, `geobatch.units` and `geobatch.source`.

use crate::records::Records;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, UInt8Type, UInt32Type};
use arrow_array::{
    Array, ArrayRef, Float64Array, ListArray, RecordBatch, StringArray, UInt8Array, UInt32Array,
};
use arrow_buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, Field, Schema};
use geobatch_core::{Result, SplitName};
use geobatch_datafiles::parquet_store::{self, Format, column};
use parquet::file::reader::ChunkReader;
use std::path::Path;
use std::sync::Arc;

/// Schema tag in the file metadata.
pub const SCHEMA: &str = "mlearn/1";

/// Units of the stored columns, as JSON.
pub const UNITS: &str = r#"{"positions":"Angstrom","lattice":"Angstrom","energy":"eV","forces":"eV/Angstrom","stress":"eV/Angstrom^3 (ASE: (1/V) dE/d(strain))"}"#;

fn list(
    values: ArrayRef,
    offsets: Vec<i32>,
    nulls: Option<NullBuffer>,
) -> std::result::Result<ListArray, ArrowError> {
    let field = Arc::new(Field::new("item", values.data_type().clone(), false));
    ListArray::try_new(
        field,
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        values,
        nulls,
    )
}

/// Offsets of `rows` lists of `per` values each.
fn fixed(rows: usize, per: usize) -> Vec<i32> {
    (0..=rows).map(|r| (r * per) as i32).collect()
}

/// The record batch of all structures.
pub fn to_batch(r: &Records) -> std::result::Result<RecordBatch, ArrowError> {
    let atoms: Vec<i32> = r.atom_offsets.iter().map(|&o| o as i32).collect();
    let xyz: Vec<i32> = r.atom_offsets.iter().map(|&o| 3 * o as i32).collect();
    let flat =
        |v: &[[f64; 3]]| Arc::new(Float64Array::from_iter_values(v.iter().flatten().copied()));
    let numbers = list(Arc::new(UInt8Array::from(r.numbers.clone())), atoms, None)?;
    let positions = list(flat(&r.positions), xyz.clone(), None)?;
    let forces = list(flat(&r.forces), xyz, None)?;
    let lattice = list(
        Arc::new(Float64Array::from_iter_values(
            r.lattice.iter().flatten().copied(),
        )),
        fixed(r.len(), 9),
        None,
    )?;
    let mut stress_values = Vec::new();
    let mut stress_offsets = vec![0i32];
    for s in &r.stress {
        if let Some(s) = s {
            stress_values.extend_from_slice(s);
        }
        stress_offsets.push(stress_values.len() as i32);
    }
    let valid = NullBuffer::from(r.stress.iter().map(Option::is_some).collect::<Vec<_>>());
    let stress = list(
        Arc::new(Float64Array::from(stress_values)),
        stress_offsets,
        Some(valid),
    )?;
    let split: Vec<&str> = r.split.iter().map(|s| s.as_str()).collect();
    let columns: Vec<(&str, ArrayRef, bool)> = vec![
        (
            "element",
            Arc::new(StringArray::from_iter_values(&r.element)),
            false,
        ),
        ("index", Arc::new(UInt32Array::from(r.index.clone())), false),
        ("id", Arc::new(StringArray::from_iter_values(&r.id)), false),
        ("split", Arc::new(StringArray::from(split)), false),
        ("numbers", Arc::new(numbers), false),
        ("positions", Arc::new(positions), false),
        ("forces", Arc::new(forces), false),
        ("lattice", Arc::new(lattice), false),
        (
            "energy",
            Arc::new(Float64Array::from(r.energy.clone())),
            false,
        ),
        ("stress", Arc::new(stress), true),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a, null)| Field::new(*n, a.data_type().clone(), *null))
        .collect();
    let arrays = columns.into_iter().map(|(_, a, _)| a).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
}

/// The format of mlearn's store file.
pub const FORMAT: Format<'static> = Format {
    schema: SCHEMA,
    kind: "mlearn",
    holds: "mlearn structures",
    made_by: "`geobatch data fetch mlearn` or `geobatch data import mlearn FILE`",
};

/// Writes `records` to `out` (through a temporary file and a rename).
pub fn write(records: &Records, out: &Path, source: &str) -> Result<()> {
    parquet_store::write(
        out,
        to_batch(records),
        &FORMAT,
        UNITS.to_string(),
        source,
        None,
    )
}

/// Reads a file written by [`write`]; `name` names it in errors (a damaged file is reported as
/// corrupt, never a crash: [`parquet_store::read`]).
pub fn read<R: ChunkReader + 'static>(input: R, name: &str) -> Result<Records> {
    let mut r = Records::new();
    parquet_store::read(input, name, &FORMAT, |batch| append(&mut r, batch))?;
    Ok(r)
}

fn strings(b: &RecordBatch, name: &str) -> std::result::Result<Vec<String>, String> {
    let c = column(b, name)?
        .as_string_opt::<i32>()
        .ok_or_else(|| format!("column {name:?} is not text"))?;
    Ok(c.iter().map(|s| s.unwrap_or("").to_string()).collect())
}

/// Row `row`'s values of the float list column `name` (`None` where null).
fn floats<'a>(
    b: &'a RecordBatch,
    name: &str,
) -> std::result::Result<(&'a ListArray, &'a [f64]), String> {
    let l = column(b, name)?
        .as_list_opt::<i32>()
        .ok_or_else(|| format!("column {name:?} is not a list"))?;
    let v = l
        .values()
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| format!("column {name:?} does not hold float64"))?;
    Ok((l, v.values()))
}

fn append(r: &mut Records, b: &RecordBatch) -> std::result::Result<(), String> {
    let first = r.len();
    let numbers = column(b, "numbers")?
        .as_list_opt::<i32>()
        .ok_or("column \"numbers\" is not a list")?;
    let z = numbers
        .values()
        .as_primitive_opt::<UInt8Type>()
        .ok_or("column \"numbers\" does not hold uint8")?
        .values();
    let (pos, pv) = floats(b, "positions")?;
    let (frc, fv) = floats(b, "forces")?;
    let (lat, lv) = floats(b, "lattice")?;
    let (st, sv) = floats(b, "stress")?;
    let index = column(b, "index")?
        .as_primitive_opt::<UInt32Type>()
        .ok_or("column \"index\" is not uint32")?;
    let energy = column(b, "energy")?
        .as_primitive_opt::<Float64Type>()
        .ok_or("column \"energy\" is not float64")?;
    let (element, id, split) = (
        strings(b, "element")?,
        strings(b, "id")?,
        strings(b, "split")?,
    );
    let range = |l: &ListArray, row: usize| {
        let o = l.value_offsets();
        o[row] as usize..o[row + 1] as usize
    };
    let triples =
        |v: &[f64]| -> Vec<[f64; 3]> { v.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect() };
    for row in 0..b.num_rows() {
        let at = first + row;
        let atoms = range(numbers, row);
        let (p, f, l) = (range(pos, row), range(frc, row), range(lat, row));
        if atoms.is_empty() || p.len() != 3 * atoms.len() || f.len() != p.len() || l.len() != 9 {
            return Err(format!(
                "row {at}: {} atoms, {} coordinates, {} force values, {} lattice values",
                atoms.len(),
                p.len(),
                f.len(),
                l.len()
            ));
        }
        let s = range(st, row);
        let stress = match (st.is_null(row), s.len()) {
            (true, _) => None,
            (false, 9) => Some(std::array::from_fn(|k| sv[s.start + k])),
            (false, n) => return Err(format!("row {at}: {n} stress values, not 9")),
        };
        let split = match split[row].as_str() {
            "train" => SplitName::Train,
            "validation" => SplitName::Validation,
            "test" => SplitName::Test,
            other => {
                return Err(format!(
                    "row {at}: split {other:?} is not train, validation or test"
                ));
            }
        };
        if energy.is_null(row) {
            return Err(format!("row {at}: no energy"));
        }
        r.numbers.extend_from_slice(&z[atoms]);
        r.positions.extend(triples(&pv[p]));
        r.forces.extend(triples(&fv[f]));
        r.atom_offsets.push(r.numbers.len() as u32);
        r.lattice.push(std::array::from_fn(|k| lv[l.start + k]));
        r.stress.push(stress);
        r.energy.push(energy.value(row));
        r.index.push(index.value(row));
        r.split.push(split);
        r.element.push(element[row].clone());
        r.id.push(id[row].clone());
    }
    Ok(())
}
