//! The response future of [`RequestAdmissionService`](crate::RequestAdmissionService).

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use keel_core::{MethodRequest, Reply};
use pin_project_lite::pin_project;
use tokio::sync::OwnedSemaphorePermit;
use tower::Service;

use crate::admission::state::PermitWait;

pin_project! {
    /// Runs the inner service (holding a permit when the request was admitted), waits for
    /// a permit first when the request was queued, or answers a refusal. The permit is
    /// released when the inner future completes or this future is dropped.
    pub struct RequestAdmissionFuture<S>
    where
        S: Service<MethodRequest>,
    {
        #[pin]
        state: State<S>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S>
    where
        S: Service<MethodRequest>,
    {
        Refused {
            reply: Option<Reply>,
        },
        Queued {
            wait: PermitWait,
            call: Option<(S, MethodRequest)>,
        },
        Running {
            #[pin]
            future: S::Future,
            permit: Option<OwnedSemaphorePermit>,
        },
        Done,
    }
}

impl<S: Service<MethodRequest>> RequestAdmissionFuture<S> {
    pub(crate) fn running(future: S::Future, permit: Option<OwnedSemaphorePermit>) -> Self {
        Self {
            state: State::Running { future, permit },
        }
    }

    pub(crate) fn refused(reply: Reply) -> Self {
        Self {
            state: State::Refused { reply: Some(reply) },
        }
    }

    pub(crate) fn queued(wait: PermitWait, ready: S, request: MethodRequest) -> Self {
        Self {
            state: State::Queued {
                wait,
                call: Some((ready, request)),
            },
        }
    }
}

impl<S> Future for RequestAdmissionFuture<S>
where
    S: Service<MethodRequest, Response = Reply, Error = Infallible>,
{
    type Output = Result<Reply, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Refused { reply } => {
                    let reply = reply.take().unwrap_or_default();
                    state.set(State::Done);
                    return Poll::Ready(Ok(reply));
                }
                StateProj::Queued { wait, call } => {
                    let waited = ready!(wait.as_mut().poll(cx));
                    let Some((mut service, request)) = call.take() else {
                        panic!("RequestAdmissionFuture polled after completion");
                    };
                    match waited {
                        Ok(permit) => state.set(State::Running {
                            future: service.call(request),
                            permit: Some(permit),
                        }),
                        Err(refusal) => {
                            let reply = request.refuse(&refusal.to_failure().to_rpc_error());
                            state.set(State::Done);
                            return Poll::Ready(Ok(reply));
                        }
                    }
                }
                StateProj::Running { future, .. } => {
                    let output = ready!(future.poll(cx));
                    // Give the permit back now, not whenever the caller drops this future.
                    state.set(State::Done);
                    return Poll::Ready(output);
                }
                StateProj::Done => panic!("RequestAdmissionFuture polled after completion"),
            }
        }
    }
}
