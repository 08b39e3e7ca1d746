//! Building a [`Cache`].

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cache::{Cache, Inner, Shared};
use crate::clock::Clock;
use crate::generations::Generations;
use crate::l1;
use crate::l2::{L2, RedisConfig, subscriber};
use crate::stats::Stats;

/// Why a cache could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Redis URLs do not parse.
    #[error("invalid Redis configuration: {0}")]
    Redis(#[from] redis::RedisError),
    /// A cache with Redis starts background tasks: build it inside a Tokio runtime.
    #[error("a cache with Redis must be built inside a Tokio runtime")]
    NoRuntime,
}

/// Settings of a [`Cache`]; see [`Cache::builder`].
#[derive(Debug)]
pub struct CacheBuilder {
    l1_max_bytes: u64,
    max_value_bytes: usize,
    redis: Option<RedisConfig>,
}

impl Default for CacheBuilder {
    fn default() -> Self {
        Self {
            l1_max_bytes: 64 * 1024 * 1024,
            max_value_bytes: 1024 * 1024,
            redis: None,
        }
    }
}

impl CacheBuilder {
    /// Bytes L1 may hold, values plus a fixed overhead per entry (default 64 MiB; 0 disables L1).
    pub fn l1_max_bytes(mut self, bytes: u64) -> Self {
        self.l1_max_bytes = bytes;
        self
    }

    /// Largest value `put` stores (default 1 MiB); larger ones are counted and dropped.
    pub fn max_value_bytes(mut self, bytes: usize) -> Self {
        self.max_value_bytes = bytes;
        self
    }

    /// Adds Redis as L2.
    pub fn redis(mut self, config: RedisConfig) -> Self {
        self.redis = Some(config);
        self
    }

    /// Builds the cache without waiting for Redis: until it answers, the cache is L1 only.
    pub fn build(self) -> Result<Cache, BuildError> {
        let clock = Clock::new();
        let stats = Arc::new(Stats::default());
        let l1 = (self.l1_max_bytes > 0)
            .then(|| l1::build(self.l1_max_bytes, clock, Arc::clone(&stats)));
        let runtime = tokio::runtime::Handle::try_current();
        if self.redis.is_some() && runtime.is_err() {
            return Err(BuildError::NoRuntime);
        }
        let l2 = match self.redis {
            Some(config) => {
                let writes = Semaphore::new(config.max_writes_in_flight.max(1));
                Some((
                    Arc::new(L2::new(config, clock, Arc::clone(&stats))?),
                    Arc::new(writes),
                ))
            }
            None => None,
        };
        let shared = Arc::new(Shared {
            l1,
            generations: Generations::default(),
            stats,
            l2,
            clock,
            max_value_bytes: self.max_value_bytes,
            node: RandomState::new().hash_one(clock.now_ms()),
            l2_ready: AtomicBool::new(false),
        });
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        if let Some((l2, _)) = &shared.l2 {
            if let Some(connector) = l2.cluster_connector(cancel.clone()) {
                tasks.spawn(connector);
            }
            tasks.spawn(subscriber::run(
                Arc::clone(&shared),
                Arc::clone(l2),
                cancel.clone(),
            ));
        }
        Ok(Cache::from_inner(Inner {
            shared,
            cancel,
            tasks,
        }))
    }
}
