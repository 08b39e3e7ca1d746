//! The request admission service.

use std::{
    convert::Infallible,
    task::{Context, Poll},
};

use keel_core::{MethodRequest, Reply, Workload};
use keel_protocol::methods;
use tower::Service;

use super::future::RequestAdmissionFuture;
use crate::admission::{AdmissionState, state::Admit};

/// Admits `resources/read` and `prompts/get` by their target's workload class; passes every
/// other request (and those naming no registered target) straight to the inner service.
#[derive(Clone)]
pub struct RequestAdmissionService<S> {
    inner: S,
    state: AdmissionState,
}

impl<S> RequestAdmissionService<S> {
    /// Wraps `inner` with shared admission state.
    pub fn new(inner: S, state: AdmissionState) -> Self {
        Self { inner, state }
    }
}

/// The class a request is admitted in, if it is admitted here at all.
pub(crate) fn admitted_class(request: &MethodRequest) -> Option<Workload> {
    match request.method() {
        methods::RESOURCES_READ | methods::PROMPTS_GET => request.workload(),
        // `tools/call` is admitted by the tool stack; the rest is cheap.
        _ => None,
    }
}

impl<S> Service<MethodRequest> for RequestAdmissionService<S>
where
    S: Service<MethodRequest, Response = Reply, Error = Infallible> + Clone,
{
    type Response = Reply;
    type Error = Infallible;
    type Future = RequestAdmissionFuture<S>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: MethodRequest) -> Self::Future {
        let Some(class) = admitted_class(&request) else {
            return RequestAdmissionFuture::running(self.inner.call(request), None);
        };
        match self.state.admit(class) {
            Admit::Now(permit) => {
                RequestAdmissionFuture::running(self.inner.call(request), Some(permit))
            }
            Admit::Queued(wait) => {
                // Keep the service made ready for this request; leave a clone in its place.
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                RequestAdmissionFuture::queued(wait, ready, request)
            }
            Admit::Shed(overloaded) => RequestAdmissionFuture::refused(
                request.refuse(&overloaded.to_failure().to_rpc_error()),
            ),
            Admit::Undefined(undefined) => RequestAdmissionFuture::refused(
                request.refuse(&undefined.to_failure().to_rpc_error()),
            ),
        }
    }
}
