//! Streamable HTTP.

mod connection;
mod guard;
mod handler;
mod modern;
mod response;
mod resume;
mod serve;
mod session;
mod tls;

use std::{sync::Arc, time::Duration};

use axum::{Router, routing::any};
use keel_core::Dispatcher;

pub use guard::OriginPolicy;
pub use resume::ResumeSettings;
pub use serve::{ConnectionLimits, serve_http, serve_https};
pub use tls::{TlsAcceptor, tls_acceptor};

/// What to do with a legacy request that carries no `Mcp-Session-Id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionMode {
    /// Serve it statelessly (clients in the field often lose their session id).
    Lenient,
    /// Refuse it with 400.
    Strict,
}

/// Settings of the HTTP transport.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest accepted request body in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// Longest wait for a whole request body once its head arrived; a slower body gets 408
    /// and the connection is closed (a client trickling its body would hold it forever).
    pub body_read_timeout: Duration,
    /// Which Host and Origin values are accepted.
    pub origins: OriginPolicy,
    /// Legacy requests without a session.
    pub session_mode: SessionMode,
    /// Interval of SSE keep-alive comments on long-lived streams.
    pub keep_alive: Duration,
    /// Resumable streams of legacy sessions.
    pub resume: ResumeSettings,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 4 * 1024 * 1024,
            body_read_timeout: Duration::from_secs(30),
            origins: OriginPolicy::loopback(),
            session_mode: SessionMode::Lenient,
            keep_alive: Duration::from_secs(15),
            resume: ResumeSettings::default(),
        }
    }
}

pub(crate) struct AppState {
    pub(crate) dispatcher: Arc<Dispatcher>,
    pub(crate) settings: HttpSettings,
    pub(crate) streams: Arc<resume::Streams>,
}

/// The MCP endpoint as an axum router serving `path`. Its streams and detached tasks follow
/// the dispatcher's [`keel_core::Shutdown`].
///
/// A request acts for the [`keel_core::Principal`] found in its extensions, where an
/// authentication layer on the router puts it; without one it is anonymous. A legacy
/// session answers only the principal that created it: to anyone else its id is unknown
/// (404).
pub fn router(dispatcher: Arc<Dispatcher>, settings: HttpSettings, path: &str) -> Router {
    let streams = Arc::new(resume::Streams::new(
        settings.resume,
        settings.keep_alive,
        dispatcher.shutdown().clone(),
    ));
    let state = Arc::new(AppState {
        dispatcher,
        settings,
        streams,
    });
    Router::new()
        .route(path, any(handler::endpoint))
        .with_state(state)
}
