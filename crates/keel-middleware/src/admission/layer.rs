//! The admission layer.

use tower::Layer;

use super::{AdmissionLimits, AdmissionService, AdmissionState, RequestAdmissionLayer};

/// Wraps services with [`AdmissionService`]; every service it makes shares one
/// [`AdmissionState`].
#[derive(Clone)]
pub struct AdmissionLayer {
    state: AdmissionState,
}

impl AdmissionLayer {
    /// A layer with fresh state for `limits`.
    pub fn new(limits: &AdmissionLimits) -> Self {
        Self {
            state: AdmissionState::new(limits),
        }
    }

    /// The shared state, for gauges (hand a clone to [`Metrics`](crate::Metrics)).
    pub fn state(&self) -> &AdmissionState {
        &self.state
    }

    /// The request-level layer admitting `resources/read` and `prompts/get` through the
    /// same state (the same semaphores and queues).
    pub fn request_layer(&self) -> RequestAdmissionLayer {
        RequestAdmissionLayer::new(self.state.clone())
    }
}

impl<S> Layer<S> for AdmissionLayer {
    type Service = AdmissionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AdmissionService::new(inner, self.state.clone())
    }
}
