//! Counters the batcher keeps, for metrics and for tests that wait on progress.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A snapshot of the batcher's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatcherStats {
    /// Texts admitted and not yet answered or abandoned (compare with the queue capacity).
    pub queued_texts: usize,
    /// Texts tokenized and waiting for a batch.
    pub waiting_texts: usize,
    /// Batches being run now.
    pub running_batches: usize,
    /// Batches run since start.
    pub batches: u64,
    /// Texts embedded since start.
    pub embedded_texts: u64,
    /// Texts skipped because their caller gave up before their batch ran.
    pub skipped_texts: u64,
}

/// The live counters behind [`BatcherStats`].
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) waiting_texts: AtomicUsize,
    pub(crate) running_batches: AtomicUsize,
    pub(crate) batches: AtomicU64,
    pub(crate) embedded_texts: AtomicU64,
    pub(crate) skipped_texts: AtomicU64,
}

impl Stats {
    pub(crate) fn snapshot(&self, queued_texts: usize) -> BatcherStats {
        BatcherStats {
            queued_texts,
            waiting_texts: self.waiting_texts.load(Ordering::Acquire),
            running_batches: self.running_batches.load(Ordering::Acquire),
            batches: self.batches.load(Ordering::Acquire),
            embedded_texts: self.embedded_texts.load(Ordering::Acquire),
            skipped_texts: self.skipped_texts.load(Ordering::Acquire),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::AcqRel);
    }
}
