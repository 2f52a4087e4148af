//! Importers: the qm9pack wheel, a folder with its CSV files, or a folder of original
//! `dsgdb9nsd_*.xyz` files, into [`Qm9Records`].

use crate::parse;
use crate::properties::{POLARIZABILITY, PROPERTIES};
use crate::records::{Molecule, Qm9Records};
use geobatch_core::{Error, Result};
use geobatch_datafiles::lines::LineIndex;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The CSV files of qm9pack, in order.
pub const CSV_PARTS: [&str; 3] = ["qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv"];
/// The polarizability CSV of qm9pack (optional).
pub const CSV_POLARIZABILITY: &str = "qm9_polarizability.csv";
/// Where the CSV files sit inside the wheel.
pub const WHEEL_DATA: &str = "qm9pack/data/";

/// What an import source turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The qm9pack wheel (a zip file).
    Wheel(PathBuf),
    /// A folder holding `qm9_part{1,2,3}.csv` (and optionally `qm9_polarizability.csv`).
    CsvFolder(PathBuf),
    /// A folder of `dsgdb9nsd_*.xyz` files.
    XyzFolder(PathBuf),
}

/// Recognises an import source.
pub fn detect(path: &Path) -> Result<Source> {
    if path.is_file() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if name.ends_with(".whl") || name.ends_with(".zip") {
            return Ok(Source::Wheel(path.to_path_buf()));
        }
        return Err(Error::invalid(format!(
            "{}: expected the qm9pack wheel (.whl), a folder with {} or a folder of dsgdb9nsd_*.xyz files",
            path.display(),
            CSV_PARTS.join(", ")
        )));
    }
    if !path.is_dir() {
        return Err(Error::invalid(format!(
            "{}: no such file or folder",
            path.display()
        )));
    }
    for dir in [path.to_path_buf(), path.join(WHEEL_DATA)] {
        if dir.join(CSV_PARTS[0]).is_file() {
            return Ok(Source::CsvFolder(dir));
        }
    }
    let has_xyz = std::fs::read_dir(path)
        .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?
        .flatten()
        .any(|e| e.file_name().to_string_lossy().ends_with(".xyz"));
    if has_xyz {
        return Ok(Source::XyzFolder(path.to_path_buf()));
    }
    Err(Error::invalid(format!(
        "{}: found neither {} nor *.xyz files",
        path.display(),
        CSV_PARTS.join(", ")
    )))
}

fn bar(progress: bool, len: u64, what: &str) -> ProgressBar {
    let target = if progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
    ) {
        bar.set_style(style);
    }
    bar.set_prefix(what.to_string());
    bar
}

/// Imports from any recognised source; `limit` keeps the first molecules only.
pub fn import(path: &Path, limit: Option<usize>, progress: bool) -> Result<Qm9Records> {
    let mut records = match detect(path)? {
        Source::Wheel(p) => from_wheel(&p, limit, progress)?,
        Source::CsvFolder(dir) => {
            let open = |name: &str| -> Result<Option<(Box<dyn Read>, u64)>> {
                let p = dir.join(name);
                if !p.is_file() {
                    return Ok(None);
                }
                let f = std::fs::File::open(&p)
                    .map_err(|e| Error::invalid(format!("{}: {e}", p.display())))?;
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                Ok(Some((Box::new(f), len)))
            };
            let mut parts = Vec::new();
            for name in CSV_PARTS {
                let r = open(name)?.ok_or_else(|| {
                    Error::invalid(format!("{}: missing", dir.join(name).display()))
                })?;
                parts.push((dir.join(name).display().to_string(), r));
            }
            let polar = open(CSV_POLARIZABILITY)?
                .map(|r| (dir.join(CSV_POLARIZABILITY).display().to_string(), r));
            from_csv(parts, polar, limit, progress)?
        }
        Source::XyzFolder(dir) => from_xyz(&dir, limit, progress)?,
    };
    if let Some(n) = limit {
        records.truncate(n);
    }
    if records.is_empty() {
        return Err(Error::invalid(format!(
            "{}: no molecule found",
            path.display()
        )));
    }
    Ok(records)
}

/// Imports from the qm9pack wheel without unpacking it to disk.
pub fn from_wheel(path: &Path, limit: Option<usize>, progress: bool) -> Result<Qm9Records> {
    let open = || {
        let f = geobatch_datafiles::files::open(path)
            .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
        zip::ZipArchive::new(f)
            .map_err(|e| Error::invalid(format!("{}: not a readable wheel: {e}", path.display())))
    };
    // One archive handle per entry: the entries are read one after another.
    let mut polar_map = None;
    {
        let mut z = open()?;
        if let Ok(entry) = z.by_name(&format!("{WHEEL_DATA}{CSV_POLARIZABILITY}")) {
            let name = format!("{}!{WHEEL_DATA}{CSV_POLARIZABILITY}", path.display());
            let len = entry.size();
            polar_map = Some(read_polarizability(&name, entry, len, progress)?);
        }
    }
    let mut parts = Parts::new(polar_map, limit, progress);
    for part in CSV_PARTS {
        let mut z = open()?;
        let entry = z.by_name(&format!("{WHEEL_DATA}{part}")).map_err(|e| {
            Error::invalid(format!(
                "{}: no {WHEEL_DATA}{part} in the wheel: {e}",
                path.display()
            ))
        })?;
        let len = entry.size();
        if !parts.read(
            &format!("{}!{WHEEL_DATA}{part}", path.display()),
            entry,
            len,
        )? {
            break;
        }
    }
    Ok(parts.records)
}

/// The CSV parts read one after another into one set of records, up to a limit.
struct Parts {
    polar: Option<Polar>,
    limit: Option<usize>,
    progress: bool,
    records: Qm9Records,
}

impl Parts {
    fn new(polar: Option<Polar>, limit: Option<usize>, progress: bool) -> Self {
        Parts {
            polar,
            limit,
            progress,
            records: Qm9Records::new(),
        }
    }

    /// Reads the part `r` (`len` bytes, `file` in messages); whether more parts are wanted.
    fn read(&mut self, file: &str, r: impl Read, len: u64) -> Result<bool> {
        let (polar, limit) = (self.polar.as_ref(), self.limit);
        read_csv_part(file, r, len, polar, limit, self.progress, &mut self.records)?;
        Ok(limit.is_none_or(|n| self.records.len() < n))
    }
}

type Polar = HashMap<String, [f64; 6]>;

/// A CSV input: a name for messages, the reader and its length in bytes (for the progress bar).
pub type CsvInput = (String, (Box<dyn Read>, u64));

/// Imports from the CSV readers of qm9pack: (name for messages, (reader, byte length)).
pub fn from_csv(
    parts: Vec<CsvInput>,
    polar: Option<CsvInput>,
    limit: Option<usize>,
    progress: bool,
) -> Result<Qm9Records> {
    let polar_map = match polar {
        Some((name, (r, len))) => Some(read_polarizability(&name, r, len, progress)?),
        None => None,
    };
    let mut read = Parts::new(polar_map, limit, progress);
    for (name, (r, len)) in parts {
        if !read.read(&name, r, len)? {
            break;
        }
    }
    Ok(read.records)
}

fn row_error(file: &str, line: u64, column: &str, message: impl std::fmt::Display) -> Error {
    Error::invalid(format!("{file}, line {line}, column {column}: {message}"))
}

fn columns(file: &str, reader: &mut csv::Reader<impl Read>, wanted: &[&str]) -> Result<Vec<usize>> {
    let headers = reader
        .headers()
        .map_err(|e| Error::invalid(format!("{file}: cannot read the header: {e}")))?
        .clone();
    wanted
        .iter()
        .map(|w| {
            headers.iter().position(|h| h == *w).ok_or_else(|| {
                Error::invalid(format!(
                    "{file}: no column {w:?} in the header (is this a qm9pack CSV file?)"
                ))
            })
        })
        .collect()
}

fn read_polarizability(file: &str, r: impl Read, len: u64, progress: bool) -> Result<Polar> {
    let pb = bar(progress, len, "polarizability");
    let mut reader = csv::Reader::from_reader(LineIndex::new(pb.wrap_read(r)));
    let mut wanted = vec!["XYZ_file"];
    wanted.extend(POLARIZABILITY.iter().map(|p| p.1));
    let cols = columns(file, &mut reader, &wanted)?;
    let mut map = HashMap::new();
    let mut rec = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(Error::invalid(format!("{file}: {e}"))),
        }
        let line = rec
            .position()
            .map_or(0, |p| reader.get_mut().line_at(p.byte()));
        let get = |k: usize| {
            rec.get(cols[k])
                .ok_or_else(|| row_error(file, line, wanted[k], "missing value"))
        };
        let mut v = [0.0; 6];
        for (k, slot) in v.iter_mut().enumerate() {
            *slot =
                parse::number(get(k + 1)?).map_err(|e| row_error(file, line, wanted[k + 1], e))?;
        }
        map.insert(get(0)?.to_string(), v);
    }
    pb.finish_and_clear();
    Ok(map)
}

/// The molecule of one CSV record (columns `cols` of the names `wanted`), at `line` of `file`.
fn molecule(
    rec: &csv::StringRecord,
    cols: &[usize],
    wanted: &[&str],
    (file, line): (&str, u64),
    polar: Option<&Polar>,
) -> Result<Molecule> {
    let get = |k: usize| {
        rec.get(cols[k])
            .ok_or_else(|| row_error(file, line, wanted[k], "missing value"))
    };
    let xyz_file = get(0)?;
    let index: u32 = get(1)?
        .trim()
        .parse()
        .map_err(|_| row_error(file, line, "Index", "not an integer"))?;
    let n_atoms: usize = get(3)?
        .trim()
        .parse()
        .map_err(|_| row_error(file, line, "N_atoms", "not an integer"))?;
    let atomic_numbers =
        parse::element_list(get(4)?).map_err(|e| row_error(file, line, "Elements", e))?;
    let xyz = parse::number_list(get(5)?).map_err(|e| row_error(file, line, "XYZ_Ang", e))?;
    if atomic_numbers.len() != n_atoms || xyz.len() != n_atoms.saturating_mul(3) {
        return Err(row_error(
            file,
            line,
            "XYZ_Ang",
            format!(
                "N_atoms = {n_atoms} but {} elements and {} coordinates",
                atomic_numbers.len(),
                xyz.len()
            ),
        ));
    }
    let mut properties = [0.0; 15];
    for (k, p) in properties.iter_mut().enumerate() {
        *p = parse::number(get(6 + k)?).map_err(|e| row_error(file, line, wanted[6 + k], e))?;
    }
    Ok(Molecule {
        index,
        id: xyz_file.trim_end_matches(".xyz").to_string(),
        smiles: get(2)?.to_string(),
        atomic_numbers,
        positions: xyz
            .chunks_exact(3)
            .map(|c| [c[0] as f32, c[1] as f32, c[2] as f32])
            .collect(),
        properties,
        polarizability: polar
            .and_then(|m| m.get(xyz_file))
            .map_or([None; 6], |v| v.map(Some)),
    })
}

fn read_csv_part(
    file: &str,
    r: impl Read,
    len: u64,
    polar: Option<&Polar>,
    limit: Option<usize>,
    progress: bool,
    out: &mut Qm9Records,
) -> Result<()> {
    let pb = bar(
        progress,
        len,
        file.rsplit(['/', '!']).next().unwrap_or(file),
    );
    let mut reader = csv::Reader::from_reader(LineIndex::new(pb.wrap_read(r)));
    let mut wanted = vec![
        "XYZ_file", "Index", "SMILES", "N_atoms", "Elements", "XYZ_Ang",
    ];
    wanted.extend(PROPERTIES.iter().map(|p| p.csv));
    let cols = columns(file, &mut reader, &wanted)?;
    let mut rec = csv::StringRecord::new();
    loop {
        if limit.is_some_and(|n| out.len() >= n) {
            break;
        }
        match reader.read_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e
                    .position()
                    .map_or(0, |p| reader.get_mut().line_at(p.byte()));
                return Err(Error::invalid(format!("{file}, line {line}: {e}")));
            }
        }
        let line = rec
            .position()
            .map_or(0, |p| reader.get_mut().line_at(p.byte()));
        out.push(molecule(&rec, &cols, &wanted, (file, line), polar)?);
    }
    pb.finish_and_clear();
    Ok(())
}

/// Imports a folder of original QM9 xyz files, in file-name order.
pub fn from_xyz(dir: &Path, limit: Option<usize>, progress: bool) -> Result<Qm9Records> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::invalid(format!("{}: {e}", dir.display())))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "xyz"))
        .collect();
    files.sort();
    if let Some(n) = limit {
        files.truncate(n);
    }
    let target = if progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let pb = ProgressBar::with_draw_target(Some(files.len() as u64), target);
    let mut records = Qm9Records::new();
    for f in &files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| Error::invalid(format!("{}: {e}", f.display())))?;
        let id = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let m = parse::xyz(&text, &id)
            .map_err(|(line, e)| Error::invalid(format!("{}, line {line}: {e}", f.display())))?;
        records.push(m);
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(records)
}
