//! Metric primitives: a latency histogram (hdrhistogram) and exact quantiles over per-node
//! values.

use hdrhistogram::Histogram;

use crate::time::SimDuration;

/// Largest value a [`DurationHistogram`] records exactly: 10^10 microseconds (about 2.8 hours).
/// Larger values are clamped to it (and counted in [`DurationHistogram::clamped`]).
pub const MAX_RECORDED_MICROS: u64 = 10_000_000_000;

/// A histogram of durations at microsecond resolution with 3 significant digits (relative
/// error at most 0.1 %), bounded in memory whatever is recorded.
#[derive(Clone, Debug)]
pub struct DurationHistogram {
    h: Histogram<u64>,
    clamped: u64,
}

impl Default for DurationHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl DurationHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        DurationHistogram {
            h: Histogram::new_with_bounds(1, MAX_RECORDED_MICROS, 3)
                .expect("static bounds are valid"),
            clamped: 0,
        }
    }
    /// Records one duration (rounded to the nearest microsecond, at least 1 us).
    pub fn record(&mut self, d: SimDuration) {
        let us = (d.as_nanos() + 500) / 1000;
        let us = us.max(1);
        if us > MAX_RECORDED_MICROS {
            self.clamped += 1;
        }
        self.h.saturating_record(us.min(MAX_RECORDED_MICROS));
    }
    /// Number of values recorded.
    pub fn len(&self) -> u64 {
        self.h.len()
    }
    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.h.is_empty()
    }
    /// Values that exceeded [`MAX_RECORDED_MICROS`] and were clamped.
    pub fn clamped(&self) -> u64 {
        self.clamped
    }
    /// The value at quantile `q` in [0, 1], in milliseconds (0 when empty).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.h.is_empty() {
            return 0.0;
        }
        self.h.value_at_quantile(q) as f64 / 1000.0
    }
    /// The largest value in milliseconds (0 when empty).
    pub fn max_ms(&self) -> f64 {
        if self.h.is_empty() {
            return 0.0;
        }
        self.h.max() as f64 / 1000.0
    }
    /// The mean in milliseconds (0 when empty).
    pub fn mean_ms(&self) -> f64 {
        if self.h.is_empty() {
            return 0.0;
        }
        self.h.mean() / 1000.0
    }
    /// The distribution: (value in ms, count, cumulative fraction) for every distinct
    /// recorded bucket, ascending.
    pub fn distribution_ms(&self) -> Vec<(f64, u64, f64)> {
        let total = self.h.len() as f64;
        let mut cum = 0u64;
        self.h
            .iter_recorded()
            .map(|v| {
                cum += v.count_at_value();
                (
                    self.h.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0,
                    v.count_at_value(),
                    cum as f64 / total,
                )
            })
            .collect()
    }
    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &DurationHistogram) {
        self.h.add(&other.h).expect("same bounds");
        self.clamped += other.clamped;
    }
}

/// Exact summary statistics over a set of values (for example bytes/s per node).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Stats {
    /// Number of values.
    pub count: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median (nearest rank).
    pub p50: f64,
    /// 95th percentile (nearest rank).
    pub p95: f64,
    /// 99th percentile (nearest rank).
    pub p99: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Stats {
    /// Statistics of `values` (order does not matter; NaN values are a bug and panic).
    pub fn of(values: &[f64]) -> Stats {
        if values.is_empty() {
            return Stats::default();
        }
        let mut v = values.to_vec();
        v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN in statistics"));
        // Sum in sorted order so the result does not depend on the input order.
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        Stats {
            count: v.len(),
            mean,
            p50: nearest_rank(&v, 0.50),
            p95: nearest_rank(&v, 0.95),
            p99: nearest_rank(&v, 0.99),
            min: v[0],
            max: v[v.len() - 1],
        }
    }
}

/// The nearest-rank quantile of sorted values: the smallest value with at least `q` of the
/// values at or below it.
pub fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles_by_hand() {
        // Values 1..=100: p50 is the 50th value (50), p95 the 95th (95), p99 the 99th.
        let v: Vec<f64> = (1..=100).map(|x| x as f64).collect();
        let s = Stats::of(&v);
        assert_eq!(
            (s.p50, s.p95, s.p99, s.min, s.max),
            (50.0, 95.0, 99.0, 1.0, 100.0)
        );
        assert_eq!(s.mean, 50.5);
    }

    #[test]
    fn histogram_quantiles_within_precision() {
        let mut h = DurationHistogram::new();
        for ms in 1..=1000 {
            h.record(SimDuration::from_millis(ms));
        }
        // 3 significant digits: the p50 (500 ms) is reported within 0.1 %.
        assert!(
            (h.quantile_ms(0.5) - 500.0).abs() <= 0.5,
            "{}",
            h.quantile_ms(0.5)
        );
        assert!((h.max_ms() - 1000.0).abs() <= 1.0);
        let d = h.distribution_ms();
        assert_eq!(d.last().unwrap().2, 1.0);
        assert_eq!(d.iter().map(|x| x.1).sum::<u64>(), 1000);
    }
}
