//! Fixtures of the tasks extension (`io.modelcontextprotocol/tasks`): ordinary tools that
//! declare their task support. Whether a call runs inline or as a task, and how a task's
//! `input_required` rounds travel (`tasks/get`, `tasks/update`), is the runtime's business;
//! the tools only do the work, honour cancellation and ask through `Context`.

use std::time::Duration;

use keel_core::{CallToolResult, Context, TaskSupport, Tool, ToolBuilder, ToolError};
use keel_protocol::{ErrorCode, RpcError, methods};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::{
    ask::{Ask, accepted, ask_all, field},
    interactive::pause,
    no_args,
};

/// Arguments of `greet`.
#[derive(Debug, Deserialize, JsonSchema)]
struct GreetArgs {
    /// Who to greet.
    name: String,
}

/// Arguments of `slow_compute`.
#[derive(Debug, Deserialize, JsonSchema)]
struct SlowComputeArgs {
    /// How long the computation takes, in seconds (0 to 3600).
    seconds: f64,
    /// A label echoed in the result.
    #[serde(default)]
    label: Option<String>,
}

/// Arguments of `confirm_delete`.
#[derive(Debug, Deserialize, JsonSchema)]
struct ConfirmDeleteArgs {
    /// The file to delete (nothing is deleted: this is a fixture).
    filename: String,
}

/// Longest `slow_compute` accepted.
const MAX_SECONDS: f64 = 3600.0;

/// How long `failing_job` and `protocol_error_job` work before failing.
const JOB_TIME: Duration = Duration::from_secs(1);

fn name_schema() -> serde_json::Value {
    json!({
        "type": "object",
        "properties": { "name": { "type": "string", "description": "A name" } },
        "required": ["name"]
    })
}

/// The tasks-extension tools.
pub(crate) fn tools() -> Vec<Tool> {
    vec![
        ToolBuilder::typed::<GreetArgs>("greet")
            .description("Greets someone; always answered inline, never as a task.")
            .typed_handler(|a: GreetArgs, _| async move {
                Ok(CallToolResult::text(format!("Hello, {}!", a.name)))
            }),
        ToolBuilder::typed::<SlowComputeArgs>("slow_compute")
            .description("Works for the given number of seconds, then reports; may run as a task.")
            .task_support(TaskSupport::Optional)
            .typed_handler(|a: SlowComputeArgs, cx: Context| async move {
                if !(0.0..=MAX_SECONDS).contains(&a.seconds) {
                    return Err(ToolError::invalid_arguments(format!(
                        "seconds must be between 0 and {MAX_SECONDS}"
                    )));
                }
                pause(&cx, Duration::from_secs_f64(a.seconds)).await?;
                let label = a.label.as_deref().unwrap_or("unlabelled");
                Ok(CallToolResult::text(format!(
                    "slow_compute {label}: done after {} s",
                    a.seconds
                )))
            }),
        no_args(
            "failing_job",
            "Must run as a task; fails with a tool execution error (isError) after a second.",
        )
        .task_support(TaskSupport::Required)
        .handler(|_, cx: Context| async move {
            pause(&cx, JOB_TIME).await?;
            Ok(CallToolResult::error(
                "failing_job failed, as it always does",
            ))
        }),
        no_args(
            "protocol_error_job",
            "Must run as a task; fails with a JSON-RPC protocol error after a second.",
        )
        .task_support(TaskSupport::Required)
        .handler(|_, cx: Context| async move {
            pause(&cx, JOB_TIME).await?;
            Err(ToolError::Protocol(RpcError::new(
                ErrorCode::INTERNAL_ERROR,
                "protocol_error_job failed with a protocol error, as it always does",
            )))
        }),
        ToolBuilder::typed::<ConfirmDeleteArgs>("confirm_delete")
            .description("Asks the user to confirm before (pretending to) delete a file.")
            .task_support(TaskSupport::Optional)
            .typed_handler(|a: ConfirmDeleteArgs, cx: Context| async move {
                let schema = json!({
                    "type": "object",
                    "properties": { "confirm": { "type": "boolean", "description": "Delete?" } },
                    "required": ["confirm"]
                });
                let message = format!("Delete {}?", a.filename);
                let answer = cx.elicit("confirm", &message, schema).await?;
                let yes = accepted("confirm", &answer)?
                    .and_then(|c| c.get("confirm").and_then(serde_json::Value::as_bool))
                    .unwrap_or(false);
                Ok(CallToolResult::text(if yes {
                    format!("Deleted {}", a.filename)
                } else {
                    format!("Kept {}", a.filename)
                }))
            }),
        no_args(
            "multi_input",
            "Asks two questions at once and reports both answers.",
        )
        .task_support(TaskSupport::Optional)
        .handler(|_, cx: Context| async move {
            let answers = ask_all(
                &cx,
                vec![
                    Ask::elicit("first", "First input: a name", name_schema()),
                    Ask::elicit("second", "Second input: another name", name_schema()),
                ],
            )
            .await?;
            let mut names = Vec::new();
            for key in ["first", "second"] {
                names.push(match accepted(key, &answers[key])? {
                    Some(c) => field(&c, "name").to_owned(),
                    None => "(declined)".to_owned(),
                });
            }
            Ok(CallToolResult::text(format!(
                "Inputs received: {}",
                names.join(", ")
            )))
        }),
        no_args(
            "test_tool_with_task",
            "Must run as a task: asks the user's name within the call, then works on it as a task.",
        )
        .task_support(TaskSupport::Required)
        .handler(|_, cx: Context| async move {
            // Asked before the task exists: the client answers by retrying the call.
            let params = json!({
                "mode": "form",
                "message": "What is your name?",
                "requestedSchema": name_schema(),
            });
            let answer = cx
                .ask_inline("user_name", methods::ELICITATION_CREATE, params)
                .await?;
            let name = accepted("user_name", &answer)?
                .map(|c| field(&c, "name").to_owned())
                .unwrap_or_else(|| "(declined)".into());
            pause(&cx, Duration::from_millis(200)).await?;
            Ok(CallToolResult::text(format!(
                "Task finished for {name}: Hello, {name}!"
            )))
        }),
    ]
}
