//! The router as a hyper service of one connection: each request is counted in flight until
//! its response body ends, and a draining connection refuses new requests.
//!
//! `hyper_util::service::TowerToHyperService` does the adapting alone; this adds the count
//! without boxing anything per request.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use axum::{Router, body::Body, response::Response};
use bytes::Bytes;
use http::Request;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use tower::{ServiceExt, util::Oneshot};

use super::activity::{Activity, Busy};
use crate::http::response;

/// The router serving one connection.
#[derive(Clone)]
pub(crate) struct ConnService {
    pub(crate) app: Router,
    pub(crate) activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<Tracked>;
    type Error = Infallible;
    type Future = Routed;

    fn call(&self, req: Request<Incoming>) -> Routed {
        let busy = Some(self.activity.begin());
        if self.activity.is_refusing() {
            return Routed::Refused { busy };
        }
        Routed::Serving {
            inner: self.app.clone().oneshot(req.map(Body::new)),
            busy,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of one request.
    #[project = RoutedProj]
    pub(crate) enum Routed {
        Serving {
            #[pin]
            inner: Oneshot<Router, Request<Body>>,
            busy: Option<Busy>,
        },
        Refused {
            busy: Option<Busy>,
        },
    }
}

impl Future for Routed {
    type Output = Result<Response<Tracked>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (response, busy) = match self.project() {
            RoutedProj::Serving { inner, busy } => {
                let Ok(response) = ready!(inner.poll(cx));
                (response, busy.take())
            }
            RoutedProj::Refused { busy } => (response::draining(), busy.take()),
        };
        Poll::Ready(Ok(response.map(|body| Tracked { body, busy })))
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request in flight until hyper is done with it.
    pub(crate) struct Tracked {
        #[pin]
        body: Body,
        busy: Option<Busy>,
    }
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.project();
        let frame = this.body.poll_frame(cx);
        if matches!(frame, Poll::Ready(None)) {
            this.busy.take();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
