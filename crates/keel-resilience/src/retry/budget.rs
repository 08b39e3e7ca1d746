//! A retry budget in the manner of linkerd's and Finagle's: retries may add at most a fixed
//! share of the calls made over a rolling window, plus a small floor so a quiet dependency can
//! still be retried. During a total outage the extra load is bounded by that share, whatever
//! the attempt limit.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

/// The share of retries a dependency's callers may add.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryBudgetConfig {
    /// Retries allowed per first attempt over the window (default 0.2: at most 20 % more).
    pub ratio: f64,
    /// Retries allowed per second regardless of traffic (default 5).
    pub min_per_sec: u32,
    /// The window, in milliseconds (default 10000).
    #[serde(rename = "window_ms", with = "crate::millis")]
    pub window: Duration,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        Self {
            ratio: 0.2,
            min_per_sec: 5,
            window: Duration::from_secs(10),
        }
    }
}

impl RetryBudgetConfig {
    /// Why this budget cannot work, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..=10.0).contains(&self.ratio) {
            return Err("retry budget ratio must be between 0 and 10".into());
        }
        if self.window < Duration::from_secs(1) || self.window > Duration::from_secs(600) {
            return Err("retry budget window_ms must be between 1000 and 600000".into());
        }
        Ok(())
    }
}

const BUCKETS: usize = 10;

#[derive(Debug, Default, Clone, Copy)]
struct Bucket {
    epoch: u64,
    firsts: u64,
    retries: u64,
}

#[derive(Debug)]
struct Ledger {
    origin: Instant,
    buckets: [Bucket; BUCKETS],
    refused: u64,
}

/// First attempts and retries over the window; clones share it.
#[derive(Debug, Clone)]
pub struct RetryBudget {
    config: RetryBudgetConfig,
    ledger: Arc<Mutex<Ledger>>,
}

impl RetryBudget {
    /// An empty budget.
    pub fn new(config: RetryBudgetConfig) -> Self {
        Self {
            config,
            ledger: Arc::new(Mutex::new(Ledger {
                origin: Instant::now(),
                buckets: [Bucket::default(); BUCKETS],
                refused: 0,
            })),
        }
    }

    /// Counts a first attempt (each deposits `ratio` of a retry).
    pub fn deposit(&self) {
        self.with_bucket(|b| b.firsts += 1);
    }

    /// Takes one retry from the budget; `false` when it is spent (the retry must not be made).
    pub fn withdraw(&self) -> bool {
        let now = Instant::now();
        let mut ledger = self.lock();
        let (firsts, retries) = Self::totals(&ledger, self.bucket_len(), now);
        let floor = f64::from(self.config.min_per_sec) * self.config.window.as_secs_f64();
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        let allowed = floor + self.config.ratio * firsts as f64;
        #[allow(clippy::cast_precision_loss)]
        if (retries as f64) + 1.0 > allowed {
            ledger.refused += 1;
            return false;
        }
        Self::bucket(&mut ledger, self.bucket_len(), now).retries += 1;
        true
    }

    /// `(first attempts, retries)` in the window now, and retries refused since start.
    pub fn counts(&self) -> (u64, u64, u64) {
        let ledger = self.lock();
        let (firsts, retries) = Self::totals(&ledger, self.bucket_len(), Instant::now());
        (firsts, retries, ledger.refused)
    }

    fn bucket_len(&self) -> Duration {
        self.config.window / BUCKETS as u32
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with_bucket(&self, f: impl FnOnce(&mut Bucket)) {
        let mut ledger = self.lock();
        f(Self::bucket(&mut ledger, self.bucket_len(), Instant::now()));
    }

    fn epoch(ledger: &Ledger, len: Duration, now: Instant) -> u64 {
        let since = now.saturating_duration_since(ledger.origin);
        u64::try_from(since.as_nanos() / len.as_nanos().max(1)).unwrap_or(u64::MAX)
    }

    fn bucket(ledger: &mut Ledger, len: Duration, now: Instant) -> &mut Bucket {
        let epoch = Self::epoch(ledger, len, now);
        let slot = &mut ledger.buckets[(epoch % BUCKETS as u64) as usize];
        if slot.epoch != epoch {
            *slot = Bucket {
                epoch,
                ..Bucket::default()
            };
        }
        slot
    }

    fn totals(ledger: &Ledger, len: Duration, now: Instant) -> (u64, u64) {
        let epoch = Self::epoch(ledger, len, now);
        let oldest = epoch.saturating_sub(BUCKETS as u64 - 1);
        ledger
            .buckets
            .iter()
            .filter(|b| (oldest..=epoch).contains(&b.epoch))
            .fold((0, 0), |(f, r), b| (f + b.firsts, r + b.retries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(ratio: f64, min_per_sec: u32) -> RetryBudget {
        RetryBudget::new(RetryBudgetConfig {
            ratio,
            min_per_sec,
            window: Duration::from_secs(10),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn retries_are_bounded_by_the_share_of_first_attempts() {
        let b = budget(0.2, 0);
        for _ in 0..100 {
            b.deposit();
        }
        let granted = (0..100).filter(|_| b.withdraw()).count();
        assert_eq!(granted, 20);
        assert_eq!(b.counts(), (100, 20, 80));
    }

    #[tokio::test(start_paused = true)]
    async fn the_floor_allows_a_few_retries_without_traffic() {
        let b = budget(0.2, 1);
        // One per second over a ten-second window.
        let granted = (0..100).filter(|_| b.withdraw()).count();
        assert_eq!(granted, 10);
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_refills_as_the_window_moves() {
        let b = budget(0.5, 0);
        for _ in 0..10 {
            b.deposit();
        }
        assert_eq!((0..10).filter(|_| b.withdraw()).count(), 5);
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(!b.withdraw(), "old deposits expired with the window");
        for _ in 0..4 {
            b.deposit();
        }
        assert_eq!((0..10).filter(|_| b.withdraw()).count(), 2);
    }
}
