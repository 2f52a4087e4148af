//! The stream of graph indices shared by every batcher (spec §1.1).
//!
//! Training streams repeat forever: at the end of every pass the order is reshuffled with the
//! run's seeded ChaCha8 generator, and batches may span two passes (no epochs, no drop-last).
//! Evaluation streams make one pass in stored order.

use crate::error::{Error, Result};
use crate::graph::GraphSize;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Whether a stream repeats (training) or makes one pass (evaluation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamMode {
    /// Repeat forever, reshuffling at every pass.
    Train,
    /// One pass in stored order, then stop.
    Eval,
}

/// Clean behaviour (default) or the reference implementation's quirks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quirks {
    /// Every pass shuffled (the first too); static batches take `batch_size - 1` graphs and drop
    /// none; evaluation emits the trailing partial batch.
    #[default]
    Clean,
    /// The reference's stream: the first training pass in stored order; the static batcher throws
    /// away the graph that triggers each batch; static evaluation drops the trailing partial batch.
    /// (The reference's Python Mersenne-Twister shuffles are not reproduced bit for bit.)
    Reference,
}

impl Quirks {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Quirks::Clean => "clean",
            Quirks::Reference => "reference",
        }
    }
}

/// A stream of graph indices `0..n` with one-item look-ahead, so that a batcher can leave a graph
/// that does not fit in the stream for the next batch (the dynamic batcher's carry-over).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GraphStream {
    order: Vec<u32>,
    pos: usize,
    pass: u64,
    consumed: u64,
    mode: StreamMode,
    rng: ChaCha8Rng,
}

impl GraphStream {
    /// Checks that a stream read back from a checkpoint covers exactly `n` graphs (its order a
    /// permutation of `0..n`, its position inside it): a checkpoint of other data is refused
    /// instead of drawing indices of the wrong graphs, or beyond the split.
    pub fn check_covers(&self, n: usize) -> Result<()> {
        let mut seen = vec![false; n];
        let permutation = self.order.len() == n
            && self.order.iter().all(|&i| {
                let fresh = seen.get(i as usize).is_some_and(|s| !s);
                if fresh {
                    seen[i as usize] = true;
                }
                fresh
            });
        if !permutation || self.pos > n {
            return Err(Error::invalid(format!(
                "the checkpoint's stream orders {} graphs, but this split has {n}: the checkpoint \
                 belongs to other data (run with --restart to start over)",
                self.order.len()
            )));
        }
        Ok(())
    }

    /// A stream over `n` graphs. Training streams need at least one graph.
    pub fn new(n: usize, mode: StreamMode, seed: u64, quirks: Quirks, split: &str) -> Result<Self> {
        if n == 0 {
            return Err(Error::EmptySplit(split.to_string()));
        }
        let mut s = GraphStream {
            order: (0..n as u32).collect(),
            pos: 0,
            pass: 0,
            consumed: 0,
            mode,
            rng: ChaCha8Rng::seed_from_u64(seed),
        };
        if mode == StreamMode::Train && quirks == Quirks::Clean {
            s.order.shuffle(&mut s.rng);
        }
        Ok(s)
    }

    /// One pass over `n` graphs as an evaluation stream (it ends), in the order of pass `epoch` of
    /// a seeded epoch sequence: ChaCha8 seeded with `seed`, on stream number `epoch`, shuffles
    /// `0..n` once (`shuffle = false`: stored order). Epoch 0 is the first pass of the training
    /// stream of the same seed; each epoch's order is computed directly, without the ones before.
    pub fn epoch(n: usize, seed: u64, epoch: u64, shuffle: bool, split: &str) -> Result<Self> {
        if n == 0 {
            return Err(Error::EmptySplit(split.to_string()));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(epoch);
        let mut order: Vec<u32> = (0..n as u32).collect();
        if shuffle {
            order.shuffle(&mut rng);
        }
        Ok(GraphStream {
            order,
            pos: 0,
            pass: epoch,
            consumed: 0,
            mode: StreamMode::Eval,
            rng,
        })
    }

    /// The next graph index without consuming it; `None` at the end of an evaluation pass.
    #[inline]
    pub fn peek(&mut self) -> Option<u32> {
        if self.pos == self.order.len() {
            if self.mode == StreamMode::Eval {
                return None;
            }
            self.order.shuffle(&mut self.rng);
            self.pos = 0;
            self.pass += 1;
        }
        Some(self.order[self.pos])
    }

    /// The next graphs of the current pass and their sizes, without consuming them: fills the
    /// front of `out` and returns how many (0 at the end of an evaluation pass). Reading several
    /// sizes in one go lets their loads overlap: in a shuffled pass each is a cache miss.
    #[inline]
    pub fn peek_sizes(&mut self, sizes: &[GraphSize], out: &mut [(u32, GraphSize)]) -> usize {
        if self.peek().is_none() {
            return 0;
        }
        let ahead = &self.order[self.pos..];
        let n = ahead.len().min(out.len());
        for (slot, &g) in out.iter_mut().zip(&ahead[..n]) {
            *slot = (g, sizes[g as usize]);
        }
        n
    }

    /// Consumes the graph returned by the last [`Self::peek`].
    #[inline]
    pub fn advance(&mut self) {
        debug_assert!(self.pos < self.order.len());
        self.pos += 1;
        self.consumed += 1;
    }

    /// Consumes and returns the next graph index.
    #[inline]
    pub fn next_index(&mut self) -> Option<u32> {
        let g = self.peek()?;
        self.advance();
        Some(g)
    }

    /// Completed passes over the data before the current one.
    #[inline]
    pub fn pass(&self) -> u64 {
        self.pass
    }

    /// Graph indices consumed so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Number of graphs in one pass.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether the stream is over an empty set (never true: construction refuses it).
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Whether this stream repeats.
    pub fn mode(&self) -> StreamMode {
        self.mode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(s: &mut GraphStream, n: usize) -> Vec<u32> {
        (0..n).map(|_| s.next_index().unwrap()).collect()
    }

    #[test]
    fn reference_first_pass_is_stored_order_then_shuffled() {
        let mut s =
            GraphStream::new(10, StreamMode::Train, 42, Quirks::Reference, "train").unwrap();
        assert_eq!(take(&mut s, 10), (0..10).collect::<Vec<_>>());
        let second = take(&mut s, 10);
        assert_ne!(second, (0..10).collect::<Vec<_>>());
        let mut sorted = second.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_eq!(s.pass(), 1);
    }

    #[test]
    fn a_stream_of_other_data_is_refused_on_resume() {
        let mut s = GraphStream::new(800, StreamMode::Train, 7, Quirks::Clean, "t").unwrap();
        take(&mut s, 900);
        s.check_covers(800).unwrap();
        // a fixture run's stream resumed on full QM9, and the reverse
        let e = s.check_covers(130_831).unwrap_err().to_string();
        assert!(
            e.contains("orders 800 graphs, but this split has 130831"),
            "{e}"
        );
        assert!(s.check_covers(10).is_err());
        // a damaged order (an index twice, one beyond the split) is refused too
        let mut bad: serde_json::Value = serde_json::to_value(&s).unwrap();
        bad["order"][0] = bad["order"][1].clone();
        let bad: GraphStream = serde_json::from_value(bad).unwrap();
        assert!(bad.check_covers(800).is_err());
    }

    #[test]
    fn clean_streams_shuffle_every_pass_and_are_seeded() {
        let a = take(
            &mut GraphStream::new(50, StreamMode::Train, 7, Quirks::Clean, "t").unwrap(),
            120,
        );
        let b = take(
            &mut GraphStream::new(50, StreamMode::Train, 7, Quirks::Clean, "t").unwrap(),
            120,
        );
        let c = take(
            &mut GraphStream::new(50, StreamMode::Train, 8, Quirks::Clean, "t").unwrap(),
            120,
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a[..50], (0..50).collect::<Vec<_>>()[..]);
        for pass in a.chunks(50).take(2) {
            let mut p = pass.to_vec();
            p.sort();
            assert_eq!(p, (0..50).collect::<Vec<_>>());
        }
    }

    #[test]
    fn epoch_zero_is_the_training_streams_first_pass_and_epochs_differ() {
        let first = take(
            &mut GraphStream::new(40, StreamMode::Train, 9, Quirks::Clean, "t").unwrap(),
            40,
        );
        let mut e0 = GraphStream::epoch(40, 9, 0, true, "t").unwrap();
        assert_eq!(take(&mut e0, 40), first);
        assert_eq!(e0.peek(), None, "an epoch ends");
        let e1 = take(&mut GraphStream::epoch(40, 9, 1, true, "t").unwrap(), 40);
        assert_ne!(e1, first);
        let mut sorted = e1.clone();
        sorted.sort();
        assert_eq!(sorted, (0..40).collect::<Vec<_>>());
        assert_eq!(
            e1,
            take(&mut GraphStream::epoch(40, 9, 1, true, "t").unwrap(), 40)
        );
        assert_eq!(
            take(&mut GraphStream::epoch(5, 9, 3, false, "t").unwrap(), 5),
            vec![0, 1, 2, 3, 4]
        );
    }

    #[test]
    fn eval_stream_is_one_stored_pass() {
        let mut s = GraphStream::new(3, StreamMode::Eval, 1, Quirks::Clean, "test").unwrap();
        assert_eq!(take(&mut s, 3), vec![0, 1, 2]);
        assert_eq!(s.peek(), None);
    }

    #[test]
    fn peek_sizes_reads_ahead_within_the_pass_without_consuming() {
        let sizes: Vec<GraphSize> = (0..10)
            .map(|i| GraphSize {
                nodes: i,
                edges: 10 * i,
            })
            .collect();
        let mut s = GraphStream::new(10, StreamMode::Train, 3, Quirks::Clean, "t").unwrap();
        let mut out = [(0, GraphSize::default()); 4];
        take(&mut s, 7);
        // three graphs are left in this pass: only those are peeked
        assert_eq!(s.peek_sizes(&sizes, &mut out), 3);
        assert_eq!(s.consumed(), 7);
        let rest = take(&mut s, 3);
        for (&(g, size), want) in out.iter().zip(&rest) {
            assert_eq!((g, size), (*want, sizes[*want as usize]));
        }
        // the next peek starts the next pass, and fills the whole buffer
        assert_eq!(s.peek_sizes(&sizes, &mut out), 4);
        assert_eq!(s.pass(), 1);
        assert_eq!(out[0].0, s.next_index().unwrap());
        // an evaluation stream at its end peeks nothing
        let mut e = GraphStream::new(2, StreamMode::Eval, 0, Quirks::Clean, "v").unwrap();
        take(&mut e, 2);
        assert_eq!(e.peek_sizes(&sizes, &mut out), 0);
    }

    #[test]
    fn empty_split_is_an_error() {
        let err =
            GraphStream::new(0, StreamMode::Train, 1, Quirks::Clean, "validation").unwrap_err();
        assert!(err.to_string().contains("validation split is empty"));
    }
}
