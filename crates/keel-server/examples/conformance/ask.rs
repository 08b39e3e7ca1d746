//! Asking the client for input, and checking what it answered.
//!
//! `Context::ask` already serves both eras (a server-to-client request on a legacy session,
//! an `input_required` round on 2026-07-28); these helpers add what the fixtures share:
//! several questions in one round, and refusing answers of the wrong shape with `-32602`
//! instead of treating them as data.

use keel_core::{Context, ToolError};
use keel_protocol::{RpcError, methods};
use serde_json::{Map, Value, json};
use tokio::task::JoinSet;

/// One question: the key that names it across rounds, the method and its params.
pub(crate) struct Ask {
    key: &'static str,
    method: &'static str,
    params: Value,
}

impl Ask {
    /// A form-mode `elicitation/create`.
    pub(crate) fn elicit(key: &'static str, message: &str, schema: Value) -> Self {
        Self {
            key,
            method: methods::ELICITATION_CREATE,
            params: json!({ "mode": "form", "message": message, "requestedSchema": schema }),
        }
    }

    /// A `sampling/createMessage` with one user text message.
    pub(crate) fn sample(key: &'static str, prompt: &str, max_tokens: u32) -> Self {
        Self {
            key,
            method: methods::SAMPLING_CREATE_MESSAGE,
            params: sampling_params(prompt, max_tokens),
        }
    }

    /// A `roots/list`.
    pub(crate) fn roots(key: &'static str) -> Self {
        Self {
            key,
            method: methods::ROOTS_LIST,
            params: json!({}),
        }
    }
}

/// Params of a `sampling/createMessage` with one user text message.
pub(crate) fn sampling_params(prompt: &str, max_tokens: u32) -> Value {
    json!({
        "messages": [{ "role": "user", "content": { "type": "text", "text": prompt } }],
        "maxTokens": max_tokens,
    })
}

/// Asks every question at once; returns all answers by key, or one `input_required` round
/// carrying every question still unanswered (so a modern client answers them together).
///
/// The questions run concurrently: within a task each waits for its own `tasks/update`, and
/// the task shows them all as pending at the same time.
pub(crate) async fn ask_all(cx: &Context, asks: Vec<Ask>) -> Result<Map<String, Value>, ToolError> {
    // A JoinSet aborts whatever is still asking if this future is dropped (cancellation).
    let mut set = JoinSet::new();
    for ask in asks {
        let cx = cx.clone();
        set.spawn(async move { (ask.key, cx.ask(ask.key, ask.method, ask.params).await) });
    }
    let mut answers = Map::new();
    let mut pending = Map::new();
    while let Some(joined) = set.join_next().await {
        let (key, outcome) = joined.map_err(|e| ToolError::failed(format!("ask failed: {e}")))?;
        match outcome {
            Ok(answer) => {
                answers.insert(key.into(), answer);
            }
            Err(ToolError::InputRequired(requests)) => pending.extend(requests),
            Err(e) => return Err(e),
        }
    }
    if pending.is_empty() {
        Ok(answers)
    } else {
        Err(ToolError::InputRequired(pending))
    }
}

fn malformed(key: &str, what: &str) -> ToolError {
    ToolError::Protocol(RpcError::invalid_params(format!(
        "input response {key} is not a valid {what}"
    )))
}

/// An `ElicitResult`: `Some(content)` when the user accepted, `None` on decline or cancel.
pub(crate) fn accepted(key: &str, answer: &Value) -> Result<Option<Map<String, Value>>, ToolError> {
    let action = answer
        .get("action")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed(key, "ElicitResult"))?;
    match action {
        "accept" => match answer.get("content") {
            Some(Value::Object(c)) => Ok(Some(c.clone())),
            None => Ok(Some(Map::new())),
            Some(_) => Err(malformed(key, "ElicitResult")),
        },
        "decline" | "cancel" => Ok(None),
        _ => Err(malformed(key, "ElicitResult")),
    }
}

/// The text of a `CreateMessageResult`.
pub(crate) fn sampled_text(key: &str, answer: &Value) -> Result<String, ToolError> {
    let content = answer
        .get("content")
        .ok_or_else(|| malformed(key, "CreateMessageResult"))?;
    // The content is one block, or (from 2025-11-25 on) an array of blocks.
    let blocks = match content {
        Value::Array(a) => a.iter().collect(),
        one => vec![one],
    };
    let text: Vec<&str> = blocks
        .iter()
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect();
    if text.is_empty() && blocks.is_empty() {
        return Err(malformed(key, "CreateMessageResult"));
    }
    Ok(text.join(" "))
}

/// The URIs of a `ListRootsResult`.
pub(crate) fn root_uris(key: &str, answer: &Value) -> Result<Vec<String>, ToolError> {
    let roots = answer
        .get("roots")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed(key, "ListRootsResult"))?;
    roots
        .iter()
        .map(|r| {
            r.get("uri")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| malformed(key, "ListRootsResult"))
        })
        .collect()
}

/// A string field of accepted elicitation content, or a placeholder.
pub(crate) fn field<'a>(content: &'a Map<String, Value>, name: &str) -> &'a str {
    content
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or("(none)")
}
