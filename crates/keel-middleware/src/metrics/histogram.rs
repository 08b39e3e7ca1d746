//! A fixed-bucket latency histogram of atomics: `observe` is two relaxed `fetch_add`s.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

/// Upper bounds in nanoseconds: Prometheus' default buckets, extended down to 100µs (light
/// tools answer in microseconds) and up to 60s (inference, queries).
pub(crate) const BUCKETS: [u64; 18] = [
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
    30_000_000_000,
    60_000_000_000,
];

/// Per-bucket (not cumulative) counts, the last slot being `+Inf`, and the sum in nanoseconds.
pub(crate) struct Histogram {
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

/// A reading of a [`Histogram`].
pub(crate) struct HistogramSnapshot {
    /// `(upper bound in seconds, count in that bucket alone)` for each of [`BUCKETS`], then
    /// infinity.
    pub(crate) buckets: [(f64, u64); BUCKETS.len() + 1],
    /// The sum of observations in seconds.
    pub(crate) sum_seconds: f64,
}

impl Histogram {
    pub(crate) fn new() -> Self {
        Self {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }

    pub(crate) fn observe(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        // First bound >= the value: `le` buckets are inclusive.
        let slot = BUCKETS.partition_point(|&bound| bound < nanos);
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        let buckets = std::array::from_fn(|i| {
            let bound = BUCKETS
                .get(i)
                .map_or(f64::INFINITY, |&nanos| nanos as f64 / 1e9);
            (bound, self.counts[i].load(Ordering::Relaxed))
        });
        HistogramSnapshot {
            buckets,
            // Nanosecond sums stay exact in an f64 up to ~104 days of total latency.
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

impl HistogramSnapshot {
    /// The number of observations.
    pub(crate) fn count(&self) -> u64 {
        self.buckets.iter().map(|&(_, n)| n).sum()
    }
}
