//! `x-mcp-header`: tool parameters a 2026-07-28 client must mirror into `Mcp-Param-{name}`
//! headers over HTTP. Found in the tool's `inputSchema` (reachable through `properties` keys
//! only), rendered per request from the arguments template.

use http::HeaderName;
use serde_json::Value;

use super::Template;

/// Deepest `properties` chain followed.
const MAX_DEPTH: usize = 16;

/// A parameter mirrored into a header: the header and the property path in the arguments.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParamHeader {
    pub(crate) header: HeaderName,
    pub(crate) path: Vec<String>,
}

/// Every `x-mcp-header` annotation of a schema (invalid names are skipped).
pub(crate) fn param_headers(schema: &Value) -> Vec<ParamHeader> {
    let mut out = Vec::new();
    walk(schema, &mut Vec::new(), &mut out);
    out
}

fn walk(schema: &Value, path: &mut Vec<String>, out: &mut Vec<ParamHeader>) {
    if path.len() > MAX_DEPTH {
        return;
    }
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, property) in properties {
        path.push(name.clone());
        if let Some(h) = property.get("x-mcp-header").and_then(Value::as_str)
            && let Ok(header) = HeaderName::try_from(format!("mcp-param-{h}"))
        {
            out.push(ParamHeader {
                header,
                path: path.clone(),
            });
        }
        walk(property, path, out);
        path.pop();
    }
}

/// The header's value text for `args` (a template's JSON with `{key}` holes left in), when the
/// arguments hold a primitive at the path: strings as they are, numbers and booleans as JSON.
pub(crate) fn value_template(p: &ParamHeader, args: &Value) -> Option<Template> {
    let mut v = args;
    for key in &p.path {
        v = v.get(key)?;
    }
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    Some(Template::new(&text))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn annotations_are_found_through_properties_only() {
        let schema = json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "inner": {"type": "object", "properties": {"n": {"type": "integer", "x-mcp-header": "N"}}},
            "list": {"type": "array", "items": {"properties": {"x": {"x-mcp-header": "X"}}}},
            "bad": {"type": "string", "x-mcp-header": "no spaces allowed"}
        }});
        let found = param_headers(&schema);
        let names: Vec<&str> = found.iter().map(|p| p.header.as_str()).collect();
        assert_eq!(names, vec!["mcp-param-n", "mcp-param-region"]);
        let args = json!({"region": "eu-{key}", "inner": {"n": 7}});
        let region = found
            .iter()
            .find(|p| p.header == "mcp-param-region")
            .unwrap();
        assert_eq!(
            value_template(region, &args).unwrap().to_string_with(3),
            "eu-3"
        );
        let n = found.iter().find(|p| p.header == "mcp-param-n").unwrap();
        assert_eq!(value_template(n, &args).unwrap().to_string_with(0), "7");
        assert!(value_template(n, &json!({})).is_none());
    }
}
