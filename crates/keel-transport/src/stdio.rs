//! Newline-delimited JSON-RPC over stdin/stdout. Nothing but MCP messages goes to stdout.

mod line;

use std::sync::Arc;

use keel_core::{
    ClientCaps, Dispatcher, Incoming, Outbound, ParsedRequest, Principal, RequestEnv, Session,
};
use keel_protocol::{Era, ProtocolVersion, RpcError, encode_error, meta, methods};
use serde_json::Value;
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader},
    sync::mpsc,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use self::line::{Line, LineReader};

/// Longest accepted line, without its newline; longer ones are answered with an error and
/// skipped without being held in memory.
const MAX_LINE: usize = 16 * 1024 * 1024;

/// Serves one client over a reader and writer (stdin/stdout in `keel serve --stdio`) until
/// the reader closes (in-flight requests are cancelled: nobody is left to answer), the
/// dispatcher's [`keel_core::Shutdown`] drains (reading stops; requests in flight are
/// answered until it stops), or `shutdown` fires (in-flight requests are cancelled).
/// Every request acts for the local OS user ([`Principal::local_user`]).
pub async fn serve_stdio<R, W>(
    dispatcher: Arc<Dispatcher>,
    input: R,
    output: W,
    shutdown: CancellationToken,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        let mut output = output;
        while let Some(mut line) = out_rx.recv().await {
            line.push(b'\n');
            if output.write_all(&line).await.is_err() || output.flush().await.is_err() {
                break;
            }
        }
    });
    // The client at the other end of our stdin runs as our user (it started us, or a
    // process of that user did): every request acts for it.
    let principal = Principal::local_user();
    let mut reader = LineReader::new(BufReader::new(input), MAX_LINE);
    let mut session: Option<Arc<Session>> = None;
    let requests = CancellationToken::new();
    let in_flight = TaskTracker::new();
    let mut forwarding = requests.child_token();
    let lifecycle = dispatcher.shutdown().clone();
    let mut drained = false;
    loop {
        let read = tokio::select! {
            r = reader.next() => r?,
            () = shutdown.cancelled() => break,
            () = lifecycle.drained() => {
                drained = true;
                break;
            }
        };
        let line = match read {
            None => break,
            Some(Line::Message(line)) => line,
            Some(Line::TooLong) => {
                let e = RpcError::invalid_request(format!("message longer than {MAX_LINE} bytes"));
                let _ = out_tx.send(encode_error(None, &e));
                continue;
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Some(items) = keel_protocol::batch_items(line) {
            let version = session
                .as_ref()
                .map_or(ProtocolVersion::LATEST_LEGACY, |s| s.version());
            let reply = match items {
                Err(e) => Some(encode_error(e.id(), &e.to_rpc_error())),
                Ok(_) if !crate::batch::allowed(version) => {
                    Some(encode_error(None, &crate::batch::refused(version)))
                }
                Ok(items) => {
                    crate::batch::run(&dispatcher, items, version, session.as_ref(), &principal)
                        .await
                }
            };
            if let Some(b) = reply {
                let _ = out_tx.send(b);
            }
            continue;
        }
        let req = match Incoming::decode(line) {
            Incoming::Request(r) => r,
            Incoming::Response(message) => {
                crate::batch::deliver(&dispatcher, session.as_deref(), &message);
                continue;
            }
            Incoming::Invalid {
                id,
                error,
                notification,
            } => {
                if !notification {
                    let _ = out_tx.send(encode_error(id.as_ref(), &error));
                }
                continue;
            }
        };
        let version = match version_for(&req, session.as_ref()) {
            Ok(v) => v,
            Err(e) => {
                if req.id.is_some() {
                    let _ = out_tx.send(encode_error(req.id.as_ref(), &e));
                }
                continue;
            }
        };
        let is_initialize = req.method == methods::INITIALIZE && version.era() == Era::Legacy;
        let (tx, mut rx) = mpsc::unbounded_channel::<Outbound>();
        let env = RequestEnv {
            version,
            session: if version.era() == Era::Legacy {
                session.clone()
            } else {
                None
            },
            outbound: Some(tx),
            cancel: requests.child_token(),
            sessions_enabled: false,
            cancellable_by_notification: true,
            principal: principal.clone(),
        };
        let forward = out_tx.clone();
        let related = tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                if let Some(b) = m.into_bytes() {
                    let _ = forward.send(b);
                }
            }
        });
        if is_initialize {
            // The handshake settles the session before the next line is read.
            let caps = ClientCaps::from_json(req.params.get("capabilities"));
            let requested = req
                .params
                .get("protocolVersion")
                .and_then(Value::as_str)
                .map(keel_protocol::negotiate_legacy);
            let reply = dispatcher.handle(req, env).await;
            if reply.error.is_none()
                && let Some(v) = requested
            {
                let s = dispatcher.new_session(v, caps, principal.clone());
                // A second initialize replaces the session and its forwarder.
                forwarding.cancel();
                forwarding = requests.child_token();
                tokio::spawn(forward_changes(
                    dispatcher.subscribe_changes(),
                    Arc::clone(&s),
                    out_tx.clone(),
                    forwarding.clone(),
                ));
                session = Some(s);
            }
            let _ = related.await;
            if let Some(b) = reply.body {
                let _ = out_tx.send(b);
            }
            continue;
        }
        let d = Arc::clone(&dispatcher);
        let out = out_tx.clone();
        in_flight.spawn(async move {
            let reply = d.handle(req, env).await;
            // Related messages precede the response they belong to.
            let _ = related.await;
            if let Some(b) = reply.body {
                let _ = out.send(b);
            }
        });
    }
    in_flight.close();
    if drained {
        tokio::select! {
            () = in_flight.wait() => {}
            () = shutdown.cancelled() => {}
            () = lifecycle.stopped() => {}
        }
    }
    requests.cancel();
    drop(out_tx);
    let _ = writer.await;
    Ok(())
}

/// Writes list changes and subscribed resource updates of the legacy session to stdout
/// until the client leaves.
async fn forward_changes(
    mut changes: tokio::sync::broadcast::Receiver<keel_core::ListChange>,
    session: Arc<Session>,
    out: mpsc::UnboundedSender<Vec<u8>>,
    stop: CancellationToken,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let change = tokio::select! {
            c = changes.recv() => c,
            () = stop.cancelled() => return,
        };
        match change {
            Ok(c) => {
                if let Some(bytes) = session.notification_for(&c)
                    && out.send(bytes).is_err()
                {
                    return;
                }
            }
            Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
    }
}

/// The revision a request is served under: its `_meta` version (modern), or the session's.
fn version_for(
    req: &ParsedRequest,
    session: Option<&Arc<Session>>,
) -> Result<ProtocolVersion, RpcError> {
    if req.method == methods::INITIALIZE {
        return Ok(ProtocolVersion::LATEST_LEGACY);
    }
    if let Some(v) = req.meta().and_then(|m| m.get(meta::PROTOCOL_VERSION)) {
        return Dispatcher::modern_version(v.as_str().unwrap_or_default());
    }
    match session {
        Some(s) => Ok(s.version()),
        None if req.id.is_none() => Ok(ProtocolVersion::LATEST_LEGACY),
        None => Err(RpcError::invalid_request(
            "not initialized: send initialize first, or use protocol 2026-07-28 with _meta",
        )),
    }
}
