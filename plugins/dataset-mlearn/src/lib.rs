//! The `mlearn` dataset: the mlearn DFT set of Zuo et al. (2020) as the `alignn` source
//! distribution ships it, with energies, forces and stresses (the interatomic-potential workload,
//! DESIGN.md §16).
//!
//! * `geobatch data fetch mlearn` downloads `alignn==2026.8.11`'s source distribution with pip
//!   (6.8 MB), checks its SHA-256 and imports the six elements (Cu, Ge, Li, Mo, Ni, Si: 1,730
//!   periodic structures of 2-108 atoms) to `data/mlearn/mlearn.parquet` ([`source`] says what
//!   each field is and what the import drops).
//! * `geobatch data import mlearn PATH` imports that `.tar.gz` or its unpacked `mlearn_data`
//!   folder; `--limit K` keeps the first K structures of each split of each element (the
//!   embedded fixture is `--limit 4`: 72 structures).
//! * The dataset keeps each element's split as its `config.json` gives it (the data's order:
//!   train, validation, test); targets: the total energy (eV), per-atom forces and the stress.

pub mod fetch;
pub mod records;
pub mod source;
pub mod store;

use geobatch_core::{
    AtomLabels, Cell, DataProvider, Dataset, DatasetContext, DatasetSpec, Error, GraphRule,
    ImportArgs, LabelKinds, Result, SplitDataset, plugin_options,
};
use geobatch_geometry::GraphSetBuilder;
use records::{ELEMENTS, Records};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The committed fixture: `geobatch data import mlearn alignn-2026.8.11.tar.gz --limit 4`.
pub static FIXTURE: &[u8] = include_bytes!("../../../data/fixtures/mlearn-72.parquet");
/// Name of the fixture in messages and configs.
pub const FIXTURE_NAME: &str = "fixture";

fn default_elements() -> Vec<String> {
    ELEMENTS.iter().map(|e| (*e).to_string()).collect()
}

fn default_targets() -> Vec<String> {
    vec!["energy".into(), "forces".into(), "stress".into()]
}

fn default_rule() -> GraphRule {
    GraphRule::Cutoff { radius: 5.0 }
}

/// Config of the mlearn dataset.
#[plugin_options]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlearnSpec {
    /// `auto` (the fetched file if present, else the fixture), `fixture`, or a Parquet path.
    #[option(ty = "\"auto\" | \"fixture\" | path", default = "auto".into(), doc = "auto: data_dir/mlearn/mlearn.parquet if fetched, else the embedded 72-structure fixture")]
    pub source: String,
    /// Elements whose structures are loaded.
    #[option(ty = "[string]", default = default_elements(), doc = "any of Cu, Ge, Li, Mo, Ni, Si")]
    pub elements: Vec<String>,
    /// Labels trained on: `energy` (total, eV) and, optionally, `forces` and `stress`.
    #[option(ty = "[string]", default = default_targets(), doc = "energy (total, eV), forces (eV/A), stress (eV/A^3); energy first")]
    pub targets: Vec<String>,
    /// Graph rule.
    #[option(ty = "{ kind = \"cutoff\", radius = ... }", default = default_rule(), doc = "graph rule (a potential needs cutoff: smooth in the positions)")]
    pub graph: GraphRule,
    /// A fraction of each element's training structures held out as the validation split, in
    /// place of the files' validation split (the test structures again); none: the files'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(
        ty = "float",
        toml = "none (the files' validation split: the test structures again)",
        doc = "hold out this fraction (0 < f <= 0.5) of each element's training structures as the validation split (every k-th in stored order, k = round(1/f)), in place of alignn's, which repeats the test structures"
    )]
    pub held_out: Option<f64>,
}

/// Which split each of `records`' structures `keep` goes to: the files' split, or with
/// `held_out` every k-th training structure of each element (k = round(1 / held_out)) to
/// validation and the files' validation structures to none.
fn assign(records: &Records, keep: &[usize], held_out: Option<f64>) -> Vec<Option<usize>> {
    let Some(f) = held_out else {
        return keep
            .iter()
            .map(|&s| Some(records.split[s] as usize))
            .collect();
    };
    let every = (1.0 / f).round().max(2.0) as usize;
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    keep.iter()
        .map(|&s| match records.split[s] as usize {
            0 => {
                let k = seen.entry(records.element[s].as_str()).or_insert(0);
                *k += 1;
                Some(usize::from(k.is_multiple_of(every)))
            }
            1 => None,
            other => Some(other),
        })
        .collect()
}

impl MlearnSpec {
    /// Which labels beyond the energy are asked for.
    fn labels(&self) -> Result<LabelKinds> {
        geobatch_core::dataset::check_unique("dataset.targets", &self.targets)?;
        if self.targets.first().map(String::as_str) != Some("energy") {
            return Err(Error::invalid(format!(
                "dataset.targets = {:?}: mlearn's targets start with \"energy\" (the total \
                 energy, eV), then \"forces\" and/or \"stress\"",
                self.targets
            )));
        }
        if let Some(t) = self.targets[1..]
            .iter()
            .find(|t| !matches!(t.as_str(), "forces" | "stress"))
        {
            return Err(Error::invalid(format!(
                "dataset.targets names {t:?}: mlearn has energy, forces and stress"
            )));
        }
        let has = |n: &str| self.targets.iter().any(|t| t == n);
        if has("stress") && !has("forces") {
            return Err(Error::invalid(
                "dataset.targets: stress is trained with forces (targets = [\"energy\", \
                 \"forces\", \"stress\"])",
            ));
        }
        Ok(LabelKinds {
            forces: has("forces"),
            stress: has("stress"),
        })
    }

    /// The file the spec reads (`None`: the embedded fixture).
    fn file(&self, data_dir: &Path) -> Option<PathBuf> {
        match self.source.as_str() {
            FIXTURE_NAME => None,
            "auto" => Some(fetch::default_file(data_dir)).filter(|p| p.is_file()),
            p => Some(PathBuf::from(p)),
        }
    }

    /// Reads the structures the spec points at, with a description of the source.
    pub fn read(&self, data_dir: &Path) -> Result<(Records, String)> {
        match self.file(data_dir) {
            None => {
                let r = store::read(
                    bytes::Bytes::from_static(FIXTURE),
                    "embedded mlearn fixture",
                )?;
                let what = format!(
                    "{FIXTURE_NAME} ({} mlearn structures: the first 4 of each split of each element)",
                    r.len()
                );
                Ok((r, what))
            }
            Some(p) => {
                let f = geobatch_datafiles::files::open(&p).map_err(|e| {
                    Error::invalid(format!(
                        "{}: {e} (run `geobatch data fetch mlearn`, or set dataset.source)",
                        p.display()
                    ))
                })?;
                Ok((
                    store::read(f, &p.display().to_string())?,
                    p.display().to_string(),
                ))
            }
        }
    }
}

/// The three splits of `records`' structures of `elements`, carrying `labels`, under `rule`.
pub fn build(
    records: &Records,
    elements: &[String],
    labels: LabelKinds,
    rule: &GraphRule,
    held_out: Option<f64>,
) -> Result<[geobatch_core::GraphSet; 3]> {
    let keep: Vec<usize> = (0..records.len())
        .filter(|&s| elements.contains(&records.element[s]))
        .collect();
    let splits = assign(records, &keep, held_out);
    let mut classes: Vec<u8> = Vec::new();
    for &s in &keep {
        for &z in &records.numbers[records.atoms(s)] {
            if !classes.contains(&z) {
                classes.push(z);
            }
        }
    }
    let mut builders: Vec<GraphSetBuilder> = (0..3)
        .map(|_| GraphSetBuilder::new(vec!["energy".into()]).carrying(labels))
        .collect();
    for (&s, split) in keep.iter().zip(splits) {
        let Some(split) = split else { continue };
        let atoms = records.atoms(s);
        let l = records.lattice[s];
        let cell = Cell {
            lattice: [[l[0], l[1], l[2]], [l[3], l[4], l[5]], [l[6], l[7], l[8]]],
            pbc: [true; 3],
        };
        let stress = records.stress[s]
            .filter(|_| labels.stress)
            .map(|v| [[v[0], v[1], v[2]], [v[3], v[4], v[5]], [v[6], v[7], v[8]]]);
        let forces = &records.forces[atoms.clone()];
        let label = AtomLabels {
            forces: labels.forces.then_some(forces),
            stress,
        };
        builders[split].push_labelled(
            &records.id[s],
            &records.numbers[atoms.clone()],
            &records.positions[atoms],
            Some(cell),
            &[records.energy[s] as f32],
            label,
        )?;
    }
    let mut sets = builders.into_iter().map(|b| b.build(rule, Some(&classes)));
    let (Some(a), Some(b), Some(c)) = (sets.next(), sets.next(), sets.next()) else {
        unreachable!("three builders");
    };
    Ok([a?, b?, c?])
}

/// `splits` with every validation and test structure that copies a training structure left
/// out (the rule every reader keeps: [`geobatch_core::GraphSet::content_key`]; a store imported
/// before the import left them out may hold some), and how many were.
pub fn without_copies_of_training(
    splits: [geobatch_core::GraphSet; 3],
) -> ([geobatch_core::GraphSet; 3], usize) {
    let [train, validation, test] = splits;
    let seen: std::collections::HashSet<u64> =
        (0..train.len()).map(|g| train.content_key(g)).collect();
    let mut left_out = 0;
    let mut keep = |set: geobatch_core::GraphSet| {
        let kept: Vec<u32> = (0..set.len())
            .filter(|&g| !seen.contains(&set.content_key(g)))
            .map(|g| g as u32)
            .collect();
        if kept.len() == set.len() {
            return set;
        }
        left_out += set.len() - kept.len();
        set.subset(&kept)
    };
    let (validation, test) = (keep(validation), keep(test));
    ([train, validation, test], left_out)
}

#[geobatch_core::plugin(
    name = "mlearn",
    summary = "the mlearn DFT set (Cu, Ge, Li, Mo, Ni, Si): energies, forces and stresses of 1,730 periodic structures, fetched from PyPI (alignn's source distribution)",
    example = "source = \"auto\"\nelements = [\"Si\"]\ntargets = [\"energy\", \"forces\", \"stress\"]\ngraph = { kind = \"cutoff\", radius = 5.0 }\n"
)]
impl DatasetSpec for MlearnSpec {
    fn validate(&self) -> Result<()> {
        self.labels()?;
        geobatch_core::dataset::check_unique("dataset.elements", &self.elements)?;
        if self.elements.is_empty() {
            return Err(Error::invalid(
                "dataset.elements: name at least one element",
            ));
        }
        if let Some(e) = self
            .elements
            .iter()
            .find(|e| !ELEMENTS.contains(&e.as_str()))
        {
            return Err(Error::invalid(format!(
                "dataset.elements names {e:?}: mlearn has {}",
                ELEMENTS.join(", ")
            )));
        }
        if let Some(f) = self
            .held_out
            .filter(|f| !(f.is_finite() && *f > 0.0 && *f <= 0.5))
        {
            return Err(Error::invalid(format!(
                "dataset.held_out = {f}: a fraction of the training structures, 0 < f <= 0.5"
            )));
        }
        self.graph
            .validate()
            .map_err(|m| Error::invalid(format!("dataset.{m}")))
    }

    fn source_identity(&self, data_dir: &Path) -> Result<Option<String>> {
        match self.file(data_dir) {
            None => Ok(Some(FIXTURE_NAME.into())),
            Some(p) if p.is_file() => geobatch_datafiles::files::file_fingerprint(&p)
                .map(|f| Some(format!("{} ({f})", p.display()))),
            Some(_) => Ok(None),
        }
    }

    fn load(&self, ctx: &DatasetContext) -> Result<Box<dyn Dataset>> {
        self.validate()?;
        let labels = self.labels()?;
        let (records, what) = self.read(&ctx.data_dir)?;
        let (splits, copies) = without_copies_of_training(build(
            &records,
            &self.elements,
            labels,
            &self.graph,
            self.held_out,
        )?);
        let what = if copies > 0 {
            geobatch_process::errln!(
                "{what}: {copies} validation/test structures are copies of training structures \
                 (same atoms, positions, cell and energy): left out of their split"
            );
            format!("{what}; {copies} validation/test copies of training structures left out")
        } else {
            what
        };
        let dropped =
            splits[1].len() + splits[2].len() - splits[1].stress_count() - splits[2].stress_count();
        Ok(Box::new(SplitDataset {
            name: "mlearn".into(),
            splits,
            units: vec!["eV".into()],
            source: if labels.stress && dropped > 0 {
                format!(
                    "{what}; elements {}; {dropped} validation/test structures without a stress \
                     (their file copies training stresses)",
                    self.elements.join(", ")
                )
            } else {
                format!("{what}; elements {}", self.elements.join(", "))
            } + &self
                .held_out
                .map(|f| format!("; validation: {f} of the training structures held out"))
                .unwrap_or_default(),
        }))
    }
}

/// `geobatch data import mlearn PATH`.
fn import_cmd(args: &ImportArgs) -> Result<String> {
    let (records, findings) = source::read(&args.source, args.limit)?;
    if records.is_empty() {
        return Err(Error::Source(format!(
            "{}: no mlearn structures read (nothing is written): alignn's .tar.gz or its \
             mlearn_data folder is expected",
            args.source.display()
        )));
    }
    store::write(
        &records,
        &args.out,
        &format!("{} (imported by geobatch)", args.source.display()),
    )?;
    Ok(format!(
        "imported {} structures into {}\n{}",
        records.len(),
        args.out.display(),
        findings.render()
    ))
}

inventory::submit! {
    DataProvider {
        name: "mlearn",
        summary: "mlearn (energies, forces, stresses) from alignn's source distribution on PyPI (fetch), or import that .tar.gz or its mlearn_data folder",
        default_out: "mlearn/mlearn.parquet",
        fetch: Some(fetch::fetch),
        import: import_cmd,
    }
}

/// Forces this crate to be linked (called by `geobatch-catalog`).
pub fn link() {}

#[cfg(test)]
mod tests {
    use super::*;
    use geobatch_core::SplitName;

    fn spec(targets: &[&str]) -> MlearnSpec {
        MlearnSpec {
            source: FIXTURE_NAME.into(),
            elements: default_elements(),
            targets: targets.iter().map(|t| (*t).to_string()).collect(),
            graph: default_rule(),
            held_out: None,
        }
    }

    #[test]
    fn the_fixture_loads_with_forces_and_stresses_and_keeps_the_files_split() {
        let ctx = DatasetContext {
            seed: 0,
            data_dir: "no-such-folder".into(),
        };
        let d = spec(&["energy", "forces", "stress"]).load(&ctx).unwrap();
        let lens: Vec<usize> = SplitName::ALL.iter().map(|&s| d.split(s).len()).collect();
        assert_eq!(lens, vec![24, 24, 24]);
        let train = d.split(SplitName::Train);
        assert!(train.forces().is_some());
        assert_eq!(train.stress_count(), 24, "training stresses are kept");
        // the fixture's validation and test structures carry copied stresses: all dropped
        assert_eq!(d.split(SplitName::Test).stress_count(), 0);
        assert!(d.source().contains("without a stress"));
        let e = d.split(SplitName::Train).targets(0)[0];
        assert!(e < -10.0, "total energies, not per atom: {e}");
    }

    #[test]
    fn a_held_out_validation_split_comes_from_training_and_replaces_the_files() {
        let ctx = DatasetContext {
            seed: 0,
            data_dir: "no-such-folder".into(),
        };
        let mut s = spec(&["energy", "forces"]);
        s.held_out = Some(0.25);
        let d = s.load(&ctx).unwrap();
        // the fixture: 4 training structures per element, every 4th held out
        let lens: Vec<usize> = SplitName::ALL.iter().map(|&s| d.split(s).len()).collect();
        assert_eq!(lens, vec![18, 6, 24]);
        let files = spec(&["energy", "forces"]).load(&ctx).unwrap();
        let (train, held) = (
            files.split(SplitName::Train),
            d.split(SplitName::Validation),
        );
        let keys: Vec<u64> = (0..train.len()).map(|g| train.content_key(g)).collect();
        for g in 0..held.len() {
            assert!(
                keys.contains(&held.content_key(g)),
                "validation from training"
            );
        }
        let test = d.split(SplitName::Test);
        let kept = d.split(SplitName::Train);
        for g in 0..kept.len() {
            let k = kept.content_key(g);
            assert!(
                (0..held.len()).all(|h| held.content_key(h) != k),
                "held out of training"
            );
            assert!((0..test.len()).all(|t| test.content_key(t) != k));
        }
        assert!(
            d.source()
                .contains("0.25 of the training structures held out")
        );
        for bad in [0.0, 0.6, f64::NAN] {
            s.held_out = Some(bad);
            let e = s.validate().unwrap_err().to_string();
            assert!(e.contains("dataset.held_out"), "{e}");
        }
    }

    #[test]
    fn targets_are_checked() {
        assert!(spec(&["energy"]).validate().is_ok());
        let e = spec(&["forces"]).validate().unwrap_err().to_string();
        assert!(e.contains("start with \"energy\""), "{e}");
        let e = spec(&["energy", "stress"])
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("stress is trained with forces"), "{e}");
        let mut s = spec(&["energy"]);
        s.elements = vec!["Fe".into()];
        assert!(s.validate().unwrap_err().to_string().contains("Fe"));
    }
}
