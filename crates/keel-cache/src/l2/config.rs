//! How to reach Redis.

use std::time::Duration;

use crate::breaker::BreakerConfig;

/// One Redis server or a Redis Cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Topology {
    /// One server, e.g. `redis://127.0.0.1:6379/`.
    Standalone(String),
    /// Seed nodes of a cluster; the others are discovered.
    Cluster(Vec<String>),
}

/// The L2 level's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisConfig {
    /// Where Redis is.
    pub topology: Topology,
    /// Prefix of every key and of the invalidation channel (default `keel:`).
    pub key_prefix: String,
    /// Deadline of each Redis operation (default 50 ms).
    pub op_timeout: Duration,
    /// Deadline of each connection attempt (default 1 s); connecting never blocks a lookup.
    pub connect_timeout: Duration,
    /// When to stop asking a failing Redis for a while.
    pub breaker: BreakerConfig,
    /// Redis writes from `put` in flight at once; more are dropped (default 256).
    pub max_writes_in_flight: usize,
}

impl RedisConfig {
    /// Defaults for `topology`.
    pub fn new(topology: Topology) -> Self {
        Self {
            topology,
            key_prefix: "keel:".to_owned(),
            op_timeout: Duration::from_millis(50),
            connect_timeout: Duration::from_secs(1),
            breaker: BreakerConfig::default(),
            max_writes_in_flight: 256,
        }
    }

    /// Defaults for one server at `url`.
    pub fn standalone(url: impl Into<String>) -> Self {
        Self::new(Topology::Standalone(url.into()))
    }

    /// Defaults for a cluster seeded by `urls`.
    pub fn cluster<I, S>(urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(Topology::Cluster(
            urls.into_iter().map(Into::into).collect(),
        ))
    }
}
