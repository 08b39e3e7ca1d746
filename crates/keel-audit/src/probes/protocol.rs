//! Malformed JSON-RPC, unsupported versions, batches, oversized and deeply nested bodies.

use bytes::Bytes;
use serde_json::{Value, json};

use super::expect_refusal;
use crate::{
    audit::{
        ctx::{Call, Ctx, Sent, Spoken, Wire},
        mcp::meta_with_version,
    },
    report::Severity,
    wire::{RawOutcome, WireError, send_oversized},
};

/// How deep the nested body goes.
const NESTING: usize = 100_000;

/// Runs the protocol probes.
pub(crate) async fn run(ctx: &mut Ctx) {
    malformed(ctx).await;
    unsupported_version(ctx).await;
    batch(ctx).await;
    oversized(ctx).await;
    deep_nesting(ctx).await;
}

async fn malformed(ctx: &mut Ctx) {
    let params = ctx.params_for(json!({}));
    let cases: [(&'static str, &str, String); 5] = [
        (
            "protocol.malformed-json",
            "unparseable JSON",
            r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"#.to_owned(),
        ),
        (
            "protocol.bad-jsonrpc-version",
            "a request with \"jsonrpc\": \"1.0\"",
            json!({"jsonrpc": "1.0", "id": 2, "method": "tools/list", "params": params})
                .to_string(),
        ),
        (
            "protocol.missing-method",
            "a request without a method",
            json!({"jsonrpc": "2.0", "id": 3, "params": params}).to_string(),
        ),
        (
            "protocol.bad-id-type",
            "a request with an object id",
            json!({"jsonrpc": "2.0", "id": {"x": 1}, "method": "tools/list", "params": params})
                .to_string(),
        ),
        (
            "protocol.bad-id-type",
            "a request with a boolean id",
            json!({"jsonrpc": "2.0", "id": true, "method": "tools/list", "params": params})
                .to_string(),
        ),
    ];
    for (rule, what, body) in cases {
        ctx.ran(rule);
        let sent = ctx
            .call(rule, Call::new("tools/list", json!({})).raw(body))
            .await;
        expect_refusal(ctx, rule, what, sent, Severity::Medium);
    }
}

async fn unsupported_version(ctx: &mut Ctx) {
    const RULE: &str = "protocol.unsupported-version";
    ctx.ran(RULE);
    let bogus = "1999-01-01";
    match ctx.era {
        Some(Spoken::Legacy) => {
            // initialize asking for a version nobody implements: the answer must name
            // another (or refuse).
            let mut call = Call::new(
                "initialize",
                json!({"protocolVersion": bogus, "capabilities": {}, "clientInfo": {"name": "keel-audit", "version": "0"}}),
            );
            call.session = Some(None);
            call.omit = vec!["mcp-protocol-version"];
            if let Sent::Answer(a) = ctx.call(RULE, call).await {
                let echoed = a
                    .result()
                    .and_then(|r| r.get("protocolVersion"))
                    .is_some_and(|v| v == bogus);
                if echoed {
                    ctx.find(
                        RULE,
                        Severity::Medium,
                        format!("initialize accepted protocol version {bogus} as is"),
                        a.summary(),
                    );
                }
            }
            if ctx.http().is_some() {
                let call = Call::new("tools/list", json!({})).header("mcp-protocol-version", bogus);
                let sent = ctx.call(RULE, call).await;
                expect_refusal(
                    ctx,
                    RULE,
                    &format!("a session request with MCP-Protocol-Version: {bogus}"),
                    sent,
                    Severity::Medium,
                );
            }
        }
        _ => {
            let mut params = json!({});
            params["_meta"] = meta_with_version(bogus);
            let id = ctx.id();
            let body =
                json!({"jsonrpc": "2.0", "id": id, "method": "server/discover", "params": params});
            let call = Call::new("server/discover", json!({}))
                .header("mcp-protocol-version", bogus)
                .raw(body.to_string());
            let sent = ctx.call(RULE, call).await;
            expect_refusal(
                ctx,
                RULE,
                &format!("server/discover at protocol version {bogus}"),
                sent,
                Severity::Medium,
            );
        }
    }
}

async fn batch(ctx: &mut Ctx) {
    const RULE: &str = "protocol.batch";
    ctx.ran(RULE);
    let (a, b) = (ctx.id(), ctx.id());
    let one = Call::new("tools/list", json!({}));
    let body = json!([ctx.envelope(&one, a), ctx.envelope(&one, b)]).to_string();
    let version = match ctx.era {
        Some(Spoken::Legacy) => ctx.version.clone(),
        _ => "2026-07-28".into(),
    };
    // Legacy servers negotiating an older revision (which allowed batches) are fine.
    if ctx.era == Some(Spoken::Legacy) && version.as_str() < "2025-06-18" {
        ctx.skip(
            RULE,
            format!("the server negotiated {version}, which allows batches"),
        );
        return;
    }
    let sent = ctx.call(RULE, one.raw(body)).await;
    expect_refusal(
        ctx,
        RULE,
        &format!("a JSON-RPC batch at {version}"),
        sent,
        Severity::Medium,
    );
}

async fn oversized(ctx: &mut Ctx) {
    const RULE: &str = "protocol.oversized-body";
    ctx.ran(RULE);
    let size = ctx.opts.oversized_bytes;
    let mb = size / (1024 * 1024);
    let params = ctx.params_for(json!({}));
    let envelope =
        json!({"jsonrpc": "2.0", "id": 77, "method": "tools/list", "params": params}).to_string();
    // `{"pad":"aaaa…", <the rest of the envelope>}`
    let prefix = b"{\"pad\":\"".to_vec();
    let suffix = format!("\",{}", &envelope[1..]).into_bytes();
    let total = prefix.len() + size + suffix.len();
    let timeout = ctx.opts.request_timeout * 3;
    if !ctx.spend(1) {
        ctx.skip(RULE, "request budget or deadline exhausted");
        return;
    }
    match &mut ctx.wire {
        Wire::Http(t) => {
            let t = t.clone();
            let mut head = format!(
                "POST {} HTTP/1.1\r\nhost: {}\r\ncontent-length: {total}\r\n",
                t.path, t.authority
            );
            let call = Call::new("tools/list", json!({}));
            for (n, v) in headers_of(ctx, &call) {
                head.push_str(&format!("{n}: {v}\r\n"));
            }
            head.push_str("connection: close\r\n\r\n");
            let outcome =
                send_oversized(t.addr, head.into_bytes(), &prefix, size, &suffix, timeout).await;
            match outcome {
                RawOutcome::Answered(s, _) if (200..300).contains(&s) => ctx.find(
                    RULE,
                    Severity::Low,
                    format!("a {mb} MiB body was accepted (no body size limit)"),
                    format!("HTTP {s}"),
                ),
                RawOutcome::Answered(s, _) if s >= 500 => ctx.find(
                    RULE,
                    Severity::Low,
                    format!("a {mb} MiB body got HTTP {s} instead of 413"),
                    "",
                ),
                RawOutcome::StillOpen => ctx.find(
                    RULE,
                    Severity::Medium,
                    format!(
                        "a {mb} MiB body got no answer within {}s",
                        timeout.as_secs()
                    ),
                    "",
                ),
                _ => {}
            }
        }
        Wire::Stdio(child) => {
            let mut line = prefix.clone();
            line.resize(prefix.len() + size, b'a');
            line.extend_from_slice(&suffix);
            match child.exchange(&line, Some(&json!(77)), timeout).await {
                Ok(a) if a.is_success() => ctx.find(
                    RULE,
                    Severity::Low,
                    format!("a {mb} MiB line was accepted (no line size limit)"),
                    a.summary(),
                ),
                Err(WireError::Timeout) => ctx.find(
                    RULE,
                    Severity::Medium,
                    format!(
                        "a {mb} MiB line got no answer within {}s",
                        timeout.as_secs()
                    ),
                    "",
                ),
                _ => {}
            }
        }
    }
}

fn headers_of(ctx: &Ctx, call: &Call) -> Vec<(String, String)> {
    ctx.headers_for(call)
        .into_iter()
        .filter(|(n, _)| n != "host")
        .collect()
}

async fn deep_nesting(ctx: &mut Ctx) {
    const RULE: &str = "protocol.deep-nesting";
    ctx.ran(RULE);
    let mut params = ctx.params_for(json!({}));
    params["deep"] = Value::String(String::new());
    let id = ctx.id();
    let shell =
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": params}).to_string();
    let nested = format!("{}{}", "[".repeat(NESTING), "]".repeat(NESTING));
    let body = shell.replacen("\"deep\":\"\"", &format!("\"deep\":{nested}"), 1);
    let call = Call::new("tools/list", json!({})).raw(Bytes::from(body));
    match ctx.call(RULE, call).await {
        Sent::Answer(a) if a.status.is_some_and(|s| s >= 500) => ctx.find(
            RULE,
            Severity::Low,
            format!(
                "a body nested {NESTING} deep got HTTP {}",
                a.status.unwrap_or(0)
            ),
            a.summary(),
        ),
        Sent::Failed(WireError::Timeout) => ctx.find(
            RULE,
            Severity::High,
            format!(
                "a body nested {NESTING} deep got no answer within {}s",
                ctx.opts.request_timeout.as_secs()
            ),
            "",
        ),
        Sent::Failed(e) => ctx.find(
            RULE,
            Severity::Medium,
            format!("a body nested {NESTING} deep ended the connection without an answer"),
            e.to_string(),
        ),
        _ => {}
    }
}
