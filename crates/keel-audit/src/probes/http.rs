//! What only HTTP has: Origin and Host checks, header/body agreement, legacy sessions.

use bytes::Bytes;
use serde_json::json;

use super::expect_refusal;
use crate::{
    audit::{
        ctx::{Call, Ctx, Sent, Spoken},
        mcp::initialize,
    },
    report::Severity,
    wire::HttpRequest,
};

/// Runs the HTTP probes (the caller checked the target is HTTP).
pub(crate) async fn run(ctx: &mut Ctx, callable: Option<(String, serde_json::Value)>) {
    origin_and_host(ctx).await;
    if ctx.era == Some(Spoken::Modern) {
        header_mismatch(ctx, callable).await;
    } else {
        ctx.skip("http.header-mismatch", "the server speaks the legacy era");
    }
    if ctx.era == Some(Spoken::Legacy) {
        sessions(ctx).await;
    } else {
        ctx.skip("session.*", "the server speaks the modern (stateless) era");
    }
}

async fn origin_and_host(ctx: &mut Ctx) {
    let loopback = ctx.http().is_some_and(|t| t.loopback);
    let port = ctx.http().map(|t| t.addr.port()).unwrap_or(80);
    ctx.ran("http.foreign-origin");
    let call = Call::new("tools/list", json!({})).header("origin", "http://evil.example");
    let sent = ctx.call("http.foreign-origin", call).await;
    let severity = if loopback {
        Severity::High
    } else {
        Severity::Medium
    };
    expect_refusal(
        ctx,
        "http.foreign-origin",
        "a request with Origin: http://evil.example",
        sent,
        severity,
    );
    ctx.ran("http.foreign-host");
    let host = format!("evil.example:{port}");
    let call = Call::new("tools/list", json!({})).header("host", &host);
    let sent = ctx.call("http.foreign-host", call).await;
    let severity = if loopback {
        Severity::High
    } else {
        Severity::Info
    };
    expect_refusal(
        ctx,
        "http.foreign-host",
        &format!("a request with Host: {host}"),
        sent,
        severity,
    );
}

async fn header_mismatch(ctx: &mut Ctx, callable: Option<(String, serde_json::Value)>) {
    const RULE: &str = "http.header-mismatch";
    ctx.ran(RULE);
    let call = Call::new("tools/list", json!({})).header("mcp-method", "prompts/list");
    let sent = ctx.call(RULE, call).await;
    expect_refusal(
        ctx,
        RULE,
        "tools/list with Mcp-Method: prompts/list",
        sent,
        Severity::Medium,
    );
    let mut call = Call::new("tools/list", json!({}));
    call.omit = vec!["mcp-method"];
    let sent = ctx.call(RULE, call).await;
    expect_refusal(
        ctx,
        RULE,
        "tools/list without Mcp-Method",
        sent,
        Severity::Medium,
    );
    if let Some((tool, args)) = callable {
        let call = Call::new("tools/call", json!({"name": tool, "arguments": args}))
            .header("mcp-name", "keel_audit_other_tool");
        let sent = ctx.call(RULE, call).await;
        expect_refusal(
            ctx,
            RULE,
            &format!("tools/call of {tool} with Mcp-Name: keel_audit_other_tool"),
            sent,
            Severity::Medium,
        );
        ctx.tools_called.push(tool);
    }
}

async fn sessions(ctx: &mut Ctx) {
    if ctx.session.is_none() {
        ctx.skip(
            "session.*",
            "initialize issued no Mcp-Session-Id (stateless server)",
        );
        return;
    }
    ctx.ran("session.missing");
    let mut call = Call::new("tools/list", json!({}));
    call.session = Some(None);
    if let Sent::Answer(a) = ctx.call("session.missing", call).await
        && a.is_success()
    {
        ctx.find(
            "session.missing",
            Severity::Info,
            "a request without Mcp-Session-Id was served after initialize",
            a.summary(),
        );
    }
    ctx.ran("session.forged");
    let mut forged = [0u8; 16];
    let _ = getrandom::fill(&mut forged);
    let forged: String = forged.iter().map(|b| format!("{b:02x}")).collect();
    let mut call = Call::new("tools/list", json!({}));
    call.session = Some(Some(forged.clone()));
    let sent = ctx.call("session.forged", call).await;
    expect_refusal(
        ctx,
        "session.forged",
        "a request with a session id never issued",
        sent,
        Severity::High,
    );
    ctx.ran("session.deleted");
    let Ok(Some((Some(id), version, _))) = initialize(ctx, "session.deleted").await else {
        ctx.skip("session.deleted", "a second initialize issued no session");
        return;
    };
    let Some(t) = ctx.http().cloned() else { return };
    let req = HttpRequest {
        method: "DELETE".into(),
        path: t.path.clone(),
        headers: vec![
            ("mcp-session-id".into(), id.clone()),
            ("mcp-protocol-version".into(), version),
        ]
        .into_iter()
        .chain(
            ctx.opts
                .token
                .iter()
                .map(|t| ("authorization".into(), format!("Bearer {t}"))),
        )
        .collect(),
        body: Bytes::new(),
    };
    match ctx.http_request("session.deleted", req).await {
        Sent::Answer(a) if a.status.is_some_and(|s| (200..300).contains(&s)) => {}
        Sent::Answer(a) => {
            ctx.skip(
                "session.deleted",
                format!("DELETE of a session got HTTP {}", a.status.unwrap_or(0)),
            );
            return;
        }
        _ => return,
    }
    let mut call = Call::new("tools/list", json!({}));
    call.session = Some(Some(id));
    let sent = ctx.call("session.deleted", call).await;
    expect_refusal(
        ctx,
        "session.deleted",
        "a request with a session id terminated by DELETE",
        sent,
        Severity::High,
    );
}
