//! Tool results and content blocks.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::SharedResult;

/// Builders for MCP content blocks (`text`, `image`, `audio`, `resource`, `resource_link`).
pub struct Content;

impl Content {
    /// A text block.
    pub fn text(text: impl Into<String>) -> Value {
        json!({ "type": "text", "text": text.into() })
    }

    /// An image block from Base64 data.
    pub fn image(data: impl Into<String>, mime_type: impl Into<String>) -> Value {
        json!({ "type": "image", "data": data.into(), "mimeType": mime_type.into() })
    }

    /// An audio block from Base64 data.
    pub fn audio(data: impl Into<String>, mime_type: impl Into<String>) -> Value {
        json!({ "type": "audio", "data": data.into(), "mimeType": mime_type.into() })
    }

    /// An embedded text resource.
    pub fn embedded_text(uri: &str, mime_type: &str, text: &str) -> Value {
        json!({ "type": "resource", "resource": { "uri": uri, "mimeType": mime_type, "text": text } })
    }

    /// A link to a resource.
    pub fn resource_link(uri: &str, name: &str, mime_type: Option<&str>) -> Value {
        let mut v = json!({ "type": "resource_link", "uri": uri, "name": name });
        if let Some(m) = mime_type {
            v["mimeType"] = Value::from(m);
        }
        v
    }
}

/// The result of `tools/call`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallToolResult {
    /// Unstructured content blocks.
    pub content: Vec<Value>,
    /// Structured output conforming to the tool's `outputSchema`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub structured_content: Option<Value>,
    /// Whether the tool failed (a tool execution error, visible to the model).
    pub is_error: bool,
    /// Result metadata. On a shared result, members added to the shared `_meta`.
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
    /// The encoded result this one answers with, when it is shared (a cache hit); its
    /// `content` and `structured_content` are then empty.
    #[serde(skip)]
    pub(crate) shared: Option<SharedResult>,
}

impl CallToolResult {
    /// A successful result with one text block.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            content: vec![Content::text(text)],
            ..Self::default()
        }
    }

    /// A successful result with the given blocks.
    pub fn content(content: Vec<Value>) -> Self {
        Self {
            content,
            ..Self::default()
        }
    }

    /// A tool execution error with a message for the model.
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            content: vec![Content::text(message)],
            is_error: true,
            ..Self::default()
        }
    }

    /// A successful structured result with a text rendering for clients that ignore structure.
    pub fn structured(value: Value, text: impl Into<String>) -> Self {
        Self {
            content: vec![Content::text(text)],
            structured_content: Some(value),
            ..Self::default()
        }
    }

    /// A result answering with an encoded, shared result.
    pub fn from_shared(shared: SharedResult) -> Self {
        Self {
            is_error: shared.is_error(),
            shared: Some(shared),
            ..Self::default()
        }
    }

    /// The shared encoded result this one answers with, if any.
    pub fn shared(&self) -> Option<&SharedResult> {
        self.shared.as_ref()
    }

    /// The result as a JSON object, ready for era-specific decoration.
    pub fn into_object(self) -> Map<String, Value> {
        if let Some(shared) = self.shared {
            let mut m = shared.to_object();
            if let Some(extra) = self.meta {
                let meta = m
                    .entry("_meta")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(meta) = meta.as_object_mut() {
                    meta.extend(extra);
                }
            }
            return m;
        }
        let mut m = Map::with_capacity(4);
        m.insert("content".into(), Value::Array(self.content));
        if let Some(s) = self.structured_content {
            m.insert("structuredContent".into(), s);
        }
        m.insert("isError".into(), Value::Bool(self.is_error));
        if let Some(meta) = self.meta {
            m.insert("_meta".into(), Value::Object(meta));
        }
        m
    }
}
