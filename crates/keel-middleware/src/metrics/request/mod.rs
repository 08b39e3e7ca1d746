//! Request-level metrics: every request (any method, notifications aside) counted by method
//! and outcome, timed per method, with an in-flight gauge per method. The method label takes
//! only the MCP method names Keel knows, plus `other`, so a client cannot grow the series.

mod future;
mod outcome;
mod service;
mod table;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use tower::Layer;

pub(crate) use future::Record;
pub use future::RequestMetricsFuture;
pub use outcome::RequestOutcome;
pub use service::RequestMetricsService;
pub(crate) use table::MethodTable;

use super::Metrics;

/// Wraps request services with [`RequestMetricsService`], recording into one [`Metrics`].
#[derive(Clone)]
pub struct RequestMetricsLayer {
    pub(crate) methods: Arc<MethodTable>,
}

impl RequestMetricsLayer {
    /// A layer recording into `metrics`.
    pub fn new(metrics: &Metrics) -> Self {
        Self {
            methods: Arc::clone(&metrics.requests),
        }
    }
}

impl<S> Layer<S> for RequestMetricsLayer {
    type Service = RequestMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestMetricsService::new(inner, Arc::clone(&self.methods))
    }
}
