//! The `qm9` dataset: QM9 (Ramakrishnan et al. 2014) as the study uses it (spec §4.1, §4.3).
//!
//! * `geobatch data fetch qm9` downloads the PyPI package qm9pack 1.0.3 with pip (130,831
//!   molecules; the 3,054 "uncharacterized" ones are absent), checks its SHA-256 and imports it to
//!   `data/qm9/qm9.parquet`.
//! * `geobatch data import qm9 PATH` imports the wheel, a folder with its CSV files, or a folder of
//!   the original `dsgdb9nsd_*.xyz` files.
//! * The dataset loads that file (or the embedded 1,000-molecule fixture): targets by name (`U0`,
//!   the study's, is the atomisation energy in eV), graph rule `full` by default, a seeded split
//!   saved to and reused from `data/splits/`, standardisation statistics from the training split.

pub mod fetch;
pub mod import;
pub mod parse;
pub mod properties;
pub mod records;
pub mod store;

use geobatch_core::{
    DataProvider, Dataset, DatasetContext, DatasetSpec, Error, GraphRule, ImportArgs, Result,
    SplitDataset, SplitName, SplitSpec, plugin_options,
};
use geobatch_geometry::{GraphSetBuilder, SplitParts};
use properties::{HARTREE_EV, reference_energy_u0};
use records::Qm9Records;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The committed fixture: the first 1,000 molecules of qm9pack, made by `geobatch data import`.
pub static FIXTURE: &[u8] = include_bytes!("../../../data/fixtures/qm9-1000.parquet");
/// Name of the fixture in messages and configs.
pub const FIXTURE_NAME: &str = "fixture";

/// Config of the QM9 dataset.
#[plugin_options]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Qm9Spec {
    /// `auto` (the fetched file if present, else the fixture), `fixture`, or a Parquet file path.
    #[option(ty = "\"auto\" | \"fixture\" | path", default = "auto".into(), doc = "auto: data_dir/qm9/qm9.parquet if fetched, else the embedded fixture")]
    pub source: String,
    /// Target names (see `geobatch example dataset qm9`).
    #[option(ty = "[string]", default = vec!["U0".into()], doc = "U0 (atomisation energy, eV), U0_total, U, H, G, zpve, homo, lumo, gap (Ha), A, B, C (GHz), mu (D), alpha, alpha_xx..alpha_zz (bohr^3), r2 (bohr^2), Cv (cal/(mol K))")]
    pub targets: Vec<String>,
    /// Graph rule (`full` in the study).
    #[option(ty = "{ kind = \"full\" | \"cutoff\" | \"knn\", ... }", default = GraphRule::Full, doc = "graph rule (the study: full)")]
    pub graph: GraphRule,
    /// Split sizes.
    #[serde(default)]
    #[option(
        ty = "{ train, validation, test[, seed] }",
        doc = "fractions (floats) or counts (integers), seeded by the run's seed"
    )]
    pub split: SplitSpec,
    /// Where the split is saved and reused; `<data_dir>/splits/qm9-<fingerprint>.json` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(
        ty = "path",
        toml = "data_dir/splits/qm9-<n>-<fingerprint>.json",
        doc = "where the split is saved and reused"
    )]
    pub split_file: Option<PathBuf>,
}

impl Qm9Spec {
    /// The file the spec reads (`None`: the embedded fixture).
    fn file(&self, data_dir: &Path) -> Option<PathBuf> {
        match self.source.as_str() {
            FIXTURE_NAME => None,
            "auto" => Some(fetch::default_file(data_dir)).filter(|p| p.is_file()),
            p => Some(PathBuf::from(p)),
        }
    }

    /// Reads the molecules the spec points at; returns them with a description of the source.
    pub fn read(&self, data_dir: &Path) -> Result<(Qm9Records, String)> {
        let mut all = Qm9Records::new();
        let mut more = |r: &Qm9Records| {
            all.extend(r);
            Ok(())
        };
        let source = self.for_each_batch(data_dir, &mut more)?;
        Ok((all, source))
    }

    /// Reads the molecules the spec points at a record batch at a time (at most 32,768
    /// molecules), handing each to `each`; returns a description of the source.
    pub fn for_each_batch(
        &self,
        data_dir: &Path,
        each: &mut dyn FnMut(&Qm9Records) -> Result<()>,
    ) -> Result<String> {
        match self.file(data_dir) {
            None => {
                let mut n = 0;
                store::for_each_batch(
                    bytes::Bytes::from_static(FIXTURE),
                    "embedded QM9 fixture",
                    &mut |r| {
                        n += r.len();
                        each(r)
                    },
                )?;
                Ok(format!(
                    "{FIXTURE_NAME} (first {n} molecules of qm9pack 1.0.3)"
                ))
            }
            Some(p) => {
                let f = geobatch_datafiles::files::open(&p).map_err(|e| {
                    Error::invalid(format!(
                        "{}: {e} (run `geobatch data fetch qm9`, or set dataset.source)",
                        p.display()
                    ))
                })?;
                store::for_each_batch(f, &p.display().to_string(), each)?;
                Ok(p.display().to_string())
            }
        }
    }

    /// Pushes molecule `m` of `records`, with its row of `targets` (one column per target), to
    /// `b`; `source` names the data in errors.
    fn push_molecule(
        b: &mut GraphSetBuilder,
        records: &Qm9Records,
        m: usize,
        targets: &[Vec<f32>],
        source: &str,
    ) -> Result<()> {
        let atoms = records.atoms(m);
        let pos: Vec<[f64; 3]> = records.positions[3 * atoms.start..3 * atoms.end]
            .chunks_exact(3)
            .map(|c| [c[0], c[1], c[2]].map(f64::from))
            .collect();
        let y: Vec<f32> = targets.iter().map(|t| t[m]).collect();
        b.push(
            &records.id[m],
            &records.atomic_numbers[atoms],
            &pos,
            None,
            &y,
        )
        .map_err(|e| Error::invalid(format!("{source}: {e}")))
    }

    /// Every target's values for the molecules of `records`.
    fn target_columns(&self, records: &Qm9Records) -> Result<Vec<Vec<f32>>> {
        self.targets
            .iter()
            .map(|t| Self::target_values(records, t))
            .collect()
    }

    /// The molecules written a part at a time (the file read twice, a record batch at a time:
    /// first the ids, for the split, then the molecules).
    fn write_parts(
        &self,
        ctx: &DatasetContext,
        part: usize,
        each: &mut dyn FnMut(SplitName, &geobatch_core::GraphSet) -> Result<()>,
    ) -> Result<()> {
        let mut ids: Vec<String> = Vec::new();
        let mut read_ids = |r: &Qm9Records| {
            ids.extend_from_slice(&r.id);
            Ok(())
        };
        let source = self.for_each_batch(&ctx.data_dir, &mut read_ids)?;
        let names: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut split_of = vec![u8::MAX; ids.len()];
        for (s, rows) in self
            .split_indices(&names, &ctx.data_dir, &source, ctx.seed)?
            .iter()
            .enumerate()
        {
            rows.iter().for_each(|&m| split_of[m as usize] = s as u8);
        }
        let mut parts = SplitParts::new(
            GraphSetBuilder::new(self.targets.clone()),
            part,
            &self.graph,
            source.clone(),
            each,
        );
        let mut before = 0;
        let mut write = |r: &Qm9Records| {
            let targets = self.target_columns(r)?;
            for m in 0..r.len() {
                if ids.get(before + m) != Some(&r.id[m]) {
                    return Err(Error::invalid(format!(
                        "{source}: molecule {} is not the one read first: the file changed \
                         while it was read",
                        before + m
                    )));
                }
                let Some(&s) = SplitName::ALL.get(usize::from(split_of[before + m])) else {
                    continue;
                };
                Self::push_molecule(parts.builder(s), r, m, &targets, &source)?;
                parts.pushed(s)?;
            }
            before += r.len();
            Ok(())
        };
        self.for_each_batch(&ctx.data_dir, &mut write)?;
        if before != ids.len() {
            return Err(Error::invalid(format!(
                "{source}: fewer molecules on the second reading: the file changed while it \
                 was read"
            )));
        }
        parts.end()
    }

    /// Per-molecule values of one target.
    pub fn target_values(records: &Qm9Records, name: &str) -> Result<Vec<f32>> {
        if name == "U0" {
            let u0 = records
                .property("U0")
                .ok_or_else(|| Error::invalid("no U0 column"))?;
            return (0..records.len())
                .map(|m| {
                    let mut e = u0[m];
                    for &z in &records.atomic_numbers[records.atoms(m)] {
                        e -= reference_energy_u0(z).ok_or_else(|| {
                            Error::invalid(format!(
                                "molecule {}: no reference energy for Z = {z}",
                                records.id[m]
                            ))
                        })?;
                    }
                    Ok((e * HARTREE_EV) as f32)
                })
                .collect();
        }
        if name == "U0_total" {
            return Ok(records
                .property("U0")
                .unwrap_or(&[])
                .iter()
                .map(|&v| v as f32)
                .collect());
        }
        if let Some(col) = records.property(name) {
            return Ok(col.iter().map(|&v| v as f32).collect());
        }
        if let Some(col) = records.polarizability(name) {
            return col
                .iter()
                .enumerate()
                .map(|(m, v)| {
                    v.map(|v| v as f32).ok_or_else(|| {
                        Error::invalid(format!("molecule {}: no {name} in this file (import with qm9_polarizability.csv)", records.id[m]))
                    })
                })
                .collect();
        }
        let names: Vec<String> = properties::targets().into_iter().map(|t| t.0).collect();
        Err(Error::invalid(format!(
            "dataset.targets: unknown QM9 target {name:?}; known: {}",
            names.join(", ")
        )))
    }

    fn unit(name: &str) -> String {
        properties::targets()
            .into_iter()
            .find(|t| t.0 == name)
            .map(|t| t.1)
            .unwrap_or_default()
    }

    /// The split as molecule row indices: loaded from the split file (molecule ids per split)
    /// when it exists, otherwise computed from the seed and saved
    /// (`<data_dir>/splits/qm9-<n>-<fingerprint>.json` unless `split_file` names one).
    pub fn split_indices(
        &self,
        ids: &[&str],
        data_dir: &Path,
        source: &str,
        seed: u64,
    ) -> Result<[Vec<u32>; 3]> {
        geobatch_datafiles::splits::saved(
            &self.split,
            self.split_file.as_deref(),
            data_dir,
            "qm9",
            source,
            ids,
            seed,
        )
    }
}

#[geobatch_core::plugin(
    name = "qm9",
    summary = "QM9 molecules (fetched and imported with `geobatch data fetch qm9`, or the embedded 1,000-molecule fixture)",
    example = "source = \"auto\"\ntargets = [\"U0\"]\ngraph = { kind = \"full\" }\n"
)]
impl DatasetSpec for Qm9Spec {
    fn validate(&self) -> Result<()> {
        geobatch_core::dataset::check_unique("dataset.targets", &self.targets)?;
        if self.targets.is_empty() {
            return Err(Error::invalid("dataset.targets: name at least one target"));
        }
        let known: Vec<String> = properties::targets().into_iter().map(|t| t.0).collect();
        if let Some(bad) = self.targets.iter().find(|t| !known.contains(t)) {
            return Err(Error::invalid(format!(
                "dataset.targets: unknown QM9 target {bad:?}; known: {}",
                known.join(", ")
            )));
        }
        self.graph
            .validate()
            .map_err(|m| Error::invalid(format!("dataset.{m}")))
    }

    fn source_identity(&self, data_dir: &Path) -> Result<Option<String>> {
        Ok(match (self.source.as_str(), self.file(data_dir)) {
            (FIXTURE_NAME, _) => None,
            // `auto` without a fetched file: the fixture, which must not share runs with full QM9
            (_, None) => Some(format!("{FIXTURE_NAME} (embedded)")),
            (_, Some(p)) if p.is_file() => Some(format!(
                "{} ({})",
                p.display(),
                geobatch_datafiles::files::file_fingerprint(&p)?
            )),
            // a missing file: `load` says so
            (_, Some(_)) => None,
        })
    }

    fn load(&self, ctx: &DatasetContext) -> Result<Box<dyn Dataset>> {
        self.validate()?;
        let (records, source) = self.read(&ctx.data_dir)?;
        let targets = self.target_columns(&records)?;
        let mut b = GraphSetBuilder::new(self.targets.clone());
        for m in 0..records.len() {
            Self::push_molecule(&mut b, &records, m, &targets, &source)?;
        }
        let pool = b.build(&self.graph, None).map_err(|e| e.within(&source))?;
        let ids: Vec<&str> = records.id.iter().map(String::as_str).collect();
        let [a, v, t] = self.split_indices(&ids, &ctx.data_dir, &source, ctx.seed)?;
        Ok(Box::new(SplitDataset {
            name: "qm9".into(),
            splits: [pool.subset(&a), pool.subset(&v), pool.subset(&t)],
            units: self.targets.iter().map(|t| Self::unit(t)).collect(),
            source,
        }))
    }

    fn for_each_part(
        &self,
        ctx: &DatasetContext,
        part: usize,
        each: &mut dyn FnMut(SplitName, &geobatch_core::GraphSet) -> Result<()>,
    ) -> Option<Result<()>> {
        Some(
            self.validate()
                .and_then(|()| self.write_parts(ctx, part, each)),
        )
    }
}

fn import_cmd(args: &ImportArgs) -> Result<String> {
    // reading the source is the user's input (exit 2); writing the store is not
    let records = import::import(&args.source, args.limit, args.progress).map_err(Error::source)?;
    if records.is_empty() {
        return Err(Error::Source(format!(
            "{}: no molecules read (nothing is written): the qm9pack wheel, its CSV folder or \
             the original xyz files are expected",
            args.source.display()
        )));
    }
    let name = args.source.file_name().map_or_else(
        || args.source.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let limit = args
        .limit
        .map(|n| format!(", first {n} molecules"))
        .unwrap_or_default();
    store::write(&records, &args.out, &format!("{name}{limit}"))?;
    Ok(format!(
        "imported {} molecules from {} into {}",
        records.len(),
        args.source.display(),
        args.out.display()
    ))
}

inventory::submit! {
    DataProvider {
        name: "qm9",
        summary: "QM9 from the PyPI package qm9pack 1.0.3 (fetch), or import its wheel, its CSV folder or the original xyz files",
        default_out: "qm9/qm9.parquet",
        fetch: Some(fetch::fetch),
        import: import_cmd,
    }
}

/// Forces this crate to be linked (called by `geobatch-catalog`).
pub fn link() {}
