//! How requests reach a server: HTTP/1.1 keep-alive connections, or one child process's
//! stdin/stdout. Both answer with an [`Answer`]: a status, the session id header if any, and
//! the body.

mod http;
mod stdio;

use bytes::Bytes;

pub use self::http::EndpointError;
pub(crate) use self::http::{Connection, Endpoint};
pub use self::stdio::StdioError;
pub(crate) use self::stdio::StdioPeer;
use crate::stats::TransportError;

/// The headers that change between requests (HTTP only; stdio ignores them).
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestHeaders {
    pub(crate) protocol_version: Option<::http::HeaderValue>,
    pub(crate) method: Option<::http::HeaderValue>,
    pub(crate) name: Option<::http::HeaderValue>,
    pub(crate) session: Option<::http::HeaderValue>,
    /// `Mcp-Param-*` headers mirrored from the arguments.
    pub(crate) params: Vec<(::http::HeaderName, ::http::HeaderValue)>,
}

/// What came back for one request.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) session_id: Option<String>,
    pub(crate) event_stream: bool,
    pub(crate) body: Bytes,
}

/// One path to the server a worker sends on.
pub(crate) enum Channel {
    /// An HTTP connection (reopened after an error).
    Http {
        endpoint: std::sync::Arc<Endpoint>,
        connection: Option<Connection>,
    },
    /// The shared stdio peer.
    Stdio(std::sync::Arc<StdioPeer>),
}

impl Channel {
    /// Sends one request and waits for its answer. `id` matches answers on stdio.
    pub(crate) async fn exchange(
        &mut self,
        headers: &RequestHeaders,
        id: u64,
        body: &[u8],
    ) -> Result<Answer, TransportError> {
        match self {
            Channel::Http {
                endpoint,
                connection,
            } => {
                if connection.is_none() {
                    *connection = Some(
                        Connection::open(endpoint)
                            .await
                            .map_err(|_| TransportError::Connect)?,
                    );
                }
                let Some(conn) = connection.as_mut() else {
                    return Err(TransportError::Connect);
                };
                match conn.post(endpoint, headers, body).await {
                    Ok((answer, closing)) => {
                        if closing {
                            *connection = None;
                        }
                        Ok(answer)
                    }
                    Err(e) => {
                        // The connection's state is unknown after an error: start afresh.
                        *connection = None;
                        Err(e)
                    }
                }
            }
            Channel::Stdio(peer) => peer.exchange(id, body).await,
        }
    }

    /// Sends a notification: over HTTP any 2xx is accepted; stdio expects no answer.
    pub(crate) async fn notify(
        &mut self,
        headers: &RequestHeaders,
        body: &[u8],
    ) -> Result<(), TransportError> {
        match self {
            Channel::Http { .. } => {
                let answer = self.exchange(headers, 0, body).await?;
                if (200..300).contains(&answer.status) {
                    Ok(())
                } else {
                    Err(TransportError::Malformed)
                }
            }
            Channel::Stdio(peer) => peer.send(body).await,
        }
    }

    /// Forgets the connection (after a timeout its next answer would be the stale one).
    pub(crate) fn reset(&mut self) {
        if let Channel::Http { connection, .. } = self {
            *connection = None;
        }
    }
}
