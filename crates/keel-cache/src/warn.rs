//! Rate-limited warnings, so a Redis outage logs a line now and then, not one per call.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::clock::Clock;

const EVERY_MS: u64 = 10_000;

/// Lets one warning through per interval and counts the ones it held back.
#[derive(Debug)]
pub(crate) struct WarnLimiter {
    clock: Clock,
    next_ms: AtomicU64,
    held_back: AtomicU64,
}

impl WarnLimiter {
    pub(crate) fn new(clock: Clock) -> Self {
        Self {
            clock,
            next_ms: AtomicU64::new(0),
            held_back: AtomicU64::new(0),
        }
    }

    /// `Some(held back since the last one)` when a warning may be logged now.
    pub(crate) fn permit(&self) -> Option<u64> {
        let now = self.clock.now_ms();
        let next = self.next_ms.load(Relaxed);
        if now >= next
            && self
                .next_ms
                .compare_exchange(next, now + EVERY_MS, Relaxed, Relaxed)
                .is_ok()
        {
            return Some(self.held_back.swap(0, Relaxed));
        }
        self.held_back.fetch_add(1, Relaxed);
        None
    }
}
