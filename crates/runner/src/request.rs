//! What a command asks of a config beyond its file and `--set` overrides ([`Request`]): each
//! task kind says which requests it refuses (`TaskKind::refusal`), before its config is typed.

/// What a command asks of a config beyond its file and `--set` overrides: checked against the
/// config's kind before the config is typed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Request {
    /// The config as it is (`validate`, `sweep`).
    #[default]
    AsWritten,
    /// Training (`run`): `--steps` (graph-level) or `--epochs` (node-level), set in the config
    /// as `training.steps` / `training.epochs` (so they are part of the run's identity).
    Train {
        /// `--steps N`.
        steps: Option<u64>,
        /// `--epochs N`.
        epochs: Option<u64>,
    },
    /// The batching study (`batches`): `--steps N` batches and `--plans FILE` (graph-level).
    Batches {
        /// `--steps N`.
        steps: Option<u64>,
        /// Whether `--plans FILE` is given.
        plans: bool,
    },
    /// Advice on a batcher (`advise`): graph-level only.
    Advise,
}

impl Request {
    /// The rounds the request sets in the config (`--steps` or `--epochs`: the kind's
    /// `training.steps` or `training.epochs`, set on its value), if it sets them.
    pub(crate) fn rounds(self) -> Option<u64> {
        match self {
            Request::Train { steps, epochs } => steps.or(epochs),
            _ => None,
        }
    }
}
