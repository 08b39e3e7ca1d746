//! The response future of [`AdmissionService`](crate::AdmissionService).

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use keel_core::{CallToolResult, ToolCall, ToolError};
use pin_project_lite::pin_project;
use tokio::sync::OwnedSemaphorePermit;
use tower::{Service, util::Oneshot};

use super::state::PermitWait;

pin_project! {
    /// Waits for a permit if the call was queued, then runs the inner service while holding
    /// the permit. The permit is released when the inner future completes or this future
    /// is dropped, whichever comes first.
    pub struct AdmissionFuture<S>
    where
        S: Service<ToolCall>,
    {
        #[pin]
        state: State<S>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S>
    where
        S: Service<ToolCall>,
    {
        Shed {
            error: Option<ToolError>,
        },
        Queued {
            wait: PermitWait,
            call: Option<(S, ToolCall)>,
            // Open while the call waits; closed when the wait ends.
            span: tracing::Span,
        },
        Running {
            #[pin]
            call: Oneshot<S, ToolCall>,
            permit: OwnedSemaphorePermit,
        },
        Done,
    }
}

impl<S: Service<ToolCall>> AdmissionFuture<S> {
    pub(crate) fn shed(error: ToolError) -> Self {
        Self {
            state: State::Shed { error: Some(error) },
        }
    }

    pub(crate) fn queued(
        wait: PermitWait,
        service: S,
        call: ToolCall,
        span: tracing::Span,
    ) -> Self {
        Self {
            state: State::Queued {
                wait,
                call: Some((service, call)),
                span,
            },
        }
    }

    pub(crate) fn running(permit: OwnedSemaphorePermit, service: S, call: ToolCall) -> Self {
        Self {
            state: State::Running {
                call: Oneshot::new(service, call),
                permit,
            },
        }
    }
}

impl<S> Future for AdmissionFuture<S>
where
    S: Service<ToolCall, Response = CallToolResult, Error = ToolError>,
{
    type Output = Result<CallToolResult, ToolError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Shed { error } => {
                    let error = error
                        .take()
                        .expect("AdmissionFuture polled after completion");
                    state.set(State::Done);
                    return Poll::Ready(Err(error));
                }
                StateProj::Queued { wait, call, .. } => {
                    let permit = match ready!(wait.as_mut().poll(cx)) {
                        Ok(permit) => permit,
                        Err(refusal) => {
                            state.set(State::Done);
                            return Poll::Ready(Err(refusal.into()));
                        }
                    };
                    let (service, call) = call
                        .take()
                        .expect("AdmissionFuture polled after completion");
                    state.set(State::Running {
                        call: Oneshot::new(service, call),
                        permit,
                    });
                }
                StateProj::Running { call, .. } => {
                    let output = ready!(call.poll(cx));
                    // Give the permit back now, not whenever the caller drops this future.
                    state.set(State::Done);
                    return Poll::Ready(output);
                }
                StateProj::Done => panic!("AdmissionFuture polled after completion"),
            }
        }
    }
}
