//! Why admission refused a call. Both map to JSON-RPC `-32000 Server overloaded`.

use std::time::Duration;

use keel_core::{Rejection, ToolError, Workload};
use keel_protocol::{ErrorCode, RpcError};
use serde_json::json;

/// Every permit of the call's class was taken and its queue was full: shed at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "server overloaded: {} work has {in_flight} calls running and {queued} waiting",
    workload.as_str()
)]
pub struct Overloaded {
    /// The call's workload class.
    pub workload: Workload,
    /// Calls of that class running when this one was shed.
    pub in_flight: usize,
    /// Calls of that class waiting when this one was shed.
    pub queued: usize,
}

/// The call waited in its class's queue longer than the configured bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "server overloaded: waited {}ms for {} capacity",
    waited.as_millis(),
    workload.as_str()
)]
pub struct QueueTimeout {
    /// The call's workload class.
    pub workload: Workload,
    /// How long the call waited.
    pub waited: Duration,
}

impl Rejection for Overloaded {
    fn to_rpc_error(&self) -> RpcError {
        RpcError::new(ErrorCode::SERVER_OVERLOADED, "Server overloaded").with_data(json!({
            "workload": self.workload.as_str(),
            "reason": "queue_full",
            "inFlight": self.in_flight,
            "queued": self.queued,
            "retryable": true,
        }))
    }
}

impl Rejection for QueueTimeout {
    fn to_rpc_error(&self) -> RpcError {
        RpcError::new(ErrorCode::SERVER_OVERLOADED, "Server overloaded").with_data(json!({
            "workload": self.workload.as_str(),
            "reason": "queue_timeout",
            "waitedMs": u64::try_from(self.waited.as_millis()).unwrap_or(u64::MAX),
            "retryable": true,
        }))
    }
}

impl From<Overloaded> for ToolError {
    fn from(e: Overloaded) -> Self {
        ToolError::Rejected(Box::new(e))
    }
}

impl From<QueueTimeout> for ToolError {
    fn from(e: QueueTimeout) -> Self {
        ToolError::Rejected(Box::new(e))
    }
}
