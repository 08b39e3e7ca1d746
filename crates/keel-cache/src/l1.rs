//! The in-process level: a moka cache weighed in bytes, whose entries live for their
//! current freshness plus their stale window.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::future::Cache as Moka;
use moka::notification::RemovalCause;

use crate::clock::Clock;
use crate::entry::Entry;
use crate::key::CacheKey;
use crate::stats::Stats;

/// An entry in L1 and the fresh hits it has had here.
#[derive(Debug)]
pub(crate) struct L1Value {
    pub(crate) entry: Arc<Entry>,
    pub(crate) hits: AtomicU64,
}

pub(crate) type L1 = Moka<CacheKey, Arc<L1Value>>;

/// Physical lifetime = the freshness the entry's hits have earned + its stale window,
/// from `stored_at`. Lookups still check age themselves: this only frees memory.
struct Lifetime {
    clock: Clock,
}

impl Lifetime {
    fn remaining(&self, value: &L1Value, hits: u64) -> Duration {
        let entry = &value.entry;
        let lifetime = entry
            .stored_policy()
            .fresh_for(hits)
            .saturating_add(entry.stale_for);
        let end = entry
            .stored_at
            .saturating_add(u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX));
        Duration::from_millis(end.saturating_sub(self.clock.now_ms()))
    }
}

impl Expiry<CacheKey, Arc<L1Value>> for Lifetime {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        value: &Arc<L1Value>,
        _at: Instant,
    ) -> Option<Duration> {
        Some(self.remaining(value, value.hits.load(Relaxed)))
    }

    fn expire_after_read(
        &self,
        _key: &CacheKey,
        value: &Arc<L1Value>,
        _at: Instant,
        _until_expiry: Option<Duration>,
        _modified_at: Instant,
    ) -> Option<Duration> {
        // The read under way is counted after moka returns: allow for it now.
        Some(self.remaining(value, value.hits.load(Relaxed).saturating_add(1)))
    }

    fn expire_after_update(
        &self,
        _key: &CacheKey,
        value: &Arc<L1Value>,
        _at: Instant,
        _until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.remaining(value, value.hits.load(Relaxed)))
    }
}

/// An L1 of at most `max_bytes` (as weighed by [`Entry::weight`]).
pub(crate) fn build(max_bytes: u64, clock: Clock, stats: Arc<Stats>) -> L1 {
    Moka::builder()
        .max_capacity(max_bytes)
        .weigher(|_key, value: &Arc<L1Value>| {
            u32::try_from(value.entry.weight()).unwrap_or(u32::MAX)
        })
        .expire_after(Lifetime { clock })
        .eviction_listener(move |_key, _value, cause| {
            if matches!(cause, RemovalCause::Size | RemovalCause::Expired) {
                stats.l1.evictions.fetch_add(1, Relaxed);
            }
        })
        .build()
}
