//! Hostile strings in every string argument of every tool the audit may call, and
//! prototype-pollution keys; every answer must be a proper JSON-RPC answer without leaks.

use serde_json::{Map, Value, json};

use crate::{
    audit::ctx::{Call, Ctx, Sent},
    probes::auth::check_scope_shape,
    report::Severity,
    schema::{Slot, string_slots},
    wire::{Answer, WireError},
};

/// The payloads, by name.
pub(crate) const PAYLOADS: &[(&str, &str)] = &[
    ("xss", "<script>alert('keel-audit')</script>"),
    ("traversal", "../../../../../../etc/passwd"),
    ("jndi", "${jndi:ldap://audit.invalid/a}"),
    ("sql", "'; DROP TABLE users;--"),
    ("shell-semicolon", "; cat /etc/passwd"),
    ("shell-subst", "$(id)"),
    ("bidi", "keel\u{202E}txt.exe"),
    ("confusable", "\u{0430}dmin"),
    ("nul", "keel\u{0000}audit"),
];

/// Runs the injection probes over `callable` (tool name, valid arguments, input schema).
pub(crate) async fn run(ctx: &mut Ctx, callable: &[(String, Value, Value)]) {
    const RULE: &str = "injection";
    ctx.ran(RULE);
    for (tool, args, schema) in callable {
        let slots = string_slots(schema);
        let mut cases: Vec<(String, Value, String)> = Vec::new();
        cases.push(("valid arguments".into(), args.clone(), String::new()));
        for slot in &slots {
            for (name, payload) in PAYLOADS {
                let mut a = args.as_object().cloned().unwrap_or_default();
                let (field, value) = match slot {
                    Slot::String(f) => (f, json!(payload)),
                    Slot::StringArray(f) => (f, json!([payload])),
                };
                a.insert(field.clone(), value);
                cases.push((
                    format!("{field}={name}"),
                    Value::Object(a),
                    (*payload).to_owned(),
                ));
            }
        }
        for (key, value) in [
            ("__proto__", json!({"polluted": "keel-audit"})),
            (
                "constructor",
                json!({"prototype": {"polluted": "keel-audit"}}),
            ),
        ] {
            let mut a: Map<String, Value> = args.as_object().cloned().unwrap_or_default();
            a.insert(key.into(), value);
            cases.push((format!("{key} key"), Value::Object(a), String::new()));
        }
        if !ctx.tools_called.contains(tool) {
            ctx.tools_called.push(tool.clone());
        }
        for (label, arguments, payload) in cases {
            let mut call = Call::new("tools/call", json!({"name": tool, "arguments": arguments}));
            call.sent = vec![payload.clone()];
            let context = format!("tools/call {tool} ({label})");
            match ctx.call(RULE, call).await {
                Sent::OutOfBudget => return,
                Sent::Answer(a) => judge(ctx, &context, &a),
                Sent::Failed(WireError::Timeout) => ctx.find(
                    "answer.no-answer",
                    Severity::Medium,
                    format!(
                        "{context} got no answer within {}s",
                        ctx.opts.request_timeout.as_secs()
                    ),
                    "",
                ),
                Sent::Failed(e) => ctx.find(
                    "answer.no-answer",
                    Severity::Medium,
                    format!("{context} got no answer"),
                    e.to_string(),
                ),
            }
        }
    }
}

/// A tools/call answer must be a JSON-RPC result (isError for tool failures) or error.
fn judge(ctx: &mut Ctx, context: &str, a: &Answer) {
    check_scope_shape(ctx, a);
    if matches!(a.status, Some(401 | 403 | 429)) {
        return;
    }
    let proper = a.response().is_some_and(|m| {
        m.get("jsonrpc").is_some_and(|v| v == "2.0")
            && match (m.get("result"), m.get("error")) {
                (Some(r), None) => r.is_object(),
                (None, Some(e)) => {
                    e.get("code").is_some_and(Value::is_i64)
                        && e.get("message").is_some_and(Value::is_string)
                }
                _ => false,
            }
    });
    if !proper || a.status.is_some_and(|s| s >= 500) {
        ctx.find(
            "answer.malformed",
            Severity::Medium,
            format!("{context} got no proper JSON-RPC answer"),
            a.summary(),
        );
    }
}
