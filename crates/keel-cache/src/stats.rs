//! Counters, per-namespace counts and the hottest keys.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use dashmap::DashMap;
use serde::Serialize;

use crate::key::CacheKey;

/// Namespaces tracked one by one; later ones are counted under [`OTHER_NAMESPACE`].
const MAX_NAMESPACES: usize = 256;
/// The namespace that counts lookups past the tracked ones.
pub const OTHER_NAMESPACE: &str = "(other)";
/// How many of the hottest keys are kept.
const HOT_KEYS: usize = 16;

#[derive(Debug, Default)]
pub(crate) struct LevelCounters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) stale_hits: AtomicU64,
    pub(crate) inserts: AtomicU64,
    pub(crate) evictions: AtomicU64,
}

impl LevelCounters {
    fn snapshot(&self, entries: u64, bytes: u64) -> LevelStats {
        LevelStats {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            stale_hits: self.stale_hits.load(Relaxed),
            inserts: self.inserts.load(Relaxed),
            evictions: self.evictions.load(Relaxed),
            entries,
            bytes,
        }
    }
}

#[derive(Debug, Default)]
struct NamespaceCounters {
    hits: AtomicU64,
    misses: AtomicU64,
    stale_hits: AtomicU64,
    inserts: AtomicU64,
}

/// Every counter of one cache (shared by its clones).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) l1: LevelCounters,
    pub(crate) l2: LevelCounters,
    pub(crate) l2_errors: AtomicU64,
    pub(crate) l2_skipped: AtomicU64,
    pub(crate) l2_writes_dropped: AtomicU64,
    pub(crate) oversize: AtomicU64,
    pub(crate) invalidated: AtomicU64,
    pub(crate) resyncs: AtomicU64,
    pub(crate) subscribed: AtomicBool,
    namespaces: DashMap<Arc<str>, NamespaceCounters>,
    hot: Mutex<Vec<(CacheKey, u64)>>,
}

/// How a lookup ended, for the namespace counters.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Outcome {
    Hit,
    Stale,
    Miss,
}

impl Stats {
    pub(crate) fn count_namespace(&self, namespace: &str, outcome: Outcome) {
        self.with_namespace(namespace, |counters| match outcome {
            Outcome::Hit => &counters.hits,
            Outcome::Stale => &counters.stale_hits,
            Outcome::Miss => &counters.misses,
        });
    }

    pub(crate) fn count_namespace_insert(&self, namespace: &str) {
        self.with_namespace(namespace, |counters| &counters.inserts);
    }

    fn with_namespace(&self, namespace: &str, counter: impl Fn(&NamespaceCounters) -> &AtomicU64) {
        if let Some(counters) = self.namespaces.get(namespace) {
            counter(&counters).fetch_add(1, Relaxed);
            return;
        }
        let name = if self.namespaces.len() < MAX_NAMESPACES {
            namespace
        } else {
            OTHER_NAMESPACE
        };
        counter(&self.namespaces.entry(Arc::from(name)).or_default()).fetch_add(1, Relaxed);
    }

    /// Records that `key` now has `hits` hits. Skipped when another thread holds the list:
    /// the list is a sample, not worth contention on the hit path.
    pub(crate) fn record_hot(&self, key: CacheKey, hits: u64) {
        let Ok(mut hot) = self.hot.try_lock() else {
            return;
        };
        if let Some(slot) = hot.iter_mut().find(|(known, _)| *known == key) {
            slot.1 = slot.1.max(hits);
        } else if hot.len() < HOT_KEYS {
            hot.push((key, hits));
        } else if let Some(coldest) = hot.iter_mut().min_by_key(|(_, count)| *count)
            && coldest.1 < hits
        {
            *coldest = (key, hits);
        }
    }

    pub(crate) fn forget_hot(&self, key: &CacheKey) {
        if let Ok(mut hot) = self.hot.lock() {
            hot.retain(|(known, _)| known != key);
        }
    }

    pub(crate) fn snapshot(&self, l1_entries: u64, l1_bytes: u64) -> StatsSnapshot {
        let namespaces = self
            .namespaces
            .iter()
            .map(|slot| {
                let counters = slot.value();
                let stats = NamespaceStats {
                    hits: counters.hits.load(Relaxed),
                    misses: counters.misses.load(Relaxed),
                    stale_hits: counters.stale_hits.load(Relaxed),
                    inserts: counters.inserts.load(Relaxed),
                };
                (slot.key().to_string(), stats)
            })
            .collect();
        let mut hot: Vec<HotKey> = self
            .hot
            .lock()
            .map(|hot| {
                hot.iter()
                    .map(|(key, hits)| HotKey {
                        key: key.to_string(),
                        hits: *hits,
                    })
                    .collect()
            })
            .unwrap_or_default();
        hot.sort_by(|a, b| b.hits.cmp(&a.hits).then_with(|| a.key.cmp(&b.key)));
        StatsSnapshot {
            l1: self.l1.snapshot(l1_entries, l1_bytes),
            l2: self.l2.snapshot(0, 0),
            l2_errors: self.l2_errors.load(Relaxed),
            l2_skipped: self.l2_skipped.load(Relaxed),
            l2_writes_dropped: self.l2_writes_dropped.load(Relaxed),
            oversize: self.oversize.load(Relaxed),
            invalidated: self.invalidated.load(Relaxed),
            resyncs: self.resyncs.load(Relaxed),
            subscribed: self.subscribed.load(Relaxed),
            namespaces,
            hottest: hot,
        }
    }
}

/// Counters of one level.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LevelStats {
    /// Fresh answers.
    pub hits: u64,
    /// Lookups this level could not answer.
    pub misses: u64,
    /// Stale answers.
    pub stale_hits: u64,
    /// Entries written.
    pub inserts: u64,
    /// Entries dropped for size or age (L1 only).
    pub evictions: u64,
    /// Entries held now (L1 only; 0 for L2).
    pub entries: u64,
    /// Bytes held now, as weighed (L1 only; 0 for L2).
    pub bytes: u64,
}

/// Counters of one namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NamespaceStats {
    /// Fresh answers.
    pub hits: u64,
    /// Lookups with no usable entry.
    pub misses: u64,
    /// Stale answers.
    pub stale_hits: u64,
    /// Entries stored.
    pub inserts: u64,
}

/// One of the hottest keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HotKey {
    /// The key in hex.
    pub key: String,
    /// Its fresh L1 hits.
    pub hits: u64,
}

/// A copy of every counter at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    /// The in-process level.
    pub l1: LevelStats,
    /// The Redis level.
    pub l2: LevelStats,
    /// Redis operations that failed or timed out.
    pub l2_errors: u64,
    /// Redis operations not tried (breaker open, not connected or resynced yet).
    pub l2_skipped: u64,
    /// Redis writes dropped because too many were in flight.
    pub l2_writes_dropped: u64,
    /// Values refused by `put` for their size.
    pub oversize: u64,
    /// Entries found but dead because a tag of theirs was invalidated.
    pub invalidated: u64,
    /// Times the subscriber re-read all generations after (re)subscribing.
    pub resyncs: u64,
    /// Whether the invalidation subscriber is listening and has re-read the generations
    /// (lookups read Redis only then).
    pub subscribed: bool,
    /// Lookups per namespace.
    pub namespaces: BTreeMap<String, NamespaceStats>,
    /// The hottest keys, hottest first.
    pub hottest: Vec<HotKey>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hot_keys_stay_bounded_and_keep_the_hottest() {
        let stats = Stats::default();
        for n in 0..100u8 {
            let mut raw = [0u8; 32];
            raw[0] = n;
            stats.record_hot(CacheKey(raw), u64::from(n));
        }
        let snapshot = stats.snapshot(0, 0);
        assert_eq!(snapshot.hottest.len(), HOT_KEYS);
        assert_eq!(snapshot.hottest[0].hits, 99);
        assert!(snapshot.hottest.iter().all(|hot| hot.hits >= 84));
    }

    #[test]
    fn namespaces_are_bounded() {
        let stats = Stats::default();
        for n in 0..(MAX_NAMESPACES + 10) {
            stats.count_namespace(&format!("tool{n}"), Outcome::Miss);
        }
        let snapshot = stats.snapshot(0, 0);
        assert_eq!(snapshot.namespaces.len(), MAX_NAMESPACES + 1);
        assert_eq!(snapshot.namespaces[OTHER_NAMESPACE].misses, 10);
    }
}
