//! The response future of [`TimeoutService`](crate::TimeoutService).

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use keel_core::{CallToolResult, ToolEntry, ToolError};
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tokio_util::sync::CancellationToken;

use super::Elapsed;

pin_project! {
    /// Runs the inner call until it finishes or its deadline passes; at the deadline,
    /// cancels the call's token, drops the inner future (releasing what it holds, such as
    /// an admission permit) and answers [`Elapsed`].
    pub struct TimeoutFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Unbounded {
            #[pin]
            inner: F,
        },
        Bounded {
            #[pin]
            inner: F,
            #[pin]
            deadline: Sleep,
            after: Duration,
            cancel: CancellationToken,
            tool: Arc<ToolEntry>,
        },
        Done,
    }
}

impl<F> TimeoutFuture<F> {
    pub(crate) fn unbounded(inner: F) -> Self {
        Self {
            state: State::Unbounded { inner },
        }
    }

    pub(crate) fn bounded(
        inner: F,
        after: Duration,
        cancel: CancellationToken,
        tool: Arc<ToolEntry>,
    ) -> Self {
        Self {
            state: State::Bounded {
                inner,
                deadline: tokio::time::sleep(after),
                after,
                cancel,
                tool,
            },
        }
    }
}

impl<F> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<CallToolResult, ToolError>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        let elapsed = match state.as_mut().project() {
            StateProj::Unbounded { inner } => return inner.poll(cx),
            StateProj::Bounded {
                inner,
                deadline,
                after,
                cancel,
                tool,
            } => {
                // The call's own answer wins a tie with the deadline.
                if let Poll::Ready(output) = inner.poll(cx) {
                    state.set(State::Done);
                    return Poll::Ready(output);
                }
                if deadline.poll(cx).is_pending() {
                    return Poll::Pending;
                }
                cancel.cancel();
                Elapsed {
                    tool: tool.definition.name.clone(),
                    after: *after,
                }
            }
            StateProj::Done => panic!("TimeoutFuture polled after completion"),
        };
        // Dropping the inner future here stops the call and frees what it holds.
        state.set(State::Done);
        Poll::Ready(Err(elapsed.into()))
    }
}
