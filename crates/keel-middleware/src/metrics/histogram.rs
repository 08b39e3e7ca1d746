//! A fixed-bucket latency histogram of atomics: `observe` is two relaxed `fetch_add`s.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

/// Upper bounds in nanoseconds with their `le` labels: Prometheus' default buckets, extended
/// down to 100µs (light tools answer in microseconds) and up to 60s (inference, queries).
pub(crate) const BUCKETS: [(u64, &str); 18] = [
    (100_000, "0.0001"),
    (250_000, "0.00025"),
    (500_000, "0.0005"),
    (1_000_000, "0.001"),
    (2_500_000, "0.0025"),
    (5_000_000, "0.005"),
    (10_000_000, "0.01"),
    (25_000_000, "0.025"),
    (50_000_000, "0.05"),
    (100_000_000, "0.1"),
    (250_000_000, "0.25"),
    (500_000_000, "0.5"),
    (1_000_000_000, "1"),
    (2_500_000_000, "2.5"),
    (5_000_000_000, "5"),
    (10_000_000_000, "10"),
    (30_000_000_000, "30"),
    (60_000_000_000, "60"),
];

/// Per-bucket (not cumulative) counts, the last slot being `+Inf`, and the sum in nanoseconds.
pub(crate) struct Histogram {
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

/// A reading of a [`Histogram`], cumulative as the exposition format wants it.
pub(crate) struct HistogramSnapshot {
    /// Cumulative counts per bucket of [`BUCKETS`], then `+Inf` (= the count).
    pub(crate) cumulative: [u64; BUCKETS.len() + 1],
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
        let slot = BUCKETS.partition_point(|&(bound, _)| bound < nanos);
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        let mut running = 0;
        let cumulative = std::array::from_fn(|i| {
            running += self.counts[i].load(Ordering::Relaxed);
            running
        });
        HistogramSnapshot {
            cumulative,
            // Nanosecond sums stay exact in an f64 up to ~104 days of total latency.
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

impl HistogramSnapshot {
    /// The number of observations.
    pub(crate) fn count(&self) -> u64 {
        self.cumulative[BUCKETS.len()]
    }
}
