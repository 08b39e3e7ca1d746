//! The MCP endpoint: POST carries messages, GET opens a legacy session stream, DELETE ends a
//! legacy session (`session.rs`).

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{Request, State},
    response::Response,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header, header::AsHeaderName};
use http_body_util::{BodyExt, Limited};
use keel_core::{Incoming, Outbound, ParsedRequest, Principal, RequestEnv, Session};
use keel_protocol::{Era, Message, ProtocolVersion, RpcError, meta, methods};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{
    AppState, SessionMode,
    modern::{self, VERSION_HEADER},
    response::{self, ReplyFuture, SESSION_HEADER, SseBody},
    resume,
    session::{self, lookup},
};

pub(crate) async fn endpoint(State(app): State<Arc<AppState>>, request: Request) -> Response {
    // A span of its own only when the caller's header names a trace to continue; otherwise
    // the MCP request's span is the root.
    let traced = keel_core::trace::enabled() && request.headers().contains_key("traceparent");
    if !traced {
        return serve_endpoint(&app, request).await;
    }
    let span = http_span(&request);
    let response = serve_endpoint(&app, request).instrument(span.clone()).await;
    span.record(
        "http.response.status_code",
        i64::from(response.status().as_u16()),
    );
    if response.status().is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    response
}

/// The HTTP request's span, continuing the caller's `traceparent` header (a malformed one
/// starts a new trace); MCP request spans nest in it unless their `_meta` names a parent of
/// its own.
fn http_span(request: &Request) -> tracing::Span {
    let method = request.method().as_str();
    let path = request.uri().path();
    let span = tracing::info_span!(
        target: "keel::trace",
        "http.request",
        otel.name = %format!("{method} {path}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = method,
        url.path = path,
        http.response.status_code = tracing::field::Empty,
    );
    let headers = request.headers();
    if let Some(parent) = header_str(headers, "traceparent") {
        keel_core::trace::continue_trace(&span, parent, header_str(headers, "tracestate"));
    }
    span
}

async fn serve_endpoint(app: &AppState, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if !app.settings.origins.check(&parts.headers) {
        return response::rpc_error(
            StatusCode::FORBIDDEN,
            None,
            &RpcError::invalid_request("Host or Origin not allowed"),
        );
    }
    // An authentication layer on the router names the principal; without one, nobody.
    let principal = parts
        .extensions
        .get::<Principal>()
        .cloned()
        .unwrap_or_default();
    match parts.method {
        Method::POST => post(app, &parts.headers, body, principal).await,
        Method::GET => session::get(app, &parts.headers, &principal).await,
        Method::DELETE => session::delete(app, &parts.headers, &principal).await,
        _ => {
            let mut r = response::rpc_error(
                StatusCode::METHOD_NOT_ALLOWED,
                None,
                &RpcError::invalid_request("use POST, GET or DELETE"),
            );
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
            r
        }
    }
}

pub(super) fn header_str(headers: &HeaderMap, name: impl AsHeaderName) -> Option<&str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn is_legacy_version(v: &str) -> bool {
    ProtocolVersion::parse(v).is_some_and(|p| p.era() == Era::Legacy)
}

async fn post(app: &AppState, headers: &HeaderMap, body: Body, principal: Principal) -> Response {
    let content_type = header_str(headers, header::CONTENT_TYPE).unwrap_or("");
    if !content_type
        .as_bytes()
        .get(..16)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"application/json"))
    {
        return response::rpc_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            &RpcError::invalid_request("Content-Type must be application/json"),
        );
    }
    if let Some(accept) = header_str(headers, header::ACCEPT) {
        let allows = |media: &[u8]| {
            accept
                .as_bytes()
                .windows(media.len())
                .any(|w| w.eq_ignore_ascii_case(media))
        };
        if !(allows(b"application/json") || allows(b"text/event-stream") || allows(b"*/*")) {
            return response::rpc_error(
                StatusCode::NOT_ACCEPTABLE,
                None,
                &RpcError::invalid_request(
                    "Accept must allow application/json and text/event-stream",
                ),
            );
        }
    }
    let read = tokio::time::timeout(
        app.settings.body_read_timeout,
        Limited::new(body, app.settings.max_body_bytes).collect(),
    )
    .await;
    let Ok(read) = read else {
        let mut r = response::rpc_error(
            StatusCode::REQUEST_TIMEOUT,
            None,
            &RpcError::invalid_request(format!(
                "request body not received within {} s",
                app.settings.body_read_timeout.as_secs_f64()
            )),
        );
        // The rest of the body may still be on its way: this connection is done.
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return r;
    };
    let bytes = match read {
        Ok(c) => c.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return response::rpc_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                &RpcError::invalid_request(format!(
                    "body larger than {} bytes",
                    app.settings.max_body_bytes
                )),
            );
        }
        Err(_) => {
            return response::rpc_error(
                StatusCode::BAD_REQUEST,
                None,
                &RpcError::invalid_request("unreadable body"),
            );
        }
    };
    if let Some(items) = keel_protocol::batch_items(&bytes) {
        return batch(app, headers, items, &principal).await;
    }
    let req = match Incoming::decode(&bytes) {
        Incoming::Request(r) => r,
        Incoming::Response(message) => {
            return client_response(app, headers, &message, &principal).await;
        }
        Incoming::Invalid { id, error, .. } => {
            return response::rpc_error(StatusCode::BAD_REQUEST, id.as_ref(), &error);
        }
    };
    let header_version = header_str(headers, &VERSION_HEADER);
    let body_modern = req
        .meta()
        .is_some_and(|m| m.contains_key(meta::PROTOCOL_VERSION));
    let modern = match header_version {
        Some(v) => !is_legacy_version(v) || body_modern,
        None => body_modern && req.method != methods::INITIALIZE,
    };
    if modern {
        serve_modern(app, headers, req, principal).await
    } else {
        serve_legacy(app, headers, header_version, req, principal).await
    }
}

async fn serve_modern(
    app: &AppState,
    headers: &HeaderMap,
    req: ParsedRequest,
    principal: Principal,
) -> Response {
    if req.id.is_none() {
        // No client notification exists in this revision over HTTP; accept and ignore.
        return response::accepted();
    }
    let version = match modern::validate(headers, &req, app.dispatcher.registry()) {
        Ok(v) => v,
        Err((status, e)) => return response::rpc_error(status, req.id.as_ref(), &e),
    };
    let env = |outbound, cancel| RequestEnv {
        version,
        session: None,
        outbound: Some(outbound),
        cancel,
        sessions_enabled: false,
        cancellable_by_notification: false,
        principal,
    };
    run(app, req, env, true, None).await
}

async fn serve_legacy(
    app: &AppState,
    headers: &HeaderMap,
    header_version: Option<&str>,
    req: ParsedRequest,
    principal: Principal,
) -> Response {
    let session_id = header_str(headers, &SESSION_HEADER);
    let session = match session_id {
        Some(raw) => match lookup(app, raw, &principal).await {
            Some(s) => Some(s),
            None => {
                return response::rpc_error(
                    StatusCode::NOT_FOUND,
                    req.id.as_ref(),
                    &RpcError::invalid_request(
                        "Session not found: it expired or was deleted; initialize a new one",
                    ),
                );
            }
        },
        None if req.method == methods::INITIALIZE => None,
        None if app.settings.session_mode == SessionMode::Strict => {
            return response::rpc_error(
                StatusCode::BAD_REQUEST,
                req.id.as_ref(),
                &RpcError::invalid_request("Mcp-Session-Id header is required"),
            );
        }
        None => None,
    };
    if req.id.is_none() {
        let env = RequestEnv {
            version: session
                .as_ref()
                .map_or(ProtocolVersion::LATEST_LEGACY, |s| s.version()),
            session,
            outbound: None,
            cancel: CancellationToken::new(),
            sessions_enabled: false,
            cancellable_by_notification: true,
            principal,
        };
        app.dispatcher.handle(req, env).await;
        return response::accepted();
    }
    let version = match (&session, header_version.and_then(ProtocolVersion::parse)) {
        (_, Some(v)) => v,
        (Some(s), None) => s.version(),
        (None, None) => ProtocolVersion::V2025_03_26,
    };
    let cancellable = session.is_some();
    let resumable = Resumable::of(session.as_ref(), version);
    let env = move |outbound, cancel| RequestEnv {
        version,
        session,
        outbound: Some(outbound),
        cancel,
        sessions_enabled: true,
        cancellable_by_notification: cancellable,
        principal,
    };
    run(app, req, env, false, resumable).await
}

/// A legacy request of a session: its stream, once it has one, can be resumed.
struct Resumable {
    session: u128,
    /// Whether the client takes an empty priming event (2025-11-25 and later).
    prime: bool,
}

impl Resumable {
    fn of(session: Option<&Arc<Session>>, version: ProtocolVersion) -> Option<Self> {
        session.map(|s| Self {
            session: s.id().0,
            prime: version >= ProtocolVersion::V2025_11_25,
        })
    }
}

/// Dispatches a request and answers with JSON, or with SSE as soon as the request sends a
/// message before its final response.
async fn run(
    app: &AppState,
    req: ParsedRequest,
    make_env: impl FnOnce(mpsc::UnboundedSender<Outbound>, CancellationToken) -> RequestEnv,
    modern: bool,
    resumable: Option<Resumable>,
) -> Response {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let guard = cancel.clone().drop_guard();
    let dispatcher = Arc::clone(&app.dispatcher);
    let env = make_env(tx, cancel);
    let mut reply: ReplyFuture = Box::pin(async move { dispatcher.handle(req, env).await });
    // Only a resumable stream has a connection worth letting go of.
    let wanted = |m: &Outbound| resumable.is_some() || !matches!(m, Outbound::CloseStream);
    let (first, done) = loop {
        tokio::select! {
            biased;
            m = rx.recv() => match m {
                Some(m) if wanted(&m) => break (m, None),
                Some(_) => {}
                None => return finish(reply.await, modern, guard),
            },
            done = &mut reply => {
                let queued = std::iter::from_fn(|| rx.try_recv().ok()).find(|m| wanted(m));
                match queued {
                    Some(m) => break (m, Some(done)),
                    None => return finish(done, modern, guard),
                }
            }
        }
    };
    if let Some(done) = done {
        reply = Box::pin(std::future::ready(done));
    }
    if let Some(r) = resumable {
        let stream = resume::start(&app.streams, r.session, r.prime, first, rx, reply, guard);
        return response::sse(stream);
    }
    match first.into_bytes() {
        Some(first) => response::sse(SseBody::new(
            first,
            rx,
            reply,
            guard,
            app.settings.keep_alive,
        )),
        None => finish(reply.await, modern, guard),
    }
}

fn finish(reply: keel_core::Reply, modern: bool, guard: tokio_util::sync::DropGuard) -> Response {
    // The request is over: nothing left to cancel.
    guard.disarm();
    let status = response::status_of(&reply, modern);
    let session = reply.created_session.clone();
    let mut r = match reply.body {
        Some(body) => response::json(status, body),
        None => response::accepted(),
    };
    if let Some(s) = session
        && let Ok(v) = HeaderValue::from_str(&s.id().to_string())
    {
        r.headers_mut().insert(&SESSION_HEADER, v);
    }
    if let Some(challenge) = &reply.challenge
        && let Ok(v) = HeaderValue::from_str(challenge)
    {
        r.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
    }
    if let Some(after) = reply.retry_after {
        // Whole seconds, rounded up: a client waiting less would be refused again.
        let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        r.headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    r
}

async fn client_response(
    app: &AppState,
    headers: &HeaderMap,
    message: &Message<'_>,
    principal: &Principal,
) -> Response {
    let Some(session) = header_str(headers, &SESSION_HEADER) else {
        return response::rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            &RpcError::invalid_request("a response needs Mcp-Session-Id"),
        );
    };
    let Some(session) = lookup(app, session, principal).await else {
        return session::not_found();
    };
    crate::batch::deliver(&app.dispatcher, Some(&session), message);
    response::accepted()
}

/// A JSON-RPC batch: served for sessions (or headers) of 2024-11-05 and 2025-03-26 only.
async fn batch(
    app: &AppState,
    headers: &HeaderMap,
    items: Result<Vec<&serde_json::value::RawValue>, keel_protocol::DecodeError>,
    principal: &Principal,
) -> Response {
    let items = match items {
        Ok(i) => i,
        Err(e) => return response::rpc_error(StatusCode::BAD_REQUEST, None, &e.to_rpc_error()),
    };
    let session = match header_str(headers, &SESSION_HEADER) {
        Some(raw) => match lookup(app, raw, principal).await {
            Some(s) => Some(s),
            None => return session::not_found(),
        },
        None => None,
    };
    let header_version = header_str(headers, &VERSION_HEADER);
    let version = match (header_version.map(ProtocolVersion::parse), &session) {
        (Some(Some(v)), _) => v,
        (Some(None), _) => {
            return response::rpc_error(
                StatusCode::BAD_REQUEST,
                None,
                &RpcError::invalid_request("unsupported MCP-Protocol-Version"),
            );
        }
        (None, Some(s)) => s.version(),
        // No header and no session: the transport's rules assume 2025-03-26.
        (None, None) => ProtocolVersion::V2025_03_26,
    };
    if !crate::batch::allowed(version) {
        return response::rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            &crate::batch::refused(version),
        );
    }
    if session.is_none() && app.settings.session_mode == SessionMode::Strict {
        return response::rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            &RpcError::invalid_request("Mcp-Session-Id header is required"),
        );
    }
    match crate::batch::run(&app.dispatcher, items, version, session.as_ref(), principal).await {
        Some(body) => response::json(StatusCode::OK, body),
        None => response::accepted(),
    }
}
