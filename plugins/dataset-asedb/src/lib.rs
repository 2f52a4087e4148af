//! The `asedb` dataset: ASE databases (`ase.db`) as graphs, one row a graph.
//!
//! * `path` is an ASE SQLite database (format versions 5 to 9; read with a bundled SQLite, never
//!   written) or an ASE JSON database, told apart by their first bytes. ASE's own collections
//!   (`ase/collections/dcdft.json`, `g2.json`, `s22.json`) are JSON databases.
//! * Targets are stored properties (`energy`, `free_energy`, `magmom`, `charge`) or key-value
//!   pairs holding numbers, optionally divided per atom; rows lacking one are skipped and counted.
//!   `select` keeps the rows whose key-value pairs match.
//! * Graphs come from geobatch's graph rules, periodic along the directions `pbc` names; the
//!   split is seeded, saved and reused by row id (or `id_key`).

pub mod json;
pub mod row;
pub mod sqlite;

use geobatch_core::{
    Dataset, DatasetContext, DatasetSpec, Error, GraphRule, Result, SplitSpec, plugin_options,
};
use geobatch_dataset_extxyz::parts;
use geobatch_dataset_extxyz::rows;
use geobatch_dataset_extxyz::screen::Take;
use geobatch_dataset_extxyz::structures::{self, Finish, Scalar, Selection, Structure, Targets};
use row::{Lookup, Row};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Config of an ASE database dataset.
#[plugin_options]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsedbSpec {
    /// An ASE SQLite (`.db`) or JSON (`.json`) database.
    #[option(
        ty = "path",
        doc = "an ASE SQLite database (.db, format versions 5 to 9) or JSON database (.json)"
    )]
    pub path: PathBuf,
    /// Stored properties or key-value pairs holding the targets (e.g. `energy`).
    #[option(
        ty = "[string]",
        doc = "energy, free_energy, magmom, charge, or key-value pairs holding numbers; rows lacking one are skipped and counted"
    )]
    pub targets: Vec<String>,
    /// Targets divided by the number of atoms (named `<target>_per_atom` in results).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[option(row = rows::PER_ATOM)]
    pub per_atom: Vec<String>,
    /// Units of the targets, one each (for reports); unknown when absent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[option(row = rows::UNITS)]
    pub units: Vec<String>,
    /// `unique_id` or a key-value pair naming each row; the row id when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(
        ty = "string",
        toml = "the row id",
        doc = "\"unique_id\" or a key-value pair naming each row (ids key the saved split)"
    )]
    pub id_key: Option<String>,
    /// Only rows whose key-value pairs include all these.
    #[serde(default, skip_serializing_if = "Selection::is_empty")]
    #[option(
        ty = "{ key = value, ... }",
        doc = "keep only rows whose key-value pairs include all these"
    )]
    pub select: Selection,
    /// Graph rule.
    #[serde(default = "geobatch_dataset_extxyz::default_rule")]
    #[option(row = rows::GRAPH)]
    pub graph: GraphRule,
    /// Split sizes.
    #[serde(default)]
    #[option(row = rows::SPLIT)]
    pub split: SplitSpec,
    /// Where the split is saved and reused; `<data_dir>/splits/asedb-<n>-<fingerprint>.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(
        ty = "path",
        toml = "data_dir/splits/asedb-<n>-<fingerprint>.json",
        doc = "where the split is saved and reused (by id)"
    )]
    pub split_file: Option<PathBuf>,
    /// Leave out and count structures with a non-finite target or position.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[option(row = rows::SKIP_NON_FINITE)]
    pub skip_non_finite: bool,
}

/// Every row of the database at `path`, SQLite or JSON by its first bytes.
pub fn read(path: &Path) -> Result<Vec<Row>> {
    let mut out = Vec::new();
    for_each_row(path, &mut |r| {
        out.push(r);
        Ok(())
    })?;
    Ok(out)
}

/// Hands every row of the database at `path` to `each`, by id: an SQLite database a row at a
/// time (a database of any size in bounded memory), a JSON database read whole.
pub fn for_each_row(path: &Path, each: &mut dyn FnMut(Row) -> Result<()>) -> Result<()> {
    let not_db = |e: &dyn std::fmt::Display| {
        Error::invalid(format!(
            "{}: {e} (set dataset.path to an ASE database, .db or .json)",
            path.display()
        ))
    };
    use std::io::Read as _;
    let mut head = Vec::with_capacity(4096);
    std::io::Read::take(
        geobatch_datafiles::files::open(path).map_err(|e| not_db(&e))?,
        4096,
    )
    .read_to_end(&mut head)
    .map_err(|e| not_db(&e))?;
    if head.starts_with(sqlite::MAGIC) {
        return sqlite::for_each_row(path, each);
    }
    let text_start = head.iter().find(|b| !b.is_ascii_whitespace());
    if text_start == Some(&b'{') || (text_start.is_none() && head.len() == 4096) {
        let bytes = geobatch_datafiles::files::read(path).map_err(|e| not_db(&e))?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
            return json::read(path, &bytes)?.into_iter().try_for_each(each);
        }
    }
    Err(Error::invalid(format!(
        "{}: neither an ASE SQLite database nor an ASE JSON database",
        path.display()
    )))
}

/// A key-value pair as a selection compares it.
fn scalar(v: &serde_json::Value) -> Option<Scalar> {
    match v {
        serde_json::Value::Bool(b) => Some(Scalar::Bool(*b)),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(Scalar::Int)
            .or_else(|| n.as_f64().map(Scalar::Real)),
        serde_json::Value::String(s) => Some(Scalar::Str(s.clone())),
        _ => None,
    }
}

/// The arrays of an ASE database's rows: per-atom, or a vector per structure.
const ARRAYS: [&str; 8] = [
    "forces",
    "stress",
    "momenta",
    "initial_magmoms",
    "initial_charges",
    "magmoms",
    "charges",
    "dipole",
];

impl AsedbSpec {
    /// The targets asked for, checked against what ASE databases hold.
    fn checked_targets(&self) -> Result<Targets> {
        // ASE's arrays (per atom, or a vector per structure) are no target: rows that carry
        // them would all be skipped as "without" them; forces and stress are a potential's
        // labels
        if let Some(t) = self.targets.iter().find(|t| {
            ARRAYS.contains(&t.as_str())
                && !geobatch_dataset_extxyz::labels::LABELS.contains(&t.as_str())
        }) {
            return Err(Error::invalid(format!(
                "dataset.targets: {t} is an array in ASE databases (per atom, or a vector per \
                 structure), not one number per structure: geobatch's targets are {} or \
                 key-value pairs (and a potential's labels forces and stress)",
                row::COLUMNS.join(", ")
            )));
        }
        if self.targets.iter().any(|t| t == "virial") {
            return Err(Error::invalid(
                "dataset.targets names virial: ASE databases store the stress (eV/A^3): name \
                 stress",
            ));
        }
        Targets::new(&self.targets, &self.per_atom)
    }

    fn id(&self, r: &Row, origin: &str) -> Result<String> {
        match self.id_key.as_deref() {
            None => Ok(r.id.to_string()),
            Some("unique_id") => r
                .unique_id
                .clone()
                .ok_or_else(|| Error::invalid(format!("{origin}: no unique_id (dataset.id_key)"))),
            Some(k) => match r.key_value_pairs.get(k) {
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
                    Ok(v.to_string())
                }
                _ => Err(Error::invalid(format!(
                    "{origin}: no key-value pair {k:?} to name the row (dataset.id_key)"
                ))),
            },
        }
    }
}

#[geobatch_core::plugin(
    name = "asedb",
    summary = "your own structures: ASE databases (SQLite .db or JSON, e.g. ASE's collections), targets from stored properties or key-value pairs",
    example = "path = \"plugins/dataset-asedb/tests/fixtures/structures.db\"\ntargets = [\"energy\"]\nper_atom = [\"energy\"]\nunits = [\"eV\"]\nselect = { config = \"al-md\" }\ngraph = { kind = \"cutoff\", radius = 5.0 }\n"
)]
impl DatasetSpec for AsedbSpec {
    fn validate(&self) -> Result<()> {
        self.checked_targets()?;
        structures::check_units(&self.units, &self.targets)?;
        self.graph
            .validate()
            .map_err(|m| Error::invalid(format!("dataset.{m}")))
    }

    fn source_identity(&self, _data_dir: &Path) -> Result<Option<String>> {
        if !self.path.is_file() {
            return Ok(None); // `load` says so
        }
        structures::fingerprint(&[self.path.as_path()]).map(Some)
    }

    fn load(&self, ctx: &DatasetContext) -> Result<Box<dyn Dataset>> {
        parts::load(self, ctx)
    }

    fn for_each_part(
        &self,
        ctx: &DatasetContext,
        part: usize,
        each: &mut dyn FnMut(geobatch_core::SplitName, &geobatch_core::GraphSet) -> Result<()>,
    ) -> Option<Result<()>> {
        parts::parts(self, ctx, part, each)
    }
}

impl parts::StructureFiles for AsedbSpec {
    fn check(&self) -> Result<()> {
        self.validate()
    }

    fn targets(&self) -> Result<Targets> {
        self.checked_targets()
    }

    fn skip_non_finite(&self) -> bool {
        self.skip_non_finite
    }

    /// How the rows read become the dataset.
    fn finish(&self) -> Finish<'_> {
        Finish {
            dataset: "asedb",
            path: &self.path,
            graph: &self.graph,
            split: &self.split,
            split_file: self.split_file.as_deref(),
            units: &self.units,
        }
    }

    /// Every row of the database, one row in memory at a time.
    fn collect(&self, out: &mut dyn Take) -> Result<()> {
        let name = self.path.display().to_string();
        let names = out.targets().names.clone();
        let labels = out.targets().labels;
        let mut values = vec![None; names.len()];
        for_each_row(&self.path, &mut |r| {
            let origin = format!("{name}: row id {}", r.id);
            if !structures::selected(&self.select, |k| r.key_value_pairs.get(k).and_then(scalar)) {
                out.skip_unselected();
                return Ok(());
            }
            for (slot, t) in values.iter_mut().zip(&names) {
                *slot = match r.get(t) {
                    Lookup::Absent => None,
                    Lookup::Number(x) => Some(x),
                    Lookup::Other(v) => {
                        return Err(Error::invalid(format!(
                            "{origin}: target {t} is {v}, not a number"
                        )));
                    }
                };
            }
            let stress = match r.stress.as_deref().filter(|_| labels.stress) {
                None => None,
                Some(v) => Some(
                    geobatch_dataset_extxyz::labels::stress_matrix(v)
                        .map_err(|m| Error::invalid(format!("{origin}: stress: {m}")))?,
                ),
            };
            let s = Structure {
                id: self.id(&r, &origin)?,
                origin,
                numbers: r.numbers,
                positions: r.positions,
                lattice: Some(r.cell),
                pbc: r.pbc,
                forces: r.forces.filter(|_| labels.forces),
                stress,
            };
            out.push(&s, &values)
        })
    }
}

/// Every row of the database at `path` as a structure, no target: what `geobatch predict` reads.
pub fn read_structures(path: &Path) -> Result<Vec<Structure>> {
    let name = path.display().to_string();
    Ok(read(path)?
        .into_iter()
        .map(|r| Structure {
            id: r.id.to_string(),
            origin: format!("{name}: row id {}", r.id),
            numbers: r.numbers,
            positions: r.positions,
            lattice: Some(r.cell),
            pbc: r.pbc,
            forces: None,
            stress: None,
        })
        .collect())
}

/// Forces this crate to be linked (called by `geobatch-catalog`).
pub fn link() {}
