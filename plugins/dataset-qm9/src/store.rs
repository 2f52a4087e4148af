//! geobatch's QM9 Parquet file: one row per molecule, positions as f32, units in the metadata.
//!
//! Columns: `index` (uint32), `id`, `smiles` (string), `atomic_numbers` (list<uint8>),
//! `positions` (list<float32>, x y z per atom, Angstrom), the 15 properties of
//! [`PROPERTIES`](crate::properties::PROPERTIES) (float64) and the 6 polarizability components
//! (float64, null when unknown). Key-value metadata: `geobatch.schema = "qm9/1"`,
//! `geobatch.units` (JSON: column -> unit) and `geobatch.source`.

use crate::properties::{POLARIZABILITY, PROPERTIES};
use crate::records::Qm9Records;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, UInt8Type, UInt32Type};
use arrow_array::{
    Array, ArrayRef, Float32Array, Float64Array, ListArray, RecordBatch, StringArray, UInt8Array,
    UInt32Array,
};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema};
use geobatch_core::Result;
use geobatch_datafiles::parquet_store::{self, Format, column};
use parquet::file::reader::ChunkReader;
use std::path::Path;
use std::sync::Arc;

/// Schema tag in the file metadata.
pub const SCHEMA: &str = "qm9/1";

fn list(
    values: ArrayRef,
    offsets: Vec<i32>,
) -> std::result::Result<ListArray, arrow_schema::ArrowError> {
    let field = Arc::new(Field::new("item", values.data_type().clone(), false));
    ListArray::try_new(
        field,
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        values,
        None,
    )
}

/// The record batch of all molecules.
pub fn to_batch(
    records: &Qm9Records,
) -> std::result::Result<RecordBatch, arrow_schema::ArrowError> {
    let offsets: Vec<i32> = records.atom_offsets.iter().map(|&o| o as i32).collect();
    let pos_offsets: Vec<i32> = records.atom_offsets.iter().map(|&o| 3 * o as i32).collect();
    let mut fields = vec![
        Field::new("index", DataType::UInt32, false),
        Field::new("id", DataType::Utf8, false),
        Field::new("smiles", DataType::Utf8, false),
    ];
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from(records.index.clone())),
        Arc::new(StringArray::from_iter_values(&records.id)),
        Arc::new(StringArray::from_iter_values(&records.smiles)),
    ];
    let z = list(
        Arc::new(UInt8Array::from(records.atomic_numbers.clone())),
        offsets,
    )?;
    let p = list(
        Arc::new(Float32Array::from(records.positions.clone())),
        pos_offsets,
    )?;
    fields.push(Field::new("atomic_numbers", z.data_type().clone(), false));
    arrays.push(Arc::new(z));
    fields.push(Field::new("positions", p.data_type().clone(), false));
    arrays.push(Arc::new(p));
    for (prop, col) in PROPERTIES.iter().zip(&records.properties) {
        fields.push(Field::new(prop.name, DataType::Float64, false));
        arrays.push(Arc::new(Float64Array::from(col.clone())));
    }
    for ((name, _), col) in POLARIZABILITY.iter().zip(&records.polarizability) {
        fields.push(Field::new(*name, DataType::Float64, true));
        arrays.push(Arc::new(Float64Array::from(col.clone())));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
}

/// Units of every stored column, as JSON.
pub fn units_json() -> String {
    let mut m = serde_json::Map::new();
    m.insert("positions".into(), "Angstrom".into());
    for p in PROPERTIES {
        m.insert(p.name.into(), p.unit.into());
    }
    for (name, _) in POLARIZABILITY {
        m.insert(name.into(), "bohr^3".into());
    }
    serde_json::Value::Object(m).to_string()
}

/// The format of QM9's store file.
pub const FORMAT: Format<'static> = Format {
    schema: SCHEMA,
    kind: "QM9",
    holds: "QM9 molecules",
    made_by: "`geobatch data fetch qm9` or `geobatch data import qm9 FILE`",
};

/// Writes records to `out` (through a temporary file and a rename).
pub fn write(records: &Qm9Records, out: &Path, source: &str) -> Result<()> {
    parquet_store::write(
        out,
        to_batch(records),
        &FORMAT,
        units_json(),
        source,
        Some(32_768),
    )
}

/// Reads a QM9 Parquet file written by [`write`]; `name` names it in errors (a damaged file is
/// reported as corrupt, never a crash: [`parquet_store::read`]).
pub fn read<R: ChunkReader + 'static>(input: R, name: &str) -> Result<Qm9Records> {
    let mut r = Qm9Records::new();
    parquet_store::read(input, name, &FORMAT, |batch| append(&mut r, batch, 0))?;
    Ok(r)
}

/// Reads a QM9 Parquet file written by [`write`] a record batch at a time (at most a row
/// group, 32,768 molecules), handing each batch's molecules to `each`: memory holds one batch.
/// An error of `each` ends the read and is returned as it is.
pub fn for_each_batch<R: ChunkReader + 'static>(
    input: R,
    name: &str,
    each: &mut dyn FnMut(&Qm9Records) -> Result<()>,
) -> Result<()> {
    let mut failed = None;
    let mut before = 0;
    let read = parquet_store::read(input, name, &FORMAT, |batch| {
        let mut r = Qm9Records::new();
        append(&mut r, batch, before)?;
        before += r.len();
        each(&r).map_err(|e| {
            let message = e.to_string();
            failed = Some(e);
            message
        })
    });
    match failed {
        Some(e) => Err(e),
        None => read,
    }
}

/// The atoms of a batch's molecules (rows from `first_row` on): atomic numbers, positions and
/// offsets appended to `r`, each row's coordinates checked against its atoms.
fn append_atoms(
    r: &mut Qm9Records,
    b: &RecordBatch,
    first_row: usize,
) -> std::result::Result<(), String> {
    let z = column(b, "atomic_numbers")?
        .as_list_opt::<i32>()
        .ok_or("column \"atomic_numbers\" is not a list")?;
    let p = column(b, "positions")?
        .as_list_opt::<i32>()
        .ok_or("column \"positions\" is not a list")?;
    let zv = z
        .values()
        .as_primitive_opt::<UInt8Type>()
        .ok_or("atomic_numbers are not uint8")?;
    let pv = p
        .values()
        .as_primitive_opt::<Float32Type>()
        .ok_or("positions are not float32")?;
    let (zo, po) = (z.value_offsets(), p.value_offsets());
    for row in 0..b.num_rows() {
        let (z0, z1) = (zo[row] as usize, zo[row + 1] as usize);
        let (p0, p1) = (po[row] as usize, po[row + 1] as usize);
        if p1 - p0 != 3 * (z1 - z0) || z1 == z0 {
            return Err(format!(
                "row {}: {} atoms but {} coordinates",
                first_row + row,
                z1 - z0,
                p1 - p0
            ));
        }
        r.atomic_numbers.extend_from_slice(&zv.values()[z0..z1]);
        r.positions.extend_from_slice(&pv.values()[p0..p1]);
        r.atom_offsets.push(r.atomic_numbers.len() as u32);
    }
    Ok(())
}

/// Appends the molecules of `b` to `r`; `before` rows of the file came before `r`'s (named in
/// errors).
fn append(r: &mut Qm9Records, b: &RecordBatch, before: usize) -> std::result::Result<(), String> {
    let first_row = before + r.len();
    let typed = |name: &str, t: DataType| -> std::result::Result<&ArrayRef, String> {
        let c = column(b, name)?;
        if *c.data_type() != t {
            return Err(format!(
                "column {name:?} has type {}, expected {t}",
                c.data_type()
            ));
        }
        Ok(c)
    };
    r.index.extend_from_slice(
        typed("index", DataType::UInt32)?
            .as_primitive::<UInt32Type>()
            .values(),
    );
    r.id.extend(
        typed("id", DataType::Utf8)?
            .as_string::<i32>()
            .iter()
            .map(|s| s.unwrap_or("").to_string()),
    );
    r.smiles.extend(
        typed("smiles", DataType::Utf8)?
            .as_string::<i32>()
            .iter()
            .map(|s| s.unwrap_or("").to_string()),
    );
    append_atoms(r, b, first_row)?;
    for (prop, col) in PROPERTIES.iter().zip(r.properties.iter_mut()) {
        // a null (a damaged or foreign file) becomes NaN, which loading refuses with the molecule
        col.extend(
            typed(prop.name, DataType::Float64)?
                .as_primitive::<Float64Type>()
                .iter()
                .map(|v| v.unwrap_or(f64::NAN)),
        );
    }
    for ((name, _), col) in POLARIZABILITY.iter().zip(r.polarizability.iter_mut()) {
        col.extend(
            typed(name, DataType::Float64)?
                .as_primitive::<Float64Type>()
                .iter(),
        );
    }
    if [
        r.id.len(),
        r.smiles.len(),
        r.atom_offsets.len() - 1,
        r.properties[0].len(),
    ]
    .iter()
    .any(|&l| l != r.index.len())
    {
        return Err("columns of different lengths".into());
    }
    Ok(())
}
