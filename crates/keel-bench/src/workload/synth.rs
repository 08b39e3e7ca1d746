//! Arguments synthesized from a JSON Schema: the required properties with values the schema
//! accepts, strings carrying a `{key}` hole so key cardinality still applies.

use serde_json::{Map, Value, json};

/// Deepest schema nesting followed (a recursive schema must not recurse forever).
const MAX_DEPTH: usize = 16;

/// A value `schema` accepts, as far as its keywords say (`pattern` is not honoured).
pub(crate) fn synthesize(schema: &Value) -> Value {
    value(schema, 0)
}

fn value(schema: &Value, depth: usize) -> Value {
    let Some(s) = schema.as_object() else {
        return Value::Null;
    };
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    if let Some(c) = s.get("const") {
        return c.clone();
    }
    if let Some(first) = s
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(d) = s.get("default") {
        return d.clone();
    }
    if let Some(e) = s
        .get("examples")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return e.clone();
    }
    for choice in ["oneOf", "anyOf", "allOf"] {
        if let Some(first) = s
            .get(choice)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            return value(first, depth + 1);
        }
    }
    let kind = match s.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if s.contains_key("properties") => "object",
        _ if s.contains_key("items") => "array",
        _ => "string",
    };
    match kind {
        "object" => object(s, depth),
        "array" => {
            let n = s
                .get("minItems")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .min(64);
            let item = s.get("items").unwrap_or(&Value::Null);
            Value::Array((0..n).map(|_| value(item, depth + 1)).collect())
        }
        "integer" => json!(number(s).round() as i64),
        "number" => json!(number(s)),
        "boolean" => Value::Bool(true),
        "null" => Value::Null,
        _ => Value::String(string(s)),
    }
}

fn object(s: &Map<String, Value>, depth: usize) -> Value {
    let empty = Map::new();
    let properties = s
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut out = Map::new();
    for name in s
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let schema = properties.get(name).unwrap_or(&Value::Null);
        let v = if schema.is_null() {
            Value::String("bench {key}".into())
        } else {
            value(schema, depth + 1)
        };
        out.insert(name.to_owned(), v);
    }
    Value::Object(out)
}

fn number(s: &Map<String, Value>) -> f64 {
    let min = s.get("minimum").and_then(Value::as_f64);
    let exclusive_min = s.get("exclusiveMinimum").and_then(Value::as_f64);
    let max = s.get("maximum").and_then(Value::as_f64).or_else(|| {
        s.get("exclusiveMaximum")
            .and_then(Value::as_f64)
            .map(|m| m - 1.0)
    });
    let mut n = min.or(exclusive_min.map(|m| m + 1.0)).unwrap_or(1.0);
    if let Some(m) = max {
        n = n.min(m);
    }
    n
}

fn string(s: &Map<String, Value>) -> String {
    let text = match s.get("format").and_then(Value::as_str) {
        Some("uri" | "url" | "iri") => "https://example.com/item/{key}".to_owned(),
        Some("email") => "user{key}@example.com".to_owned(),
        Some("date-time") => "2026-01-01T00:00:00Z".to_owned(),
        Some("date") => "2026-01-01".to_owned(),
        Some("uuid") => "00000000-0000-4000-8000-000000000000".to_owned(),
        _ => "bench {key}".to_owned(),
    };
    let min = s.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    let max = s
        .get("maxLength")
        .and_then(Value::as_u64)
        .map(|m| m as usize);
    let mut text = text;
    while text.chars().count() < min {
        text.push('x');
    }
    if let Some(max) = max
        && text.chars().count() > max
    {
        text = "x".repeat(max.max(min));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_properties_get_values_the_schema_accepts() {
        let schema = json!({
            "type": "object",
            "properties": {
                "text": {"type": "string"},
                "count": {"type": "integer", "minimum": 3, "maximum": 9},
                "ratio": {"type": "number", "exclusiveMinimum": 0},
                "mode": {"enum": ["fast", "slow"]},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                "inner": {"type": "object", "properties": {"flag": {"type": "boolean"}}, "required": ["flag"]},
                "optional": {"type": "string"}
            },
            "required": ["text", "count", "ratio", "mode", "tags", "inner"]
        });
        let v = synthesize(&schema);
        assert_eq!(v["text"], "bench {key}");
        assert_eq!(v["count"], 3);
        assert_eq!(v["ratio"], 1.0);
        assert_eq!(v["mode"], "fast");
        assert_eq!(v["tags"].as_array().map(Vec::len), Some(2));
        assert_eq!(v["inner"]["flag"], true);
        assert!(v.get("optional").is_none());
    }

    #[test]
    fn length_bounds_and_recursion_are_honoured() {
        assert_eq!(synthesize(&json!({"type":"string","maxLength":3})), "xxx");
        assert_eq!(
            synthesize(&json!({"type":"string","minLength":14}))
                .as_str()
                .map(str::len),
            Some(14)
        );
        // A schema nested past the depth bound ends in null, not a stack overflow.
        let mut deep = json!({"type": "string"});
        for _ in 0..100 {
            deep = json!({"type":"object","properties":{"a": deep},"required":["a"]});
        }
        let _ = synthesize(&deep);
    }
}
