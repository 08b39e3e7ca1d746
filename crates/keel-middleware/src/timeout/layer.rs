//! The timeout layer.

use std::sync::Arc;

use tower::Layer;

use super::{TimeoutService, ToolTimeouts};

/// Wraps services with [`TimeoutService`]; every service it makes shares one
/// [`ToolTimeouts`].
#[derive(Clone)]
pub struct TimeoutLayer {
    timeouts: Arc<ToolTimeouts>,
}

impl TimeoutLayer {
    /// A layer enforcing `timeouts`.
    pub fn new(timeouts: ToolTimeouts) -> Self {
        Self {
            timeouts: Arc::new(timeouts),
        }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = TimeoutService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService::new(inner, Arc::clone(&self.timeouts))
    }
}
