//! Fixed resources (text, binary, a subscribable one) and the `test://template/{id}/data`
//! template with completion of `id`.

use keel_core::{Resource, ResourceBuilder, ResourceContents, ResourceTemplate};
use serde_json::{Value, json};

use crate::media;

/// Ids the template completes from.
const TEMPLATE_IDS: [&str; 4] = ["123", "124", "456", "789"];

/// The fixed resources; `test://static-text` comes first because the modern `caching`
/// scenario reads `resources[0]`.
pub(crate) fn resources() -> Vec<Resource> {
    vec![
        ResourceBuilder::new("test://static-text", "static-text")
            .description("A fixed text resource.")
            .mime_type("text/plain")
            .read(|uri, _| async move {
                Ok(vec![ResourceContents::text(
                    uri,
                    "text/plain",
                    "This is the content of the static text resource.",
                )])
            }),
        ResourceBuilder::new("test://static-binary", "static-binary")
            .description("A fixed binary resource: a small PNG image.")
            .mime_type(media::PNG_MIME)
            .read(|uri, _| async move {
                Ok(vec![ResourceContents::Blob {
                    uri,
                    mime_type: Some(media::PNG_MIME.into()),
                    blob: media::PNG_BASE64.into(),
                }])
            }),
        ResourceBuilder::new("test://watched-resource", "watched-resource")
            .description("A text resource clients may subscribe to.")
            .mime_type("text/plain")
            .read(|uri, _| async move {
                Ok(vec![ResourceContents::text(
                    uri,
                    "text/plain",
                    "Watched resource content",
                )])
            }),
    ]
}

/// `test://template/{id}/data`: JSON naming the id.
pub(crate) fn template() -> ResourceTemplate {
    ResourceBuilder::new("test://template/{id}/data", "template")
        .description("Data for any id, as JSON.")
        .mime_type("application/json")
        .complete(|var, partial| {
            if var != "id" {
                return Vec::new();
            }
            TEMPLATE_IDS
                .iter()
                .filter(|id| id.starts_with(partial))
                .map(|id| (*id).to_owned())
                .collect()
        })
        .read_template(|uri, vars, _| async move {
            let id = vars.get("id").and_then(Value::as_str).unwrap_or_default();
            let body =
                json!({ "id": id, "templateTest": true, "data": format!("Data for ID: {id}") });
            Ok(vec![ResourceContents::text(
                uri,
                "application/json",
                body.to_string(),
            )])
        })
}
