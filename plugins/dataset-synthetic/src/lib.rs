//! The `synthetic` dataset: seeded molecules or periodic crystals with configurable sizes, so
//! batchers, benchmarks and tests run without any download.
//!
//! * `molecules` (default): 3-29 atoms (normal, mean 18, sd 3, as QM9), elements H, C, N, O, F in
//!   QM9-like proportions, atoms placed by a random walk of bonded steps (1.0-1.6 Angstrom) that
//!   keeps every pair at least 0.9 Angstrom apart; graph rule `full` by default. Target `energy`:
//!   a sum of per-element terms plus a pairwise term, in eV.
//! * `crystals`: 1-40 atoms per cell (normal, mean 8, sd 6), triclinic cells with lengths of
//!   3-9 Angstrom and angles of 75-105 degrees, one to four elements drawn from a pool of twenty;
//!   graph rule `knn` with k = 12 by default. Target `formation_energy`: per-atom, in eV/atom.
//! * `labels = "morse"`: the structures labelled by a Morse pair potential ([`pair`]) instead,
//!   with exact total `energy` (eV), per-atom forces and, for crystals, stress: the
//!   interatomic-potential workload without a download (crystals' atoms then kept at least
//!   1.2 Angstrom apart, where they can be).

pub mod pair;
mod parts;
mod structures;

use geobatch_core::{
    AtomLabels, Dataset, DatasetContext, DatasetSpec, Error, GraphRule, GraphSet, LabelKinds,
    Result, SplitName, SplitSpec, plugin_options,
};
use geobatch_geometry::GraphSetBuilder;
use geobatch_process::progress::Progress;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

/// Which kind of structure to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Finite molecules (no cell).
    #[default]
    Molecules,
    /// Periodic crystals.
    Crystals,
}

/// What labels the structures carry beyond the family's default target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PairLabels {
    /// The Morse pair potential of [`pair::Morse::default`]: total energy, forces, stress.
    Morse,
}

/// Distribution of atoms per structure: a normal distribution with the given mean and standard
/// deviation, rounded and redrawn until it lies in `[min, max]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeDist {
    /// Fewest atoms.
    pub min: u32,
    /// Most atoms.
    pub max: u32,
    /// Mean of the normal.
    pub mean: f64,
    /// Standard deviation of the normal.
    pub sd: f64,
}

impl Family {
    fn default_sizes(self) -> SizeDist {
        match self {
            Family::Molecules => SizeDist {
                min: 3,
                max: 29,
                mean: 18.0,
                sd: 3.0,
            },
            Family::Crystals => SizeDist {
                min: 1,
                max: 40,
                mean: 8.0,
                sd: 6.0,
            },
        }
    }

    fn default_rule(self) -> GraphRule {
        match self {
            Family::Molecules => GraphRule::Full,
            Family::Crystals => GraphRule::Knn { k: 12 },
        }
    }

    fn target(self) -> &'static str {
        match self {
            Family::Molecules => "energy",
            Family::Crystals => "formation_energy",
        }
    }
}

/// Config of the synthetic dataset. Serialises resolved: family defaults written out.
#[plugin_options]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, into = "Resolved")]
pub struct SyntheticSpec {
    /// `molecules` or `crystals`.
    #[serde(default)]
    #[option(ty = "\"molecules\" | \"crystals\"", doc = "what to generate")]
    pub family: Family,
    /// Number of structures in all splits together.
    #[option(ty = "integer", default = 2000, doc = "structures over all splits")]
    pub graphs: usize,
    /// Atoms per structure; the family's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(
        ty = "{ min, max, mean, sd }",
        toml = "molecules { 3, 29, 18.0, 3.0 }; crystals { 1, 40, 8.0, 6.0 }",
        doc = "atoms per structure: a rounded normal redrawn into [min, max]"
    )]
    pub nodes: Option<SizeDist>,
    /// Graph rule; `full` for molecules and `knn` (k = 12) for crystals when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(
        ty = "{ kind = \"full\" | \"cutoff\" | \"knn\", ... }",
        toml = "molecules full; crystals knn k = 12",
        doc = "graph rule"
    )]
    pub graph: Option<GraphRule>,
    /// Split sizes.
    #[serde(default)]
    #[option(
        ty = "{ train, validation, test[, seed] }",
        doc = "fractions (floats) or counts (integers)"
    )]
    pub split: SplitSpec,
    /// Generation seed; the run's seed when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(
        ty = "integer",
        toml = "the run's seed",
        doc = "generation and split seed"
    )]
    pub seed: Option<u64>,
    /// Labels from a pair potential (energy, forces, stress) instead of the family's target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(
        ty = "\"morse\"",
        toml = "none (the family's target)",
        doc = "label the structures with a Morse pair potential: total energy (eV), forces (eV/A) and, for crystals, stress (eV/A^3)"
    )]
    pub labels: Option<PairLabels>,
}

/// The serialised form of [`SyntheticSpec`], with the family defaults filled in.
#[derive(Serialize)]
struct Resolved {
    family: Family,
    graphs: usize,
    nodes: SizeDist,
    graph: GraphRule,
    split: SplitSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<PairLabels>,
}

impl From<SyntheticSpec> for Resolved {
    fn from(s: SyntheticSpec) -> Self {
        Resolved {
            family: s.family,
            graphs: s.graphs,
            nodes: s.sizes(),
            graph: s.rule(),
            split: s.split,
            seed: s.seed,
            labels: s.labels,
        }
    }
}

impl SyntheticSpec {
    /// The size distribution in effect.
    pub fn sizes(&self) -> SizeDist {
        self.nodes.unwrap_or_else(|| self.family.default_sizes())
    }

    /// The graph rule in effect.
    pub fn rule(&self) -> GraphRule {
        self.graph
            .clone()
            .unwrap_or_else(|| self.family.default_rule())
    }

    /// Generates the whole pool (before splitting), in generation order.
    pub fn generate(&self, seed: u64) -> Result<GraphSet> {
        self.validate()?;
        let mut maker = Maker::new(self, seed)?;
        let mut b = maker.builder();
        let mut progress = Progress::new("generating synthetic graphs", Some(self.graphs));
        for g in 0..self.graphs {
            if g.is_multiple_of(4096) {
                geobatch_process::stop::check("generating the synthetic graphs")?;
                progress.at(g);
            }
            maker.push(g, &mut b)?;
        }
        progress.done(self.graphs);
        b.build(&self.rule(), None)
    }
}

/// Makes the structures of one spec and seed one after another, each the same whether the
/// pool is made whole or a part at a time.
pub(crate) struct Maker<'a> {
    spec: &'a SyntheticSpec,
    dist: SizeDist,
    normal: Normal<f64>,
    rng: ChaCha8Rng,
    morse: pair::Morse,
    z: Vec<u8>,
    pos: Vec<[f32; 3]>,
}

impl<'a> Maker<'a> {
    pub(crate) fn new(spec: &'a SyntheticSpec, seed: u64) -> Result<Self> {
        let dist = spec.sizes();
        let normal = Normal::new(dist.mean, dist.sd.max(1e-9))
            .map_err(|e| Error::invalid(format!("dataset.nodes: {e}")))?;
        Ok(Maker {
            spec,
            dist,
            normal,
            rng: ChaCha8Rng::seed_from_u64(seed),
            morse: pair::Morse::default(),
            z: Vec::new(),
            pos: Vec::new(),
        })
    }

    /// An empty builder of the spec's targets and labels.
    pub(crate) fn builder(&self) -> GraphSetBuilder {
        let target = match self.spec.labels {
            Some(PairLabels::Morse) => "energy",
            None => self.spec.family.target(),
        };
        GraphSetBuilder::new(vec![target.to_string()]).carrying(LabelKinds {
            forces: self.spec.labels.is_some(),
            stress: self.spec.labels.is_some() && self.spec.family == Family::Crystals,
        })
    }

    /// Makes structure `g` (the next one) into `b`.
    pub(crate) fn push(&mut self, g: usize, b: &mut GraphSetBuilder) -> Result<()> {
        let (dist, rng) = (self.dist, &mut self.rng);
        let n = loop {
            let x = self.normal.sample(rng).round();
            if x >= f64::from(dist.min) && x <= f64::from(dist.max) {
                break x as usize;
            }
        };
        let (z, pos) = (&mut self.z, &mut self.pos);
        let (cell, y) = match self.spec.family {
            Family::Molecules => {
                structures::molecule(rng, n, z, pos);
                (None, structures::molecule_energy(z, pos))
            }
            Family::Crystals => {
                let apart = if self.spec.labels.is_some() { 1.2 } else { 0.0 };
                let cell = structures::crystal(rng, n, apart, z, pos);
                (Some(cell), structures::crystal_energy(z))
            }
        };
        let exact: Vec<[f64; 3]> = pos.iter().map(|p| p.map(f64::from)).collect();
        let id = format!("synthetic-{g}");
        match self.spec.labels {
            None => b.push(&id, z, &exact, cell, &[y]),
            Some(PairLabels::Morse) => {
                let l = self
                    .morse
                    .label(&exact, cell.as_ref())
                    .map_err(|m| Error::GraphRule {
                        graph: id.clone(),
                        message: m,
                    })?;
                let labels = AtomLabels {
                    forces: Some(&l.forces),
                    stress: l.stress,
                };
                b.push_labelled(&id, z, &exact, cell, &[l.energy as f32], labels)
            }
        }
    }
}

/// The most atoms of one synthetic molecule (its generation is quadratic in them).
pub const MAX_MOLECULE_ATOMS: u32 = 10_000;

/// A generated dataset.
#[derive(Debug)]
pub struct SyntheticDataset {
    splits: [GraphSet; 3],
}

impl Dataset for SyntheticDataset {
    fn name(&self) -> &str {
        "synthetic"
    }

    fn split(&self, split: SplitName) -> &GraphSet {
        &self.splits[split as usize]
    }
}

#[geobatch_core::plugin(
    name = "synthetic",
    summary = "seeded synthetic molecules (QM9-like sizes) or periodic crystals, no download",
    example = "family = \"molecules\"\ngraphs = 2000\nnodes = { min = 3, max = 29, mean = 18.0, sd = 3.0 }\ngraph = { kind = \"full\" }\n"
)]
impl DatasetSpec for SyntheticSpec {
    fn validate(&self) -> Result<()> {
        self.check_options()
    }

    fn load(&self, ctx: &DatasetContext) -> Result<Box<dyn Dataset>> {
        // a pool larger than memory may still be written to a store (`geobatch data store`)
        self.check_memory()?;
        let seed = self.seed.unwrap_or(ctx.seed);
        let pool = self.generate(seed)?;
        let [a, b, c] = self.split.indices(pool.len(), seed)?;
        Ok(Box::new(SyntheticDataset {
            splits: [pool.subset(&a), pool.subset(&b), pool.subset(&c)],
        }))
    }

    fn for_each_part(
        &self,
        ctx: &DatasetContext,
        part: usize,
        each: &mut dyn FnMut(SplitName, &GraphSet) -> Result<()>,
    ) -> Option<Result<()>> {
        Some(parts::for_each_part(self, ctx, part, each))
    }
}

impl SyntheticSpec {
    /// Checks the options.
    fn check_options(&self) -> Result<()> {
        let d = self.sizes();
        if d.min == 0 || d.min > d.max {
            return Err(Error::invalid(format!(
                "dataset.nodes: need 1 <= min <= max, got min = {}, max = {}",
                d.min, d.max
            )));
        }
        // a molecule is placed atom by atom against every atom placed (and its energy sums
        // every pair): 10^7 atoms was hours at full CPU with nothing printed
        if self.family == Family::Molecules && d.max > MAX_MOLECULE_ATOMS {
            return Err(Error::invalid(format!(
                "dataset.nodes: max = {}: synthetic molecules have at most {MAX_MOLECULE_ATOMS} \
                 atoms (each is placed against every atom before it); use family = \"crystals\" \
                 for large structures",
                d.max
            )));
        }
        if !(d.sd.is_finite() && d.sd >= 0.0 && d.mean.is_finite()) {
            return Err(Error::invalid(
                "dataset.nodes: mean and sd must be finite, sd >= 0",
            ));
        }
        if d.mean + 4.0 * d.sd < f64::from(d.min) || d.mean - 4.0 * d.sd > f64::from(d.max) {
            return Err(Error::invalid(
                "dataset.nodes: the mean lies too far outside [min, max] to draw sizes",
            ));
        }
        if self.graphs == 0 {
            return Err(Error::invalid("dataset.graphs must be at least 1"));
        }
        self.rule()
            .validate()
            .map_err(|m| Error::invalid(format!("dataset.{m}")))
    }

    /// Refuses a pool this machine's memory cannot hold, before it is generated.
    fn check_memory(&self) -> Result<()> {
        let d = self.sizes();
        // refused before generation allocates it: the atoms (positions and species, 16 bytes
        // each, at the mean size) and the edges the rule stores (endpoints and vector, twice
        // while their arrays grow: 40 bytes; `full` stores none) are a lower bound of what the
        // structures hold
        let mean = d.mean.clamp(f64::from(d.min), f64::from(d.max));
        let atoms = self.graphs as f64 * mean;
        let per_atom = match (self.rule(), self.family) {
            (GraphRule::Knn { k }, Family::Crystals) => k as f64,
            (GraphRule::Knn { k }, Family::Molecules) => (k as f64).min(mean - 1.0).max(0.0),
            // made at collation (full), or unknown before the positions (cutoff)
            _ => 0.0,
        };
        let edges = atoms * per_atom;
        geobatch_process::memory::check_available(
            &format!("dataset.graphs = {}", self.graphs),
            atoms * 16.0 + edges * 40.0,
            &format!(
                "{atoms:.3e} atoms at 16 bytes and {edges:.3e} stored edges at 40 bytes, \
                 {per_atom:.0} an atom"
            ),
        )
        .map_err(Into::into)
    }
}

/// Forces this crate to be linked (called by `geobatch-catalog`).
pub fn link() {}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(family: Family, graphs: usize) -> SyntheticSpec {
        SyntheticSpec {
            family,
            graphs,
            nodes: None,
            graph: None,
            split: SplitSpec::default(),
            seed: None,
            labels: None,
        }
    }

    #[test]
    fn molecules_resemble_qm9_sizes_and_are_seeded() {
        let set = spec(Family::Molecules, 3000).generate(1).unwrap();
        let n: Vec<u32> = set.sizes().iter().map(|s| s.nodes).collect();
        let mean = n.iter().map(|&x| f64::from(x)).sum::<f64>() / n.len() as f64;
        assert!((17.5..18.5).contains(&mean), "mean {mean}");
        assert!(n.iter().all(|&x| (3..=29).contains(&x)));
        assert!(
            set.sizes()
                .iter()
                .all(|s| s.edges == s.nodes * (s.nodes - 1))
        );
        let again = spec(Family::Molecules, 3000).generate(1).unwrap();
        assert_eq!(again.positions(), set.positions());
        assert_ne!(
            spec(Family::Molecules, 3000)
                .generate(2)
                .unwrap()
                .positions(),
            set.positions()
        );
        // atoms are never closer than 0.9 A
        for g in 0..50 {
            let p = &set.positions()[set.node_range(g)];
            for i in 0..p.len() {
                for j in 0..i {
                    assert!(structures::dist2(p[i], p[j]) >= 0.80, "graph {g}");
                }
            }
        }
        assert_eq!(set.species_classes()[0], 6);
    }

    #[test]
    fn crystals_get_exactly_twelve_neighbours_per_atom() {
        let set = spec(Family::Crystals, 60).generate(3).unwrap();
        assert!(set.sizes().iter().all(|s| s.edges == 12 * s.nodes));
        assert!((0..set.len()).all(|g| set.cell(g).is_periodic()));
    }

    #[test]
    fn load_splits_disjointly() {
        let ctx = DatasetContext {
            seed: 5,
            data_dir: "data".into(),
        };
        let ds = spec(Family::Molecules, 100).load(&ctx).unwrap();
        let lens: Vec<usize> = SplitName::ALL.iter().map(|&s| ds.split(s).len()).collect();
        assert_eq!(lens, vec![80, 10, 10]);
        assert_eq!(ds.target_names(), &["energy".to_string()]);
    }

    #[test]
    fn bad_options_are_explained() {
        let mut s = spec(Family::Molecules, 10);
        s.nodes = Some(SizeDist {
            min: 5,
            max: 3,
            mean: 4.0,
            sd: 1.0,
        });
        assert!(s.validate().unwrap_err().to_string().contains("min <= max"));
        s.nodes = Some(SizeDist {
            min: 3,
            max: 5,
            mean: 100.0,
            sd: 1.0,
        });
        assert!(s.validate().unwrap_err().to_string().contains("too far"));
        let mut s = spec(Family::Molecules, 0);
        assert!(s.validate().is_err());
        s.graphs = 1;
        s.graph = Some(GraphRule::Cutoff { radius: 0.0 });
        assert!(s.validate().unwrap_err().to_string().contains("radius"));
    }
}
