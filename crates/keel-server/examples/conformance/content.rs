//! Tools whose results are fixed content: text, image, audio, embedded resources, tool
//! errors, and the JSON Schema 2020-12 tool whose schema must reach the client untouched.

use keel_core::{CallToolResult, Content, Tool, ToolBuilder};
use serde_json::json;

use crate::{media, no_args};

/// The exact `inputSchema` the `json-schema-2020-12` scenario inspects.
fn json_schema_2020_12() -> serde_json::Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "address": {
                "$anchor": "addressDef",
                "type": "object",
                "properties": {
                    "street": { "type": "string" },
                    "city": { "type": "string" }
                }
            }
        },
        "properties": {
            "name": { "type": "string" },
            "address": { "$ref": "#/$defs/address" },
            "contactMethod": { "type": "string", "enum": ["phone", "email"] },
            "phone": { "type": "string" },
            "email": { "type": "string" }
        },
        "allOf": [{ "anyOf": [{ "required": ["phone"] }, { "required": ["email"] }] }],
        "if": {
            "properties": { "contactMethod": { "const": "phone" } },
            "required": ["contactMethod"]
        },
        "then": { "required": ["phone"] },
        "else": { "required": ["email"] },
        "additionalProperties": false
    })
}

/// The fixed-content tools.
pub(crate) fn tools() -> Vec<Tool> {
    vec![
        no_args(
            "about",
            "Describes this server: Keel's MCP conformance fixture.",
        )
        .handler(|_, _| async {
            Ok(CallToolResult::text(
                "Keel conformance server: fixtures for the official MCP conformance suites.",
            ))
        }),
        no_args("test_simple_text", "Returns a fixed text result.").handler(|_, _| async {
            Ok(CallToolResult::text(
                "This is a simple text response for testing.",
            ))
        }),
        no_args("test_image_content", "Returns a small PNG image.").handler(|_, _| async {
            Ok(CallToolResult::content(vec![Content::image(
                media::PNG_BASE64,
                media::PNG_MIME,
            )]))
        }),
        no_args("test_audio_content", "Returns a short WAV tone.").handler(|_, _| async {
            Ok(CallToolResult::content(vec![Content::audio(
                media::wav_base64(),
                media::WAV_MIME,
            )]))
        }),
        no_args(
            "test_embedded_resource",
            "Returns an embedded text resource.",
        )
        .handler(|_, _| async {
            Ok(CallToolResult::content(vec![Content::embedded_text(
                "test://embedded-resource",
                "text/plain",
                "This is an embedded resource content.",
            )]))
        }),
        no_args(
            "test_multiple_content_types",
            "Returns text, an image and an embedded resource in one result.",
        )
        .handler(|_, _| async {
            Ok(CallToolResult::content(vec![
                Content::text("Multiple content types test:"),
                Content::image(media::PNG_BASE64, media::PNG_MIME),
                Content::embedded_text(
                    "test://mixed-content-resource",
                    "application/json",
                    r#"{"test":"data","value":123}"#,
                ),
            ]))
        }),
        no_args(
            "test_error_handling",
            "Always fails with a tool execution error (isError).",
        )
        .handler(|_, _| async {
            Ok(CallToolResult::error(
                "This tool intentionally returns an error for testing",
            ))
        }),
        ToolBuilder::new("json_schema_2020_12_tool", json_schema_2020_12())
            .description("Tool with JSON Schema 2020-12 features")
            .handler(|args, _| async move {
                Ok(CallToolResult::text(format!(
                    "JSON Schema 2020-12 tool called with {args}"
                )))
            }),
    ]
}
