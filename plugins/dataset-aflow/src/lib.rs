//! The `aflow` dataset: inorganic crystals from AFLOW (spec §4.2-4.3), targets formation enthalpy
//! per atom (`Ef` = `enthalpy_formation_atom`, eV/atom) and band gap (`Egap`, eV).
//!
//! * Reads AFLOW's export formats from a file or folder ([`reader`]): `aflowlib.json` entries,
//!   AFLUX answers (JSON lists), legacy AFLUX answers (objects keyed `"1 of N"`, string values)
//!   and JSON Lines of either.
//! * `geobatch data fetch aflow` pages through an AFLUX query for the study's fields into
//!   `data/aflow/aflow.jsonl`, resumable ([`fetch`]); `geobatch data import aflow PATH` writes
//!   any export to that file, normalised.
//! * Graphs: periodic k nearest neighbours (k = 12) by default, or a cutoff; element classes in
//!   first-seen order; duplicates dropped by `aurl`; records lacking a chosen target are skipped
//!   and counted in the dataset's source line.

pub mod fetch;
pub mod reader;
pub mod record;

use geobatch_core::{
    DataProvider, Dataset, DatasetContext, DatasetSpec, Error, GraphRule, ImportArgs, Result,
    SplitDataset, SplitSpec, plugin_options,
};
use geobatch_geometry::GraphSetBuilder;
use record::{AflowRecord, field_name, unit};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Where fetch and import write, below the data folder.
pub const DEFAULT_FILE: &str = "aflow/aflow.jsonl";

/// Config of the AFLOW dataset.
#[plugin_options]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AflowSpec {
    /// A file or folder of AFLOW exports; `<data_dir>/aflow/aflow.jsonl` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(
        ty = "path",
        toml = "data_dir/aflow/aflow.jsonl",
        doc = "a file or folder of AFLOW exports (.json, .jsonl)"
    )]
    pub path: Option<PathBuf>,
    /// Targets: `Ef` (= `enthalpy_formation_atom`), `Egap`, or any numeric AFLOW field.
    #[serde(default = "default_targets")]
    #[option(
        ty = "[string]",
        doc = "Ef (= enthalpy_formation_atom, eV/atom), Egap (eV), or any numeric AFLOW field; records lacking one are skipped and counted"
    )]
    pub targets: Vec<String>,
    /// Graph rule (the study: k nearest neighbours, k = 12).
    #[serde(default = "default_rule")]
    #[option(
        ty = "{ kind = \"knn\" | \"cutoff\", ... }",
        doc = "periodic graph rule (the study: knn, k = 12)"
    )]
    pub graph: GraphRule,
    /// Split sizes.
    #[serde(default)]
    #[option(
        ty = "{ train, validation, test[, seed] }",
        doc = "fractions or counts, seeded by the run's seed"
    )]
    pub split: SplitSpec,
    /// Where the split is saved and reused; `<data_dir>/splits/aflow-<n>-<fingerprint>.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(
        ty = "path",
        toml = "data_dir/splits/aflow-<n>-<fingerprint>.json",
        doc = "where the split is saved and reused (by auid)"
    )]
    pub split_file: Option<PathBuf>,
    /// Keep only records whose `dft_type` contains this (e.g. `"PAW_PBE"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(
        ty = "string",
        toml = "none",
        doc = "keep only records of this DFT type, e.g. \"PAW_PBE\""
    )]
    pub dft_type: Option<String>,
    /// Keep only records whose first target lies in `[min, max]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(
        ty = "[min, max]",
        toml = "none",
        doc = "keep only records whose first target lies in the range"
    )]
    pub target_range: Option<[f64; 2]>,
    /// Skip (and count) records with a malformed or missing structure instead of failing.
    #[serde(default)]
    #[option(
        ty = "bool",
        doc = "skip and count records with a malformed or missing structure instead of failing"
    )]
    pub skip_bad: bool,
}

fn default_targets() -> Vec<String> {
    vec!["Ef".into()]
}

fn default_rule() -> GraphRule {
    GraphRule::Knn { k: 12 }
}

impl Default for AflowSpec {
    fn default() -> Self {
        AflowSpec {
            path: None,
            targets: default_targets(),
            graph: default_rule(),
            split: SplitSpec::default(),
            split_file: None,
            dft_type: None,
            target_range: None,
            skip_bad: false,
        }
    }
}

/// What reading kept and skipped.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ReadReport {
    /// Records read.
    pub read: usize,
    /// Records kept.
    pub kept: usize,
    /// Duplicates (same `aurl`) dropped.
    pub duplicates: usize,
    /// Records lacking a target, per target name.
    pub missing: Vec<(String, usize)>,
    /// Records dropped by the `dft_type` filter.
    pub dft_filtered: usize,
    /// Records dropped by the target range.
    pub out_of_range: usize,
    /// Records with a bad structure skipped (`skip_bad`).
    pub bad: usize,
}

impl std::fmt::Display for ReadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} records read, {} kept", self.read, self.kept)?;
        let mut skipped = Vec::new();
        if self.duplicates > 0 {
            skipped.push(format!("{} duplicate aurl", self.duplicates));
        }
        for (t, n) in self.missing.iter().filter(|m| m.1 > 0) {
            skipped.push(format!("{n} without {t}"));
        }
        if self.dft_filtered > 0 {
            skipped.push(format!("{} other dft_type", self.dft_filtered));
        }
        if self.out_of_range > 0 {
            skipped.push(format!("{} outside target_range", self.out_of_range));
        }
        if self.bad > 0 {
            skipped.push(format!("{} bad structure", self.bad));
        }
        if !skipped.is_empty() {
            write!(f, "; skipped: {}", skipped.join(", "))?;
        }
        Ok(())
    }
}

impl AflowSpec {
    /// The file or folder this spec reads.
    pub fn source_path(&self, data_dir: &Path) -> PathBuf {
        self.path
            .clone()
            .unwrap_or_else(|| data_dir.join(DEFAULT_FILE))
    }

    /// Reads the records into graphs (before the graph rule): the builder, the kept ids and
    /// what was skipped.
    pub fn collect(&self, records: &[AflowRecord]) -> Result<(GraphSetBuilder, ReadReport)> {
        let fields: Vec<&str> = self.targets.iter().map(|t| field_name(t)).collect();
        let mut report = ReadReport {
            read: records.len(),
            missing: self.targets.iter().map(|t| (t.clone(), 0)).collect(),
            ..Default::default()
        };
        let mut seen = HashSet::new();
        let mut b = GraphSetBuilder::new(self.targets.clone());
        let mut y = vec![0.0f32; fields.len()];
        'records: for r in records {
            if let Some(key) = r.dedup_key()
                && !seen.insert(key)
            {
                report.duplicates += 1;
                continue;
            }
            for (k, f) in fields.iter().enumerate() {
                match r.property(f) {
                    Ok(Some(v)) => y[k] = v as f32,
                    Ok(None) => {
                        report.missing[k].1 += 1;
                        continue 'records;
                    }
                    // a value that is there but not a number is an error, not a missing value
                    Err(_) if self.skip_bad => {
                        report.bad += 1;
                        continue 'records;
                    }
                    Err(m) => {
                        return Err(Error::invalid(format!(
                            "{m} (set dataset.skip_bad = true to skip and count such records)"
                        )));
                    }
                }
            }
            if let Some(d) = &self.dft_type
                && !r.dft_types().iter().any(|t| t == d)
            {
                report.dft_filtered += 1;
                continue;
            }
            if let Some([lo, hi]) = self.target_range
                && !(lo..=hi).contains(&f64::from(y[0]))
            {
                report.out_of_range += 1;
                continue;
            }
            match r.crystal() {
                Ok(c) => c
                    .push_to(&mut b, &y)
                    .map_err(|e| Error::invalid(format!("{}: {e}", r.origin)))?,
                Err(_) if self.skip_bad => report.bad += 1,
                Err(m) => {
                    return Err(Error::invalid(format!(
                        "{m} (set dataset.skip_bad = true to skip and count such records)"
                    )));
                }
            }
        }
        report.kept = b.len();
        Ok((b, report))
    }
}

#[geobatch_core::plugin(
    name = "aflow",
    summary = "AFLOW crystals (aflowlib.json entries, AFLUX answers, JSON Lines) as periodic kNN graphs; targets Ef, Egap",
    example = "path = \"data/aflow/aflow.jsonl\"\ntargets = [\"Ef\"]\ngraph = { kind = \"knn\", k = 12 }\n"
)]
impl DatasetSpec for AflowSpec {
    fn validate(&self) -> Result<()> {
        geobatch_core::dataset::check_unique("dataset.targets", &self.targets)?;
        if self.targets.is_empty() {
            return Err(Error::invalid("dataset.targets: name at least one target"));
        }
        if let Some([lo, hi]) = self.target_range
            && (lo.is_nan() || hi.is_nan() || lo > hi)
        {
            return Err(Error::invalid(format!(
                "dataset.target_range = [{lo}, {hi}]: min must not exceed max"
            )));
        }
        self.graph
            .validate()
            .map_err(|m| Error::invalid(format!("dataset.{m}")))
    }

    fn load(&self, ctx: &DatasetContext) -> Result<Box<dyn Dataset>> {
        self.validate()?;
        let path = self.source_path(&ctx.data_dir);
        if !path.exists() {
            return Err(Error::invalid(format!(
                "{}: no such file or folder (run `geobatch data fetch aflow`, `geobatch data import aflow PATH`, or set dataset.path)",
                path.display()
            )));
        }
        let records = reader::read(&path)?;
        let (builder, report) = self.collect(&records)?;
        let source = format!("{} ({report})", path.display());
        if report.kept == 0 {
            return Err(Error::invalid(format!(
                "no usable AFLOW records in {source}"
            )));
        }
        // graph rules run here, after the records: name the file with the graph
        let pool = builder
            .build(&self.graph, None)
            .map_err(|e| e.within(path.display()))?;
        let ([a, v, t], _) = geobatch_datafiles::splits::saved_once(
            &self.split,
            self.split_file.as_deref(),
            &ctx.data_dir,
            "aflow",
            &path.display().to_string(),
            &pool,
            ctx.seed,
        )?;
        Ok(Box::new(SplitDataset {
            name: "aflow".into(),
            splits: [pool.subset(&a), pool.subset(&v), pool.subset(&t)],
            units: self
                .targets
                .iter()
                .map(|t| unit(field_name(t)).to_string())
                .collect(),
            source,
        }))
    }
}

/// A record's fields with legacy strings turned into typed values: numbers, lists of numbers,
/// rows of positions, lists of symbols.
pub fn normalised(r: &AflowRecord) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for (k, v) in &r.fields {
        let typed = match (k.as_str(), v) {
            (_, Value::String(s)) if s.trim().parse::<f64>().is_ok_and(f64::is_finite) => {
                serde_json::json!(s.trim().parse::<f64>().unwrap_or_default())
            }
            ("geometry" | "composition" | "stoichiometry", Value::String(s)) => Value::Array(
                s.split(',')
                    .map(|x| serde_json::json!(x.trim().parse::<f64>().ok()))
                    .collect(),
            ),
            ("positions_fractional" | "positions_cartesian", Value::String(s)) => Value::Array(
                s.split(';')
                    .filter(|r| !r.trim().is_empty())
                    .map(|row| {
                        Value::Array(
                            row.split(',')
                                .map(|x| serde_json::json!(x.trim().parse::<f64>().ok()))
                                .collect(),
                        )
                    })
                    .collect(),
            ),
            ("species" | "dft_type" | "species_pp", Value::String(s)) => Value::Array(
                s.split(',')
                    .map(|x| Value::String(x.trim().to_string()))
                    .collect(),
            ),
            _ => v.clone(),
        };
        out.insert(k.clone(), typed);
    }
    out
}

/// Writes records as JSON Lines (normalised, duplicates dropped, records without a structure
/// counted and left out); returns (written, duplicates, without structure).
pub fn write_jsonl(records: &[AflowRecord], out: &Path) -> Result<(usize, usize, usize)> {
    use std::io::Write;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::invalid(format!("{}: {e}", dir.display())))?;
    }
    let (mut written, mut dups, mut bad) = (0, 0, 0);
    let mut seen = HashSet::new();
    geobatch_datafiles::atomic::write_atomic(out, |file| {
        let mut w = std::io::BufWriter::new(file);
        for r in records {
            if let Some(k) = r.dedup_key()
                && !seen.insert(k)
            {
                dups += 1;
                continue;
            }
            if r.crystal().is_err() {
                bad += 1;
                continue;
            }
            let line = serde_json::to_string(&normalised(r)).map_err(std::io::Error::other)?;
            writeln!(w, "{line}")?;
            written += 1;
        }
        w.flush()
    })
    .map_err(|e| Error::invalid(format!("{}: {e}", out.display())))?;
    Ok((written, dups, bad))
}

fn import_cmd(args: &ImportArgs) -> Result<String> {
    // reading the source is the user's input (exit 2); writing the store is not
    let mut records = reader::read(&args.source).map_err(Error::source)?;
    if let Some(n) = args.limit {
        records.truncate(n);
    }
    if records.is_empty() {
        return Err(Error::Source(format!(
            "{}: no AFLOW records read (nothing is written): an aflowlib.json entry, an AFLUX \
             answer or JSON Lines of them is expected",
            args.source.display()
        )));
    }
    if records.iter().all(|r| r.crystal().is_err()) {
        return Err(Error::Source(format!(
            "{}: none of its {} AFLOW records has a usable structure (nothing is written)",
            args.source.display(),
            records.len()
        )));
    }
    let (written, dups, bad) = write_jsonl(&records, &args.out)?;
    Ok(format!(
        "imported {written} AFLOW records from {} into {} ({dups} duplicate aurl and {bad} without a usable structure left out)",
        args.source.display(),
        args.out.display()
    ))
}

inventory::submit! {
    DataProvider {
        name: "aflow",
        summary: "AFLOW crystals: fetch pages an AFLUX query (resumable); import reads aflowlib.json entries, AFLUX answers (new and legacy) and JSON Lines",
        default_out: DEFAULT_FILE,
        fetch: Some(fetch::fetch),
        import: import_cmd,
    }
}

/// Forces this crate to be linked (called by `geobatch-catalog`).
pub fn link() {}
