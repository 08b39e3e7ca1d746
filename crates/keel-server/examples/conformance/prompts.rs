//! Prompts: plain, with arguments (and their completion), with an embedded resource, with an
//! image, and one that asks the user first (multi round-trip on `prompts/get`).

use keel_core::{Context, Prompt, PromptBuilder};
use serde_json::{Map, Value, json};

use crate::{
    ask::{accepted, field},
    media,
};

/// Values `arg1` and `arg2` of `test_prompt_with_arguments` complete from.
const ARGUMENT_VALUES: [&str; 4] = ["test", "testValue1", "testValue2", "example"];

fn user_text(text: &str) -> Value {
    json!({ "role": "user", "content": { "type": "text", "text": text } })
}

fn arg<'a>(args: &'a Map<String, Value>, name: &str) -> &'a str {
    args.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// The prompts.
pub(crate) fn prompts() -> Vec<Prompt> {
    vec![
        PromptBuilder::new("test_simple_prompt")
            .description("A prompt without arguments.")
            .get(|_, _| async {
                Ok(json!({ "messages": [user_text("This is a simple prompt for testing.")] }))
            }),
        PromptBuilder::new("test_prompt_with_arguments")
            .description("A prompt with two required arguments, both completable.")
            .argument("arg1", "First test argument", true)
            .argument("arg2", "Second test argument", true)
            .complete(|_, partial| {
                ARGUMENT_VALUES
                    .iter()
                    .filter(|v| v.starts_with(partial))
                    .map(|v| (*v).to_owned())
                    .collect()
            })
            .get(|args, _| async move {
                let text = format!(
                    "Prompt with arguments: arg1='{}', arg2='{}'",
                    arg(&args, "arg1"),
                    arg(&args, "arg2")
                );
                Ok(json!({ "messages": [user_text(&text)] }))
            }),
        PromptBuilder::new("test_prompt_with_embedded_resource")
            .description("A prompt embedding the resource named by resourceUri.")
            .argument("resourceUri", "URI of the resource to embed", true)
            .get(|args, _| async move {
                let uri = arg(&args, "resourceUri");
                Ok(json!({ "messages": [
                    { "role": "user", "content": { "type": "resource", "resource": {
                        "uri": uri,
                        "mimeType": "text/plain",
                        "text": "Embedded resource content for testing."
                    } } },
                    user_text("Please process the embedded resource above.")
                ] }))
            }),
        PromptBuilder::new("test_prompt_with_image")
            .description("A prompt with an image.")
            .get(|_, _| async {
                Ok(json!({ "messages": [
                    { "role": "user", "content": {
                        "type": "image", "data": media::PNG_BASE64, "mimeType": media::PNG_MIME
                    } },
                    user_text("Please analyze the image above.")
                ] }))
            }),
        PromptBuilder::new("test_input_required_result_prompt")
            .description("Asks the user for context (key user_context) before building messages.")
            .get(|_, cx: Context| async move {
                let schema = json!({
                    "type": "object",
                    "properties": { "context": { "type": "string", "description": "Context" } },
                    "required": ["context"]
                });
                let answer = cx
                    .elicit(
                        "user_context",
                        "What context should the prompt use?",
                        schema,
                    )
                    .await?;
                let context = match accepted("user_context", &answer)? {
                    Some(c) => field(&c, "context").to_owned(),
                    None => "(none given)".to_owned(),
                };
                let text = format!("Use this context: {context}");
                Ok(json!({ "messages": [user_text(&text)] }))
            }),
    ]
}
