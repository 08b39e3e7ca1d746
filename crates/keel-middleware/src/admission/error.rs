//! Why admission refused a call. Both become an overload [`Failure`], which reaches the client
//! as JSON-RPC `-32000 Server overloaded` with a retry-after hint.

use std::time::Duration;

use keel_core::{Failure, ToolError, Workload};

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

/// The call's class is one of the server's own that the admission limits do not define.
/// A server refuses to start with such a tool, resource or prompt; this is the answer when
/// the layer is assembled without that check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("workload class {} is not defined on this server", workload.as_str())]
pub struct UndefinedClass {
    /// The class.
    pub workload: Workload,
}

impl UndefinedClass {
    /// A permanent failure: retrying cannot help until the server is configured again.
    pub fn to_failure(&self) -> Failure {
        Failure::permanent(self.to_string())
            .with_detail("workload", self.workload.as_str())
            .with_source(self.clone())
    }
}

/// A shed call should come back after about this long when no queue-wait bound says more.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

impl Overloaded {
    /// The overload failure the client sees (`-32000` with `retryAfterMs`).
    pub fn to_failure(&self) -> Failure {
        Failure::overloaded(Some(DEFAULT_RETRY_AFTER), self.to_string())
            .with_detail("workload", self.workload.as_str())
            .with_detail("reason", "queue_full")
            .with_detail("inFlight", self.in_flight)
            .with_detail("queued", self.queued)
            .with_source(self.clone())
    }
}

impl QueueTimeout {
    /// The overload failure the client sees (`-32000` with `retryAfterMs`).
    pub fn to_failure(&self) -> Failure {
        // The queue was as long as the bound allows: a retry sooner would wait again.
        let waited = u64::try_from(self.waited.as_millis()).unwrap_or(u64::MAX);
        Failure::overloaded(Some(self.waited.max(DEFAULT_RETRY_AFTER)), self.to_string())
            .with_detail("workload", self.workload.as_str())
            .with_detail("reason", "queue_timeout")
            .with_detail("waitedMs", waited)
            .with_source(self.clone())
    }
}

/// Why admission refused a call or request: shed at once, waited too long, or no such class.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    #[error(transparent)]
    Overloaded(#[from] Overloaded),
    #[error(transparent)]
    QueueTimeout(#[from] QueueTimeout),
    #[error(transparent)]
    Undefined(#[from] UndefinedClass),
}

impl Refusal {
    pub(crate) fn to_failure(&self) -> Failure {
        match self {
            Self::Overloaded(e) => e.to_failure(),
            Self::QueueTimeout(e) => e.to_failure(),
            Self::Undefined(e) => e.to_failure(),
        }
    }
}

impl From<Overloaded> for ToolError {
    fn from(e: Overloaded) -> Self {
        ToolError::Failed(e.to_failure())
    }
}

impl From<QueueTimeout> for ToolError {
    fn from(e: QueueTimeout) -> Self {
        ToolError::Failed(e.to_failure())
    }
}

impl From<Refusal> for ToolError {
    fn from(e: Refusal) -> Self {
        ToolError::Failed(e.to_failure())
    }
}
