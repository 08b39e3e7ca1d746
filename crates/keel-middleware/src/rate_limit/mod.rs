//! Rate limits at the request-level policy point: token buckets (GCRA) per principal, per
//! tool, and per principal × tool, in process (governor) or shared by every node through
//! Redis ([`SharedStoreConfig`]). A refused request gets the one rate-limit error, JSON-RPC
//! `-32029` with `retryAfterMs`, which HTTP answers 429 with `Retry-After`.
//!
//! tower's `RateLimit` delays a whole service rather than refusing per key, so governor's
//! keyed limiter is used instead.

mod shared;

pub use shared::{OnStoreFailure, RATE_LIMIT_STORE, SharedStoreConfig};

use std::collections::HashMap;
use std::convert::Infallible;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use keel_core::{BoxFuture, MethodRequest, Reply};
use keel_protocol::{ErrorCode, RpcError, methods};
use keel_resilience::Dependency;
use tower::{Layer, Service};

use shared::{Bucket, SharedStore};

/// A sustained rate and the burst above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateQuota {
    /// Requests per second, sustained.
    pub per_second: NonZeroU32,
    /// Requests allowed at once above the rate.
    pub burst: NonZeroU32,
}

impl RateQuota {
    fn quota(self) -> Quota {
        Quota::per_second(self.per_second).allow_burst(self.burst)
    }
}

/// Which limits apply.
#[derive(Debug, Clone, Default)]
pub struct RateLimits {
    /// Every request of one principal, whatever the method.
    pub per_principal: Option<RateQuota>,
    /// Calls of one tool, all principals together.
    pub per_tool: HashMap<String, RateQuota>,
    /// Calls of one tool by one principal.
    pub per_principal_tool: HashMap<String, RateQuota>,
}

impl RateLimits {
    /// Whether any limit is set (the layer is left out otherwise).
    pub fn is_empty(&self) -> bool {
        self.per_principal.is_none()
            && self.per_tool.is_empty()
            && self.per_principal_tool.is_empty()
    }
}

struct Limiters {
    principal: Option<DefaultKeyedRateLimiter<String>>,
    tools: HashMap<String, DefaultKeyedRateLimiter<()>>,
    principal_tools: HashMap<String, DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
    limits: RateLimits,
    shared: Option<SharedStore>,
    /// When the store's failure was last logged (ms since `started`), to log once a second.
    warned_at: AtomicU64,
    started: Instant,
}

/// Wraps the request service with [`RateLimitService`].
#[derive(Clone)]
pub struct RateLimitLayer {
    limiters: Arc<Limiters>,
}

impl std::fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitLayer").finish_non_exhaustive()
    }
}

impl RateLimitLayer {
    /// Limiters for `limits`, shared by every node through Redis; `guard` is the dependency
    /// [`RATE_LIMIT_STORE`], whose breaker fails fast while Redis is down.
    ///
    /// # Errors
    /// A URL Redis's client refuses, or no Tokio runtime to connect from.
    pub fn shared(
        limits: &RateLimits,
        store: &SharedStoreConfig,
        guard: Dependency,
    ) -> Result<Self, redis::RedisError> {
        let mut layer = Self::new(limits);
        let limiters = Arc::get_mut(&mut layer.limiters).expect("just built");
        limiters.shared = Some(SharedStore::new(store, guard)?);
        Ok(layer)
    }

    /// Limiters for `limits`, in process.
    pub fn new(limits: &RateLimits) -> Self {
        let keyed =
            |q: &RateQuota| -> DefaultKeyedRateLimiter<String> { RateLimiter::keyed(q.quota()) };
        let shared =
            |q: &RateQuota| -> DefaultKeyedRateLimiter<()> { RateLimiter::keyed(q.quota()) };
        Self {
            limiters: Arc::new(Limiters {
                principal: limits.per_principal.as_ref().map(keyed),
                tools: limits
                    .per_tool
                    .iter()
                    .map(|(t, q)| (t.clone(), shared(q)))
                    .collect(),
                principal_tools: limits
                    .per_principal_tool
                    .iter()
                    .map(|(t, q)| (t.clone(), keyed(q)))
                    .collect(),
                clock: DefaultClock::default(),
                limits: limits.clone(),
                shared: None,
                warned_at: AtomicU64::new(0),
                started: Instant::now(),
            }),
        }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            limiters: Arc::clone(&self.limiters),
        }
    }
}

/// See the [module](self) documentation.
#[derive(Clone)]
pub struct RateLimitService<S> {
    inner: S,
    limiters: Arc<Limiters>,
}

impl<S> Service<MethodRequest> for RateLimitService<S>
where
    S: Service<MethodRequest, Response = Reply, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Reply;
    type Error = Infallible;
    type Future = BoxFuture<Result<Reply, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: MethodRequest) -> Self::Future {
        let Some(store) = &self.limiters.shared else {
            if let Some((limit, wait)) = self.limiters.refuse(&request) {
                return Box::pin(std::future::ready(Ok(refusal(&request, limit, wait))));
            }
            return Box::pin(self.inner.call(request));
        };
        let buckets = self.limiters.buckets(&request, &store.key_prefix);
        if buckets.is_empty() {
            return Box::pin(self.inner.call(request));
        }
        // The ready service goes into the future; its clone waits for the next poll_ready.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let limiters = Arc::clone(&self.limiters);
        Box::pin(async move {
            let store = limiters.shared.as_ref().expect("checked above");
            match store
                .check(&buckets.iter().map(|(_, b)| b).collect::<Vec<_>>())
                .await
            {
                Ok(None) => {}
                Ok(Some((i, wait))) => return Ok(refusal(&request, buckets[i].0, wait)),
                Err(failure) => {
                    limiters.warn_store_failure(&failure);
                    match store.on_failure {
                        OnStoreFailure::Allow => {}
                        OnStoreFailure::Refuse => {
                            return Ok(refusal(&request, "unavailable", Duration::from_secs(1)));
                        }
                        OnStoreFailure::Local => {
                            if let Some((limit, wait)) = limiters.refuse(&request) {
                                return Ok(refusal(&request, limit, wait));
                            }
                        }
                    }
                }
            }
            inner.call(request).await
        })
    }
}

/// The one rate-limit answer: `-32029` with the limit and `retryAfterMs`, and the wait for
/// HTTP's `Retry-After`.
fn refusal(request: &MethodRequest, limit: &str, wait: Duration) -> Reply {
    let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
    let error = RpcError::new(ErrorCode::RATE_LIMITED, "Rate limit exceeded").with_data(
        serde_json::json!({ "kind": "rate_limited", "limit": limit, "retryAfterMs": ms, "retryable": true }),
    );
    let mut reply = request.refuse(&error);
    reply.retry_after = Some(wait);
    reply
}

impl Limiters {
    /// The shared buckets `request` falls in, each with the limit it enforces.
    fn buckets(&self, request: &MethodRequest, prefix: &str) -> Vec<(&'static str, Bucket)> {
        let key = request.principal().key();
        let mut buckets = Vec::new();
        if let Some(quota) = self.limits.per_principal {
            buckets.push((
                "principal",
                Bucket {
                    key: format!("{prefix}rl:p:{key}"),
                    quota,
                },
            ));
        }
        if request.method() != methods::TOOLS_CALL {
            return buckets;
        }
        let Some(tool) = request.target() else {
            return buckets;
        };
        if let Some(&quota) = self.limits.per_tool.get(tool) {
            buckets.push((
                "tool",
                Bucket {
                    key: format!("{prefix}rl:t:{tool}"),
                    quota,
                },
            ));
        }
        if let Some(&quota) = self.limits.per_principal_tool.get(tool) {
            buckets.push((
                "principal_tool",
                Bucket {
                    key: format!("{prefix}rl:pt:{tool}:{key}"),
                    quota,
                },
            ));
        }
        buckets
    }

    fn warn_store_failure(&self, failure: &keel_core::Failure) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.warned_at.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= 1000)
            && self
                .warned_at
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                %failure,
                on_failure = ?self.shared.as_ref().map(|s| s.on_failure),
                "shared rate limits unavailable"
            );
        }
    }

    /// The limit a request runs into and how long until it would pass, if it does.
    fn refuse(&self, request: &MethodRequest) -> Option<(&'static str, Duration)> {
        let key = request.principal().key();
        let now = self.clock.now();
        if let Some(l) = &self.principal
            && let Err(not_until) = l.check_key(&key.to_owned())
        {
            return Some(("principal", not_until.wait_time_from(now)));
        }
        if request.method() != methods::TOOLS_CALL {
            return None;
        }
        let tool = request.target()?;
        if let Some(l) = self.tools.get(tool)
            && let Err(not_until) = l.check_key(&())
        {
            return Some(("tool", not_until.wait_time_from(now)));
        }
        if let Some(l) = self.principal_tools.get(tool)
            && let Err(not_until) = l.check_key(&key.to_owned())
        {
            return Some(("principal_tool", not_until.wait_time_from(now)));
        }
        None
    }
}

#[cfg(test)]
mod tests;
