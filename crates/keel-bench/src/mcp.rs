//! MCP on the wire as the generator needs it: requests rendered from templates without a JSON
//! tree, answers classified in one borrowed parse, input-required rounds answered.

use std::borrow::Cow;

use base64::Engine as _;
use http::HeaderValue;
use serde::Deserialize;
use serde_json::{Value, json, value::RawValue};

use crate::client::Answer;
use crate::stats::{Outcome, TransportError};
use crate::workload::{Entry, synthesize};

/// The stateless revision.
pub(crate) const MODERN_VERSION: &str = "2026-07-28";
/// The legacy revision asked for in `initialize`.
pub(crate) const LEGACY_VERSION: &str = "2025-11-25";

/// The `_meta` every modern request carries: version, capabilities (so servers may ask for
/// input) and client info.
const MODERN_META: &str = concat!(
    r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","#,
    r#""io.modelcontextprotocol/clientCapabilities":{"elicitation":{"form":{}},"sampling":{},"roots":{}},"#,
    r#""io.modelcontextprotocol/clientInfo":{"name":"keel-bench","version":""#,
    env!("CARGO_PKG_VERSION"),
    r#""}}"#
);

/// Which protocol era a run speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Era {
    /// 2026-07-28: `_meta` on every request, no session.
    Modern,
    /// Sessions opened with `initialize`.
    Legacy,
}

/// Appends one request: `{"jsonrpc":"2.0","id":ID,"method":M,"params":{…}}`, with `extra`
/// (retry fields, no surrounding commas) and, for the modern era, `_meta`.
pub(crate) fn render(era: Era, id: u64, entry: &Entry, key: u64, extra: &str, out: &mut Vec<u8>) {
    use std::io::Write;
    let _ = write!(out, r#"{{"jsonrpc":"2.0","id":{id},"method":"#);
    let _ = serde_json::to_writer(&mut *out, &entry.method);
    out.extend_from_slice(br#","params":{"#);
    let mut first = true;
    let mut comma = |out: &mut Vec<u8>| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
    };
    if !entry.params.is_empty() {
        comma(out);
        entry.params.render(key, out);
    }
    if !extra.is_empty() {
        comma(out);
        out.extend_from_slice(extra.as_bytes());
    }
    if era == Era::Modern {
        comma(out);
        out.extend_from_slice(MODERN_META.as_bytes());
    }
    out.extend_from_slice(b"}}");
}

/// A request with literal params (handshakes, listings), in the given era.
pub(crate) fn plain_request(era: Era, id: u64, method: &str, params: Value) -> Vec<u8> {
    let mut params = match params {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    if era == Era::Modern {
        let meta: Value =
            serde_json::from_str(&format!("{{{MODERN_META}}}")).unwrap_or(Value::Null);
        if let Some(m) = meta.get("_meta") {
            params.insert("_meta".into(), m.clone());
        }
    }
    serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
        .unwrap_or_default()
}

/// The `Mcp-Name` (or `Mcp-Param-*`) header for a value: as is when it is plain visible
/// ASCII, else the spec's Base64 sentinel.
pub(crate) fn name_header(text: &str) -> Option<HeaderValue> {
    let plain = !text.is_empty()
        && text.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !text.starts_with(' ')
        && !text.ends_with(' ');
    if plain {
        HeaderValue::try_from(text).ok()
    } else {
        let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
        HeaderValue::try_from(format!("=?base64?{encoded}?=")).ok()
    }
}

/// How an answer ended the request, or the round the server asks for.
#[derive(Debug)]
pub(crate) enum Classified {
    /// The request is over.
    Done(Outcome),
    /// `resultType: input_required`: retry with these fields (no surrounding commas).
    InputRequired(String),
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    result: Option<ResultHead<'a>>,
    error: Option<ErrorHead>,
    method: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct ErrorHead {
    code: i64,
}

#[derive(Deserialize)]
struct ResultHead<'a> {
    #[serde(rename = "isError")]
    is_error: Option<bool>,
    #[serde(rename = "resultType", borrow)]
    result_type: Option<Cow<'a, str>>,
    #[serde(rename = "inputRequests", borrow)]
    input_requests: Option<&'a RawValue>,
    #[serde(rename = "requestState", borrow)]
    request_state: Option<&'a RawValue>,
}

/// Classifies an answer: HTTP status, then the JSON-RPC response (from an SSE stream too).
pub(crate) fn classify(answer: &Answer) -> Classified {
    if !(200..300).contains(&answer.status) {
        return Classified::Done(Outcome::Http(answer.status));
    }
    let parsed = if answer.event_stream {
        sse_response(&answer.body)
    } else {
        serde_json::from_slice::<Envelope<'_>>(&answer.body)
            .ok()
            .filter(|e| e.method.is_none())
    };
    let Some(envelope) = parsed else {
        return Classified::Done(Outcome::Transport(TransportError::Malformed));
    };
    match (envelope.result, envelope.error) {
        (_, Some(e)) => Classified::Done(Outcome::JsonRpc(e.code)),
        (Some(r), None) if r.result_type.as_deref() == Some("input_required") => {
            Classified::InputRequired(retry_fields(&r))
        }
        (Some(r), None) if r.is_error == Some(true) => Classified::Done(Outcome::ToolError),
        (Some(_), None) => Classified::Done(Outcome::Ok),
        (None, None) => Classified::Done(Outcome::Transport(TransportError::Malformed)),
    }
}

/// The first JSON-RPC response among an SSE body's events (notifications and server
/// requests before it are skipped).
fn sse_response(body: &[u8]) -> Option<Envelope<'_>> {
    sse_data(std::str::from_utf8(body).ok()?)
        .filter_map(|data| serde_json::from_str::<Envelope<'_>>(data).ok())
        .find(|e| e.method.is_none())
}

/// The data of each SSE event that carries one `data:` line (a JSON-RPC message is one line
/// in every server seen; an event split over several lines is skipped). Events end at a
/// blank line, with LF or CRLF line endings.
fn sse_data(text: &str) -> impl Iterator<Item = &str> {
    let mut lines = text.lines().peekable();
    std::iter::from_fn(move || {
        while lines.peek().is_some() {
            let (mut first, mut count) = (None, 0);
            for line in lines.by_ref() {
                if line.is_empty() {
                    break;
                }
                if let Some(d) = line.strip_prefix("data:") {
                    count += 1;
                    first.get_or_insert(d.strip_prefix(' ').unwrap_or(d));
                }
            }
            if count == 1 {
                return first;
            }
        }
        None
    })
}

/// `inputResponses` answering every input request, and `requestState` echoed.
fn retry_fields(r: &ResultHead<'_>) -> String {
    let mut fields = Vec::new();
    if let Some(requests) = r.input_requests {
        let requests: serde_json::Map<String, Value> =
            serde_json::from_str(requests.get()).unwrap_or_default();
        let responses: serde_json::Map<String, Value> = requests
            .into_iter()
            .map(|(key, request)| (key, input_response(&request)))
            .collect();
        fields.push(format!(r#""inputResponses":{}"#, Value::Object(responses)));
    }
    if let Some(state) = r.request_state {
        fields.push(format!(r#""requestState":{}"#, state.get()));
    }
    fields.join(",")
}

/// A client's answer to one input request: accept a form with synthesized content, a fixed
/// sampled message, no roots.
fn input_response(request: &Value) -> Value {
    match request.get("method").and_then(Value::as_str) {
        Some("elicitation/create") => {
            let schema = &request["params"]["requestedSchema"];
            let content = synthesize(schema);
            let content = serde_json::to_string(&content)
                .unwrap_or_default()
                .replace("{key}", "0");
            json!({
                "action": "accept",
                "content": serde_json::from_str::<Value>(&content).unwrap_or(json!({})),
            })
        }
        Some("sampling/createMessage") => json!({
            "role": "assistant",
            "content": {"type": "text", "text": "keel bench"},
            "model": "keel-bench",
            "stopReason": "endTurn",
        }),
        Some("roots/list") => json!({ "roots": [] }),
        _ => json!({}),
    }
}

/// The result object of a literal request's answer, or why there is none.
pub(crate) fn result_of(answer: &Answer) -> Result<Value, String> {
    if !(200..300).contains(&answer.status) {
        return Err(format!(
            "HTTP {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)])
        ));
    }
    let text = std::str::from_utf8(&answer.body).map_err(|_| "the answer is not UTF-8")?;
    let json = if answer.event_stream {
        sse_data(text)
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .find(|v| v.get("method").is_none())
            .ok_or("no JSON-RPC response in the event stream")?
    } else {
        serde_json::from_str::<Value>(text).map_err(|e| format!("not JSON: {e}"))?
    };
    if let Some(e) = json.get("error") {
        return Err(format!("JSON-RPC error {e}"));
    }
    json.get("result")
        .cloned()
        .ok_or_else(|| "an answer without result".to_owned())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::workload::Workload;

    fn answer(status: u16, sse: bool, body: &str) -> Answer {
        Answer {
            status,
            session_id: None,
            event_stream: sse,
            body: Bytes::from(body.to_owned()),
        }
    }

    fn outcome(a: &Answer) -> Outcome {
        match classify(a) {
            Classified::Done(o) => o,
            Classified::InputRequired(f) => panic!("input required: {f}"),
        }
    }

    #[test]
    fn answers_are_classified_by_status_code_and_is_error() {
        let ok = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#;
        assert_eq!(outcome(&answer(200, false, ok)), Outcome::Ok);
        assert_eq!(outcome(&answer(503, false, ok)), Outcome::Http(503));
        let err = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"x"}}"#;
        assert_eq!(outcome(&answer(200, false, err)), Outcome::JsonRpc(-32602));
        let tool = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":true}}"#;
        assert_eq!(outcome(&answer(200, false, tool)), Outcome::ToolError);
        let sse = format!(
            "event: message\ndata: {}\n\nevent: message\ndata: {ok}\n\n",
            r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#
        );
        assert_eq!(outcome(&answer(200, true, &sse)), Outcome::Ok);
        assert_eq!(
            outcome(&answer(200, true, &sse.replace('\n', "\r\n"))),
            Outcome::Ok
        );
        assert_eq!(
            outcome(&answer(200, false, "<html>")),
            Outcome::Transport(TransportError::Malformed)
        );
    }

    #[test]
    fn input_required_rounds_are_answered_and_state_echoed() {
        let body = r#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required",
            "inputRequests":{"n":{"method":"elicitation/create","params":{"message":"?",
            "requestedSchema":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}}},
            "r":{"method":"roots/list"}},"requestState":"s\"1"}}"#;
        let Classified::InputRequired(fields) = classify(&answer(200, false, body)) else {
            panic!("not input required");
        };
        let v: Value = serde_json::from_str(&format!("{{{fields}}}")).unwrap();
        assert_eq!(v["requestState"], "s\"1");
        assert_eq!(v["inputResponses"]["n"]["action"], "accept");
        assert_eq!(v["inputResponses"]["n"]["content"]["name"], "bench 0");
        assert_eq!(v["inputResponses"]["r"]["roots"], json!([]));
    }

    #[test]
    fn rendered_requests_are_json_with_meta_only_when_modern() {
        let w = Workload::from_flags(
            "tools/call",
            Some("echo"),
            Some(r#"{"text":"k{key}"}"#),
            9,
            0.0,
        )
        .unwrap();
        let mix = w.resolve(None).unwrap();
        let mut out = Vec::new();
        render(
            Era::Modern,
            7,
            &mix.entries[0],
            4,
            r#""requestState":"x""#,
            &mut out,
        );
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["params"]["arguments"]["text"], "k4");
        assert_eq!(v["params"]["requestState"], "x");
        assert_eq!(
            v["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"],
            MODERN_VERSION
        );
        out.clear();
        render(Era::Legacy, 8, &mix.entries[0], 4, "", &mut out);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert!(v["params"].get("_meta").is_none());
        assert_eq!(name_header("echo").unwrap(), "echo");
        assert_eq!(name_header("café").unwrap(), "=?base64?Y2Fmw6k=?=");
    }
}
