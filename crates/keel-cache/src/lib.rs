//! A two-level byte cache: an in-process L1 (moka, bounded in bytes) and an optional Redis
//! L2 (standalone or cluster) shared by every node.
//!
//! Values are opaque bytes under caller-computed 32-byte keys. Freshness adapts to hits
//! within a [`TtlPolicy`]; entries past freshness may be served stale for a while.
//! Invalidation is by key, by tag and by glob over tag names, through versioned tag
//! generations (never scans of the data) and Redis pub/sub between nodes. Redis is optional
//! and may fail at any time: every Redis operation has a short deadline and a breaker, and
//! its failures are counted, never returned.
//!
//! This crate knows nothing of MCP: callers compute keys and decide what to cache.

#![forbid(unsafe_code)]

mod breaker;
mod builder;
mod cache;
mod clock;
mod codec;
mod entry;
mod generations;
mod glob;
mod key;
mod l1;
mod l2;
mod lookup;
mod stats;
mod ttl;
mod warn;

pub use breaker::BreakerConfig;
pub use builder::{BuildError, CacheBuilder};
pub use cache::Cache;
pub use codec::{CodecError, decode as decode_entry, encode as encode_entry};
pub use entry::Entry;
pub use key::{CacheKey, Tag};
pub use l2::{RedisConfig, Topology};
pub use lookup::{Level, Lookup};
pub use stats::{HotKey, LevelStats, NamespaceStats, OTHER_NAMESPACE, StatsSnapshot};
pub use ttl::TtlPolicy;
