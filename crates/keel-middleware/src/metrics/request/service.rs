//! The request metrics service.

use std::{
    convert::Infallible,
    sync::Arc,
    task::{Context, Poll},
};

use keel_core::{MethodRequest, Reply};
use tower::Service;

use super::{
    MethodTable,
    future::{Record, RequestMetricsFuture},
};

/// Counts each request by method and outcome and times it.
#[derive(Clone)]
pub struct RequestMetricsService<S> {
    inner: S,
    methods: Arc<MethodTable>,
}

impl<S> RequestMetricsService<S> {
    pub(crate) fn new(inner: S, methods: Arc<MethodTable>) -> Self {
        Self { inner, methods }
    }
}

impl<S> Service<MethodRequest> for RequestMetricsService<S>
where
    S: Service<MethodRequest, Response = Reply, Error = Infallible>,
{
    type Response = Reply;
    type Error = Infallible;
    type Future = RequestMetricsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: MethodRequest) -> Self::Future {
        // Started before the inner call, so synchronous work inside it is timed too.
        let slot = MethodTable::slot(request.method());
        let record = Record::start(Arc::clone(&self.methods), slot);
        RequestMetricsFuture::new(self.inner.call(request), record)
    }
}
