//! JSON Schemas of the request and the report, self-contained (no `$ref`), for a tool's
//! `inputSchema` and `outputSchema`.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::Value;

use crate::report::AnalysisReport;
use crate::request::AnalysisRequest;

/// JSON Schema (draft 2020-12) of [`AnalysisReport`]: an object schema with every subschema
/// inlined.
pub fn report_schema() -> Value {
    inline_schema::<AnalysisReport>()
}

/// JSON Schema (draft 2020-12) of [`AnalysisRequest`]: an object schema with every subschema
/// inlined.
pub fn request_schema() -> Value {
    inline_schema::<AnalysisRequest>()
}

fn inline_schema<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft2020_12()
        .with(|settings| settings.inline_subschemas = true)
        .into_generator();
    generator.into_root_schema_for::<T>().to_value()
}

#[cfg(test)]
mod tests {
    use super::{report_schema, request_schema};
    use serde_json::Value;

    fn has_ref(value: &Value) -> bool {
        match value {
            Value::Object(map) => map.contains_key("$ref") || map.values().any(has_ref),
            Value::Array(items) => items.iter().any(has_ref),
            _ => false,
        }
    }

    #[test]
    fn schemas_are_plain_objects_without_references() {
        for schema in [report_schema(), request_schema()] {
            assert_eq!(schema["type"], "object", "{schema}");
            assert!(!has_ref(&schema), "{schema}");
        }
        let report = report_schema();
        let required = report["required"].as_array().unwrap();
        assert!(required.contains(&Value::from("rows")));
        assert!(required.contains(&Value::from("columns")));
        assert!(report["properties"]["correlation"].is_object());
    }
}
