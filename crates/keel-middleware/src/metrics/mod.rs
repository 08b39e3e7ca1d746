//! Per-tool call metrics (counters by outcome, a latency histogram and an in-flight gauge)
//! and the same per request method ([`RequestMetricsLayer`]), exposed through
//! `prometheus-client`.
//!
//! Recording stays on Keel's own pre-created atomics: `prometheus-client`'s
//! `Histogram::observe` takes a lock and its `Family` looks labels up behind an `RwLock`,
//! and `metrics` 0.24 hashes the label set through a global recorder on every call. Our
//! label sets are fixed (the registry is immutable), so every series is created up front
//! and recording is a read-only map probe plus a few relaxed atomic adds. What the crate
//! owns is the exposition ([`Exposition`]): each source is a `Collector` encoded on scrape,
//! in the classic text format or OpenMetrics as the scraper asks, escaping included.

mod cache_families;
pub mod exposition;
mod future;
mod handle;
pub(crate) mod histogram;
mod layer;
mod outcome;
mod render;
pub(crate) mod request;
mod service;
mod table;
#[cfg(test)]
mod tests;

pub use exposition::CONTENT_TYPE;
pub use future::MetricsFuture;
pub use handle::Metrics;
pub use layer::MetricsLayer;
pub use outcome::Outcome;
pub use request::{
    RequestMetricsFuture, RequestMetricsLayer, RequestMetricsService, RequestOutcome,
};
pub use service::MetricsService;
