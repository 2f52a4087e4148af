//! CSV collections of CIF strings (`*.csv` or gzip `*.csv.gz`) as the crystal-generation
//! benchmarks ship them: a leading index column, an id column, a `cif` column and properties.

use crate::cif::parse_p1;
use geobatch_core::{Error, Result};
use geobatch_datafiles::lines::LineIndex;
use geobatch_geometry::Crystal;
use std::path::{Path, PathBuf};

/// One row: the crystal (or why it could not be read) and the chosen target values.
#[derive(Debug)]
pub struct Row {
    /// Where it was read: file and row.
    pub origin: String,
    /// The crystal, or the reason it could not be read.
    pub crystal: std::result::Result<Crystal, String>,
    /// One value per target; `None` when the cell is empty or not a number.
    pub targets: Vec<Option<f64>>,
}

/// Column names of a table.
#[derive(Debug, Clone)]
pub struct Columns<'a> {
    /// The id column.
    pub id: &'a str,
    /// The CIF column.
    pub cif: &'a str,
    /// Target columns.
    pub targets: &'a [String],
}

/// Whether a path is a CSV table (plain or gzip).
pub fn is_table(p: &Path) -> bool {
    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    n.ends_with(".csv") || n.ends_with(".csv.gz")
}

/// The stem of a table file: `val.csv.gz` -> `val`.
pub fn stem(p: &Path) -> String {
    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    n.trim_end_matches(".gz")
        .trim_end_matches(".csv")
        .to_string()
}

/// The tables of a source: the file itself or a folder's tables in name order.
pub fn tables(source: &Path) -> Result<Vec<PathBuf>> {
    if source.is_file() {
        return Ok(vec![source.to_path_buf()]);
    }
    let rd = std::fs::read_dir(source).map_err(|e| {
        Error::invalid(format!(
            "{}: {e} (set dataset.path to a CSV file or folder)",
            source.display()
        ))
    })?;
    let mut out: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_table(p))
        .collect();
    out.sort();
    if out.is_empty() {
        return Err(Error::invalid(format!(
            "{}: no .csv or .csv.gz files in this folder",
            source.display()
        )));
    }
    Ok(out)
}

/// The target cells of a record (columns `target_cols`, named `names`): an empty cell is a
/// missing value; anything else must be a finite number.
fn targets_of(
    rec: &csv::StringRecord,
    target_cols: &[usize],
    names: &[String],
    origin: &str,
) -> Result<Vec<Option<f64>>> {
    target_cols
        .iter()
        .zip(names)
        .map(|(&c, t)| match rec.get(c).map(str::trim).unwrap_or("") {
            "" => Ok(None),
            v => match v.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(Some(x)),
                _ => Err(Error::invalid(format!(
                    "{origin}: column {t}: {v:?} is not a finite number (leave the cell \
                     empty for a missing value)"
                ))),
            },
        })
        .collect()
}

/// Reads every row of one table.
pub fn read(path: &Path, cols: &Columns) -> Result<Vec<Row>> {
    let name = path.display().to_string();
    // gzip, bzip2 or xz by the first bytes (a CSV named .gz that is not: read as it is)
    let reader = geobatch_datafiles::compressed::open(path)?;
    let mut csv = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(LineIndex::new(reader));
    let headers = csv
        .headers()
        .map_err(|e| Error::invalid(format!("{name}: cannot read the header: {e}")))?
        .clone();
    let col = |c: &str| {
        headers.iter().position(|h| h == c).ok_or_else(|| {
            Error::invalid(format!(
                "{name}: no column {c:?}; columns: {}",
                headers
                    .iter()
                    .filter(|h| !h.is_empty())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    };
    let (id_col, cif_col) = (col(cols.id)?, col(cols.cif)?);
    let target_cols = cols
        .targets
        .iter()
        .map(|t| col(t))
        .collect::<Result<Vec<_>>>()?;
    let mut rows = Vec::new();
    let mut rec = csv::StringRecord::new();
    for i in 0.. {
        match csv.read_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map_or(0, |p| csv.get_mut().line_at(p.byte()));
                return Err(Error::invalid(format!(
                    "{name}: row {} (line {line}): {e}",
                    i + 1
                )));
            }
        }
        let id = rec.get(id_col).unwrap_or("").to_string();
        let line = rec
            .position()
            .map_or(0, |p| csv.get_mut().line_at(p.byte()));
        let origin = format!("{name}, row {} (line {line}, id {id:?})", i + 1);
        let crystal = parse_p1(rec.get(cif_col).unwrap_or(""))
            .map(|s| Crystal {
                id: id.clone(),
                atomic_numbers: s.atomic_numbers,
                fractional: s.fractional,
                parameters: s.parameters,
            })
            .map_err(|m| format!("{origin}: {m}"));
        let targets = targets_of(&rec, &target_cols, cols.targets, &origin)?;
        rows.push(Row {
            origin,
            crystal,
            targets,
        });
    }
    Ok(rows)
}
