//! The JSON-RPC 2.0 envelope: a borrowed decoder and allocation-light encoders.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::RpcError;

/// Deepest JSON nesting accepted in a message; serde_json enforces it while parsing.
pub const MAX_NESTING: usize = 128;

/// Most messages in one JSON-RPC batch.
pub const MAX_BATCH: usize = 64;

/// A request id: a string or an integer (MCP forbids `null`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    /// Integer id.
    Number(i64),
    /// String id.
    String(String),
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::String(s) => f.write_str(s),
        }
    }
}

/// What kind of JSON-RPC message arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// Has a method and an id.
    Request,
    /// Has a method and no id.
    Notification,
    /// Has an id and a result or error (a client answering a server request).
    Response,
}

/// One decoded message, borrowing from the input buffer where it can.
#[derive(Debug)]
pub struct Message<'a> {
    /// The message kind.
    pub kind: MessageKind,
    /// The id of a request or response.
    pub id: Option<RequestId>,
    /// The method of a request or notification.
    pub method: Cow<'a, str>,
    /// Raw `params`, parsed later by whoever knows their type.
    pub params: Option<&'a RawValue>,
    /// Raw `result` of a response.
    pub result: Option<&'a RawValue>,
    /// Raw `error` of a response.
    pub error: Option<&'a RawValue>,
}

/// Why bytes are not a usable JSON-RPC message.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON at all, or nested deeper than [`MAX_NESTING`].
    #[error("{0}")]
    Parse(serde_json::Error),
    /// JSON, but not a valid JSON-RPC 2.0 message; carries the id when one could be read.
    #[error("{reason}")]
    Invalid {
        /// The request id, if the message had a usable one.
        id: Option<RequestId>,
        /// What is wrong.
        reason: &'static str,
    },
}

impl DecodeError {
    /// The JSON-RPC error to answer with.
    pub fn to_rpc_error(&self) -> RpcError {
        match self {
            Self::Parse(e) => RpcError::parse_error(e),
            Self::Invalid { reason, .. } => RpcError::invalid_request(reason),
        }
    }

    /// The id to answer with, if known.
    pub fn id(&self) -> Option<&RequestId> {
        match self {
            Self::Parse(_) => None,
            Self::Invalid { id, .. } => id.as_ref(),
        }
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

/// Keeps an explicit `null` as `Some`, so `"id": null` is not mistaken for a notification.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Nesting depth of JSON text, counting brackets outside strings; stops early past `limit`.
fn exceeds_depth(bytes: &[u8], limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// The members of a JSON-RPC batch, or `None` when `bytes` is not a JSON array. Each member
/// decodes with [`Message::decode`]. Only 2024-11-05 and 2025-03-26 allow batches.
pub fn batch_items(bytes: &[u8]) -> Option<Result<Vec<&RawValue>, DecodeError>> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'[') {
        return None;
    }
    if exceeds_depth(bytes, MAX_NESTING) {
        return Some(Err(DecodeError::Parse(serde::de::Error::custom(format!(
            "nesting deeper than {MAX_NESTING} levels"
        )))));
    }
    Some(match serde_json::from_slice::<Vec<&RawValue>>(bytes) {
        Err(e) => Err(DecodeError::Parse(e)),
        Ok(items) if items.is_empty() => Err(DecodeError::Invalid {
            id: None,
            reason: "empty batch",
        }),
        Ok(items) if items.len() > MAX_BATCH => Err(DecodeError::Invalid {
            id: None,
            reason: "batch of more than 64 messages",
        }),
        Ok(items) => Ok(items),
    })
}

impl<'a> Message<'a> {
    /// Decodes one JSON-RPC message. Batches (arrays) are refused as invalid requests.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        if exceeds_depth(bytes, MAX_NESTING) {
            return Err(DecodeError::Parse(serde::de::Error::custom(format!(
                "nesting deeper than {MAX_NESTING} levels"
            ))));
        }
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'[') {
            // Still parse, so malformed JSON reports as a parse error first.
            serde_json::from_slice::<&RawValue>(bytes).map_err(DecodeError::Parse)?;
            return Err(DecodeError::Invalid {
                id: None,
                reason: "a batch is not one message",
            });
        }
        let env: Envelope<'a> = serde_json::from_slice(bytes).map_err(DecodeError::Parse)?;
        let id = match env.id {
            None => None,
            Some(raw) => match serde_json::from_str::<RequestId>(raw.get()) {
                Ok(id) => Some(id),
                Err(_) => {
                    return Err(DecodeError::Invalid {
                        id: None,
                        reason: "id must be a string or an integer",
                    });
                }
            },
        };
        if env.jsonrpc.as_deref() != Some("2.0") {
            return Err(DecodeError::Invalid {
                id,
                reason: "jsonrpc must be \"2.0\"",
            });
        }
        if let Some(params) = env.params {
            let p = params.get().as_bytes().first();
            if p != Some(&b'{') && p != Some(&b'[') {
                return Err(DecodeError::Invalid {
                    id,
                    reason: "params must be an object",
                });
            }
        }
        match (env.method, &id) {
            (Some(method), Some(_)) => Ok(Self {
                kind: MessageKind::Request,
                id,
                method,
                params: env.params,
                result: None,
                error: None,
            }),
            (Some(method), None) => Ok(Self {
                kind: MessageKind::Notification,
                id: None,
                method,
                params: env.params,
                result: None,
                error: None,
            }),
            (None, Some(_)) if env.result.is_some() != env.error.is_some() => Ok(Self {
                kind: MessageKind::Response,
                id,
                method: Cow::Borrowed(""),
                params: None,
                result: env.result,
                error: env.error,
            }),
            (None, _) => Err(DecodeError::Invalid {
                id,
                reason: "missing method",
            }),
        }
    }
}

#[derive(Serialize)]
struct ResultOut<'a, T: Serialize> {
    jsonrpc: &'static str,
    id: &'a RequestId,
    result: &'a T,
}

#[derive(Serialize)]
struct ErrorOut<'a> {
    jsonrpc: &'static str,
    id: Option<&'a RequestId>,
    error: &'a RpcError,
}

#[derive(Serialize)]
struct NotificationOut<'a, T: Serialize> {
    jsonrpc: &'static str,
    method: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<&'a T>,
}

#[derive(Serialize)]
struct RequestOut<'a, T: Serialize> {
    jsonrpc: &'static str,
    id: &'a RequestId,
    method: &'a str,
    params: &'a T,
}

fn to_vec(value: &impl Serialize) -> Vec<u8> {
    // Serializing these envelopes cannot fail: every payload is built from JSON values or
    // derive(Serialize) structs with string keys.
    serde_json::to_vec(value).unwrap_or_else(|e| {
        format!(r#"{{"jsonrpc":"2.0","id":null,"error":{{"code":-32603,"message":"{e}"}}}}"#)
            .into_bytes()
    })
}

/// Encodes a success response.
pub fn encode_result(id: &RequestId, result: &impl Serialize) -> Vec<u8> {
    to_vec(&ResultOut {
        jsonrpc: "2.0",
        id,
        result,
    })
}

/// Encodes a success response whose result object gains `members`: pre-encoded
/// `"key":value` pairs, comma-separated, that the result must not already hold. `result`
/// must serialize as a JSON object.
pub fn encode_result_with(id: &RequestId, result: &impl Serialize, members: &[u8]) -> Vec<u8> {
    let mut out = encode_result(id, result);
    debug_assert!(out.ends_with(b"}}"), "a result must be an object");
    // The envelope ends with the result's closing brace and then its own.
    out.truncate(out.len() - 2);
    out.reserve(members.len() + 3);
    if out.last() != Some(&b'{') {
        out.push(b',');
    }
    out.extend_from_slice(members);
    out.extend_from_slice(b"}}");
    out
}

/// Encodes a success response whose result object is made of pre-encoded members only:
/// `parts` are comma-separated `"key":value` runs, joined with commas (empty parts skipped).
/// A result kept encoded (a cached tool result) is answered without a JSON tree.
pub fn encode_result_members(id: &RequestId, parts: &[&[u8]]) -> Vec<u8> {
    let total: usize = parts.iter().map(|p| p.len() + 1).sum();
    let mut out = to_vec(&ResultOut {
        jsonrpc: "2.0",
        id,
        result: &Empty {},
    });
    // `{"jsonrpc":"2.0","id":…,"result":{}}`: reopen the result object.
    out.truncate(out.len() - 2);
    out.reserve(total + 2);
    let mut first = true;
    for part in parts.iter().filter(|p| !p.is_empty()) {
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(part);
        first = false;
    }
    out.extend_from_slice(b"}}");
    out
}

#[derive(Serialize)]
struct Empty {}

/// Encodes an error response; `id` is `null` when the request's id could not be read.
pub fn encode_error(id: Option<&RequestId>, error: &RpcError) -> Vec<u8> {
    to_vec(&ErrorOut {
        jsonrpc: "2.0",
        id,
        error,
    })
}

/// Encodes a notification.
pub fn encode_notification(method: &str, params: Option<&impl Serialize>) -> Vec<u8> {
    to_vec(&NotificationOut {
        jsonrpc: "2.0",
        method,
        params,
    })
}

/// Encodes a server-to-client request.
pub fn encode_request(id: &RequestId, method: &str, params: &impl Serialize) -> Vec<u8> {
    to_vec(&RequestOut {
        jsonrpc: "2.0",
        id,
        method,
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use serde_json::Value;

    #[test]
    fn results_from_pre_encoded_members_only() {
        let id = RequestId::String("a\"b".into());
        let out = encode_result_members(&id, &[br#""content":[]"#, b"", br#""isError":false"#]);
        let v: Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(v["id"], "a\"b");
        assert_eq!(
            v["result"],
            serde_json::json!({"content": [], "isError": false})
        );
        let empty = encode_result_members(&id, &[]);
        let v: Value = serde_json::from_slice(&empty).expect("valid JSON");
        assert_eq!(v["result"], serde_json::json!({}));
    }

    #[test]
    fn results_gain_pre_encoded_members() {
        let id = RequestId::Number(7);
        let members = br#""resultType":"complete","_meta":{"k":1}"#;
        for result in [
            serde_json::json!({}),
            serde_json::json!({"content":[{"text":"}}"}]}),
        ] {
            let Value::Object(map) = result.clone() else {
                unreachable!()
            };
            let out: Value =
                serde_json::from_slice(&encode_result_with(&id, &map, members)).unwrap();
            let mut want = map;
            want.insert("resultType".into(), "complete".into());
            want.insert("_meta".into(), serde_json::json!({"k":1}));
            assert_eq!(
                out,
                serde_json::json!({"jsonrpc":"2.0","id":7,"result":want})
            );
        }
    }

    #[test]
    fn batches_split_into_members_within_bounds() {
        assert!(batch_items(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).is_none());
        let items = batch_items(br#" [{"jsonrpc":"2.0","id":1,"method":"ping"}, {"x":1}]"#)
            .expect("an array")
            .expect("valid JSON");
        assert_eq!(items.len(), 2);
        assert!(Message::decode(items[0].get().as_bytes()).is_ok());
        assert!(Message::decode(items[1].get().as_bytes()).is_err());
        assert!(matches!(
            batch_items(b"[]"),
            Some(Err(DecodeError::Invalid { .. }))
        ));
        assert!(matches!(
            batch_items(b"[1,"),
            Some(Err(DecodeError::Parse(_)))
        ));
        let many = format!("[{}]", vec!["{}"; MAX_BATCH + 1].join(","));
        assert!(matches!(
            batch_items(many.as_bytes()),
            Some(Err(DecodeError::Invalid { .. }))
        ));
        let deep = format!("[{}{}]", "[".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
        assert!(matches!(
            batch_items(deep.as_bytes()),
            Some(Err(DecodeError::Parse(_)))
        ));
    }

    #[test]
    fn decodes_request_notification_and_response() {
        let m = Message::decode(br#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}"#)
            .unwrap();
        assert_eq!(m.kind, MessageKind::Request);
        assert_eq!(m.id, Some(RequestId::Number(7)));
        assert_eq!(m.method, "tools/list");
        let n =
            Message::decode(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert_eq!(n.kind, MessageKind::Notification);
        let r = Message::decode(br#"{"jsonrpc":"2.0","id":"s1","result":{}}"#).unwrap();
        assert_eq!(r.kind, MessageKind::Response);
        assert_eq!(r.id, Some(RequestId::String("s1".into())));
    }

    #[test]
    fn escaped_method_names_still_decode() {
        let m = Message::decode(br#"{"jsonrpc":"2.0","id":1,"method":"tools\/list"}"#).unwrap();
        assert_eq!(m.method, "tools/list");
    }

    #[test]
    fn malformed_json_is_a_parse_error() {
        let e = Message::decode(b"{not json").unwrap_err();
        assert_eq!(e.to_rpc_error().code, ErrorCode::PARSE_ERROR);
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"x","params":{{"a":{}1{}}}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let e = Message::decode(body.as_bytes()).unwrap_err();
        assert_eq!(e.to_rpc_error().code, ErrorCode::PARSE_ERROR);
    }

    #[test]
    fn invalid_envelopes_keep_the_id_when_readable() {
        let e = Message::decode(br#"{"jsonrpc":"1.0","id":3,"method":"x"}"#).unwrap_err();
        assert_eq!(e.id(), Some(&RequestId::Number(3)));
        assert_eq!(e.to_rpc_error().code, ErrorCode::INVALID_REQUEST);
        let e = Message::decode(br#"{"jsonrpc":"2.0","id":null,"method":"x"}"#).unwrap_err();
        assert_eq!(e.to_rpc_error().code, ErrorCode::INVALID_REQUEST);
        let e =
            Message::decode(br#"{"jsonrpc":"2.0","id":1,"method":"x","params":5}"#).unwrap_err();
        assert_eq!(e.to_rpc_error().code, ErrorCode::INVALID_REQUEST);
        let e = Message::decode(br#"[{"jsonrpc":"2.0","id":1,"method":"x"}]"#).unwrap_err();
        assert_eq!(e.to_rpc_error().code, ErrorCode::INVALID_REQUEST);
        let e = Message::decode(br#"{"jsonrpc":"2.0","id":1}"#).unwrap_err();
        assert_eq!(e.to_rpc_error().code, ErrorCode::INVALID_REQUEST);
    }

    #[test]
    fn encoders_produce_json_rpc() {
        let id = RequestId::Number(1);
        let out = encode_result(&id, &serde_json::json!({"ok":true}));
        assert_eq!(out, br#"{"jsonrpc":"2.0","id":1,"result":{"ok":true}}"#);
        let out = encode_error(None, &RpcError::parse_error("x"));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error: x"}}"#
        );
    }
}
