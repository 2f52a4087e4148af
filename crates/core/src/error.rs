//! The error type of the core crate.

use crate::Budget;

/// Result alias with the core [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in graph storage, graph rules, planning and collation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Batch sizes below 2 leave no room for the padding graph.
    #[error("batch_size must be at least 2 (one graph is always kept for padding), got {0}")]
    BatchSize(usize),
    /// A split or stream holds no graph at all.
    #[error("the {0} split is empty: there is nothing to batch")]
    EmptySplit(String),
    /// A single graph does not fit the batcher's budget.
    #[error(
        "graph number {index} of its split ({nodes} nodes, {edges} edges) is larger than the batch budget \
         ({} nodes, {} edges, {} graphs; one node and one graph are kept for padding): \
         raise batch_size or use a static batcher",
        budget.nodes, budget.edges, budget.graphs
    )]
    GraphTooLarge {
        /// Index of the graph in its split.
        index: u32,
        /// Its node count.
        nodes: u32,
        /// Its edge count.
        edges: u32,
        /// The budget it exceeds.
        budget: Budget,
    },
    /// A plan that cannot be collated: a padded shape that cannot hold its real content
    /// (`geobatch_gather::Error::PaddingTooSmall`, the one place that says so).
    #[error(transparent)]
    Collate(geobatch_gather::Error),
    /// A graph rule cannot be applied to a graph.
    #[error("graph {graph}: {message}")]
    GraphRule {
        /// The graph's id or index.
        graph: String,
        /// What went wrong.
        message: String,
    },
    /// A dataset, graph or option is inconsistent.
    #[error("{0}")]
    Invalid(String),
    /// Refused because it would replace or lose data that is there (a store of other content)
    /// without an explicit flag: the user's input to change, not a failure.
    #[error("{0}")]
    Refused(String),
    /// Source data the user gave cannot be used: a file that is missing, unreadable, of another
    /// format or corrupt (named, with its row or line where there is one). The user's input to
    /// change, exit code 2 (an import that fails while writing is not this).
    #[error("{0}")]
    Source(String),
    /// A size this process cannot have, refused before it is allocated (`geobatch_process::memory`): the
    /// estimate, the limit that binds and the options to change. The user's input to change,
    /// exit code 2, wherever it is found (an allocation past the limit would abort the process).
    #[error("{0}")]
    Memory(String),
    /// A stop signal came while the work was under way (`geobatch_process::stop`); nothing it made is kept.
    #[error("stopped by a signal while {0}")]
    Stopped(String),
    /// A sink failed to record or write.
    #[error("sink {sink}: {message}")]
    Sink {
        /// The sink's registered name.
        sink: String,
        /// What went wrong.
        message: String,
    },
}

impl From<geobatch_gather::Error> for Error {
    fn from(e: geobatch_gather::Error) -> Self {
        match e {
            geobatch_gather::Error::Invalid(m) => Error::Invalid(m),
            e => Error::Collate(e),
        }
    }
}

/// A conversion that cannot fail (`usize` into a node-level batcher's `batch_size`), for code
/// written once for checked and unchecked sizes (`#[plugin(batch_size = FIELD)]`).
impl From<std::convert::Infallible> for Error {
    fn from(e: std::convert::Infallible) -> Self {
        match e {}
    }
}

impl Error {
    /// Convenience constructor for [`Error::Invalid`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid(message.into())
    }

    /// This error as met in `context` (a file, a source): an [`Error::Invalid`] that names it,
    /// or unchanged when it is [`Error::Stopped`] (a stop is not a fault of the data).
    pub fn within(self, context: impl std::fmt::Display) -> Self {
        match self {
            Error::Stopped(_) => self,
            Error::Memory(m) => Error::Memory(format!("{context}: {m}")),
            e => Error::invalid(format!("{context}: {e}")),
        }
    }

    /// `e` as an [`Error::Source`]: for the errors of reading what the user gave.
    pub fn source(e: impl std::fmt::Display) -> Self {
        Error::Source(e.to_string())
    }

    /// A [`Error::GraphTooLarge`] with the graph named by its id in `set` (the `split` split), as
    /// the user knows it: the batcher only knows its position. Other errors pass unchanged.
    pub fn naming_graph(self, split: &str, set: &crate::GraphSet) -> Self {
        match self {
            Error::GraphTooLarge { index, .. } if (index as usize) < set.len() => Error::invalid(
                format!("{split} graph {:?}: {self}", set.id(index as usize)),
            ),
            e => e,
        }
    }
}
