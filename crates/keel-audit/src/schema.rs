//! Valid arguments from a tool's `inputSchema`, and where string payloads can go.

use serde_json::{Map, Value, json};

/// How deep nested schemas are followed.
const MAX_DEPTH: usize = 6;

/// A valid value for `schema` (required properties only, smallest sizes).
pub(crate) fn synthesize(schema: &Value) -> Value {
    value_for(schema, 0)
}

fn value_for(schema: &Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    for key in ["const", "default"] {
        if let Some(v) = schema.get(key) {
            return v.clone();
        }
    }
    if let Some(v) = schema.get("examples").and_then(|e| e.get(0)) {
        return v.clone();
    }
    if let Some(v) = schema.get("enum").and_then(|e| e.get(0)) {
        return v.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = schema.get(key).and_then(|a| a.get(0)) {
            return value_for(first, depth + 1);
        }
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    let num = |k: &str| schema.get(k).and_then(Value::as_f64);
    match ty {
        "string" => {
            let text = match schema.get("format").and_then(Value::as_str) {
                Some("uri" | "url") => "https://example.invalid/".to_owned(),
                Some("date-time") => "2026-01-01T00:00:00Z".to_owned(),
                Some("date") => "2026-01-01".to_owned(),
                Some("email") => "audit@example.invalid".to_owned(),
                _ => "keel-audit".to_owned(),
            };
            let min = num("minLength").unwrap_or(0.0) as usize;
            let max = num("maxLength").map(|m| m as usize).unwrap_or(usize::MAX);
            let mut text = text;
            while text.len() < min {
                text.push('a');
            }
            text.truncate(max.max(min));
            Value::String(text)
        }
        "integer" | "number" => {
            let mut n = num("minimum")
                .or_else(|| num("exclusiveMinimum").map(|m| m + 1.0))
                .unwrap_or(1.0);
            if let Some(max) = num("maximum") {
                n = n.min(max);
            }
            if ty == "integer" {
                json!(n.ceil() as i64)
            } else {
                json!(n)
            }
        }
        "boolean" => Value::Bool(false),
        "null" => Value::Null,
        "array" => {
            let count = num("minItems").unwrap_or(1.0).max(1.0) as usize;
            let items = schema.get("items").cloned().unwrap_or(json!({}));
            Value::Array(
                (0..count.min(8))
                    .map(|_| value_for(&items, depth + 1))
                    .collect(),
            )
        }
        _ => {
            let mut out = Map::new();
            let props = schema.get("properties").and_then(Value::as_object);
            if let (Some(required), Some(props)) =
                (schema.get("required").and_then(Value::as_array), props)
            {
                for name in required.iter().filter_map(Value::as_str) {
                    let sub = props.get(name).cloned().unwrap_or(json!({}));
                    out.insert(name.to_owned(), value_for(&sub, depth + 1));
                }
            }
            Value::Object(out)
        }
    }
}

/// Where a string payload can go among a tool's top-level properties.
#[derive(Debug, Clone)]
pub(crate) enum Slot {
    /// A string property.
    String(String),
    /// An array of strings (the payload becomes its one item).
    StringArray(String),
}

/// The string slots of `schema`'s top-level properties.
pub(crate) fn string_slots(schema: &Value) -> Vec<Slot> {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    let is_string = |s: &Value| match s.get("type") {
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
        _ => false,
    };
    props
        .iter()
        .filter_map(|(name, s)| {
            if is_string(s) {
                Some(Slot::String(name.clone()))
            } else if s.get("type").and_then(Value::as_str) == Some("array")
                && s.get("items").is_some_and(is_string)
            {
                Some(Slot::StringArray(name.clone()))
            } else {
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_properties_get_valid_values() {
        let schema = json!({
            "type": "object",
            "properties": {
                "text": {"type": "string", "minLength": 12},
                "n": {"type": "integer", "minimum": 3, "maximum": 9},
                "xs": {"type": "array", "items": {"type": "number"}, "minItems": 2},
                "mode": {"enum": ["a", "b"]},
                "opt": {"type": "string"}
            },
            "required": ["text", "n", "xs", "mode"]
        });
        let v = synthesize(&schema);
        assert_eq!(v["n"], 3);
        assert_eq!(v["xs"].as_array().map(Vec::len), Some(2));
        assert_eq!(v["mode"], "a");
        assert!(v["text"].as_str().is_some_and(|t| t.len() >= 12));
        assert!(v.get("opt").is_none());
        assert_eq!(string_slots(&schema).len(), 2);
    }
}
