//! Buckets every node shares, kept in Redis.
//!
//! One Lua script checks all the buckets a request falls in (GCRA, as governor does in
//! process) and spends from them only when all allow it, so a request refused by one limit
//! costs nothing from the others. Redis's own clock (`TIME`) times every bucket, so the
//! nodes' clocks need not agree. A bucket Redis refused is refused locally until the wait it
//! named has passed (nothing can refill it sooner), so a flood past a limit costs Redis one
//! check per wait rather than one per request. The connection is guarded as the dependency
//! `redis:rate_limits`: a breaker fails fast while Redis is down, and [`OnStoreFailure`]
//! decides what a request gets meanwhile.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use keel_core::Failure;
use keel_resilience::{Dependency, Idempotency};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::RateQuota;

/// The name the shared store's guard goes by in status, metrics and logs.
pub const RATE_LIMIT_STORE: &str = "redis:rate_limits";

/// What a request gets while the shared store cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnStoreFailure {
    /// Each node applies the limits alone (a cluster of N nodes then allows up to N times
    /// the rate).
    #[default]
    Local,
    /// Every request passes (fail open).
    Allow,
    /// Every limited request is refused (fail closed).
    Refuse,
}

/// Where the shared buckets live and how long a check may take.
#[derive(Debug, Clone)]
pub struct SharedStoreConfig {
    /// `redis://host:port[/db]`.
    pub url: String,
    /// Prepended to every key, to share one Redis among deployments.
    pub key_prefix: String,
    /// Longest a check may take before [`OnStoreFailure`] decides.
    pub timeout: Duration,
    /// What a request gets while Redis cannot answer.
    pub on_failure: OnStoreFailure,
}

/// GCRA over several buckets at once. `ARGV` holds, per key, the emission interval and the
/// burst tolerance (interval × burst), in microseconds. Returns `{0, 0}` when every bucket
/// allows the request (and spends from each), or `{i, wait}`: bucket `i` (1-based) refuses
/// for `wait` more microseconds.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tats = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local tolerance = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  local next_tat = tat + interval
  local allow_at = next_tat - tolerance
  if allow_at > now then
    return {i, allow_at - now}
  end
  tats[i] = next_tat
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], string.format('%d', tats[i]), 'PX', math.ceil((tats[i] - now) / 1000) + 1000)
end
return {0, 0}
";

/// The connection and script behind shared buckets.
pub(crate) struct SharedStore {
    connection: ConnectionManager,
    script: redis::Script,
    pub(crate) key_prefix: String,
    pub(crate) guard: Dependency,
    pub(crate) on_failure: OnStoreFailure,
    timeout: Duration,
    /// Buckets Redis refused, by key, with when they may allow a request again.
    refused_until: Mutex<HashMap<String, Instant>>,
}

/// Buckets remembered as refused before the expired ones are swept.
const REFUSED_SWEEP_AT: usize = 4096;

/// One bucket a request falls in.
pub(crate) struct Bucket {
    pub(crate) key: String,
    pub(crate) quota: RateQuota,
}

impl SharedStore {
    /// A lazily connecting store; `guard` is the dependency `redis:rate_limits`.
    pub(crate) fn new(config: &SharedStoreConfig, guard: Dependency) -> redis::RedisResult<Self> {
        let client = redis::Client::open(config.url.as_str())?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout.max(Duration::from_millis(100))))
            .set_response_timeout(Some(config.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        Ok(Self {
            connection: ConnectionManager::new_lazy_with_config(client, manager)?,
            script: redis::Script::new(GCRA),
            key_prefix: config.key_prefix.clone(),
            guard,
            on_failure: config.on_failure,
            timeout: config.timeout,
            refused_until: Mutex::new(HashMap::new()),
        })
    }

    /// `Ok(None)` when every bucket allows the request, `Ok(Some((i, wait)))` when bucket `i`
    /// refuses it for `wait`.
    pub(crate) async fn check(
        &self,
        buckets: &[&Bucket],
    ) -> Result<Option<(usize, Duration)>, Failure> {
        if let Some(refused) = self.still_refused(buckets) {
            return Ok(Some(refused));
        }
        let mut invocation = self.script.prepare_invoke();
        for b in buckets {
            let interval = (1_000_000 / u64::from(b.quota.per_second.get())).max(1);
            invocation
                .key(b.key.as_str())
                .arg(interval)
                .arg(interval * u64::from(b.quota.burst.get()));
        }
        let timeout = self.timeout;
        // Spending tokens is not idempotent: never retried.
        let (index, wait_us): (usize, u64) = self
            .guard
            .call(Idempotency::NotIdempotent, || {
                let mut connection = self.connection.clone();
                let invocation = &invocation;
                async move {
                    match tokio::time::timeout(
                        timeout,
                        invocation.invoke_async::<(usize, u64)>(&mut connection),
                    )
                    .await
                    {
                        Ok(Ok(answer)) => Ok(answer),
                        Ok(Err(error)) if error.is_timeout() => {
                            Err(Failure::timed_out(timeout, error.to_string()))
                        }
                        Ok(Err(error)) => {
                            Err(Failure::dependency(RATE_LIMIT_STORE, error.to_string()))
                        }
                        Err(_) => Err(Failure::timed_out(timeout, "rate-limit check timed out")),
                    }
                }
            })
            .await?;
        Ok(match index {
            0 => None,
            i => {
                let wait = Duration::from_micros(wait_us);
                if let Some(bucket) = buckets.get(i - 1) {
                    self.remember_refused(&bucket.key, wait);
                }
                Some((i - 1, wait))
            }
        })
    }

    /// The first bucket still refused from an earlier answer, and for how long.
    fn still_refused(&self, buckets: &[&Bucket]) -> Option<(usize, Duration)> {
        let refused = self
            .refused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if refused.is_empty() {
            return None;
        }
        let now = Instant::now();
        buckets.iter().enumerate().find_map(|(i, b)| {
            let until = *refused.get(&b.key)?;
            (until > now).then(|| (i, until - now))
        })
    }

    fn remember_refused(&self, key: &str, wait: Duration) {
        let now = Instant::now();
        let mut refused = self
            .refused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if refused.len() >= REFUSED_SWEEP_AT {
            refused.retain(|_, until| *until > now);
        }
        refused.insert(key.to_owned(), now + wait);
    }
}
