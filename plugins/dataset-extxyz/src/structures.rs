//! Structures (atoms, positions, an optional cell) with their target values, collected into a
//! split dataset: what the `extxyz` and `asedb` datasets share. Targets are chosen by name and
//! optionally divided per atom; frames are selected by key-value pairs; the graphs come from
//! geobatch's graph rules and the splits from [`SplitSpec`], saved and reused by id.

use crate::labels::{LABELS, check_potential};
use crate::screen::{Screen, Take};
use geobatch_core::{
    Cell, Dataset, DatasetContext, Error, GraphRule, LabelKinds, Result, SplitDataset, SplitSpec,
};
use geobatch_geometry::GraphSetBuilder;
use geobatch_geometry::crystal::wrap;
use geobatch_geometry::neighbors::{cross, dot};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// A value a selection compares with: `select = { config = "bulk", relaxed = true, n = 3 }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A real number.
    Real(f64),
    /// A string.
    Str(String),
}

impl Scalar {
    /// Whether this equals a value found in the data (numbers compare as numbers).
    pub fn matches(&self, found: &Scalar) -> bool {
        let num = |s: &Scalar| match s {
            Scalar::Int(i) => Some(*i as f64),
            Scalar::Real(x) => Some(*x),
            _ => None,
        };
        match (self, found) {
            (Scalar::Bool(a), Scalar::Bool(b)) => a == b,
            (Scalar::Str(a), Scalar::Str(b)) => a == b,
            _ => matches!((num(self), num(found)), (Some(a), Some(b)) if a == b),
        }
    }
}

/// Key-value pairs a structure must have to be kept (all of them).
pub type Selection = BTreeMap<String, Scalar>;

/// Whether the structure whose values `lookup` gives matches every pair of `select`.
pub fn selected(select: &Selection, lookup: impl Fn(&str) -> Option<Scalar>) -> bool {
    select
        .iter()
        .all(|(k, want)| lookup(k).is_some_and(|v| want.matches(&v)))
}

/// One structure as a format gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Structure {
    /// Its id (unique in the dataset).
    pub id: String,
    /// Where it was read (file, frame and line; database and row), for messages.
    pub origin: String,
    /// Atomic number of every atom.
    pub numbers: Vec<u8>,
    /// Cartesian positions (Angstrom).
    pub positions: Vec<[f64; 3]>,
    /// Lattice vectors as rows, when given.
    pub lattice: Option<[[f64; 3]; 3]>,
    /// Periodicity along each lattice vector.
    pub pbc: [bool; 3],
    /// The force on every atom (eV/Angstrom), when the data has them.
    pub forces: Option<Vec<[f64; 3]>>,
    /// The stress (eV/Angstrom^3, ASE's sign), when the data has one.
    pub stress: Option<[[f64; 3]; 3]>,
}

impl Structure {
    /// The cell and the positions as graphs take them: positions wrapped into the cell along its
    /// periodic directions (the same crystal gives the same graph whichever image an atom is
    /// written in), no cell when the structure is not periodic.
    pub fn geometry(&self) -> std::result::Result<(Option<Cell>, Vec<[f64; 3]>), String> {
        if self.numbers.len() != self.positions.len() {
            return Err(format!(
                "{} atoms but {} positions",
                self.numbers.len(),
                self.positions.len()
            ));
        }
        if self.positions.iter().flatten().any(|x| !x.is_finite()) {
            return Err("a position is not a finite number".into());
        }
        let periodic = self.pbc.iter().any(|&p| p);
        let lattice = match self.lattice {
            Some(l) if periodic => l,
            _ => return Ok((None, self.positions.clone())),
        };
        if lattice.iter().flatten().any(|x| !x.is_finite()) {
            return Err(format!("the lattice {lattice:?} is not finite"));
        }
        // the lattice's periodic vectors, and unit vectors across the open directions (which
        // may be zero in the file: ASE's nanotubes, graphene and slabs without vacuum)
        let basis = geobatch_geometry::neighbors::periodic_basis(&lattice, self.pbc)
            .map_err(|m| format!("{m} (lattice {lattice:?}, pbc {:?})", self.pbc))?;
        let volume = dot(basis[0], cross(basis[1], basis[2]));
        // fractional coordinate i of r is r . (b_j x b_k) / V
        let recip = [
            cross(basis[1], basis[2]),
            cross(basis[2], basis[0]),
            cross(basis[0], basis[1]),
        ];
        let positions = self
            .positions
            .iter()
            .map(|r| {
                let mut f = [0.0; 3];
                for i in 0..3 {
                    f[i] = dot(*r, recip[i]) / volume;
                    if self.pbc[i] {
                        f[i] = wrap(f[i]);
                    }
                }
                [0, 1, 2].map(|k| f[0] * basis[0][k] + f[1] * basis[1][k] + f[2] * basis[2][k])
            })
            .collect();
        let cell = Cell {
            lattice,
            pbc: self.pbc,
        };
        Ok((Some(cell), positions))
    }
}

/// What the targets are: names as the data has them, and which are divided per atom; and the
/// labels of a potential asked for among them ([`LABELS`]).
#[derive(Debug, Clone)]
pub struct Targets {
    /// Names of the per-structure targets to look up in the data.
    pub names: Vec<String>,
    /// Divided by the number of atoms, per name.
    pub per_atom: Vec<bool>,
    /// The potential's labels asked for (forces, stress).
    pub labels: LabelKinds,
    /// Where the stress is read: `stress`, or `virial` (converted).
    pub stress_key: &'static str,
}

impl Targets {
    /// Checks `per_atom` against `targets` (each a target, listed once); `forces`, `stress` and
    /// `virial` are a potential's labels: with forces, the one per-structure target is the total
    /// energy, and a stress is trained only with forces.
    pub fn new(targets: &[String], per_atom: &[String]) -> Result<Targets> {
        geobatch_core::dataset::check_unique("dataset.targets", targets)?;
        geobatch_core::dataset::check_unique("dataset.per_atom", per_atom)?;
        let has = |n: &str| targets.iter().any(|t| t == n);
        let labels = LabelKinds {
            forces: has("forces"),
            stress: has("stress") || has("virial"),
        };
        if has("stress") && has("virial") {
            return Err(Error::invalid(
                "dataset.targets names stress and virial: one stress is read, from either",
            ));
        }
        let stress_key = if has("virial") { "virial" } else { "stress" };
        let targets: Vec<String> = targets
            .iter()
            .filter(|t| !LABELS.contains(&t.as_str()))
            .cloned()
            .collect();
        if labels.any() {
            check_potential(&targets, per_atom, labels)?;
        }
        if targets.is_empty() {
            return Err(Error::invalid(
                "dataset.targets: name at least one target (e.g. [\"energy\"])",
            ));
        }
        if let Some(p) = per_atom.iter().find(|p| !targets.contains(p)) {
            return Err(Error::invalid(format!(
                "dataset.per_atom names {p:?}, which is not one of dataset.targets {targets:?}"
            )));
        }
        let t = Targets {
            per_atom: targets.iter().map(|t| per_atom.contains(t)).collect(),
            names: targets,
            labels,
            stress_key,
        };
        geobatch_core::dataset::check_unique("the dataset's target names", &t.columns())?;
        Ok(t)
    }

    /// The target columns of the graphs: the names, `<name>_per_atom` for those divided.
    pub fn columns(&self) -> Vec<String> {
        self.names
            .iter()
            .zip(&self.per_atom)
            .map(|(n, &p)| {
                if p {
                    format!("{n}_per_atom")
                } else {
                    n.clone()
                }
            })
            .collect()
    }
}

/// Gathers structures into graphs, refusing repeated ids and counting what is skipped.
#[derive(Debug)]
pub struct Collector {
    screen: Screen,
    builder: GraphSetBuilder,
    ids: HashMap<String, String>,
}

/// How the collected structures become a dataset.
#[derive(Debug, Clone, Copy)]
pub struct Finish<'a> {
    /// The dataset plugin's name.
    pub dataset: &'a str,
    /// Where the data came from, as configured (named in messages and in the split's key).
    pub path: &'a Path,
    /// The graph rule.
    pub graph: &'a GraphRule,
    /// The split sizes.
    pub split: &'a SplitSpec,
    /// Where the split is saved and reused.
    pub split_file: Option<&'a Path>,
    /// Units of the targets (empty: unknown).
    pub units: &'a [String],
}

impl Collector {
    /// An empty collection of these targets; structures with a non-finite target or position
    /// are left out and counted (`skip_non_finite`) instead of refused, naming them.
    pub fn new(targets: Targets, skip_non_finite: bool) -> Collector {
        Collector {
            builder: GraphSetBuilder::new(targets.columns()).carrying(targets.labels),
            screen: Screen::new(targets, skip_non_finite, "reading structures"),
            ids: HashMap::new(),
        }
    }

    /// What was read and kept, and why the rest was skipped.
    pub fn report(&self) -> String {
        self.screen.report()
    }

    /// Applies the graph rule, cuts the splits (saved and reused by id) and returns the dataset.
    pub fn finish(self, f: &Finish, ctx: &DatasetContext) -> Result<Box<dyn Dataset>> {
        self.screen.done();
        let source = format!("{} ({})", f.path.display(), self.report());
        if self.builder.is_empty() {
            return Err(Error::invalid(format!("no usable structures in {source}")));
        }
        let n_targets = self.screen.targets().names.len();
        let pool = self
            .builder
            .build(f.graph, None)
            .map_err(|e| e.within(f.path.display()))?;
        let ([a, v, t], copies) = geobatch_datafiles::splits::saved_once(
            f.split,
            f.split_file,
            &ctx.data_dir,
            f.dataset,
            &f.path.display().to_string(),
            &pool,
            ctx.seed,
        )?;
        warn_left_out(&[&a, &v, &t], pool.len() - copies);
        let units = if f.units.is_empty() {
            vec![String::new(); n_targets]
        } else {
            f.units.to_vec()
        };
        Ok(Box::new(SplitDataset {
            name: f.dataset.into(),
            splits: [pool.subset(&a), pool.subset(&v), pool.subset(&t)],
            units,
            source,
        }))
    }
}

impl Take for Collector {
    fn screen(&self) -> &Screen {
        &self.screen
    }

    fn screen_mut(&mut self) -> &mut Screen {
        &mut self.screen
    }

    /// Repeated ids, non-finite values and structures that make no graph are errors naming the
    /// structure's origin.
    fn push(&mut self, s: &Structure, values: &[Option<f64>]) -> Result<()> {
        if !self.screen.admit(s, values)? {
            return Ok(());
        }
        if let Some(first) = self.ids.get(&s.id) {
            return Err(twice(s, first));
        }
        self.screen.push_to(&mut self.builder, s)?;
        self.screen.kept(s);
        self.ids.insert(s.id.clone(), s.origin.clone());
        Ok(())
    }
}

/// Warns that the split (its three index lists) leaves out some of the `distinct` structures:
/// counts are meant for large datasets, and on a larger selection they would leave out the
/// rest without a word.
pub fn warn_left_out(split: &[&[u32]; 3], distinct: usize) {
    let [a, v, t] = split.map(<[u32]>::len);
    let used = a + v + t;
    if used < distinct {
        geobatch_process::errln!(
            "warning: dataset.split uses {used} of the {distinct} structures ({a} train, {v} \
             validation, {t} test); {} are left out: write fractions (split = {{ train = 0.8, \
             validation = 0.1, test = 0.1 }}) to use them all",
            distinct - used
        );
    }
}

/// The error of a structure whose id an earlier one (`first`) has.
pub fn twice(s: &Structure, first: &str) -> Error {
    Error::invalid(format!(
        "{}: id {:?} appears twice (first at {first}); ids must be unique (choose another \
         dataset.id_key)",
        s.origin, s.id
    ))
}

/// Checks `units` (none, or one per per-structure target: `targets` without [`LABELS`]).
pub fn check_units(units: &[String], targets: &[String]) -> Result<()> {
    let targets: Vec<&String> = targets
        .iter()
        .filter(|t| !LABELS.contains(&t.as_str()))
        .collect();
    if !units.is_empty() && units.len() != targets.len() {
        return Err(Error::invalid(format!(
            "dataset.units: {} units for {} targets (give one per target, or none)",
            units.len(),
            targets.len()
        )));
    }
    Ok(())
}

/// A content fingerprint of several files, for a dataset's `source_identity`.
pub fn fingerprint(files: &[&Path]) -> Result<String> {
    let mut parts = Vec::with_capacity(files.len());
    for f in files {
        parts.push(format!(
            "{} ({})",
            f.display(),
            geobatch_datafiles::files::file_fingerprint(f)?
        ));
    }
    Ok(parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn structure(pos: Vec<[f64; 3]>, pbc: [bool; 3]) -> Structure {
        Structure {
            id: "s".into(),
            origin: "here".into(),
            numbers: vec![6; pos.len()],
            positions: pos,
            lattice: Some([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]]),
            pbc,
            forces: None,
            stress: None,
        }
    }

    #[test]
    fn positions_wrap_along_periodic_directions_only() {
        let s = structure(vec![[-0.5, 2.5, 3.0]], [true, true, false]);
        let (cell, pos) = s.geometry().unwrap();
        assert_eq!(pos[0], [1.5, 0.5, 3.0]);
        assert_eq!(cell.unwrap().pbc, [true, true, false]);
        let s = structure(vec![[-0.5, 2.5, 3.0]], [false; 3]);
        assert_eq!(s.geometry().unwrap(), (None, vec![[-0.5, 2.5, 3.0]]));
        let mut s = structure(vec![[0.0; 3]], [true; 3]);
        s.lattice = Some([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 1.0]]);
        assert!(s.geometry().unwrap_err().contains("no volume"));
    }

    #[test]
    fn selections_compare_numbers_as_numbers() {
        let mut sel = Selection::new();
        sel.insert("n".into(), Scalar::Int(3));
        sel.insert("name".into(), Scalar::Str("cu".into()));
        let found = |k: &str| match k {
            "n" => Some(Scalar::Real(3.0)),
            "name" => Some(Scalar::Str("cu".into())),
            _ => None,
        };
        assert!(selected(&sel, found));
        sel.insert("other".into(), Scalar::Bool(true));
        assert!(!selected(&sel, found));
    }

    #[test]
    fn per_atom_targets_are_checked_and_renamed() {
        let t = Targets::new(&["energy".into(), "gap".into()], &["energy".into()]).unwrap();
        assert_eq!(t.columns(), vec!["energy_per_atom", "gap"]);
        assert!(Targets::new(&["energy".into()], &["gap".into()]).is_err());
        assert!(
            Targets::new(&["e".into(), "e_per_atom".into()], &["e".into()])
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
    }

    #[test]
    fn a_potentials_labels_are_told_from_targets() {
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
        let t = Targets::new(&names(&["energy", "forces", "virial"]), &[]).unwrap();
        assert_eq!(t.names, vec!["energy"]);
        assert!(t.labels.forces && t.labels.stress);
        assert_eq!(t.stress_key, "virial");
        let e = Targets::new(&names(&["energy", "stress"]), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("trained with forces"), "{e}");
        let e = Targets::new(&names(&["energy", "gap", "forces"]), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("name one more target"), "{e}");
        let e = Targets::new(&names(&["forces"]), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("name one more target"), "{e}");
        let e = Targets::new(&names(&["energy", "forces"]), &names(&["energy"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("total energy"), "{e}");
        assert!(check_units(&names(&["eV"]), &names(&["energy", "forces"])).is_ok());
    }
}
