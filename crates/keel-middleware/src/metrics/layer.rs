//! The metrics layer.

use std::sync::Arc;

use tower::Layer;

use super::{Metrics, MetricsService, table::ToolTable};

/// Wraps services with [`MetricsService`], recording into one [`Metrics`].
#[derive(Clone)]
pub struct MetricsLayer {
    tools: Arc<ToolTable>,
}

impl MetricsLayer {
    /// A layer recording into `metrics`.
    pub fn new(metrics: &Metrics) -> Self {
        Self {
            tools: Arc::clone(&metrics.tools),
        }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService::new(inner, Arc::clone(&self.tools))
    }
}
