//! The `extxyz` dataset: extended XYZ files as ASE writes them, one frame a graph.
//!
//! * `path` is one file, a folder of `.xyz`/`.extxyz` files or a glob pattern; each file plain or
//!   gzip. Frames are read in file order ([`frames`]): the `Properties` column spec (`species` or
//!   `Z`, `pos`, other columns stepped over), the comment line's `key=value` pairs
//!   ([`comment`]), `Lattice` and `pbc`.
//! * Targets are comment-line keys holding one number (`energy`, `U0`, ...), optionally divided
//!   by the number of atoms (`per_atom`); frames lacking a target are skipped and counted, frames
//!   can be selected by key-value pairs (`select`).
//! * A potential's labels (DESIGN.md §16), as ASE writes them: `forces` (the per-atom column
//!   `forces:R:3`, eV/Angstrom; frames without it are skipped and counted) and `stress` (the
//!   comment line's 6 Voigt or 9 values, eV/Angstrom^3) or `virial` (eV, read as
//!   `-virial / volume`); a frame without a stress is kept without one.
//! * Graphs come from geobatch's graph rules, periodic along the directions `pbc` names (with
//!   positions wrapped into the cell); the split is seeded, saved and reused by frame id.
//! * Bad input is an error naming the file, the frame and the line, never a panic.

pub mod chunks;
pub mod comment;
pub mod frames;
pub mod labels;
pub mod parts;
pub mod properties;
pub mod rows;
pub mod screen;
pub mod sources;
pub mod structures;
pub mod write;

use comment::Value;
use geobatch_core::{
    Dataset, DatasetContext, DatasetSpec, Error, GraphRule, Result, SplitSpec, plugin_options,
};
use parts::StructureFiles;
use screen::Take;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use structures::{Finish, Scalar, Selection, Structure, Targets};

/// Config of an extended XYZ dataset.
#[plugin_options]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtxyzSpec {
    /// A file, a folder of files or a glob pattern.
    #[option(
        ty = "path",
        doc = "an .xyz / .extxyz file (gzip allowed), a folder of them, or a glob pattern such as \"data/md/*.xyz.gz\""
    )]
    pub path: PathBuf,
    /// Comment-line keys holding the targets (e.g. `energy`).
    #[option(
        ty = "[string]",
        doc = "comment-line keys holding one number each, e.g. [\"energy\"]; frames lacking one are skipped and counted"
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
    /// The comment-line key naming each frame; `<file>:<frame>` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(
        ty = "string",
        toml = "<file>:<frame>",
        doc = "comment-line key naming each frame (ids key the saved split)"
    )]
    pub id_key: Option<String>,
    /// Only frames whose comment line has all these pairs.
    #[serde(default, skip_serializing_if = "Selection::is_empty")]
    #[option(
        ty = "{ key = value, ... }",
        doc = "keep only frames whose comment line has all these pairs"
    )]
    pub select: Selection,
    /// Graph rule.
    #[serde(default = "default_rule")]
    #[option(row = rows::GRAPH)]
    pub graph: GraphRule,
    /// Split sizes.
    #[serde(default)]
    #[option(row = rows::SPLIT)]
    pub split: SplitSpec,
    /// Where the split is saved and reused; `<data_dir>/splits/extxyz-<n>-<fingerprint>.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(
        ty = "path",
        toml = "data_dir/splits/extxyz-<n>-<fingerprint>.json",
        doc = "where the split is saved and reused (by id)"
    )]
    pub split_file: Option<PathBuf>,
    /// Leave out and count structures with a non-finite target or position.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[option(row = rows::SKIP_NON_FINITE)]
    pub skip_non_finite: bool,
}

/// The default graph rule of the structure datasets: 12 nearest neighbours (all atoms of a
/// molecule of up to 13), periodic where the structure is.
pub fn default_rule() -> GraphRule {
    GraphRule::Knn { k: 12 }
}

/// A comment-line value as a selection compares it (arrays never match).
pub fn scalar(v: &Value) -> Option<Scalar> {
    match v {
        Value::Bool(b) => Some(Scalar::Bool(*b)),
        Value::Int(i) => Some(Scalar::Int(*i)),
        Value::Real(x) => Some(Scalar::Real(*x)),
        Value::Str(s) => Some(Scalar::Str(s.clone())),
        _ => None,
    }
}

impl parts::StructureFiles for ExtxyzSpec {
    fn check(&self) -> Result<()> {
        self.validate()
    }

    fn targets(&self) -> Result<Targets> {
        Targets::new(&self.targets, &self.per_atom)
    }

    fn skip_non_finite(&self) -> bool {
        self.skip_non_finite
    }

    fn collect(&self, out: &mut dyn Take) -> Result<()> {
        collect(self, out)
    }

    fn finish(&self) -> Finish<'_> {
        Finish {
            dataset: "extxyz",
            path: &self.path,
            graph: &self.graph,
            split: &self.split,
            split_file: self.split_file.as_deref(),
            units: &self.units,
        }
    }
}

/// Reads every frame of the spec's files into `out`, a piece of each file at a time.
fn collect(spec: &ExtxyzSpec, out: &mut dyn Take) -> Result<()> {
    let names = out.targets().names.clone();
    // the per-atom columns kept: the targets' (to say so when a target is one) and the forces
    let mut keep = names.clone();
    if out.targets().labels.forces {
        keep.push("forces".into());
    }
    let mut values = vec![None; names.len()];
    for src in sources::sources(&spec.path)? {
        let file = src.path.display().to_string();
        chunks::for_each_frame(&src.path, &file, &keep, &mut |f| {
            let origin = format!("{file}: frame {} (line {})", f.index, f.line);
            if !structures::selected(&spec.select, |k| f.info(k).and_then(scalar)) {
                out.skip_unselected();
                return Ok(());
            }
            for (slot, name) in values.iter_mut().zip(&names) {
                *slot = target_of(&f, name, &origin)?;
            }
            let id = match &spec.id_key {
                None => format!("{}:{}", src.name, f.index),
                Some(k) => f.info(k).map(Value::text).ok_or_else(|| {
                    Error::invalid(format!(
                        "{origin}: no {k:?} on the comment line (dataset.id_key)"
                    ))
                })?,
            };
            let t = out.targets();
            let (forces, stress) = potential_labels(&f, t.labels, t.stress_key)
                .map_err(|m| Error::invalid(format!("{origin}: {m}")))?;
            let s = Structure {
                id,
                origin,
                numbers: f.numbers,
                positions: f.positions,
                lattice: f.lattice,
                pbc: f.pbc,
                forces,
                stress,
            };
            out.push(&s, &values)
        })?;
    }
    Ok(())
}

/// The target `name` of frame `f` (read at `origin`): its comment-line number, `None` when
/// absent; a per-atom column or a value that is no number is an error.
fn target_of(f: &frames::Frame, name: &str, origin: &str) -> Result<Option<f64>> {
    match f.info(name) {
        None if f.column(name).is_some() => Err(Error::invalid(format!(
            "{origin}: target {name} is a per-atom column of the frame \
             (Properties=...:{name}:...), not one number per structure: geobatch's targets \
             are comment-line values such as energy"
        ))),
        None => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or_else(|| {
            Error::invalid(format!(
                "{origin}: target {name} is {} {:?}, not a number",
                v.kind(),
                v.text()
            ))
        }),
    }
}

/// Every frame of the files at `path` (a file, folder or glob, as `path` of the dataset) as a
/// structure, positions as written, no target: what `geobatch predict` reads.
pub fn read_structures(path: &std::path::Path) -> Result<Vec<Structure>> {
    let mut out = Vec::new();
    for src in sources::sources(path)? {
        let text = sources::read(&src.path)?;
        let file = src.path.display().to_string();
        for frame in frames::frames(&text, &file, &[]) {
            let f = frame.map_err(|e| Error::invalid(e.to_string()))?;
            out.push(Structure {
                id: format!("{}:{}", src.name, f.index),
                origin: format!("{file}: frame {} (line {})", f.index, f.line),
                numbers: f.numbers,
                positions: f.positions,
                lattice: f.lattice,
                pbc: f.pbc,
                forces: None,
                stress: None,
            });
        }
    }
    if out.is_empty() {
        return Err(Error::invalid(format!("{}: no frames", path.display())));
    }
    Ok(out)
}

/// A frame's forces (its `forces` column, ASE's `forces:R:3`) and stress (the comment line's
/// `stress`, 6 or 9 numbers, or `virial`, converted), where asked and present.
type FrameLabels = (Option<Vec<[f64; 3]>>, Option<[[f64; 3]; 3]>);

fn potential_labels(
    f: &frames::Frame,
    labels: geobatch_core::LabelKinds,
    stress_key: &str,
) -> std::result::Result<FrameLabels, String> {
    let forces = match f.column("forces").filter(|_| labels.forces) {
        None => None,
        Some(c) => match (&c.data, c.width) {
            (frames::ColumnData::Real(v), 3) => {
                Some(v.chunks_exact(3).map(|r| [r[0], r[1], r[2]]).collect())
            }
            _ => {
                return Err(format!(
                    "the forces column is {} value(s) per atom of another type than R:3 \
                     (Properties=...:forces:R:3:...)",
                    c.width
                ));
            }
        },
    };
    let stress = match f.info(stress_key).filter(|_| labels.stress) {
        None => None,
        Some(v) => {
            let numbers = v.numbers().ok_or_else(|| {
                format!("{stress_key} is {} {:?}, not numbers", v.kind(), v.text())
            })?;
            let m = labels::stress_matrix(&numbers).map_err(|m| format!("{stress_key}: {m}"))?;
            Some(if stress_key == "virial" {
                let l = f.lattice.ok_or("a virial without a Lattice (no volume)")?;
                labels::stress_of_virial(m, &l)?
            } else {
                m
            })
        }
    };
    Ok((forces, stress))
}

#[geobatch_core::plugin(
    name = "extxyz",
    summary = "your own structures: extended XYZ files as ASE writes them (molecules or periodic), targets from comment-line keys",
    example = "path = \"plugins/dataset-extxyz/tests/fixtures/qm9_reduced_100.xyz\"\ntargets = [\"U0\"]\nunits = [\"Ha\"]\ngraph = { kind = \"full\" }\n"
)]
impl DatasetSpec for ExtxyzSpec {
    fn validate(&self) -> Result<()> {
        self.targets()?;
        structures::check_units(&self.units, &self.targets)?;
        self.graph
            .validate()
            .map_err(|m| Error::invalid(format!("dataset.{m}")))
    }

    fn source_identity(&self, _data_dir: &std::path::Path) -> Result<Option<String>> {
        // a path that names nothing: `load` says so
        let Ok(files) = sources::sources(&self.path) else {
            return Ok(None);
        };
        let paths: Vec<&std::path::Path> = files.iter().map(|s| s.path.as_path()).collect();
        structures::fingerprint(&paths).map(Some)
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

/// Forces this crate to be linked (called by `geobatch-catalog`).
pub fn link() {}
