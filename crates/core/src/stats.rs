//! The one mean, median and quantile of geobatch (the runner's timing summaries, `bench`, the
//! advice's cost model and the report's tables use these).

/// A value a median is taken of: a time in nanoseconds or any float.
pub trait Sample: Copy {
    /// The value as a float.
    fn value(self) -> f64;
}

impl Sample for u64 {
    fn value(self) -> f64 {
        self as f64
    }
}

impl Sample for f64 {
    fn value(self) -> f64 {
        self
    }
}

/// Arithmetic mean (NaN when empty).
pub fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// The `q`-quantile (0..=1) of `sorted` by the nearest-rank method; `None` when empty.
pub fn quantile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.saturating_sub(1).min(sorted.len() - 1)])
}

/// The median of `sorted` (mean of the two middle values for even lengths); `None` when empty.
pub fn median<T: Sample>(sorted: &[T]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2].value()),
        _ => Some((sorted[n / 2 - 1].value() + sorted[n / 2].value()) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles_and_median() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.99), Some(99));
        assert_eq!(quantile(&v, 1.0), Some(100));
        assert_eq!(quantile(&v, 0.0), Some(1));
        assert_eq!(median(&v), Some(50.5));
        assert_eq!(median(&[3u64, 5, 9]), Some(5.0));
        assert_eq!(median(&[1.0, 2.0, 3.5, 4.0]), Some(2.75));
        assert_eq!(quantile::<u64>(&[], 0.5), None);
    }
}
