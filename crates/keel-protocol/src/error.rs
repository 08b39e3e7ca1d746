//! JSON-RPC error objects and the codes MCP assigns.

use serde::Serialize;
use serde_json::Value;

/// A JSON-RPC error code, with the values JSON-RPC 2.0 and MCP define.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ErrorCode(pub i32);

impl ErrorCode {
    /// The body is not valid JSON.
    pub const PARSE_ERROR: Self = Self(-32700);
    /// The JSON is not a valid JSON-RPC request.
    pub const INVALID_REQUEST: Self = Self(-32600);
    /// The method does not exist or is not available in this era.
    pub const METHOD_NOT_FOUND: Self = Self(-32601);
    /// Parameters are missing or malformed (also "resource not found" from 2026-07-28 on).
    pub const INVALID_PARAMS: Self = Self(-32602);
    /// An error inside the server.
    pub const INTERNAL_ERROR: Self = Self(-32603);
    /// Resource not found, as legacy revisions number it.
    pub const RESOURCE_NOT_FOUND_LEGACY: Self = Self(-32002);
    /// HTTP headers disagree with the body, or a required header is missing (2026-07-28).
    pub const HEADER_MISMATCH: Self = Self(-32020);
    /// The request needs a client capability the client did not declare (2026-07-28).
    pub const MISSING_REQUIRED_CLIENT_CAPABILITY: Self = Self(-32021);
    /// The requested protocol version is not served here (2026-07-28).
    pub const UNSUPPORTED_PROTOCOL_VERSION: Self = Self(-32022);
    /// The server is over capacity and shed the request (implementation-defined range).
    pub const SERVER_OVERLOADED: Self = Self(-32000);
    /// The authenticated caller lacks a scope the method's target requires (Keel's own, in
    /// the implementation-defined range; HTTP answers it 403 `insufficient_scope`).
    pub const INSUFFICIENT_SCOPE: Self = Self(-32003);
    /// A rate limit refused the request; `data.retryAfterMs` says when to come back (Keel's
    /// own, in the implementation-defined range; HTTP answers it 429 with `Retry-After`).
    pub const RATE_LIMITED: Self = Self(-32029);
}

/// A JSON-RPC error object: `{code, message, data?}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RpcError {
    /// The error code.
    pub code: ErrorCode,
    /// A short human-readable description.
    pub message: String,
    /// Structured detail, when the code defines some.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with a code and message and no data.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// Attaches structured data.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// `-32700`.
    pub fn parse_error(detail: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::PARSE_ERROR, format!("Parse error: {detail}"))
    }

    /// `-32600`.
    pub fn invalid_request(detail: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorCode::INVALID_REQUEST,
            format!("Invalid request: {detail}"),
        )
    }

    /// `-32601` naming the method.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            ErrorCode::METHOD_NOT_FOUND,
            format!("Method not found: {method}"),
        )
    }

    /// `-32602`.
    pub fn invalid_params(detail: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorCode::INVALID_PARAMS,
            format!("Invalid params: {detail}"),
        )
    }

    /// `-32603`.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorCode::INTERNAL_ERROR,
            format!("Internal error: {detail}"),
        )
    }

    /// `-32020` HeaderMismatch.
    pub fn header_mismatch(detail: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorCode::HEADER_MISMATCH,
            format!("Header mismatch: {detail}"),
        )
    }

    /// `-32022` UnsupportedProtocolVersion with the supported list and the requested version.
    pub fn unsupported_version(requested: &str, supported: &[&str]) -> Self {
        Self::new(
            ErrorCode::UNSUPPORTED_PROTOCOL_VERSION,
            "Unsupported protocol version",
        )
        .with_data(serde_json::json!({ "supported": supported, "requested": requested }))
    }

    /// `-32021` MissingRequiredClientCapability listing what is missing.
    pub fn missing_capability(capabilities: Value) -> Self {
        Self::new(
            ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY,
            "Missing required client capability",
        )
        .with_data(serde_json::json!({ "requiredCapabilities": capabilities }))
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code.0)
    }
}

impl std::error::Error for RpcError {}
