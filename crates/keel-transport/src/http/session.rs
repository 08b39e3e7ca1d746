//! Legacy sessions over HTTP: the lookup every session request makes, the standalone GET
//! stream and DELETE.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, StatusCode};
use keel_core::{ListChange, Outbound, Principal, Session, SessionId};
use keel_protocol::RpcError;
use tokio::sync::mpsc;

use super::{
    AppState,
    handler::header_str,
    response::{self, SESSION_HEADER},
    resume,
};

static LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// The session `raw` names, if it is live and `principal` created it: another principal's
/// session is as unknown to it as an expired one.
pub(super) async fn lookup(
    app: &AppState,
    raw: &str,
    principal: &Principal,
) -> Option<Arc<Session>> {
    let id = SessionId::parse(raw)?;
    let session = app.dispatcher.sessions().get(id).await?;
    session.belongs_to(principal).then_some(session)
}

/// GET: opens the session's standalone stream, or resumes a request's stream.
pub(super) async fn get(app: &AppState, headers: &HeaderMap, principal: &Principal) -> Response {
    let Some(raw) = header_str(headers, &SESSION_HEADER) else {
        return response::rpc_error(
            StatusCode::METHOD_NOT_ALLOWED,
            None,
            &RpcError::invalid_request(
                "GET needs a legacy session; 2026-07-28 clients use subscriptions/listen",
            ),
        );
    };
    let Some(session) = lookup(app, raw, principal).await else {
        return not_found();
    };
    if let Some(last) = header_str(headers, &LAST_EVENT_ID) {
        match app.streams.find(session.id().0, last) {
            Some((log, from)) => {
                return response::sse(resume::read(Arc::clone(&app.streams), log, from));
            }
            // Expired or never ours: the GET still opens the session's standalone stream.
            None => tracing::debug!(last_event_id = last, "no stream to resume"),
        }
    }
    let (tx, rx) = mpsc::unbounded_channel();
    if !session.attach_stream(tx.clone()) {
        return response::rpc_error(
            StatusCode::CONFLICT,
            None,
            &RpcError::invalid_request("this session already has an open stream"),
        );
    }
    let shutdown = app.dispatcher.shutdown();
    shutdown.spawn_until_drain(forward_changes(
        app.dispatcher.subscribe_changes(),
        session,
        tx,
    ));
    response::session_stream(rx, app.settings.keep_alive, shutdown.draining_token())
}

/// Pushes list changes and subscribed resource updates to one standalone stream of a
/// legacy session, and ends with that stream: it sends to the stream it was started for,
/// never to a later one the session reconnected with, and stops as soon as that stream's
/// receiver is gone.
async fn forward_changes(
    mut changes: tokio::sync::broadcast::Receiver<ListChange>,
    session: Arc<Session>,
    stream: mpsc::UnboundedSender<Outbound>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let change = tokio::select! {
            () = stream.closed() => return,
            change = changes.recv() => match change {
                Ok(c) => c,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            },
        };
        if let Some(bytes) = session.notification_for(&change)
            && stream.send(Outbound::Notification(bytes)).is_err()
        {
            return;
        }
    }
}

/// DELETE: ends the session, if `principal` created it.
pub(super) async fn delete(app: &AppState, headers: &HeaderMap, principal: &Principal) -> Response {
    let Some(raw) = header_str(headers, &SESSION_HEADER) else {
        return response::rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            &RpcError::invalid_request("Mcp-Session-Id header is required"),
        );
    };
    let Some(session) = lookup(app, raw, principal).await else {
        return not_found();
    };
    let id = session.id();
    if app.dispatcher.sessions().remove(id).await {
        app.streams.end_session(id.0);
        return StatusCode::NO_CONTENT.into_response();
    }
    not_found()
}

/// 404 for a session that is unknown, expired, deleted or another principal's.
pub(super) fn not_found() -> Response {
    response::rpc_error(
        StatusCode::NOT_FOUND,
        None,
        &RpcError::invalid_request("Session not found"),
    )
}
