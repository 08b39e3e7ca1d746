//! Fixtures of the stateless (2026-07-28) transport probes: per-request capabilities,
//! streams that carry no server-to-client requests, logging only on request, list-change
//! triggers (announced to `subscriptions/listen` streams), `x-mcp-header` parameters, and SSE resumption (`test_reconnection`).

use keel_core::{CallToolResult, Context, ListChange, LogLevel, Tool, ToolBuilder, ToolError};
use keel_protocol::RpcError;
use serde_json::{Value, json};

use crate::{
    ask::{accepted, field},
    no_args,
};

/// The stateless-probe tools.
pub(crate) fn tools() -> Vec<Tool> {
    vec![
        no_args(
            "test_missing_capability",
            "Needs the client's sampling capability: refuses with -32021 without it.",
        )
        .handler(|_, cx: Context| async move {
            if !cx.client_caps().sampling {
                return Err(ToolError::Protocol(RpcError::missing_capability(
                    json!({ "sampling": {} }),
                )));
            }
            Ok(CallToolResult::text("Success"))
        }),
        no_args(
            "test_streaming_elicitation",
            "Asks the user for a word through elicitation; on 2026-07-28 that is an \
             input_required result, never a request on the response stream.",
        )
        .handler(|_, cx: Context| async move {
            cx.progress(0.0, Some(1.0), Some("asking the user"));
            if !cx.client_caps().elicitation {
                return Ok(CallToolResult::text(
                    "the client cannot elicit; nothing to ask",
                ));
            }
            let schema = json!({
                "type": "object",
                "properties": { "word": { "type": "string" } },
                "required": ["word"]
            });
            let answer = cx.elicit("word", "Say a word", schema).await?;
            let text = match accepted("word", &answer)? {
                Some(c) => format!("You said {}", field(&c, "word")),
                None => "No word given".to_owned(),
            };
            cx.progress(1.0, Some(1.0), None);
            Ok(CallToolResult::text(text))
        }),
        no_args(
            "test_logging_tool",
            "Logs at info level; the client sees it only if it asked for a log level.",
        )
        .handler(|_, cx: Context| async move {
            cx.log(
                LogLevel::Info,
                Some("conformance"),
                json!("test_logging_tool ran"),
            );
            Ok(CallToolResult::text("Logging tool completed"))
        }),
        no_args(
            "test_trigger_tool_change",
            "Announces a tools/list change to subscribers (a trigger for clients' tests: the \
             list itself stays the same).",
        )
        .handler(|_, cx: Context| async move {
            cx.notify_changed(ListChange::Tools);
            Ok(CallToolResult::text("Tool list change announced"))
        }),
        no_args(
            "test_trigger_prompt_change",
            "Announces a prompts/list change to subscribers (a trigger for clients' tests: the \
             list itself stays the same).",
        )
        .handler(|_, cx: Context| async move {
            cx.notify_changed(ListChange::Prompts);
            Ok(CallToolResult::text("Prompt list change announced"))
        }),
        ToolBuilder::new(
            "test_header_param",
            json!({
                "type": "object",
                "properties": {
                    "region": {
                        "type": "string",
                        "description": "Region; mirrored in the Mcp-Param-Region header",
                        "x-mcp-header": "Region"
                    }
                },
                "required": ["region"]
            }),
        )
        .description("Echoes its region argument, which 2026-07-28 clients mirror in a header.")
        .handler(|args: Value, _| async move {
            let region = args
                .get("region")
                .and_then(Value::as_str)
                .unwrap_or_default();
            Ok(CallToolResult::text(format!("Region: {region}")))
        }),
        no_args(
            "test_reconnection",
            "Lets go of the SSE connection, then answers: the client resumes with Last-Event-ID.",
        )
        .handler(|_, ctx: Context| async move {
            ctx.close_stream();
            Ok(CallToolResult::text("Reconnection test completed"))
        }),
    ]
}
