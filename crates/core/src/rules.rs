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

    /// The cutoff of a rule whose edges a model's energy can be smooth over (`None` for `full`:
    /// every pair is always an edge), or why this rule's cannot (`knn`'s neighbours change by
    /// jumps as atoms move). One rule for training a potential, `predict`'s saved model, every
    /// reader of a set with forces and the Python door.
    pub fn smooth_cutoff(&self) -> crate::error::Result<Option<f64>> {
        match self {
            GraphRule::Cutoff { radius } => Ok(Some(*radius)),
            GraphRule::Full => Ok(None),
            GraphRule::Knn { k } => Err(crate::error::Error::invalid(format!(
                "graph = {{ kind = \"knn\", k = {k} }} with forces: a potential's energy must be \
                 smooth in the positions, and the k nearest neighbours change by jumps as atoms \
                 move: use graph = {{ kind = \"cutoff\", radius = 5.0 }}"
            ))),
        }
    }
}

/// What a graph rule's edges leave a model: the one check of `run`, `batches` and both Python
/// doors (`load_dataset`, `GraphStore.from_geometry`), [`edge_coverage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeCoverage {
    /// Most atoms have a neighbour.
    Fine,
    /// Most atoms have none: said (a short cutoff may be meant), with this text.
    MostAlone(String),
    /// No graph has an edge though some could (two atoms or more, or a periodic cell): refused,
    /// with this text; a model would pass nothing.
    NoEdge(String),
}

/// The [`EdgeCoverage`] of `graphs` graphs under `rule`: `edges` edges in all, `alone` of the
/// `atoms` atoms of graphs that could have an edge without a neighbour, `could` whether any
/// graph could have one.
pub fn edge_coverage(
    rule: &GraphRule,
    graphs: usize,
    atoms: usize,
    edges: usize,
    alone: usize,
    could: bool,
) -> EdgeCoverage {
    let change = match rule {
        GraphRule::Cutoff { radius } => format!(
            "no two atoms (or periodic images) are closer than graph.radius = {radius:?} \
             Angstrom; positions are read in Angstrom, and a cutoff is typically 4-6 Angstrom: \
             raise the radius, or use knn"
        ),
        _ => "use a cutoff radius, or knn".into(),
    };
    if graphs > 0 && edges == 0 && could {
        return EdgeCoverage::NoEdge(format!(
            "the graph rule gives no edge at all in the {graphs} graphs: every atom is alone, so \
             a model has nothing to pass; {change}"
        ));
    }
    if atoms > 0 && alone * 2 > atoms {
        return EdgeCoverage::MostAlone(format!(
            "the graph rule leaves {alone} of the {atoms} atoms ({:.0}%) without a neighbour: \
             they take nothing from the graph; {change}",
            100.0 * alone as f64 / atoms as f64
        ));
    }
    EdgeCoverage::Fine
}

#[cfg(test)]
mod tests;
