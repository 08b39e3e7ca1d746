//! JSON-RPC batches: 2024-11-05 and 2025-03-26 allow an array of messages in one body or
//! line; 2025-06-18 removed them, and 2026-07-28 has none.

use std::sync::Arc;

use keel_core::{Dispatcher, Incoming, Principal, RequestEnv, Session};
use keel_protocol::{Message, ProtocolVersion, RpcError, encode_error, methods};
use serde_json::{Value, value::RawValue};
use tokio_util::sync::CancellationToken;

/// Whether `version` accepts batches.
pub(crate) fn allowed(version: ProtocolVersion) -> bool {
    version <= ProtocolVersion::V2025_03_26
}

/// The error for a batch sent under a revision without them.
pub(crate) fn refused(version: ProtocolVersion) -> RpcError {
    RpcError::invalid_request(format!(
        "JSON-RPC batches are not part of MCP {version}; send one message per request"
    ))
}

/// Runs the members of a batch concurrently; returns the JSON array of responses, or `None`
/// when the batch held no request (only notifications and responses).
///
/// Members run without a stream of their own: progress and log notifications are not sent,
/// and a tool that asks the client for input gets a clear error. Every member acts for
/// `principal`.
pub(crate) async fn run(
    dispatcher: &Arc<Dispatcher>,
    items: Vec<&RawValue>,
    version: ProtocolVersion,
    session: Option<&Arc<Session>>,
    principal: &Principal,
) -> Option<Vec<u8>> {
    let mut answers: Vec<Vec<u8>> = Vec::new();
    let mut calls = Vec::new();
    for item in items {
        let req = match Incoming::decode(item.get().as_bytes()) {
            Incoming::Request(r) => r,
            Incoming::Response(message) => {
                deliver(dispatcher, session.map(|s| &**s), &message);
                continue;
            }
            Incoming::Invalid {
                id,
                error,
                notification,
            } => {
                if !notification {
                    answers.push(encode_error(id.as_ref(), &error));
                }
                continue;
            }
        };
        if req.method == methods::INITIALIZE {
            let e = RpcError::invalid_request("initialize must not be part of a batch");
            answers.push(encode_error(req.id.as_ref(), &e));
            continue;
        }
        let env = RequestEnv {
            version,
            session: session.cloned(),
            outbound: None,
            cancel: CancellationToken::new(),
            sessions_enabled: false,
            cancellable_by_notification: session.is_some(),
            principal: principal.clone(),
        };
        calls.push(dispatcher.handle(req, env));
    }
    let replies = futures_util::future::join_all(calls).await;
    answers.extend(replies.into_iter().filter_map(|r| r.body));
    if answers.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(answers.iter().map(|a| a.len() + 1).sum::<usize>() + 2);
    out.push(b'[');
    for (i, a) in answers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(a);
    }
    out.push(b']');
    Some(out)
}

/// Hands a client's response (to a server-to-client request) to the request waiting for it.
pub(crate) fn deliver(dispatcher: &Dispatcher, session: Option<&Session>, message: &Message<'_>) {
    let (Some(session), Some(id)) = (session, &message.id) else {
        return;
    };
    let answer = match (message.result, message.error) {
        (Some(r), _) => serde_json::from_str::<Value>(r.get()).map_err(RpcError::parse_error),
        (None, Some(e)) => Err(serde_json::from_str::<Value>(e.get()).map_or_else(
            |_| RpcError::internal("malformed error from client"),
            |v| {
                RpcError::new(
                    keel_protocol::ErrorCode(v["code"].as_i64().unwrap_or(-32603) as i32),
                    v["message"].as_str().unwrap_or("client error"),
                )
            },
        )),
        (None, None) => return,
    };
    dispatcher.client_response(session, id, answer);
}
