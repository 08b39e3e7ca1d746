//! Multi round-trip fixtures (`input-required-result-*`): each tool asks with
//! `Context::ask` and propagates `ToolError::InputRequired` with `?`; the runtime turns it
//! into an `input_required` result with a signed `requestState` and hands the answers back
//! on the client's retry.

use keel_core::{CallToolResult, Context, Tool};
use serde_json::{Value, json};

use crate::{
    ask::{Ask, accepted, ask_all, field, root_uris, sampled_text},
    no_args,
};

fn name_schema() -> Value {
    json!({
        "type": "object",
        "properties": { "name": { "type": "string", "description": "Your name" } },
        "required": ["name"]
    })
}

fn confirm_schema() -> Value {
    json!({
        "type": "object",
        "properties": { "ok": { "type": "boolean", "description": "Confirm" } },
        "required": ["ok"]
    })
}

/// The multi round-trip tools.
pub(crate) fn tools() -> Vec<Tool> {
    vec![
        no_args(
            "test_input_required_result_elicitation",
            "Asks the user's name (key user_name), then greets them.",
        )
        .handler(|_, cx: Context| async move {
            let answer = cx
                .elicit("user_name", "What is your name?", name_schema())
                .await?;
            Ok(CallToolResult::text(
                match accepted("user_name", &answer)? {
                    Some(c) => format!("Hello, {}!", field(&c, "name")),
                    None => "The user declined to give a name.".to_owned(),
                },
            ))
        }),
        no_args(
            "test_input_required_result_sampling",
            "Asks the client's model for the capital of France.",
        )
        .handler(|_, cx: Context| async move {
            let ask = Ask::sample("capital", "What is the capital of France?", 100);
            let answers = ask_all(&cx, vec![ask]).await?;
            let text = sampled_text("capital", &answers["capital"])?;
            Ok(CallToolResult::text(format!("The model answered: {text}")))
        }),
        no_args(
            "test_input_required_result_list_roots",
            "Asks the client for its roots and lists them.",
        )
        .handler(|_, cx: Context| async move {
            let answer = cx.list_roots("roots").await?;
            let uris = root_uris("roots", &answer)?;
            Ok(CallToolResult::text(format!(
                "Client roots ({}): {}",
                uris.len(),
                uris.join(", ")
            )))
        }),
        no_args(
            "test_input_required_result_request_state",
            "Asks for a confirmation; the retry must echo the signed requestState.",
        )
        .handler(|_, cx: Context| async move {
            let answer = cx
                .elicit("confirm", "Please confirm", confirm_schema())
                .await?;
            let ok = accepted("confirm", &answer)?
                .and_then(|c| c.get("ok").and_then(Value::as_bool))
                .unwrap_or(false);
            Ok(CallToolResult::text(format!(
                "state-ok: requestState verified, confirmed={ok}"
            )))
        }),
        no_args(
            "test_input_required_result_multiple_inputs",
            "Asks for a name, a sampled greeting and the client's roots in one round.",
        )
        .handler(|_, cx: Context| async move {
            let a = ask_all(
                &cx,
                vec![
                    Ask::elicit("user_name", "What is your name?", name_schema()),
                    Ask::sample("greeting", "Write a one-line greeting.", 50),
                    Ask::roots("client_roots"),
                ],
            )
            .await?;
            let name = accepted("user_name", &a["user_name"])?
                .map(|c| field(&c, "name").to_owned())
                .unwrap_or_else(|| "(declined)".into());
            let greeting = sampled_text("greeting", &a["greeting"])?;
            let roots = root_uris("client_roots", &a["client_roots"])?;
            Ok(CallToolResult::text(format!(
                "name={name}; greeting={greeting}; roots={}",
                roots.join(",")
            )))
        }),
        no_args(
            "test_input_required_result_multi_round",
            "Asks two questions in two rounds: a name, then a favourite colour.",
        )
        .handler(|_, cx: Context| async move {
            let step1 = cx
                .elicit("step1", "Step 1: What is your name?", name_schema())
                .await?;
            let name = accepted("step1", &step1)?
                .map(|c| field(&c, "name").to_owned())
                .unwrap_or_else(|| "(declined)".into());
            let colour_schema = json!({
                "type": "object",
                "properties": { "color": { "type": "string", "description": "Colour" } },
                "required": ["color"]
            });
            let step2 = cx
                .elicit(
                    "step2",
                    "Step 2: What is your favorite color?",
                    colour_schema,
                )
                .await?;
            let colour = accepted("step2", &step2)?
                .map(|c| field(&c, "color").to_owned())
                .unwrap_or_else(|| "(declined)".into());
            Ok(CallToolResult::text(format!(
                "{name}'s favorite color is {colour}"
            )))
        }),
        no_args(
            "test_input_required_result_tampered_state",
            "Asks for a confirmation; an altered requestState on the retry is refused.",
        )
        .handler(|_, cx: Context| async move {
            let answer = cx
                .elicit("confirm", "Please confirm", confirm_schema())
                .await?;
            accepted("confirm", &answer)?;
            Ok(CallToolResult::text(
                "Confirmed with an intact requestState",
            ))
        }),
        no_args(
            "test_input_required_result_capabilities",
            "Asks only with the kinds of request this request's client capabilities allow.",
        )
        .handler(|_, cx: Context| async move {
            let caps = cx.client_caps();
            let mut asks = Vec::new();
            if caps.sampling {
                asks.push(Ask::sample("summary", "Summarise MCP in one line.", 50));
            }
            if caps.elicitation {
                asks.push(Ask::elicit(
                    "user_name",
                    "What is your name?",
                    name_schema(),
                ));
            }
            if caps.roots {
                asks.push(Ask::roots("client_roots"));
            }
            if asks.is_empty() {
                return Ok(CallToolResult::text(
                    "The client declared no capability to ask with.",
                ));
            }
            let answers = ask_all(&cx, asks).await?;
            let mut keys: Vec<&str> = answers.keys().map(String::as_str).collect();
            keys.sort_unstable();
            Ok(CallToolResult::text(format!(
                "Answered within the declared capabilities: {}",
                keys.join(", ")
            )))
        }),
    ]
}
