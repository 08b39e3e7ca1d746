//! How a tool call ended, as metrics count it.

use keel_core::{CallToolResult, FailureKind, ToolError};

/// The outcome label of `keel_tool_calls_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A normal result.
    Ok,
    /// A tool execution error the model sees: an `isError` result, a failure, or
    /// arguments that did not fit the schema.
    ToolError,
    /// The call ran past its deadline and was stopped (a [`FailureKind::TimedOut`] failure:
    /// the per-tool timeout, or one the tool reports itself).
    TimedOut,
    /// A layer refused the call (overload, rate limit, open circuit…).
    Rejected,
    /// The call was cancelled, or its future was dropped before it finished.
    Cancelled,
    /// The tool reported a JSON-RPC error.
    ProtocolError,
    /// The tool asked the client for input first.
    InputRequired,
    /// The handler panicked (answered as an `isError` result).
    Panicked,
}

impl Outcome {
    /// Every outcome, in rendering order.
    pub const ALL: [Self; 8] = [
        Self::Ok,
        Self::ToolError,
        Self::TimedOut,
        Self::Rejected,
        Self::Cancelled,
        Self::ProtocolError,
        Self::InputRequired,
        Self::Panicked,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::ToolError => "tool_error",
            Self::TimedOut => "timed_out",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
            Self::ProtocolError => "protocol_error",
            Self::InputRequired => "input_required",
            Self::Panicked => "panicked",
        }
    }

    /// Classifies a finished call.
    pub fn of(result: &Result<CallToolResult, ToolError>) -> Self {
        match result {
            Ok(r) if r.is_error => Self::ToolError,
            Ok(_) => Self::Ok,
            Err(ToolError::Failed(f)) if matches!(f.kind(), FailureKind::Overloaded { .. }) => {
                Self::Rejected
            }
            Err(ToolError::Failed(f)) if matches!(f.kind(), FailureKind::TimedOut { .. }) => {
                Self::TimedOut
            }
            Err(ToolError::Failed(f)) if f.is_panic() => Self::Panicked,
            Err(ToolError::Failed(_)) => Self::ToolError,
            Err(ToolError::Rejected(_)) => Self::Rejected,
            Err(ToolError::Cancelled) => Self::Cancelled,
            Err(ToolError::Protocol(_)) => Self::ProtocolError,
            Err(ToolError::InputRequired(_)) => Self::InputRequired,
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The `kind` label of `keel_tool_failures_total`: a failure's typed kind, or `untyped` for
/// an `isError` result a handler built itself.
pub(crate) const FAILURE_KINDS: [&str; 7] = [
    "invalid_input",
    "permanent",
    "transient",
    "dependency_unavailable",
    "overloaded",
    "timed_out",
    "untyped",
];

/// The slot in [`FAILURE_KINDS`] of a finished call that failed; `None` for any other end.
pub(crate) fn failure_slot(result: &Result<CallToolResult, ToolError>) -> Option<usize> {
    let kind = match result {
        Ok(r) if r.is_error => return Some(FAILURE_KINDS.len() - 1),
        Err(ToolError::Failed(f)) => f.kind().as_str(),
        _ => return None,
    };
    FAILURE_KINDS.iter().position(|&k| k == kind)
}
