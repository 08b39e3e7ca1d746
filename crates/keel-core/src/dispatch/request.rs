//! A request as the dispatcher sees it: method, params object and its `_meta`.

use keel_protocol::{Message, MessageKind, RequestId, RpcError, meta, methods};
use serde_json::{Map, Value};

/// A decoded request or notification with its params parsed once.
#[derive(Debug, Clone)]
pub struct ParsedRequest {
    /// The id; `None` for a notification.
    pub id: Option<RequestId>,
    /// The method.
    pub method: String,
    /// The params object (empty when absent).
    pub params: Map<String, Value>,
}

/// How a request opens, which selects its era.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opening<'a> {
    /// `initialize`: legacy, starts a session.
    Initialize,
    /// Carries `_meta` protocol version: modern, served statelessly.
    Modern(&'a str),
    /// Anything else: legacy, within a session (or statelessly when lenient).
    Legacy,
}

impl ParsedRequest {
    /// Parses a decoded request or notification; responses are not requests.
    pub fn from_message(message: &Message<'_>) -> Result<Self, RpcError> {
        if message.kind == MessageKind::Response {
            return Err(RpcError::invalid_request("a response is not a request"));
        }
        let params = match message.params {
            None => Map::new(),
            Some(raw) => match serde_json::from_str::<Value>(raw.get()) {
                Ok(Value::Object(m)) => m,
                Ok(_) => return Err(RpcError::invalid_params("params must be an object")),
                Err(e) => return Err(RpcError::parse_error(e)),
            },
        };
        Ok(Self {
            id: message.id.clone(),
            method: message.method.to_string(),
            params,
        })
    }

    /// The request's `_meta` object, if any.
    pub fn meta(&self) -> Option<&Map<String, Value>> {
        self.params.get("_meta").and_then(Value::as_object)
    }

    /// How the request opens.
    pub fn opening(&self) -> Opening<'_> {
        if self.method == methods::INITIALIZE {
            return Opening::Initialize;
        }
        match self.meta().and_then(|m| m.get(meta::PROTOCOL_VERSION)) {
            Some(Value::String(v)) => Opening::Modern(v),
            Some(_) => Opening::Modern(""),
            None => Opening::Legacy,
        }
    }

    /// The value `Mcp-Name` mirrors: `params.name` or `params.uri`, for the methods that have one.
    pub fn target_name(&self) -> Option<&str> {
        let key = match self.method.as_str() {
            methods::TOOLS_CALL | methods::PROMPTS_GET => "name",
            methods::RESOURCES_READ => "uri",
            _ => return None,
        };
        self.params.get(key).and_then(Value::as_str)
    }

    /// A required string param, or `-32602`.
    pub(crate) fn required_str(&self, key: &str) -> Result<&str, RpcError> {
        match self.params.get(key) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(RpcError::invalid_params(format!("{key} must be a string"))),
            None => Err(RpcError::invalid_params(format!("missing {key}"))),
        }
    }

    /// The progress token from `_meta`.
    pub(crate) fn progress_token(&self) -> Option<Value> {
        self.meta()
            .and_then(|m| m.get(meta::PROGRESS_TOKEN))
            .cloned()
    }
}
