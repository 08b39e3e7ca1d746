//! How tools and layers fail.

use keel_protocol::RpcError;
use serde_json::{Map, Value};

use crate::Failure;

/// A refusal by a layer around tool calls (overload, open circuit, rate limit…), mapped to a
/// JSON-RPC error at the edge. Each layer has its own small error type implementing this.
pub trait Rejection: std::error::Error + Send + Sync + 'static {
    /// The JSON-RPC error the client sees.
    fn to_rpc_error(&self) -> RpcError;
}

/// Why a tool call did not produce a normal result.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The call failed; its kind decides the wire shape ([`Failure::to_wire`]).
    #[error("{0}")]
    Failed(Failure),
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
    /// A permanent failure with a message for the model.
    pub fn failed(message: impl std::fmt::Display) -> Self {
        Self::Failed(Failure::permanent(message.to_string()))
    }

    /// Arguments that do not fit the tool.
    pub fn invalid_arguments(message: impl std::fmt::Display) -> Self {
        Self::Failed(Failure::invalid_input(format!(
            "Invalid arguments: {message}"
        )))
    }

    /// The typed failure, if the call failed with one.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Self::Failed(f) => Some(f),
            _ => None,
        }
    }
}

impl From<Failure> for ToolError {
    fn from(f: Failure) -> Self {
        Self::Failed(f)
    }
}
