//! Input schemas, compiled once at registration and checked on every call.

use serde_json::Value;

/// A compiled JSON Schema (2020-12 unless the schema names another draft).
pub(crate) struct CompiledSchema {
    validator: jsonschema::Validator,
}

/// Why a tool's schema could not be registered.
#[derive(Debug, thiserror::Error)]
#[error("tool {tool}: {reason}")]
pub struct SchemaError {
    /// The tool.
    pub tool: String,
    /// What is wrong.
    pub reason: String,
}

impl CompiledSchema {
    pub(crate) fn compile(tool: &str, schema: &Value) -> Result<Self, SchemaError> {
        if schema.get("type").and_then(Value::as_str) != Some("object") {
            return Err(SchemaError {
                tool: tool.into(),
                reason: "inputSchema must have type \"object\"".into(),
            });
        }
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(schema)
            .map_err(|e| SchemaError {
                tool: tool.into(),
                reason: e.to_string(),
            })?;
        Ok(Self { validator })
    }

    /// Checks `instance`; the error lists up to five problems with their locations.
    pub(crate) fn check(&self, instance: &Value) -> Result<(), String> {
        if self.validator.is_valid(instance) {
            return Ok(());
        }
        let problems: Vec<String> = self
            .validator
            .iter_errors(instance)
            .take(5)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect();
        Err(problems.join("; "))
    }
}

/// The `x-mcp-header` annotations of a schema: (header name, property path).
pub(crate) fn header_params(
    tool: &str,
    schema: &Value,
) -> Result<Vec<(String, Vec<String>)>, SchemaError> {
    let mut out = Vec::new();
    walk(tool, schema, &mut Vec::new(), &mut out)?;
    let mut seen = std::collections::HashSet::new();
    for (name, _) in &out {
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(SchemaError {
                tool: tool.into(),
                reason: format!("x-mcp-header {name} is not unique"),
            });
        }
    }
    Ok(out)
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn walk(
    tool: &str,
    schema: &Value,
    path: &mut Vec<String>,
    out: &mut Vec<(String, Vec<String>)>,
) -> Result<(), SchemaError> {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Ok(());
    };
    for (key, sub) in props {
        path.push(key.clone());
        if let Some(h) = sub.get("x-mcp-header") {
            let name = h
                .as_str()
                .filter(|s| is_token(s))
                .ok_or_else(|| SchemaError {
                    tool: tool.into(),
                    reason: format!("x-mcp-header on {key} must be a non-empty HTTP token"),
                })?;
            let ty = sub.get("type").and_then(Value::as_str);
            if !matches!(ty, Some("string" | "integer" | "boolean")) {
                return Err(SchemaError {
                    tool: tool.into(),
                    reason: format!("x-mcp-header on {key} needs type string, integer or boolean"),
                });
            }
            out.push((name.to_owned(), path.clone()));
        }
        walk(tool, sub, path, out)?;
        path.pop();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validates_and_reports_locations() {
        let s = CompiledSchema::compile(
            "t",
            &json!({"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}),
        )
        .unwrap();
        assert!(s.check(&json!({"n": 1})).is_ok());
        let e = s.check(&json!({"n": "x"})).unwrap_err();
        assert!(e.contains("/n"), "{e}");
        assert!(s.check(&json!({})).is_err());
    }

    #[test]
    fn non_object_root_is_refused() {
        assert!(CompiledSchema::compile("t", &json!({"type":"string"})).is_err());
    }

    #[test]
    fn finds_header_params_and_rejects_bad_ones() {
        let ok = json!({"type":"object","properties":{
            "region":{"type":"string","x-mcp-header":"Region"},
            "nested":{"type":"object","properties":{"id":{"type":"integer","x-mcp-header":"Id"}}}}});
        let found = header_params("t", &ok).unwrap();
        assert!(found.contains(&("Region".into(), vec!["region".into()])));
        assert!(found.contains(&("Id".into(), vec!["nested".into(), "id".into()])));
        let bad = json!({"type":"object","properties":{"x":{"type":"number","x-mcp-header":"X"}}});
        assert!(header_params("t", &bad).is_err());
        let dup = json!({"type":"object","properties":{
            "a":{"type":"string","x-mcp-header":"A"},"b":{"type":"string","x-mcp-header":"a"}}});
        assert!(header_params("t", &dup).is_err());
    }
}
