//! Cache keys: SHA-256 over a canonical form of the call, so argument order and whitespace
//! never split one result into several entries, and a changed tool never meets its old
//! results.

use keel_cache::CacheKey;
use keel_core::{CachePolicy, ToolDefinition};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A tool's fingerprint: its wire definition (name, schemas, annotations…) and its declared
/// behaviour version. Anything that changes it changes every key of the tool.
pub(crate) fn fingerprint(definition: &ToolDefinition, policy: &CachePolicy) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"keel-tool-v1\0");
    canonical(&definition.to_wire(true, true), &mut h);
    h.update(b"\0");
    h.update(policy.version.as_deref().unwrap_or_default().as_bytes());
    h.finalize().into()
}

/// The key of one call: the tool's fingerprint, the arguments in canonical form, and the
/// scope (`None` for shared results, the principal's key otherwise).
pub(crate) fn call_key(fingerprint: &[u8; 32], arguments: &Value, scope: Option<&str>) -> CacheKey {
    let mut h = Sha256::new();
    h.update(fingerprint);
    match scope {
        None => h.update(b"\0shared\0"),
        Some(principal) => {
            h.update(b"\0principal\0");
            h.update((principal.len() as u64).to_le_bytes());
            h.update(principal.as_bytes());
        }
    }
    canonical(arguments, &mut h);
    CacheKey(h.finalize().into())
}

/// Feeds `value` to the hasher as JSON with object members sorted by key and no
/// whitespace; strings are written JSON-escaped, so no two values share a form.
fn canonical(value: &Value, h: &mut Sha256) {
    match value {
        Value::Null => h.update(b"null"),
        Value::Bool(true) => h.update(b"true"),
        Value::Bool(false) => h.update(b"false"),
        Value::Number(n) => h.update(n.to_string().as_bytes()),
        Value::String(s) => string(s, h),
        Value::Array(items) => {
            h.update(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    h.update(b",");
                }
                canonical(item, h);
            }
            h.update(b"]");
        }
        Value::Object(members) => {
            let mut sorted: Vec<_> = members.iter().collect();
            sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
            h.update(b"{");
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    h.update(b",");
                }
                string(k, h);
                h.update(b":");
                canonical(v, h);
            }
            h.update(b"}");
        }
    }
}

fn string(s: &str, h: &mut Sha256) {
    // Serializing a string into a Vec cannot fail.
    let escaped = serde_json::to_vec(s).unwrap_or_default();
    h.update(&escaped);
}

#[cfg(test)]
mod tests {
    use keel_core::ToolBuilder;
    use serde_json::json;
    use std::time::Duration;

    use super::*;

    fn tool(schema: Value) -> ToolDefinition {
        ToolBuilder::new("t", schema)
            .handler(|_, _| async { Ok(keel_core::CallToolResult::text("x")) })
            .definition
    }

    #[test]
    fn order_and_whitespace_do_not_matter_but_values_do() {
        let policy = CachePolicy::new(Duration::from_secs(1));
        let f = fingerprint(&tool(json!({"type": "object"})), &policy);
        let a: Value =
            serde_json::from_str(r#"{"b": [1, {"y": 2, "x": "s"}], "a": null}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":null,"b":[1,{"x":"s","y":2}]}"#).unwrap();
        assert_eq!(call_key(&f, &a, None), call_key(&f, &b, None));
        for other in [
            json!({"a": null, "b": [{"x": "s", "y": 2}, 1]}),
            json!({"a": null, "b": [1, {"x": "s", "y": 3}]}),
            json!({"a": "null", "b": [1, {"x": "s", "y": 2}]}),
            // A key that would collide if strings were not escaped.
            json!({"a\":null,\"b": [1, {"x": "s", "y": 2}]}),
        ] {
            assert_ne!(
                call_key(&f, &a, None),
                call_key(&f, &other, None),
                "{other}"
            );
        }
    }

    #[test]
    fn scope_definition_and_version_split_keys() {
        let args = json!({"q": 1});
        let policy = CachePolicy::new(Duration::from_secs(1));
        let f = fingerprint(&tool(json!({"type": "object"})), &policy);
        let shared = call_key(&f, &args, None);
        assert_ne!(shared, call_key(&f, &args, Some("alice")));
        assert_ne!(
            call_key(&f, &args, Some("alice")),
            call_key(&f, &args, Some("bob"))
        );
        let changed = fingerprint(
            &tool(json!({"type": "object", "properties": {"q": {"type": "integer"}}})),
            &policy,
        );
        assert_ne!(shared, call_key(&changed, &args, None));
        let bumped = fingerprint(
            &tool(json!({"type": "object"})),
            &policy.clone().version("2"),
        );
        assert_ne!(shared, call_key(&bumped, &args, None));
    }
}
