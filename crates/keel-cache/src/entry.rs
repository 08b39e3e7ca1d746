//! A cached value and what decides its freshness.

use std::time::Duration;

use bytes::Bytes;

use crate::key::Tag;
use crate::ttl::TtlPolicy;

/// One cached value: opaque bytes plus their lifetimes and tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The cached bytes, never looked into.
    pub value: Bytes,
    /// When the value was stored, in unix milliseconds (set by `Cache::put`).
    pub stored_at: u64,
    /// Freshness before any hit (the policy's `min` at store time).
    pub fresh_for: Duration,
    /// The most freshness hits can earn (the policy's `max` at store time); with `stale_for`
    /// it bounds how long any level keeps the entry.
    pub fresh_max: Duration,
    /// How long past its freshness the entry may still be served as stale.
    pub stale_for: Duration,
    /// Tags whose invalidation drops this entry.
    pub tags: Vec<Tag>,
    /// Each tag's generation when the entry was stored, in `tags` order.
    pub(crate) generations: Vec<u64>,
}

impl Entry {
    /// An entry whose freshness follows `ttl`, servable as stale for `stale_for` after.
    pub fn new(value: Bytes, ttl: &TtlPolicy, stale_for: Duration, tags: Vec<Tag>) -> Self {
        Self {
            value,
            stored_at: 0,
            fresh_for: ttl.min,
            fresh_max: ttl.max.max(ttl.min),
            stale_for,
            tags,
            generations: Vec::new(),
        }
    }

    /// Each tag's generation at store time, in `tags` order (empty before `Cache::put`).
    pub fn generations(&self) -> &[u64] {
        &self.generations
    }

    /// The longest any level needs to keep the entry: `fresh_max + stale_for`.
    pub fn max_lifetime(&self) -> Duration {
        self.fresh_max.saturating_add(self.stale_for)
    }

    /// The policy the entry was stored with.
    pub(crate) fn stored_policy(&self) -> TtlPolicy {
        TtlPolicy::new(self.fresh_for, self.fresh_max)
    }

    /// Bytes the entry holds, for the L1 weigher (value plus tags plus fixed overhead).
    pub(crate) fn weight(&self) -> u64 {
        const OVERHEAD: u64 = 128;
        let tags: usize = self.tags.iter().map(|tag| tag.as_str().len() + 24).sum();
        OVERHEAD + self.value.len() as u64 + tags as u64
    }
}

/// How far along its life an entry is at a given moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Age {
    Fresh,
    Stale,
    Expired,
}

/// The age of an entry stored at `stored_at` with freshness `fresh` at `now_ms`.
pub(crate) fn age(entry: &Entry, fresh: Duration, now_ms: u64) -> Age {
    let age = Duration::from_millis(now_ms.saturating_sub(entry.stored_at));
    if age < fresh {
        Age::Fresh
    } else if age < fresh.saturating_add(entry.stale_for) {
        Age::Stale
    } else {
        Age::Expired
    }
}

/// The freshness `policy` grants after `hits`, never past what the entry was stored with.
pub(crate) fn fresh_for(entry: &Entry, policy: &TtlPolicy, hits: u64) -> Duration {
    let ceiling = TtlPolicy::new(policy.min, policy.max.min(entry.fresh_max));
    ceiling.fresh_for(hits)
}
