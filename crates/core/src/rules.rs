//! Graph rules as configs name them: how edges are to be made from positions (and cells). The
//! edges themselves are made by `geobatch-geometry`.

use serde::{Deserialize, Serialize};

/// How the edges of a graph are built. Config: `graph = { kind = "knn", k = 12 }`. A key another
/// kind takes (`radius` beside `kind = "full"`, `k` beside `cutoff`) is refused, naming it: it
/// would change nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "lowercase",
    deny_unknown_fields,
    try_from = "RuleTable"
)]
pub enum GraphRule {
    /// All ordered pairs of distinct atoms, no self edges, no periodic images (QM9 in the study).
    Full,
    /// All pairs (periodic images included) closer than `radius` Angstrom (strictly: ASE's
    /// `neighbor_list` rule).
    Cutoff {
        /// Pair cutoff in Angstrom.
        radius: f64,
    },
    /// The `k` nearest neighbours of every atom, periodic images included, found by growing the
    /// search radius until every atom has at least `k` candidates (spec §4.2). Non-periodic graphs
    /// with fewer than `k + 1` atoms get all their `n - 1` neighbours.
    Knn {
        /// Neighbours per atom.
        #[serde(default = "default_k")]
        k: usize,
    },
}

fn default_k() -> usize {
    12
}

/// A graph rule's table as written: every key any kind takes, checked against its kind.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleTable {
    kind: String,
    radius: Option<f64>,
    k: Option<usize>,
}

impl TryFrom<RuleTable> for GraphRule {
    type Error = String;

    fn try_from(t: RuleTable) -> Result<GraphRule, String> {
        let ignored = |key: &str, what: &str| {
            Err(format!(
                "graph.{key} does nothing under kind = \"{}\" ({what}): leave it out, or choose \
                 the kind that takes it (radius: cutoff; k: knn)",
                t.kind
            ))
        };
        match (t.kind.as_str(), t.radius, t.k) {
            ("full", Some(_), _) => ignored("radius", "every pair of atoms is an edge"),
            ("full", _, Some(_)) => ignored("k", "every pair of atoms is an edge"),
            ("full", None, None) => Ok(GraphRule::Full),
            ("cutoff", _, Some(_)) => ignored("k", "every pair closer than radius is an edge"),
            ("cutoff", Some(radius), None) => Ok(GraphRule::Cutoff { radius }),
            ("cutoff", None, None) => Err("graph kind \"cutoff\" needs radius (Angstrom)".into()),
            ("knn", Some(_), _) => ignored("radius", "the search radius grows until k are found"),
            ("knn", None, k) => Ok(GraphRule::Knn {
                k: k.unwrap_or_else(default_k),
            }),
            (other, _, _) => Err(format!(
                "unknown graph kind `{other}`, expected one of `full`, `cutoff`, `knn`"
            )),
        }
    }
}

impl GraphRule {
    /// Checks the rule's parameters.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            GraphRule::Full => Ok(()),
            GraphRule::Cutoff { radius } if !(radius.is_finite() && *radius > 0.0) => Err(format!(
                "graph.radius must be a positive number of Angstrom, got {radius}"
            )),
            GraphRule::Knn { k: 0 } => Err("graph.k must be at least 1".into()),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
