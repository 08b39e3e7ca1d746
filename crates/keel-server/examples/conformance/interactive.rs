//! Tools that talk to the client while they run: sampling, elicitation, logging and
//! progress. On a legacy session the questions travel as server-to-client requests on the
//! call's SSE stream; on 2026-07-28 the same code yields `input_required` rounds.

use std::time::Duration;

use keel_core::{CallToolResult, Context, LogLevel, Tool, ToolBuilder, ToolError};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    ask::{sampled_text, sampling_params},
    no_args,
};

/// Arguments of `test_sampling`.
#[derive(Debug, Deserialize, JsonSchema)]
struct SamplingArgs {
    /// The prompt to send to the client's model.
    prompt: String,
}

/// Arguments of `test_elicitation`.
#[derive(Debug, Deserialize, JsonSchema)]
struct ElicitationArgs {
    /// The message shown to the user.
    message: String,
}

/// "action=…, content={…}" of an `ElicitResult`.
fn describe_elicit_result(answer: &Value) -> String {
    let action = answer
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let content = answer.get("content").cloned().unwrap_or(json!({}));
    format!("action={action}, content={content}")
}

fn sep1034_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": { "type": "string", "description": "Your name", "default": "John Doe" },
            "age": { "type": "integer", "description": "Your age", "default": 30 },
            "score": { "type": "number", "description": "Your score", "default": 95.5 },
            "status": {
                "type": "string",
                "description": "Your status",
                "enum": ["active", "inactive", "pending"],
                "default": "active"
            },
            "verified": { "type": "boolean", "description": "Verified?", "default": true }
        },
        "required": []
    })
}

fn sep1330_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "untitledSingle": {
                "type": "string",
                "description": "Pick one (untitled)",
                "enum": ["option1", "option2", "option3"]
            },
            "titledSingle": {
                "type": "string",
                "description": "Pick one (titled)",
                "oneOf": [
                    { "const": "value1", "title": "First Option" },
                    { "const": "value2", "title": "Second Option" },
                    { "const": "value3", "title": "Third Option" }
                ]
            },
            "legacyEnum": {
                "type": "string",
                "description": "Pick one (legacy enumNames)",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"]
            },
            "untitledMulti": {
                "type": "array",
                "description": "Pick several (untitled)",
                "minItems": 1,
                "maxItems": 3,
                "items": { "type": "string", "enum": ["option1", "option2", "option3"] }
            },
            "titledMulti": {
                "type": "array",
                "description": "Pick several (titled)",
                "minItems": 1,
                "maxItems": 3,
                "items": {
                    "anyOf": [
                        { "const": "value1", "title": "First Choice" },
                        { "const": "value2", "title": "Second Choice" },
                        { "const": "value3", "title": "Third Choice" }
                    ]
                }
            }
        },
        "required": []
    })
}

/// Sleeps unless the request is cancelled first.
pub(crate) async fn pause(cx: &Context, d: Duration) -> Result<(), ToolError> {
    tokio::select! {
        () = tokio::time::sleep(d) => Ok(()),
        () = cx.cancelled() => Err(ToolError::Cancelled),
    }
}

const STEP: Duration = Duration::from_millis(50);

/// The client-interaction tools.
pub(crate) fn tools() -> Vec<Tool> {
    vec![
        ToolBuilder::typed::<SamplingArgs>("test_sampling")
            .description("Asks the client's model to answer the prompt (sampling).")
            .typed_handler(|a: SamplingArgs, cx: Context| async move {
                if !cx.client_caps().sampling {
                    return Ok(CallToolResult::error(
                        "the client did not declare the sampling capability",
                    ));
                }
                let answer = cx
                    .sample("sampling", sampling_params(&a.prompt, 100))
                    .await?;
                let text = sampled_text("sampling", &answer)?;
                Ok(CallToolResult::text(format!("LLM response: {text}")))
            }),
        ToolBuilder::typed::<ElicitationArgs>("test_elicitation")
            .description("Asks the user for a username and an email address (elicitation).")
            .typed_handler(|a: ElicitationArgs, cx: Context| async move {
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "username": { "type": "string", "description": "User's response" },
                        "email": { "type": "string", "description": "User's email address" }
                    },
                    "required": ["username", "email"]
                });
                let answer = cx.elicit("elicitation", &a.message, schema).await?;
                Ok(CallToolResult::text(format!(
                    "User response: {}",
                    describe_elicit_result(&answer)
                )))
            }),
        no_args(
            "test_elicitation_sep1034_defaults",
            "Elicits a form whose fields carry default values (SEP-1034).",
        )
        .handler(|_, cx: Context| async move {
            let answer = cx
                .elicit(
                    "defaults",
                    "Please review and update the form fields with defaults",
                    sep1034_schema(),
                )
                .await?;
            Ok(CallToolResult::text(format!(
                "Elicitation completed: {}",
                describe_elicit_result(&answer)
            )))
        }),
        no_args(
            "test_elicitation_sep1330_enums",
            "Elicits single- and multi-select enums, titled and untitled (SEP-1330).",
        )
        .handler(|_, cx: Context| async move {
            let answer = cx
                .elicit(
                    "enums",
                    "Please select options from the enum fields",
                    sep1330_schema(),
                )
                .await?;
            Ok(CallToolResult::text(format!(
                "Elicitation completed: {}",
                describe_elicit_result(&answer)
            )))
        }),
        no_args(
            "test_tool_with_logging",
            "Sends three log messages while it runs (at the client's log level).",
        )
        .handler(|_, cx: Context| async move {
            for (i, message) in [
                "Tool execution started",
                "Tool processing data",
                "Tool execution completed",
            ]
            .into_iter()
            .enumerate()
            {
                if i > 0 {
                    pause(&cx, STEP).await?;
                }
                cx.log(LogLevel::Info, Some("conformance"), json!(message));
            }
            Ok(CallToolResult::text(
                "Tool with logging executed successfully",
            ))
        }),
        no_args(
            "test_tool_with_progress",
            "Reports progress 0, 50 and 100 of 100 when the request carries a progress token.",
        )
        .handler(|_, cx: Context| async move {
            for (i, p) in [0.0, 50.0, 100.0].into_iter().enumerate() {
                if i > 0 {
                    pause(&cx, STEP).await?;
                }
                cx.progress(p, Some(100.0), Some(&format!("step {}", i + 1)));
            }
            Ok(CallToolResult::text("Progress tool completed"))
        }),
    ]
}
