//! Keel's tower layers around tool calls and around every request, each concern in its own
//! directory:
//!
//! - [`admission`](AdmissionLayer): a concurrency limit and a bounded wait queue per
//!   workload class; sheds with a typed [`Overloaded`] rejection. Its
//!   [`RequestAdmissionLayer`] admits `resources/read` and `prompts/get` through the same
//!   state.
//! - [`timeout`](TimeoutLayer): a deadline per tool call, counted once the call is admitted;
//!   at the deadline the call's cancellation token is cancelled and it answers `timed_out`.
//! - [`cache`](CacheLayer): tool results from a two-level cache (in-process, Redis) with
//!   single-flight, adaptive TTL, serve-stale and invalidation.
//! - [`metrics`](MetricsLayer): per-tool outcome counters, latency histogram and in-flight
//!   gauge, rendered by [`Metrics::render`] as Prometheus text; [`RequestMetricsLayer`]
//!   does the same per request method.
//!
//! The server assembles `metrics(cache(admission(timeout(base))))` around
//! `keel_core::Dispatcher::base_tool_service()`, so metrics see rejections and time queueing,
//! and `metrics(input bounds(admission(route)))` as the dispatcher's request stack
//! (`keel_core::MethodStack`), fused into one [`RequestPolicyLayer`] when nothing is added
//! between them.
//!
//! It is not the error edge: rejections carry their JSON-RPC mapping
//! ([`keel_core::Rejection`]) and the dispatcher applies it. It knows no HTTP: serving the
//! rendered text is the server's job.
#![forbid(unsafe_code)]

mod admission;
mod audit;
mod cache;
mod fallback;
mod input_limits;
mod metrics;
mod rate_limit;
mod request_policy;
#[cfg(test)]
mod test_support;
mod timeout;
mod trace;

pub use admission::{
    AdmissionFuture, AdmissionLayer, AdmissionLimits, AdmissionService, AdmissionState, Capacity,
    ClassGauges, InvalidCapacity, InvalidClassName, MAX_CLASS_NAME, MaxQueueWait, Overloaded,
    QueueDepth, QueueTimeout, RequestAdmissionFuture, RequestAdmissionLayer,
    RequestAdmissionService, UndefinedClass, named_class, parse_class,
};
pub use audit::{AuditConfig, AuditLayer, AuditLog, AuditService, AuditSink};
pub use cache::{
    CACHE_META_KEY, CacheHandle, CacheLayer, CacheReport, CacheService, PolicyOverride,
};
pub use fallback::{FallbackLayer, FallbackService, any_fallback};
pub use input_limits::{InputLimits, InputLimitsLayer, InputLimitsService, LimitsFuture};
pub use metrics::exposition;
pub use metrics::{
    CONTENT_TYPE, Metrics, MetricsFuture, MetricsLayer, MetricsService, Outcome,
    RequestMetricsFuture, RequestMetricsLayer, RequestMetricsService, RequestOutcome,
};
pub use rate_limit::{
    OnStoreFailure, RATE_LIMIT_STORE, RateLimitLayer, RateLimitService, RateLimits, RateQuota,
    SharedStoreConfig,
};
pub use request_policy::{RequestPolicyLayer, RequestPolicyService};
pub use timeout::{
    CallTimeout, Elapsed, TimeoutFuture, TimeoutLayer, TimeoutService, ToolTimeouts,
};
pub use trace::{TraceLayer, TraceService, TracedFuture};
