//! Rate limits at the request-level policy point: token buckets (governor's GCRA) per
//! principal, per tool, and per principal × tool, in process. A refused request gets the one
//! rate-limit error, JSON-RPC `-32029` with `retryAfterMs`, which HTTP answers 429 with
//! `Retry-After`.
//!
//! tower's `RateLimit` delays a whole service rather than refusing per key, so governor's
//! keyed limiter is used instead.

use std::collections::HashMap;
use std::convert::Infallible;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use keel_core::{BoxFuture, MethodRequest, Reply};
use keel_protocol::{ErrorCode, RpcError, methods};
use tower::{Layer, Service};

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
    /// Limiters for `limits`.
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
    S: Service<MethodRequest, Response = Reply, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Reply;
    type Error = Infallible;
    type Future = BoxFuture<Result<Reply, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: MethodRequest) -> Self::Future {
        if let Some((limit, wait)) = self.limiters.refuse(&request) {
            let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
            let error = RpcError::new(ErrorCode::RATE_LIMITED, "Rate limit exceeded").with_data(
                serde_json::json!({ "kind": "rate_limited", "limit": limit, "retryAfterMs": ms, "retryable": true }),
            );
            let mut reply = request.refuse(&error);
            reply.retry_after = Some(wait);
            return Box::pin(std::future::ready(Ok(reply)));
        }
        Box::pin(self.inner.call(request))
    }
}

impl Limiters {
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
