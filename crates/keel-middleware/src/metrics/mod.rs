//! Per-tool call metrics (counters by outcome, a latency histogram and an in-flight gauge)
//! and the same per request method ([`RequestMetricsLayer`]), rendered in the Prometheus
//! text format.
//!
//! Written by hand rather than with `prometheus-client` 0.26 or `metrics` 0.24:
//! `prometheus-client`'s `Histogram::observe` takes a lock and its `Family` looks labels up
//! behind an `RwLock`; `metrics` goes through a global recorder and a hash of the label set
//! on every call. Our label sets are fixed (the registry is immutable), so every series is
//! created up front and recording is a read-only map probe plus a few relaxed atomic adds,
//! with no dependency. The exposition format is small enough to write directly.

mod cache_families;
mod future;
mod handle;
pub(crate) mod histogram;
mod layer;
mod outcome;
mod render;
mod request;
mod service;
mod table;
#[cfg(test)]
mod tests;

pub use future::MetricsFuture;
pub use handle::Metrics;
pub use layer::MetricsLayer;
pub use outcome::Outcome;
pub use render::CONTENT_TYPE;
pub use request::{
    RequestMetricsFuture, RequestMetricsLayer, RequestMetricsService, RequestOutcome,
};
pub use service::MetricsService;
