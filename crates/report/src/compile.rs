//! Compilation made visible: what a new padded shape costs, and between two batchers of a cell
//! the step count after which the one with more shapes (and less padding) becomes the faster over
//! the whole run, from measured figures (DESIGN.md §12).
//!
//! A run of `n` steps with batcher X costs about `n s_X + K_X`: `s_X` its steady step (median
//! combined time without warm-up and new shapes), `K_X` its new-shape overhead (distinct shapes
//! x cost per new shape). With `s_A < s_B` and `K_A > K_B`, A is the faster once
//! `n > (K_A - K_B) / (s_B - s_A)`. `K` counts the shapes met in the measured run; a batcher that
//! keeps meeting new shapes (static-64) meets more in a longer run, so its break-even is a lower
//! bound.

use crate::stats::mean;
use crate::{Cell, Row};

/// Who wins over a whole run, between the batcher with more shapes (`a`) and the other (`b`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// `a` is the faster from this many steps on.
    After(f64),
    /// `a` is the faster only for runs shorter than this many steps.
    Until(f64),
    /// `a` is the faster at every run length.
    Always,
    /// `a` is never the faster.
    Never,
    /// A figure is missing (no steady or no new-shape step).
    Unknown,
}

/// One pair of batchers of a cell.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakEven {
    /// The cell.
    pub cell: Cell,
    /// The batcher with more distinct shapes (mean over seeds).
    pub a: String,
    /// The other batcher.
    pub b: String,
    /// Steady step of `a` and `b`, ms (mean over seeds).
    pub steady_ms: (f64, f64),
    /// New-shape overhead of `a` and `b`, ms (mean over seeds of shapes x cost per shape).
    pub overhead_ms: (f64, f64),
    /// The outcome.
    pub verdict: Verdict,
}

/// New-shape overhead of a run, ms: shapes x cost per new shape.
pub fn overhead_ms(m: &crate::stats::RunMetrics) -> f64 {
    m.distinct_shapes as f64 * m.compile_per_shape_ms
}

/// The outcome for steady steps `s` and overheads `k` of `a` and `b`.
pub fn verdict(s: (f64, f64), k: (f64, f64)) -> Verdict {
    let ((sa, sb), (ka, kb)) = (s, k);
    if ![sa, sb, ka, kb].iter().all(|x| x.is_finite()) {
        return Verdict::Unknown;
    }
    let n = (ka - kb) / (sb - sa);
    match (sa < sb, ka <= kb) {
        (true, true) => Verdict::Always,
        (true, false) => Verdict::After(n),
        (false, true) if sa > sb => Verdict::Until(n),
        (false, true) if ka < kb => Verdict::Always,
        _ => Verdict::Never,
    }
}

/// Every pair of batchers within each cell of `rows` (sorted by cell then batcher).
pub fn break_even(rows: &[Row]) -> Vec<BreakEven> {
    let mut out = Vec::new();
    for (i, x) in rows.iter().enumerate() {
        for y in rows[i + 1..].iter().filter(|y| y.cell == x.cell) {
            let shapes = |r: &Row| r.stat(|m| Some(m.distinct_shapes as f64)).0;
            let (a, b) = if shapes(y) > shapes(x) {
                (y, x)
            } else {
                (x, y)
            };
            let steady = |r: &Row| r.stat(|m| Some(m.combined_steady_median_ms)).0;
            let overhead = |r: &Row| mean(&r.runs.iter().map(overhead_ms).collect::<Vec<_>>());
            let (s, k) = ((steady(a), steady(b)), (overhead(a), overhead(b)));
            out.push(BreakEven {
                cell: x.cell.clone(),
                a: a.batcher.clone(),
                b: b.batcher.clone(),
                steady_ms: s,
                overhead_ms: k,
                verdict: verdict(s, k),
            });
        }
    }
    out
}

impl Verdict {
    /// The outcome in words, for the report.
    pub fn words(&self, a: &str) -> String {
        match self {
            Verdict::After(n) => format!("{a} faster after {n:.0} steps"),
            Verdict::Until(n) => format!("{a} faster only below {n:.0} steps"),
            Verdict::Always => format!("{a} faster at any length"),
            Verdict::Never => format!("{a} never faster"),
            Verdict::Unknown => "not measured".to_string(),
        }
    }

    /// The break-even step count, where there is one.
    pub fn steps(&self) -> Option<f64> {
        match self {
            Verdict::After(n) | Verdict::Until(n) => Some(*n),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_shapes_but_cheaper_steps_wins_after_the_break_even() {
        // a: 80 shapes x 2 s = 160 s overhead, 80 ms steps; b: 1 shape x 2 s, 100 ms steps:
        // 80 n + 160,000 = 100 n + 2,000 at n = 7,900
        assert_eq!(
            verdict((80.0, 100.0), (160_000.0, 2_000.0)),
            Verdict::After(7_900.0)
        );
        assert_eq!(verdict((80.0, 100.0), (1_000.0, 2_000.0)), Verdict::Always);
        assert_eq!(
            verdict((120.0, 100.0), (160_000.0, 2_000.0)),
            Verdict::Never
        );
        // more shapes but a smaller overhead and slower steps: faster only in short runs
        assert_eq!(
            verdict((110.0, 100.0), (1_000.0, 2_000.0)),
            Verdict::Until(100.0)
        );
        assert_eq!(verdict((f64::NAN, 100.0), (1.0, 2.0)), Verdict::Unknown);
    }
}
