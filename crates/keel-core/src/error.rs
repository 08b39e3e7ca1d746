//! How tools and layers fail.

use keel_protocol::RpcError;
use serde_json::{Map, Value};

/// A refusal by a layer around tool calls (overload, open circuit, rate limit…), mapped to a
/// JSON-RPC error at the edge. Each layer has its own small error type implementing this.
pub trait Rejection: std::error::Error + Send + Sync + 'static {
    /// The JSON-RPC error the client sees.
    fn to_rpc_error(&self) -> RpcError;
}

/// Why a tool call did not produce a normal result.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// Arguments did not fit the tool: reported to the model as an `isError` result.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The tool ran and failed: reported as an `isError` result.
    #[error("{0}")]
    Failed(String),
    /// The tool needs input from the client first (elicitation, sampling, roots).
    #[error("input required")]
    InputRequired(Map<String, Value>),
    /// The request was cancelled; no response is sent.
    #[error("cancelled")]
    Cancelled,
    /// A protocol-level failure the tool chose to report as a JSON-RPC error.
    #[error("{0}")]
    Protocol(RpcError),
    /// A layer refused the call.
    #[error("{0}")]
    Rejected(Box<dyn Rejection>),
}

impl ToolError {
    /// A failure with a message for the model.
    pub fn failed(message: impl std::fmt::Display) -> Self {
        Self::Failed(message.to_string())
    }
}
