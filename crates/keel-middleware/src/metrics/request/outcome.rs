//! How a request ended, as request metrics count it.

use keel_core::Reply;
use keel_protocol::ErrorCode;

/// The outcome label of `keel_requests_total`: `ok`, the class of the JSON-RPC error code,
/// or `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestOutcome {
    /// A result (a tool's `isError` result included: the request itself succeeded).
    Ok,
    /// `-32700` / `-32600`: the request was malformed.
    InvalidRequest,
    /// `-32601`.
    MethodNotFound,
    /// `-32602`: bad params, unknown tool, prompt or (modern) resource.
    InvalidParams,
    /// `-32603`.
    InternalError,
    /// `-32000`: shed by admission or another overload.
    Overloaded,
    /// `-32003`: the caller lacks a scope the target requires.
    Forbidden,
    /// `-32029`: a rate limit refused it.
    RateLimited,
    /// Another implementation-defined code, `-32099..=-32001`.
    ServerError,
    /// Any other code.
    OtherError,
    /// No answer: cancelled, or dropped before it finished.
    Cancelled,
}

impl RequestOutcome {
    /// Every outcome, in rendering order.
    pub const ALL: [Self; 11] = [
        Self::Ok,
        Self::InvalidRequest,
        Self::MethodNotFound,
        Self::InvalidParams,
        Self::InternalError,
        Self::Overloaded,
        Self::Forbidden,
        Self::RateLimited,
        Self::ServerError,
        Self::OtherError,
        Self::Cancelled,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::InvalidRequest => "invalid_request",
            Self::MethodNotFound => "method_not_found",
            Self::InvalidParams => "invalid_params",
            Self::InternalError => "internal_error",
            Self::Overloaded => "overloaded",
            Self::Forbidden => "forbidden",
            Self::RateLimited => "rate_limited",
            Self::ServerError => "server_error",
            Self::OtherError => "other_error",
            Self::Cancelled => "cancelled",
        }
    }

    /// Classifies a reply by the error code it carries.
    pub fn of(reply: &Reply) -> Self {
        match reply.error {
            None if reply.body.is_none() => Self::Cancelled,
            None => Self::Ok,
            Some(code) => Self::of_code(code),
        }
    }

    fn of_code(code: ErrorCode) -> Self {
        match code {
            ErrorCode::PARSE_ERROR | ErrorCode::INVALID_REQUEST => Self::InvalidRequest,
            ErrorCode::METHOD_NOT_FOUND => Self::MethodNotFound,
            ErrorCode::INVALID_PARAMS => Self::InvalidParams,
            ErrorCode::INTERNAL_ERROR => Self::InternalError,
            ErrorCode::SERVER_OVERLOADED => Self::Overloaded,
            ErrorCode::INSUFFICIENT_SCOPE => Self::Forbidden,
            ErrorCode::RATE_LIMITED => Self::RateLimited,
            ErrorCode(-32099..=-32001) => Self::ServerError,
            _ => Self::OtherError,
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}
