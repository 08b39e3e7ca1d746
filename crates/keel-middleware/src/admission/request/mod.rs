//! Admission at the request level: `resources/read` and `prompts/get` are admitted by their
//! target's declared workload through the same [`AdmissionState`] (the same per-class
//! semaphores and queues) as tool calls, so a database read through a resource waits and
//! sheds beside the `query` tool. `tools/call` passes through (the tool stack admits it),
//! and so does every other method, without touching a semaphore.

mod future;
pub(crate) mod service;
#[cfg(test)]
mod tests;

use tower::Layer;

pub use future::RequestAdmissionFuture;
pub use service::RequestAdmissionService;

use super::AdmissionState;

/// Wraps request services with [`RequestAdmissionService`], sharing one [`AdmissionState`]
/// with the tool-level [`AdmissionLayer`](crate::AdmissionLayer).
#[derive(Clone)]
pub struct RequestAdmissionLayer {
    state: AdmissionState,
}

impl RequestAdmissionLayer {
    /// A layer admitting through `state` (take it from the tool layer's
    /// [`AdmissionLayer::state`](crate::AdmissionLayer::state)).
    pub fn new(state: AdmissionState) -> Self {
        Self { state }
    }

    pub(crate) fn state(&self) -> &AdmissionState {
        &self.state
    }
}

impl<S> Layer<S> for RequestAdmissionLayer {
    type Service = RequestAdmissionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestAdmissionService::new(inner, self.state.clone())
    }
}
