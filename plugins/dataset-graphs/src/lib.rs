//! Node-level datasets: one large graph with node features, labels and node splits.
//!
//! * `npz`: a NumPy `.npz` CSR graph (Cora, CiteSeer, ... as prepared by Shchur et al.), split
//!   by a seeded draw (Planetoid-style 20 per class / 500 / 1000 by default).
//! * `ogb`: an OGB node-property folder (`raw/*.csv.gz`, `split/<name>/*.csv.gz`) with its own
//!   split.
//! * `sbm`: a seeded stochastic block model with class-correlated features, any size.

pub mod npz;
pub mod ogb;
pub mod sbm;
pub mod split;

use geobatch_core::{DatasetContext, DatasetSpec, Error, Result, plugin_options};
use geobatch_node::{LoadedGraph, NodeGraph, NodeLevel};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub use sbm::SbmParams;
pub use split::NodeSplitSpec;

/// Refuses a graph whose labels hold fewer than two classes: node classification has nothing to
/// learn (found at load, with the file named, rather than when a model is built).
fn classes_to_learn(graph: &NodeGraph, path: &std::path::Path) -> Result<()> {
    match graph.n_classes() {
        0 => Err(Error::invalid(format!(
            "{}: no node is labelled: node classification needs labels of at least 2 classes",
            path.display()
        ))),
        1 => Err(Error::invalid(format!(
            "{}: the labels hold 1 class (every labelled node is class 0): node classification \
             needs at least 2",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// Scales every feature row to sum 1 (rows summing to 0 are left alone), the usual
/// pre-processing of bag-of-words citation graphs.
pub fn normalize_rows(features: &mut [f32], n_features: usize) {
    if n_features == 0 {
        return;
    }
    for row in features.chunks_mut(n_features) {
        let s: f32 = row.iter().sum();
        // a row with an infinite or NaN value is left as it is, for the graph's check to name
        // the value (dividing would make an infinity NaN)
        if s != 0.0 && s.is_finite() {
            row.iter_mut().for_each(|x| *x /= s);
        }
    }
}

/// The `npz` dataset.
#[plugin_options]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NpzSpec {
    /// The `.npz` file.
    #[option(
        ty = "path",
        doc = "the .npz file (adj_*, attr_* or attr_matrix, labels)"
    )]
    pub path: PathBuf,
    /// How output nodes are drawn.
    #[serde(default)]
    #[option(
        ty = "{ train_per_class | train, validation, test[, seed] }",
        doc = "seeded draw of labelled nodes (counts or fractions)"
    )]
    pub split: NodeSplitSpec,
    /// Scale feature rows to sum 1.
    #[option(ty = "bool", default = true, doc = "scale feature rows to sum 1")]
    pub normalize_features: bool,
}

#[geobatch_core::plugin(
    name = "npz",
    summary = "one graph from a NumPy .npz CSR file (Cora, CiteSeer, ...) for node classification",
    example = "path = \"../shared/data/graphs/cora.npz\"\nsplit = { train_per_class = 20, validation = 500, test = 1000 }\n"
)]
impl DatasetSpec<NodeLevel> for NpzSpec {
    fn validate(&self) -> Result<()> {
        self.split.validate()
    }

    fn load(&self, ctx: &DatasetContext) -> Result<Box<LoadedGraph>> {
        let raw = npz::read(&self.path)?;
        let mut features = raw.features;
        if self.normalize_features {
            normalize_rows(&mut features, raw.n_features);
        }
        let splits = self
            .split
            .draw(&raw.labels, ctx.seed)
            .map_err(|e| Error::invalid(format!("{}: {e}", self.path.display())))?;
        let graph = NodeGraph::from_edges(
            raw.n,
            &raw.edges,
            features,
            raw.n_features,
            raw.labels,
            splits,
        )
        .map_err(|e| Error::invalid(format!("{}: {e}", self.path.display())))?;
        classes_to_learn(&graph, &self.path)?;
        Ok(Box::new(LoadedGraph {
            name: "npz".into(),
            source: format!("{} ({} nodes)", self.path.display(), graph.n_nodes()),
            graph,
        }))
    }
}

/// The `ogb` dataset.
#[plugin_options]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OgbSpec {
    /// The dataset folder (holding `raw/` and `split/`).
    #[option(ty = "path", doc = "the dataset folder, e.g. data/ogbn_arxiv")]
    pub path: PathBuf,
    /// Folder below `split/` (default: the first in name order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(
        ty = "string",
        toml = "the first folder below split/",
        doc = "which shipped split to use"
    )]
    pub split_name: Option<String>,
    /// Scale feature rows to sum 1.
    #[serde(default)]
    #[option(ty = "bool", doc = "scale feature rows to sum 1")]
    pub normalize_features: bool,
}

#[geobatch_core::plugin(
    name = "ogb",
    summary = "one graph from an OGB node-property folder (raw/*.csv.gz, split/<name>/*.csv.gz)",
    example = "path = \"data/ogbn_arxiv\"\n"
)]
impl DatasetSpec<NodeLevel> for OgbSpec {
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    fn load(&self, _ctx: &DatasetContext) -> Result<Box<LoadedGraph>> {
        let raw = ogb::read(&self.path, self.split_name.as_deref())?;
        let mut features = raw.features;
        if self.normalize_features {
            normalize_rows(&mut features, raw.n_features);
        }
        let graph = NodeGraph::from_edges(
            raw.n,
            &raw.edges,
            features,
            raw.n_features,
            raw.labels,
            raw.splits,
        )
        .map_err(|e| Error::invalid(format!("{}: {e}", self.path.display())))?;
        classes_to_learn(&graph, &self.path)?;
        Ok(Box::new(LoadedGraph {
            name: "ogb".into(),
            source: format!("{} (split {})", self.path.display(), raw.split_name),
            graph,
        }))
    }
}

/// The `sbm` dataset: the generator's settings (see [`SbmParams`]), the split and the seed.
#[plugin_options]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SbmSpec {
    /// Nodes.
    #[option(ty = "integer", default = 10_000, doc = "nodes")]
    pub nodes: usize,
    /// Classes.
    #[option(ty = "integer", default = 8, doc = "classes")]
    pub classes: usize,
    /// Communities (blocks); 0 means one per class.
    #[serde(default)]
    #[option(
        ty = "integer",
        toml = "0 (one per class)",
        doc = "blocks; block c has class c % classes"
    )]
    pub communities: usize,
    /// Mean degree.
    #[option(ty = "float", default = 10.0, doc = "mean degree")]
    pub avg_degree: f64,
    /// Probability that an edge stays inside its community.
    #[option(
        ty = "float",
        default = 0.8,
        doc = "probability that an edge stays in its block"
    )]
    pub homophily: f64,
    /// Features per node.
    #[option(ty = "integer", default = 16, doc = "features per node")]
    pub features: usize,
    /// Standard deviation of the class means.
    #[option(
        ty = "float",
        default = 0.3,
        doc = "sd of the class means against unit noise"
    )]
    pub signal: f64,
    /// How output nodes are drawn (default: 10% / 10% / 20% of the nodes).
    #[option(ty = "table", default = NodeSplitSpec::fractions(0.1, 0.1, 0.2), doc = "as for npz")]
    pub split: NodeSplitSpec,
    /// Seed of the generator (default: the run's seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(ty = "integer", toml = "the run's seed", doc = "generator seed")]
    pub seed: Option<u64>,
}

impl SbmSpec {
    /// The generator's settings.
    pub fn params(&self) -> SbmParams {
        SbmParams {
            nodes: self.nodes,
            classes: self.classes,
            communities: self.communities,
            avg_degree: self.avg_degree,
            homophily: self.homophily,
            features: self.features,
            signal: self.signal,
        }
    }
}

#[geobatch_core::plugin(
    name = "sbm",
    summary = "seeded stochastic block model with class-correlated Gaussian features, any size (scaling studies)",
    example = "nodes = 100000\nclasses = 8\ncommunities = 64\navg_degree = 10\n"
)]
impl DatasetSpec<NodeLevel> for SbmSpec {
    fn validate(&self) -> Result<()> {
        self.params().validate()?;
        self.split.validate()
    }

    fn load(&self, ctx: &DatasetContext) -> Result<Box<LoadedGraph>> {
        let seed = self.seed.unwrap_or(ctx.seed);
        let p = self.params();
        let g = p.generate(seed)?;
        let splits = self.split.draw(&g.labels, seed)?;
        let graph =
            NodeGraph::from_edges(p.nodes, &g.edges, g.features, p.features, g.labels, splits)?;
        Ok(Box::new(LoadedGraph {
            name: "sbm".into(),
            source: format!(
                "sbm (nodes {}, classes {}, communities {}, degree {}, homophily {}, seed {seed})",
                p.nodes, p.classes, p.communities, p.avg_degree, p.homophily
            ),
            graph,
        }))
    }
}

/// Referenced by `geobatch-catalog` so the linker keeps this crate's plugin registrations.
pub fn link() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_sum_to_one_and_an_infinite_value_stays_infinite_for_the_check_to_name() {
        let mut f = vec![1.0, 3.0, 0.0, 0.0, f32::INFINITY, 1.0];
        normalize_rows(&mut f, 2);
        assert_eq!(&f[..4], &[0.25, 0.75, 0.0, 0.0]);
        assert_eq!(f[4], f32::INFINITY);
        let e = NodeGraph::from_edges(3, &[(0, 1)], f, 2, vec![0, 1, 0], Default::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("node 2, feature 0: inf is not a finite number"),
            "{e}"
        );
    }
}
