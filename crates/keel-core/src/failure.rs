//! Typed failures: what went wrong, in a kind layers can act on (a cache serves stale on a
//! dependency outage, a breaker counts only dependency and transient failures, a client
//! retries an overload after the hinted delay), and the one place that decides how each kind
//! reaches the wire.

use std::{error::Error as StdError, fmt, sync::Arc, time::Duration};

use keel_protocol::{ErrorCode, RpcError};
use serde_json::{Map, Value, json};

use crate::CallToolResult;

/// The key of the failure description in an `isError` result's `_meta` and in error data.
pub const FAILURE_META_KEY: &str = "io.keel/failure";

/// What kind of failure a call met.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// The input cannot work, whatever is retried (schema, parameters, a refused statement).
    InvalidInput,
    /// The operation failed for a reason retrying will not change.
    Permanent,
    /// The operation failed for a reason that may pass (a dropped connection, a conflict).
    Transient,
    /// A dependency the operation needs does not answer (a database, Redis, a model).
    DependencyUnavailable {
        /// Which dependency, as operators name it (`db:main`, `model:all-minilm-l6-v2`).
        dependency: Arc<str>,
    },
    /// The server, or the part of it the call needs, is at capacity.
    Overloaded {
        /// When a retry may succeed, if known.
        retry_after: Option<Duration>,
    },
    /// The operation ran past its deadline and was stopped.
    TimedOut {
        /// The deadline it ran into.
        after: Duration,
    },
}

impl FailureKind {
    /// The label used in metrics and on the wire.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid_input",
            Self::Permanent => "permanent",
            Self::Transient => "transient",
            Self::DependencyUnavailable { .. } => "dependency_unavailable",
            Self::Overloaded { .. } => "overloaded",
            Self::TimedOut { .. } => "timed_out",
        }
    }

    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::InvalidInput | Self::Permanent)
    }

    /// Whether the failure says a dependency is unwell (what breakers count and what lets a
    /// cache serve a stale result).
    pub fn is_dependency_failure(&self) -> bool {
        matches!(
            self,
            Self::Transient | Self::DependencyUnavailable { .. } | Self::TimedOut { .. }
        )
    }
}

/// A failure with its kind, a message safe to show the caller, and its cause.
#[derive(Debug, Clone)]
pub struct Failure {
    kind: FailureKind,
    message: String,
    details: Option<Map<String, Value>>,
    source: Option<Arc<dyn StdError + Send + Sync>>,
    panicked: bool,
}

impl Failure {
    /// A failure of `kind` with a message for the caller.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            details: None,
            source: None,
            panicked: false,
        }
    }

    /// The handler panicked: a permanent failure, counted apart in metrics. The panic's own
    /// message goes to the log, not to the caller.
    pub fn panicked(message: impl Into<String>) -> Self {
        let mut failure = Self::permanent(message).with_detail("panicked", true);
        failure.panicked = true;
        failure
    }

    /// Whether the handler panicked.
    pub fn is_panic(&self) -> bool {
        self.panicked
    }

    /// Input that cannot work.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(FailureKind::InvalidInput, message)
    }

    /// A failure retrying will not change.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Permanent, message)
    }

    /// A failure that may pass.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Transient, message)
    }

    /// A dependency that does not answer.
    pub fn dependency(dependency: impl Into<Arc<str>>, message: impl Into<String>) -> Self {
        Self::new(
            FailureKind::DependencyUnavailable {
                dependency: dependency.into(),
            },
            message,
        )
    }

    /// No capacity now; `retry_after` hints when to come back.
    pub fn overloaded(retry_after: Option<Duration>, message: impl Into<String>) -> Self {
        Self::new(FailureKind::Overloaded { retry_after }, message)
    }

    /// Stopped at its deadline.
    pub fn timed_out(after: Duration, message: impl Into<String>) -> Self {
        Self::new(FailureKind::TimedOut { after }, message)
    }

    /// Adds the error that caused this failure (kept for logs, never put on the wire).
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Adds machine-readable details for the client (merged into the wire description).
    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details
            .get_or_insert_with(Map::new)
            .insert(key.into(), value.into());
        self
    }

    /// The kind.
    pub fn kind(&self) -> &FailureKind {
        &self.kind
    }

    /// The message for the caller.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The failure as a JSON object: kind, retryable, and what the kind carries.
    pub fn describe(&self) -> Map<String, Value> {
        let mut m = self.details.clone().unwrap_or_default();
        m.insert("kind".into(), Value::from(self.kind.as_str()));
        m.insert("retryable".into(), Value::Bool(self.kind.is_retryable()));
        match &self.kind {
            FailureKind::DependencyUnavailable { dependency } => {
                m.insert("dependency".into(), Value::from(&**dependency));
            }
            FailureKind::Overloaded {
                retry_after: Some(after),
            } => {
                m.insert("retryAfterMs".into(), json!(millis(*after)));
            }
            FailureKind::TimedOut { after } => {
                m.insert("timeoutMs".into(), json!(millis(*after)));
            }
            _ => {}
        }
        m
    }

    /// How this failure reaches the client of a `tools/call`: overload is a JSON-RPC error
    /// (the client, not the model, should back off and retry); every other kind is an
    /// `isError` result the model reads, with the description in `_meta`.
    pub fn to_wire(&self) -> WireFailure {
        if let FailureKind::Overloaded { .. } = self.kind {
            return WireFailure::Error(self.to_rpc_error());
        }
        let mut result = CallToolResult::error(self.message.clone());
        let mut meta = Map::new();
        meta.insert(FAILURE_META_KEY.into(), Value::Object(self.describe()));
        result.meta = Some(meta);
        WireFailure::Result(result)
    }

    /// This failure as a JSON-RPC error (for methods without `isError` results: reads,
    /// prompts; and overload everywhere).
    pub fn to_rpc_error(&self) -> RpcError {
        let (code, message) = match self.kind {
            FailureKind::Overloaded { .. } => (ErrorCode::SERVER_OVERLOADED, "Server overloaded"),
            FailureKind::InvalidInput => (ErrorCode::INVALID_PARAMS, self.message.as_str()),
            _ => (ErrorCode::INTERNAL_ERROR, self.message.as_str()),
        };
        let mut data = self.describe();
        if let FailureKind::Overloaded { .. } = self.kind {
            data.insert("message".into(), Value::from(self.message.as_str()));
        }
        RpcError::new(code, message).with_data(Value::Object(data))
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for Failure {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// The wire shape [`Failure::to_wire`] chose.
#[derive(Debug)]
pub enum WireFailure {
    /// An `isError` tool result.
    Result(CallToolResult),
    /// A JSON-RPC error response.
    Error(RpcError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overload_is_one_rpc_error_with_retry_after() {
        let f = Failure::overloaded(Some(Duration::from_millis(1500)), "cpu pool full")
            .with_detail("workload", "cpu");
        let WireFailure::Error(e) = f.to_wire() else {
            panic!("overload must be a JSON-RPC error");
        };
        assert_eq!(e.code, ErrorCode::SERVER_OVERLOADED);
        let data = e.data.expect("data");
        assert_eq!(data["kind"], "overloaded");
        assert_eq!(data["retryAfterMs"], 1500);
        assert_eq!(data["retryable"], true);
        assert_eq!(data["workload"], "cpu");
    }

    #[test]
    fn other_kinds_are_error_results_described_in_meta() {
        let f = Failure::dependency("db:main", "database `main` does not answer");
        let WireFailure::Result(r) = f.to_wire() else {
            panic!("a dependency failure is a tool result");
        };
        assert!(r.is_error);
        let d = &r.meta.expect("meta")[FAILURE_META_KEY];
        assert_eq!(d["kind"], "dependency_unavailable");
        assert_eq!(d["dependency"], "db:main");
        assert_eq!(d["retryable"], true);
        let f = Failure::invalid_input("bad sql");
        assert!(!f.kind().is_retryable());
        assert!(!f.kind().is_dependency_failure());
        assert_eq!(f.to_rpc_error().code, ErrorCode::INVALID_PARAMS);
    }

    #[test]
    fn source_is_kept_off_the_wire() {
        let io = std::io::Error::other("secret path /etc/x");
        let f = Failure::transient("connection dropped").with_source(io);
        assert!(f.source().is_some());
        let WireFailure::Result(r) = f.to_wire() else {
            panic!()
        };
        assert!(!serde_json::to_string(&r).unwrap().contains("secret"));
    }
}
