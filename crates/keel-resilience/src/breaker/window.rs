//! Call counts over a rolling window, kept in ten buckets so old outcomes age out in steps
//! of a tenth of the window without remembering each call.

use std::time::Duration;

use tokio::time::Instant;

const BUCKETS: usize = 10;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Which bucket-length period since `origin` this slot holds.
    epoch: u64,
    calls: u32,
    failures: u32,
    slow: u32,
}

/// Sums over the buckets still inside the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Totals {
    pub(super) calls: u32,
    pub(super) failures: u32,
    pub(super) slow: u32,
}

#[derive(Debug)]
pub(super) struct Window {
    origin: Instant,
    bucket: Duration,
    buckets: [Bucket; BUCKETS],
}

impl Window {
    pub(super) fn new(window: Duration) -> Self {
        let bucket = (window / BUCKETS as u32).max(Duration::from_millis(1));
        Self {
            origin: Instant::now(),
            bucket,
            buckets: [Bucket::default(); BUCKETS],
        }
    }

    fn epoch(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.origin);
        u64::try_from(since.as_nanos() / self.bucket.as_nanos()).unwrap_or(u64::MAX)
    }

    pub(super) fn add(&mut self, now: Instant, failed: bool, slow: bool) {
        let epoch = self.epoch(now);
        let slot = &mut self.buckets[(epoch % BUCKETS as u64) as usize];
        if slot.epoch != epoch {
            *slot = Bucket {
                epoch,
                ..Bucket::default()
            };
        }
        slot.calls = slot.calls.saturating_add(1);
        slot.failures = slot.failures.saturating_add(u32::from(failed));
        slot.slow = slot.slow.saturating_add(u32::from(slow));
    }

    pub(super) fn totals(&self, now: Instant) -> Totals {
        let epoch = self.epoch(now);
        let oldest = epoch.saturating_sub(BUCKETS as u64 - 1);
        self.buckets
            .iter()
            .filter(|b| b.calls > 0 && (oldest..=epoch).contains(&b.epoch))
            .fold(Totals::default(), |t, b| Totals {
                calls: t.calls.saturating_add(b.calls),
                failures: t.failures.saturating_add(b.failures),
                slow: t.slow.saturating_add(b.slow),
            })
    }

    pub(super) fn clear(&mut self) {
        self.buckets = [Bucket::default(); BUCKETS];
    }
}
