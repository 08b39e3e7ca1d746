//! Keel's wire format: the JSON-RPC 2.0 envelope, MCP error codes, protocol versions and the
//! `_meta` keys of every era, plus the header encodings of Streamable HTTP.
//!
//! This crate is pure data and pure functions: it knows no sockets, no tokio and no HTTP
//! status codes. It is the only crate that decides how a message looks on the wire.
#![forbid(unsafe_code)]

mod error;
mod header_value;
mod jsonrpc;
pub mod meta;
pub mod methods;
mod version;

pub use error::{ErrorCode, RpcError};
pub use header_value::{HeaderValueError, decode_header_value, header_value_is};
pub use jsonrpc::{
    DecodeError, MAX_BATCH, MAX_NESTING, Message, MessageKind, RequestId, batch_items,
    encode_error, encode_notification, encode_request, encode_result, encode_result_members,
    encode_result_with,
};
pub use version::{Era, ProtocolVersion, SUPPORTED_VERSIONS, negotiate_legacy};
