//! A request as the dispatcher sees it: method, params object and its `_meta`.

use std::borrow::Cow;

use keel_protocol::{DecodeError, Message, MessageKind, RequestId, RpcError, meta, methods};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::request_meta::{Params, RequestMeta};

/// What one JSON-RPC message (an HTTP body, a stdio line, a batch member) holds.
#[derive(Debug)]
pub enum Incoming<'a> {
    /// A request or notification.
    Request(ParsedRequest),
    /// A response to a server-to-client request.
    Response(Message<'a>),
    /// Not usable; `id` is the request's, when it could be read.
    Invalid {
        /// The id to answer with.
        id: Option<RequestId>,
        /// The error.
        error: RpcError,
        /// A notification gets no answer where the transport can stay silent.
        notification: bool,
    },
}

impl<'a> Incoming<'a> {
    /// Decodes `bytes`. A well-formed request is parsed in one pass; anything else takes the
    /// careful path, which tells responses apart and names what is wrong.
    pub fn decode(bytes: &'a [u8]) -> Self {
        if let Ok(wire) = serde_json::from_slice::<WireRequest<'_>>(bytes)
            && wire.jsonrpc == "2.0"
        {
            let params = wire.params.unwrap_or_default();
            return Self::Request(ParsedRequest {
                id: wire.id,
                method: wire.method,
                params: params.map,
                meta: params.meta,
            });
        }
        let message = match Message::decode(bytes) {
            Ok(m) => m,
            Err(e) => return Self::invalid(&e),
        };
        if message.kind == MessageKind::Response {
            return Self::Response(message);
        }
        match ParsedRequest::from_message(&message) {
            Ok(r) => Self::Request(r),
            Err(error) => Self::Invalid {
                id: message.id.clone(),
                error,
                notification: message.id.is_none(),
            },
        }
    }

    fn invalid(e: &DecodeError) -> Self {
        Self::Invalid {
            id: e.id().cloned(),
            error: e.to_rpc_error(),
            notification: false,
        }
    }
}

/// A request or notification as it must look, for the one-pass decode. A `null` id fails
/// here, so the careful path reports it; serde_json's recursion limit bounds nesting.
#[derive(Deserialize)]
struct WireRequest<'a> {
    #[serde(borrow)]
    jsonrpc: Cow<'a, str>,
    #[serde(default, deserialize_with = "present")]
    id: Option<RequestId>,
    method: String,
    #[serde(default)]
    params: Option<Params>,
}

fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A decoded request or notification with its params parsed once.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRequest {
    /// The id; `None` for a notification.
    pub id: Option<RequestId>,
    /// The method.
    pub method: String,
    /// The params object (empty when absent), without an object `_meta`: see
    /// [`ParsedRequest::meta`].
    pub params: Map<String, Value>,
    meta: Option<RequestMeta>,
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
            None => Params::default(),
            Some(raw) => match serde_json::from_str::<Value>(raw.get()) {
                Ok(Value::Object(m)) => Params::split(m),
                Ok(_) => return Err(RpcError::invalid_params("params must be an object")),
                Err(e) => return Err(RpcError::parse_error(e)),
            },
        };
        Ok(Self {
            id: message.id.clone(),
            method: message.method.to_string(),
            params: params.map,
            meta: params.meta,
        })
    }

    /// The request's `_meta` object, if any.
    pub fn meta(&self) -> Option<&RequestMeta> {
        self.meta.as_ref()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn careful(bytes: &[u8]) -> Result<ParsedRequest, RpcError> {
        let m = Message::decode(bytes).map_err(|e| e.to_rpc_error())?;
        ParsedRequest::from_message(&m)
    }

    #[test]
    fn the_one_pass_decode_agrees_with_the_careful_path() {
        for text in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#,
            r#"{"jsonrpc":"2.0","id":"a","method":"ping"}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"ping","params":null}"#,
            r#"{"method":"ping","params":{},"id":7,"jsonrpc":"2.0","extra":true}"#,
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"e","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"progressToken":1}}}"#,
            r#"{"jsonrpc":"2.0","id":4,"method":"ping","params":{"_meta":"not an object"}}"#,
        ] {
            let Incoming::Request(fast) = Incoming::decode(text.as_bytes()) else {
                panic!("{text} is a request");
            };
            let slow = careful(text.as_bytes()).unwrap();
            assert_eq!(fast, slow);
        }
    }

    #[test]
    fn what_the_one_pass_decode_refuses_gets_the_careful_error() {
        for (text, code) in [
            (r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, -32600),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}"#,
                -32602,
            ),
            (r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, -32600),
            (r#"{"jsonrpc":"2.0","id":1,"method":"ping""#, -32700),
            (r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#, -32600),
        ] {
            match Incoming::decode(text.as_bytes()) {
                Incoming::Invalid { error, .. } => assert_eq!(error.code.0, code, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        let deep = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"x","params":{{"a":{}1{}}}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert!(matches!(
            Incoming::decode(deep.as_bytes()),
            Incoming::Invalid { .. }
        ));
        let response = br#"{"jsonrpc":"2.0","id":"keel-1","result":{}}"#;
        assert!(matches!(Incoming::decode(response), Incoming::Response(_)));
    }
}
