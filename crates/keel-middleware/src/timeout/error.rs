//! A call stopped at its deadline.

use std::time::Duration;

use keel_core::{Failure, ToolError};

/// The call ran past its tool's timeout and was stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{tool} ran past its {}ms timeout and was stopped", after.as_millis())]
pub struct Elapsed {
    /// The tool.
    pub tool: String,
    /// The timeout it ran into.
    pub after: Duration,
}

impl Elapsed {
    /// The failure the client sees: an `isError` result whose `_meta["io.keel/failure"]`
    /// has `kind: "timed_out"`, `retryable: true` and `timeoutMs`.
    pub fn to_failure(&self) -> Failure {
        Failure::timed_out(self.after, self.to_string()).with_source(self.clone())
    }
}

impl From<Elapsed> for ToolError {
    fn from(e: Elapsed) -> Self {
        ToolError::Failed(e.to_failure())
    }
}
