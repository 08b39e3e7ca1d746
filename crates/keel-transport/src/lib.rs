//! Keel's transports: Streamable HTTP (legacy sessions and modern stateless requests on one
//! endpoint) and newline-delimited stdio. Both feed the same [`keel_core::Dispatcher`].
//!
//! This is the only crate that knows bytes, headers and HTTP status codes; it holds no MCP
//! semantics beyond how each era travels.
#![forbid(unsafe_code)]

mod batch;
mod http;
mod stdio;

pub use http::{
    ConnectionLimits, HttpSettings, OriginPolicy, ResumeSettings, SessionMode, TlsAcceptor, router,
    serve_http, serve_https, tls_acceptor,
};
pub use stdio::serve_stdio;
