//! Building responses: single JSON bodies, per-request SSE streams and JSON-RPC errors.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::Body,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use futures_util::Stream;
use http::{HeaderName, HeaderValue, StatusCode, header};
use keel_core::{Outbound, Reply};
use keel_protocol::{ErrorCode, RequestId, RpcError, encode_error};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};

pub(crate) static SESSION_HEADER: HeaderName = HeaderName::from_static("mcp-session-id");

/// A JSON body with a status.
pub(crate) fn json(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A JSON-RPC error with a status.
pub(crate) fn rpc_error(status: StatusCode, id: Option<&RequestId>, e: &RpcError) -> Response {
    json(status, encode_error(id, e))
}

/// 503 for a request that reached a draining server: a JSON-RPC error, and the
/// connection closes after it so the client retries on a fresh one (elsewhere).
pub(crate) fn draining() -> Response {
    let e = RpcError::new(
        ErrorCode::SERVER_OVERLOADED,
        "server is shutting down; retry on a new connection",
    );
    let mut r = rpc_error(StatusCode::SERVICE_UNAVAILABLE, None, &e);
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// 202 with no body.
pub(crate) fn accepted() -> Response {
    StatusCode::ACCEPTED.into_response()
}

/// The HTTP status of a reply: errors that say the request itself is unusable are 4xx.
pub(crate) fn status_of(reply: &Reply, modern: bool) -> StatusCode {
    match reply.error {
        Some(ErrorCode::PARSE_ERROR | ErrorCode::INVALID_REQUEST) => StatusCode::BAD_REQUEST,
        Some(
            ErrorCode::HEADER_MISMATCH
            | ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY
            | ErrorCode::UNSUPPORTED_PROTOCOL_VERSION,
        ) => StatusCode::BAD_REQUEST,
        Some(ErrorCode::METHOD_NOT_FOUND) if modern => StatusCode::NOT_FOUND,
        Some(ErrorCode::INSUFFICIENT_SCOPE) => StatusCode::FORBIDDEN,
        Some(ErrorCode::RATE_LIMITED) => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::OK,
    }
}

fn sse_frame(data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(b"event: message\ndata: ");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The next queued message, skipping transport signals.
pub(crate) fn next_message(rx: &mut mpsc::UnboundedReceiver<Outbound>) -> Option<Vec<u8>> {
    while let Ok(m) = rx.try_recv() {
        if let Some(b) = m.into_bytes() {
            return Some(b);
        }
    }
    None
}

pub(crate) type ReplyFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;

/// An SSE response body: messages the request sends, then its final response. Dropping it
/// (the client went away) cancels the request.
pub(crate) struct SseBody {
    pending: Option<Bytes>,
    rx: mpsc::UnboundedReceiver<Outbound>,
    reply: Option<ReplyFuture>,
    last: Option<Bytes>,
    keep_alive: Option<tokio::time::Interval>,
    _cancel_on_drop: DropGuard,
}

impl SseBody {
    pub(crate) fn new(
        first: Vec<u8>,
        rx: mpsc::UnboundedReceiver<Outbound>,
        reply: ReplyFuture,
        guard: DropGuard,
        keep_alive: Duration,
    ) -> Self {
        let mut tick = tokio::time::interval(keep_alive);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.reset();
        Self {
            pending: Some(sse_frame(&first)),
            rx,
            reply: Some(reply),
            last: None,
            keep_alive: Some(tick),
            _cancel_on_drop: guard,
        }
    }
}

impl Stream for SseBody {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(b) = self.pending.take() {
            return Poll::Ready(Some(Ok(b)));
        }
        // Without resumption there is no connection to let go of: a CloseStream is skipped.
        while let Poll::Ready(Some(m)) = self.rx.poll_recv(cx) {
            if let Some(b) = m.into_bytes() {
                return Poll::Ready(Some(Ok(sse_frame(&b))));
            }
        }
        if let Some(fut) = self.reply.as_mut() {
            if let Poll::Ready(reply) = fut.as_mut().poll(cx) {
                self.reply = None;
                self.keep_alive = None;
                self.last = reply.body.map(|b| sse_frame(&b));
                // Messages sent just before the final response go first.
                if let Some(b) = next_message(&mut self.rx) {
                    return Poll::Ready(Some(Ok(sse_frame(&b))));
                }
            } else if let Some(t) = self.keep_alive.as_mut()
                && t.poll_tick(cx).is_ready()
            {
                return Poll::Ready(Some(Ok(Bytes::from_static(b":\n\n"))));
            }
        }
        if self.reply.is_none() {
            if let Some(b) = next_message(&mut self.rx) {
                return Poll::Ready(Some(Ok(sse_frame(&b))));
            }
            return Poll::Ready(self.last.take().map(Ok));
        }
        Poll::Pending
    }
}

/// Wraps an SSE body in a response with the right headers.
pub(crate) fn sse<S>(body: S) -> Response
where
    S: Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static,
{
    let mut r = Response::new(Body::from_stream(body));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

/// A standalone stream of a legacy session (GET): server messages until the client leaves
/// or the server drains (then the stream ends cleanly and the client may reconnect
/// elsewhere).
pub(crate) fn session_stream(
    rx: mpsc::UnboundedReceiver<Outbound>,
    keep_alive: Duration,
    draining: CancellationToken,
) -> Response {
    let mut tick = tokio::time::interval(keep_alive);
    tick.reset();
    let state = (rx, tick, Box::pin(draining.cancelled_owned()));
    let stream = futures_util::stream::unfold(state, |(mut rx, mut tick, mut drain)| async move {
        tokio::select! {
            m = rx.recv() => m.map(|m| {
                let frame = m.into_bytes().map_or(Bytes::from_static(b":\n\n"), |b| sse_frame(&b));
                (Ok::<_, std::convert::Infallible>(frame), (rx, tick, drain))
            }),
            _ = tick.tick() => Some((Ok(Bytes::from_static(b":\n\n")), (rx, tick, drain))),
            () = drain.as_mut() => None,
        }
    });
    sse(stream)
}
