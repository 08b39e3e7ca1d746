//! Self-contained JSON Schemas (every subschema inlined, no `$ref`) for `inputSchema` and
//! `outputSchema`: some clients do not resolve references.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::Value;

/// The draft 2020-12 schema of `T` with every subschema inlined and no root title (clients
/// show the tool's title instead of a Rust type name).
pub(crate) fn inline_schema<T: JsonSchema>() -> Value {
    let mut schema = SchemaSettings::draft2020_12()
        .with(|settings| settings.inline_subschemas = true)
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    if let Some(map) = schema.as_object_mut() {
        map.remove("title");
    }
    schema
}
