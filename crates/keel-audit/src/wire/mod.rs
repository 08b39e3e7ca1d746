//! Bytes to and from the server: one HTTP request per connection, raw sockets for the
//! transport probes, and a child's stdio.

mod http;
mod raw;
mod stdio;

use serde_json::Value;

pub(crate) use http::{HttpRequest, HttpTarget, TargetError};
pub(crate) use raw::{RawOutcome, held_open, send_oversized};
pub(crate) use stdio::StdioChild;

/// Most bytes of an answer kept; the rest is read and dropped.
const MAX_ANSWER: usize = 4 * 1024 * 1024;

/// What came back for one request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Answer {
    /// HTTP status (None on stdio).
    pub(crate) status: Option<u16>,
    /// Response headers, names lower-case.
    pub(crate) headers: Vec<(String, String)>,
    /// The body as text (lossy), at most [`MAX_ANSWER`] bytes.
    pub(crate) body: String,
    /// The JSON-RPC messages in it (a JSON body, SSE `data:` events or a stdio line).
    pub(crate) messages: Vec<Value>,
}

impl Answer {
    /// The first value of header `name` (lower-case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The JSON-RPC response in it (a message with `result` or `error`).
    pub(crate) fn response(&self) -> Option<&Value> {
        self.messages
            .iter()
            .find(|m| m.get("result").is_some() || m.get("error").is_some())
    }

    /// The `result` of its response.
    pub(crate) fn result(&self) -> Option<&Value> {
        self.response().and_then(|m| m.get("result"))
    }

    /// Whether the server said no: an HTTP 4xx, or a JSON-RPC error with a 2xx / no status.
    pub(crate) fn is_refusal(&self) -> bool {
        match self.status {
            Some(s) if (400..500).contains(&s) => true,
            Some(s) if s >= 500 => false,
            _ => self.response().is_some_and(|m| m.get("error").is_some()),
        }
    }

    /// Whether a JSON-RPC result (not an error) was served.
    pub(crate) fn is_success(&self) -> bool {
        matches!(self.status, None | Some(200..=299)) && self.result().is_some()
    }

    /// A short description for evidence.
    pub(crate) fn summary(&self) -> String {
        let status = self
            .status
            .map(|s| format!("HTTP {s} "))
            .unwrap_or_default();
        format!("{status}{}", shorten(&self.body, 160))
    }
}

/// Splits a body into JSON-RPC messages: SSE `data:` events or one JSON document.
pub(crate) fn messages_of(body: &str, sse: bool) -> Vec<Value> {
    if sse {
        let mut out = Vec::new();
        let body = body.replace("\r\n", "\n");
        for event in body.split("\n\n") {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            if data.is_empty() {
                continue;
            }
            if let Ok(v) = serde_json::from_str::<Value>(&data.join("\n")) {
                out.push(v);
            }
        }
        out
    } else {
        match serde_json::from_str::<Value>(body.trim()) {
            Ok(Value::Array(items)) => items,
            Ok(v) => vec![v],
            Err(_) => Vec::new(),
        }
    }
}

/// `s` cut to `max` characters, newlines shown as spaces.
pub(crate) fn shorten(s: &str, max: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if s.chars().count() > max {
        format!("{flat}…")
    } else {
        flat
    }
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WireError {
    /// Nothing came back within the per-request timeout.
    #[error("no answer within the timeout")]
    Timeout,
    /// The connection failed or closed before an answer.
    #[error("connection failed: {0}")]
    Io(#[from] std::io::Error),
    /// HTTP-level failure (the server closed or sent garbage).
    #[error("HTTP failure: {0}")]
    Http(#[from] hyper::Error),
    /// The child process closed its stdout.
    #[error("the server closed its output")]
    Closed,
}

#[cfg(test)]
mod tests {
    use super::messages_of;

    #[test]
    fn splits_sse_events_with_either_line_ending() {
        let lf =
            "id: 0\nretry: 3000\ndata: \n\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n";
        let crlf = lf.replace('\n', "\r\n");
        for body in [lf.to_owned(), crlf] {
            let msgs = messages_of(&body, true);
            assert_eq!(msgs.len(), 1, "{body:?}");
            assert_eq!(msgs[0]["id"], 1);
        }
        assert_eq!(messages_of("[{\"a\":1},{\"b\":2}]", false).len(), 2);
    }
}
