//! The `cif` dataset: CSV collections of P1 CIF strings, as Carbon-24, Perov-5 and MP-20 ship
//! them (columns: an index, `material_id`, `cif`, properties), as periodic graphs.
//!
//! * `path` is one table or a folder of tables (`*.csv`, `*.csv.gz`). With `split_by = "auto"`
//!   (the default) a folder holding `train`, `val` and `test` tables keeps those splits; anything
//!   else is pooled and split by `split` with the run's seed (saved and reused by id).
//! * Fractional coordinates are wrapped into the cell; partial occupancies and symmetry
//!   operations other than the identity are refused with the row named (or skipped and counted
//!   with `skip_bad`); rows lacking a target value are skipped and counted.
//! * Graphs: periodic k nearest neighbours (k = 12) by default, or a cutoff.

pub mod cif;
pub mod table;

use geobatch_core::{
    Dataset, DatasetContext, DatasetSpec, Error, GraphRule, GraphSet, Result, SplitDataset,
    SplitSpec, plugin_options,
};
use geobatch_geometry::GraphSetBuilder;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;

/// How the rows are cut into splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitBy {
    /// `files` when the folder has train, val and test tables, else `seed`.
    #[default]
    Auto,
    /// The train / val (or validation) / test tables are the splits.
    Files,
    /// All rows pooled and split by `split` with a seed.
    Seed,
}

/// Config of a CIF collection.
#[plugin_options]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CifSpec {
    /// A CSV table or a folder of tables.
    #[option(ty = "path", doc = "a .csv / .csv.gz table or a folder of them")]
    pub path: PathBuf,
    /// Target columns (e.g. `energy_per_atom` for Carbon-24, `heat_all` for Perov-5).
    #[option(
        ty = "[string]",
        doc = "target columns, e.g. [\"energy_per_atom\"] (Carbon-24), [\"heat_all\"] (Perov-5); rows lacking one are skipped and counted"
    )]
    pub targets: Vec<String>,
    /// Graph rule.
    #[option(ty = "{ kind = \"knn\" | \"cutoff\", ... }", default = GraphRule::Knn { k: 12 }, doc = "periodic graph rule")]
    pub graph: GraphRule,
    /// How rows are cut into splits.
    #[serde(default)]
    #[option(
        ty = "\"auto\" | \"files\" | \"seed\"",
        doc = "files: the folder's train/val/test tables; seed: pool and split; auto: files when all three exist"
    )]
    pub split_by: SplitBy,
    /// Split sizes when splitting by seed.
    #[serde(default)]
    #[option(
        ty = "{ train, validation, test[, seed] }",
        doc = "fractions or counts when splitting by seed"
    )]
    pub split: SplitSpec,
    /// Where a seeded split is saved and reused; `<data_dir>/splits/cif-<n>-<fingerprint>.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(
        ty = "path",
        toml = "data_dir/splits/cif-<n>-<fingerprint>.json",
        doc = "where a seeded split is saved and reused (by id)"
    )]
    pub split_file: Option<PathBuf>,
    /// The id column.
    #[option(ty = "string", default = "material_id".into(), doc = "the id column")]
    pub id_column: String,
    /// The CIF column.
    #[option(ty = "string", default = "cif".into(), doc = "the CIF column")]
    pub cif_column: String,
    /// Skip (and count) rows whose CIF cannot be read instead of failing.
    #[serde(default)]
    #[option(
        ty = "bool",
        doc = "skip and count rows whose CIF cannot be read (partial occupancy, symmetry, malformed) instead of failing"
    )]
    pub skip_bad: bool,
}

/// Which split a table stem names.
fn split_of(stem: &str) -> Option<usize> {
    match stem {
        "train" => Some(0),
        "val" | "valid" | "validation" => Some(1),
        "test" => Some(2),
        _ => None,
    }
}

/// The splits as named in messages, by index.
const SPLITS: [&str; 3] = ["train", "validation", "test"];

impl CifSpec {
    /// With the splits taken from the folder's tables, `split_file` is never read and `split`
    /// never used, yet the run's config.toml would record them: a `split_file`, and a `split`
    /// other than the default that disagrees with the tables' sizes, are refused.
    fn check_unused_split_options(&self, parts: &[Vec<u32>; 3]) -> Result<()> {
        let from = format!(
            "the splits come from the train, val and test tables in {} (split_by = {})",
            self.path.display(),
            if self.split_by == SplitBy::Files {
                "\"files\""
            } else {
                "\"auto\", which found all three"
            }
        );
        if let Some(file) = &self.split_file {
            return Err(Error::invalid(format!(
                "dataset.split_file = {:?}: {from}, so the split file would be ignored; remove \
                 split_file, or set split_by = \"seed\" to pool the tables and split them by it",
                file.display().to_string()
            )));
        }
        let have = [parts[0].len(), parts[1].len(), parts[2].len()];
        let n = have.iter().sum();
        if self.split != SplitSpec::default() && self.split.sizes(n).ok() != Some(have) {
            return Err(Error::invalid(format!(
                "dataset.split: {from}, which hold {} / {} / {} crystals (train / validation / \
                 test), but `split` asks for other sizes and would be ignored; remove `split`, \
                 or set split_by = \"seed\" to pool the tables and split them by it",
                have[0], have[1], have[2]
            )));
        }
        Ok(())
    }

    /// Whether the folder's train, val and test tables are the splits (`stems`: the split each
    /// table names); `split_by = "files"` without all three is refused.
    fn splits_by_files(&self, stems: &[Option<usize>]) -> Result<bool> {
        let have_all = [0, 1, 2].iter().all(|s| stems.contains(&Some(*s)));
        Ok(match self.split_by {
            SplitBy::Files if !have_all => {
                return Err(Error::invalid(format!(
                    "dataset.split_by = \"files\" needs train, val and test tables in {}",
                    self.path.display()
                )));
            }
            SplitBy::Files => true,
            SplitBy::Auto => have_all,
            SplitBy::Seed => false,
        })
    }

    /// Reads the rows of `files` (when splitting by files, only the split tables) into graphs,
    /// skipping and counting rows without a target and, with `skip_bad`, unreadable CIFs.
    fn read_rows(
        &self,
        files: &[PathBuf],
        stems: &[Option<usize>],
        by_files: bool,
    ) -> Result<Rows> {
        let cols = table::Columns {
            id: &self.id_column,
            cif: &self.cif_column,
            targets: &self.targets,
        };
        let mut rows = Rows {
            builder: GraphSetBuilder::new(self.targets.clone()),
            split_of_graph: Vec::new(),
            read: 0,
            bad: 0,
            missing: vec![0usize; self.targets.len()],
        };
        // where each id was read first (its table and split): an id in two split tables would
        // put a graph trained on into the metrics, one twice in a table would count twice
        let mut ids = FirstSeen {
            by_files,
            ids: HashMap::new(),
        };
        let mut y = vec![0.0f32; self.targets.len()];
        for (f, stem) in files.iter().zip(stems) {
            if by_files && stem.is_none() {
                continue;
            }
            for row in table::read(f, &cols)? {
                rows.read += 1;
                if !targets_into(&row.targets, &mut y, &mut rows.missing) {
                    continue;
                }
                match row.crystal {
                    Ok(c) => {
                        ids.record(&c.id, &row.origin, *stem)?;
                        c.push_to(&mut rows.builder, &y)
                            .map_err(|e| Error::invalid(format!("{}: {e}", row.origin)))?;
                        rows.split_of_graph.push(stem.unwrap_or(0));
                    }
                    Err(_) if self.skip_bad => rows.bad += 1,
                    Err(m) => {
                        return Err(Error::invalid(format!(
                            "{m} (set dataset.skip_bad = true to skip and count such rows)"
                        )));
                    }
                }
            }
        }
        Ok(rows)
    }

    /// The dataset's source as reported: the path, the rows read, kept and skipped, and how
    /// it is split.
    fn source(&self, rows: &Rows, by_files: bool) -> String {
        let mut report = format!("{} rows read, {} kept", rows.read, rows.builder.len());
        let mut skipped: Vec<String> = self
            .targets
            .iter()
            .zip(&rows.missing)
            .filter(|m| *m.1 > 0)
            .map(|(t, n)| format!("{n} without {t}"))
            .collect();
        if rows.bad > 0 {
            skipped.push(format!("{} unreadable CIF", rows.bad));
        }
        if !skipped.is_empty() {
            report.push_str(&format!("; skipped: {}", skipped.join(", ")));
        }
        format!(
            "{} ({report}; split by {})",
            self.path.display(),
            if by_files { "files" } else { "seed" }
        )
    }

    /// The train, validation and test graphs of `pool`: by the table each graph came from
    /// (`split_of_graph`), or by `split` with the run's seed (saved and reused by id).
    fn split(
        &self,
        ctx: &DatasetContext,
        pool: &GraphSet,
        split_of_graph: &[usize],
        by_files: bool,
    ) -> Result<[Vec<u32>; 3]> {
        if by_files {
            let mut parts: [Vec<u32>; 3] = Default::default();
            for (g, s) in split_of_graph.iter().enumerate() {
                parts[*s].push(g as u32);
            }
            self.check_unused_split_options(&parts)?;
            Ok(parts)
        } else {
            let (split, _) = geobatch_datafiles::splits::saved_once(
                &self.split,
                self.split_file.as_deref(),
                &ctx.data_dir,
                "cif",
                &self.path.display().to_string(),
                pool,
                ctx.seed,
            )?;
            Ok(split)
        }
    }
}

/// The tables' rows read into graphs, with each graph's split and the rows counted.
struct Rows {
    /// The graphs kept.
    builder: GraphSetBuilder,
    /// The split of every graph kept (0 when splitting by seed).
    split_of_graph: Vec<usize>,
    /// Rows read.
    read: usize,
    /// Rows skipped for an unreadable CIF.
    bad: usize,
    /// Rows skipped for a missing value, per target.
    missing: Vec<usize>,
}

/// Copies a row's target values into `y`; `false` (the row's first missing target counted in
/// `missing`) when one is missing.
fn targets_into(targets: &[Option<f64>], y: &mut [f32], missing: &mut [usize]) -> bool {
    for (k, t) in targets.iter().enumerate() {
        match t {
            Some(v) => y[k] = *v as f32,
            None => {
                missing[k] += 1;
                return false;
            }
        }
    }
    true
}

/// The ids read so far.
struct FirstSeen {
    /// Whether the tables are the splits (a repeated id then names them).
    by_files: bool,
    /// Where each id was read first: its row and split.
    ids: HashMap<String, (String, Option<usize>)>,
}

impl FirstSeen {
    /// Records `id`, read at `origin` from a table of split `stem`; an id read before is
    /// refused with both places named.
    fn record(&mut self, id: &str, origin: &str, stem: Option<usize>) -> Result<()> {
        if let Some((first, first_split)) = self.ids.get(id) {
            let splits = match (self.by_files, *first_split, stem) {
                (true, Some(a), Some(b)) if a != b => format!(
                    ": it is in both the {} and the {} split, and splits must \
                     not overlap (a crystal trained on would leak into the \
                     metrics)",
                    SPLITS[a], SPLITS[b]
                ),
                (true, _, Some(b)) => {
                    format!(": it is listed twice in the {} split", SPLITS[b])
                }
                _ => String::new(),
            };
            return Err(Error::invalid(format!(
                "{origin}: id {id:?} appears twice in the collection (first at {first}){splits}"
            )));
        }
        self.ids.insert(id.to_string(), (origin.to_string(), stem));
        Ok(())
    }
}

#[geobatch_core::plugin(
    name = "cif",
    summary = "CSV collections of P1 CIFs (Carbon-24, Perov-5, MP-20) as periodic kNN graphs; targets by column",
    example = "path = \"data/cif/perov_5\"\ntargets = [\"heat_all\"]\ngraph = { kind = \"knn\", k = 12 }\n"
)]
impl DatasetSpec for CifSpec {
    fn validate(&self) -> Result<()> {
        geobatch_core::dataset::check_unique("dataset.targets", &self.targets)?;
        if self.targets.is_empty() {
            return Err(Error::invalid(
                "dataset.targets: name at least one target column (e.g. [\"energy_per_atom\"])",
            ));
        }
        self.graph
            .validate()
            .map_err(|m| Error::invalid(format!("dataset.{m}")))
    }

    fn load(&self, ctx: &DatasetContext) -> Result<Box<dyn Dataset>> {
        self.validate()?;
        let files = table::tables(&self.path)?;
        let stems: Vec<Option<usize>> = files.iter().map(|f| split_of(&table::stem(f))).collect();
        let by_files = self.splits_by_files(&stems)?;
        let rows = self.read_rows(&files, &stems, by_files)?;
        let source = self.source(&rows, by_files);
        if rows.builder.is_empty() {
            return Err(Error::invalid(format!("no usable rows in {source}")));
        }
        // graph rules run here, after the rows: name the file with the graph
        let pool = rows
            .builder
            .build(&self.graph, None)
            .map_err(|e| e.within(self.path.display()))?;
        let [a, v, t] = self.split(ctx, &pool, &rows.split_of_graph, by_files)?;
        Ok(Box::new(SplitDataset {
            name: "cif".into(),
            splits: [pool.subset(&a), pool.subset(&v), pool.subset(&t)],
            units: vec![String::new(); self.targets.len()],
            source,
        }))
    }
}

/// Forces this crate to be linked (called by `geobatch-catalog`).
pub fn link() {}
