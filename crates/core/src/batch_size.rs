//! A graph batcher's `batch_size`, checked once where it is read (a config, `bench step
//! --batch-sizes`, Python's `Planner`) and carried checked from there on.

use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A graph batcher's `batch_size`: graph slots per batch (what they mean is the batcher's own,
/// docs/batching.md), from 2 (one slot always pads) to [`BatchSize::MAX`]. Read and written as
/// a plain integer; a value out of range is refused where it is read, naming both bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "usize", into = "usize")]
pub struct BatchSize(usize);

impl BatchSize {
    /// The smallest batch size: one real graph and the padding graph.
    pub const MIN: usize = 2;

    /// The largest batch size any config may ask for (a million graphs; QM9's training split
    /// holds 104,665): larger ones are refused before any data is loaded.
    pub const MAX: usize = 1 << 20;

    /// The size as a number.
    pub fn get(self) -> usize {
        self.0
    }
}

impl TryFrom<usize> for BatchSize {
    type Error = Error;

    fn try_from(n: usize) -> Result<Self, Error> {
        if n < Self::MIN {
            Err(Error::BatchSize(n))
        } else if n > Self::MAX {
            Err(Error::invalid(format!(
                "batch_size = {n}: at most {} (and at most the training split's graphs + 1, \
                 checked when the data is loaded)",
                Self::MAX
            )))
        } else {
            Ok(BatchSize(n))
        }
    }
}

impl From<BatchSize> for usize {
    fn from(b: BatchSize) -> usize {
        b.0
    }
}

impl fmt::Display for BatchSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Serialize)]
    struct Table {
        batch_size: BatchSize,
    }

    #[test]
    fn sizes_out_of_range_are_refused_where_they_are_read() {
        for (text, message) in [
            ("batch_size = 1", "batch_size must be at least 2"),
            ("batch_size = 0", "batch_size must be at least 2"),
            ("batch_size = 1048577", "at most 1048576"),
            ("batch_size = -3", "invalid value"),
        ] {
            let e = toml::from_str::<Table>(text).unwrap_err().to_string();
            assert!(e.contains(message), "{text}: {e}");
        }
        let t: Table = toml::from_str("batch_size = 32").unwrap();
        assert_eq!(t.batch_size.get(), 32);
        assert_eq!(toml::to_string(&t).unwrap(), "batch_size = 32\n");
        assert!(BatchSize::try_from(BatchSize::MAX).is_ok());
    }
}
