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

/// A hasher that has absorbed one whole block holding the tool's fingerprint: cloned per
/// call, so a call with small arguments costs one SHA-256 compression instead of two.
pub(crate) fn keyed_hasher(fingerprint: &[u8; 32]) -> Sha256 {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(fingerprint);
    block[32..].copy_from_slice(b"keel-call-key-v1\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
    let mut h = Sha256::new();
    h.update(block);
    h
}

/// The key of one call: the tool's fingerprint (absorbed in `keyed`, from
/// [`keyed_hasher`]), the arguments in canonical form, and the scope (`None` for shared
/// results, the principal's key otherwise).
pub(crate) fn call_key(keyed: &Sha256, arguments: &Value, scope: Option<&str>) -> CacheKey {
    let mut h = keyed.clone();
    match scope {
        None => h.update(b"s"),
        Some(principal) => {
            h.update(b"p");
            h.update((principal.len() as u64).to_le_bytes());
            h.update(principal.as_bytes());
        }
    }
    canonical(arguments, &mut h);
    CacheKey(h.finalize().into())
}

/// SHA-256 of `arguments` in canonical form: equal for equal arguments whatever their
/// member order or whitespace.
pub(crate) fn arguments_digest(arguments: &Value) -> [u8; 32] {
    let mut h = Sha256::new();
    canonical(arguments, &mut h);
    h.finalize().into()
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
    // Escaped as JSON straight into the hasher; writing into a hasher cannot fail.
    let _ = serde_json::to_writer(HashWriter(h), s);
}

/// Lets serde_json write into a hasher without a buffer.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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
        assert_eq!(
            call_key(&keyed_hasher(&f), &a, None),
            call_key(&keyed_hasher(&f), &b, None)
        );
        for other in [
            json!({"a": null, "b": [{"x": "s", "y": 2}, 1]}),
            json!({"a": null, "b": [1, {"x": "s", "y": 3}]}),
            json!({"a": "null", "b": [1, {"x": "s", "y": 2}]}),
            // A key that would collide if strings were not escaped.
            json!({"a\":null,\"b": [1, {"x": "s", "y": 2}]}),
        ] {
            assert_ne!(
                call_key(&keyed_hasher(&f), &a, None),
                call_key(&keyed_hasher(&f), &other, None),
                "{other}"
            );
        }
    }

    #[test]
    fn scope_definition_and_version_split_keys() {
        let args = json!({"q": 1});
        let policy = CachePolicy::new(Duration::from_secs(1));
        let f = fingerprint(&tool(json!({"type": "object"})), &policy);
        let shared = call_key(&keyed_hasher(&f), &args, None);
        assert_ne!(shared, call_key(&keyed_hasher(&f), &args, Some("alice")));
        assert_ne!(
            call_key(&keyed_hasher(&f), &args, Some("alice")),
            call_key(&keyed_hasher(&f), &args, Some("bob"))
        );
        let changed = fingerprint(
            &tool(json!({"type": "object", "properties": {"q": {"type": "integer"}}})),
            &policy,
        );
        assert_ne!(shared, call_key(&keyed_hasher(&changed), &args, None));
        let bumped = fingerprint(
            &tool(json!({"type": "object"})),
            &policy.clone().version("2"),
        );
        assert_ne!(shared, call_key(&keyed_hasher(&bumped), &args, None));
    }
}
