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
    SplitDataset, SplitSpec, plugin_options,
};
use geobatch_geometry::GraphSetBuilder;
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
        match self.file(data_dir) {
            None => {
                let r = store::read(bytes::Bytes::from_static(FIXTURE), "embedded QM9 fixture")?;
                let what = format!(
                    "{FIXTURE_NAME} (first {} molecules of qm9pack 1.0.3)",
                    r.len()
                );
                Ok((r, what))
            }
            Some(p) => {
                let f = geobatch_datafiles::files::open(&p).map_err(|e| {
                    Error::invalid(format!(
                        "{}: {e} (run `geobatch data fetch qm9`, or set dataset.source)",
                        p.display()
                    ))
                })?;
                let r = store::read(f, &p.display().to_string())?;
                Ok((r, p.display().to_string()))
            }
        }
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
        records: &Qm9Records,
        data_dir: &Path,
        source: &str,
        seed: u64,
    ) -> Result<[Vec<u32>; 3]> {
        let ids: Vec<&str> = records.id.iter().map(String::as_str).collect();
        geobatch_datafiles::splits::saved(
            &self.split,
            self.split_file.as_deref(),
            data_dir,
            "qm9",
            source,
            &ids,
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
        let targets: Vec<Vec<f32>> = self
            .targets
            .iter()
            .map(|t| Self::target_values(&records, t))
            .collect::<Result<_>>()?;
        let mut b = GraphSetBuilder::new(self.targets.clone());
        let mut pos = Vec::new();
        let mut y = vec![0.0f32; targets.len()];
        for m in 0..records.len() {
            let atoms = records.atoms(m);
            pos.clear();
            pos.extend(
                records.positions[3 * atoms.start..3 * atoms.end]
                    .chunks_exact(3)
                    .map(|c| [c[0], c[1], c[2]].map(f64::from)),
            );
            for (k, t) in targets.iter().enumerate() {
                y[k] = t[m];
            }
            b.push(
                &records.id[m],
                &records.atomic_numbers[atoms],
                &pos,
                None,
                &y,
            )
            .map_err(|e| Error::invalid(format!("{source}: {e}")))?;
        }
        let pool = b.build(&self.graph, None).map_err(|e| e.within(&source))?;
        let [a, v, t] = self.split_indices(&records, &ctx.data_dir, &source, ctx.seed)?;
        Ok(Box::new(SplitDataset {
            name: "qm9".into(),
            splits: [pool.subset(&a), pool.subset(&v), pool.subset(&t)],
            units: self.targets.iter().map(|t| Self::unit(t)).collect(),
            source,
        }))
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
