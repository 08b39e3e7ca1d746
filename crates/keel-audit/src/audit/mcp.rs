//! Speaking MCP properly: era detection, sessions, the tool list, liveness.

use std::time::Duration;

use serde_json::{Value, json};

use super::ctx::{Call, Ctx, LEGACY, META_VERSION, MODERN, Sent, Spoken, Wire};
use crate::{options::Era, wire::WireError};

/// Why nothing could be audited.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The URL is not usable.
    #[error(transparent)]
    Target(#[from] crate::wire::TargetError),
    /// The server could not be reached or started.
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
}

/// Settles the era: `server/discover` at 2026-07-28, else legacy `initialize` at
/// 2025-11-25 (as `--era` allows).
pub(crate) async fn connect(ctx: &mut Ctx) -> Result<(), AuditError> {
    if ctx.opts.era != Era::Legacy {
        let call = Call::new("server/discover", json!({}));
        match ctx.call("connect", call).await {
            Sent::Answer(a) if a.is_success() => {
                ctx.era = Some(Spoken::Modern);
                ctx.version = MODERN.into();
                ctx.server = server_name(a.result(), true);
                return Ok(());
            }
            Sent::Failed(WireError::Io(e)) => return Err(AuditError::Unreachable(e.to_string())),
            Sent::Failed(WireError::Closed) => {
                return Err(AuditError::Unreachable("the server exited".into()));
            }
            Sent::Answer(a) if a.status == Some(401) && ctx.opts.token.is_none() => return Ok(()),
            _ => {}
        }
    }
    if ctx.opts.era == Era::Modern {
        return Ok(());
    }
    if let Some((session, version, server)) = initialize(ctx, "connect").await? {
        ctx.era = Some(Spoken::Legacy);
        ctx.session = session;
        ctx.version = version;
        ctx.server = server;
    }
    Ok(())
}

/// A legacy `initialize` (and `notifications/initialized`): the session id (if one was
/// issued), the negotiated version and the server's name; None if refused.
pub(crate) async fn initialize(
    ctx: &mut Ctx,
    probe: &str,
) -> Result<Option<(Option<String>, String, Option<String>)>, AuditError> {
    let saved = ctx.era;
    ctx.era = Some(Spoken::Legacy);
    let saved_version = std::mem::replace(&mut ctx.version, LEGACY.into());
    let mut call = Call::new(
        "initialize",
        json!({
            "protocolVersion": LEGACY,
            "capabilities": {},
            "clientInfo": {"name": "keel-audit", "version": env!("CARGO_PKG_VERSION")},
        }),
    );
    call.session = Some(None);
    call.omit = vec!["mcp-protocol-version"];
    let sent = ctx.call(probe, call).await;
    ctx.era = saved;
    ctx.version = saved_version;
    let answer = match sent {
        Sent::Answer(a) if a.is_success() => a,
        Sent::Failed(WireError::Io(e)) => return Err(AuditError::Unreachable(e.to_string())),
        Sent::Failed(WireError::Closed) => {
            return Err(AuditError::Unreachable("the server exited".into()));
        }
        _ => return Ok(None),
    };
    let session = answer.header("mcp-session-id").map(str::to_owned);
    let version = answer
        .result()
        .and_then(|r| r.get("protocolVersion"))
        .and_then(Value::as_str)
        .unwrap_or(LEGACY)
        .to_owned();
    let server = server_name(answer.result(), false);
    notify_initialized(ctx, session.clone(), &version).await;
    Ok(Some((session, version, server)))
}

async fn notify_initialized(ctx: &mut Ctx, session: Option<String>, version: &str) {
    let body = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    match &mut ctx.wire {
        Wire::Stdio(child) => {
            let _ = child.send_only(body.as_bytes()).await;
        }
        Wire::Http(_) => {
            let saved = (ctx.era, std::mem::replace(&mut ctx.version, version.into()));
            ctx.era = Some(Spoken::Legacy);
            let mut call = Call::new("notifications/initialized", json!({})).raw(body);
            call.session = Some(session);
            let _ = ctx.call("connect", call).await;
            ctx.era = saved.0;
            ctx.version = saved.1;
        }
    }
}

fn server_name(result: Option<&Value>, modern: bool) -> Option<String> {
    let info = if modern {
        result?
            .get("_meta")?
            .get("io.modelcontextprotocol/serverInfo")
    } else {
        result?.get("serverInfo")
    }?;
    let name = info.get("name")?.as_str()?;
    let version = info.get("version").and_then(Value::as_str).unwrap_or("?");
    Some(format!("{name} {version}"))
}

/// The tools the server lists (up to 10 pages).
pub(crate) async fn list_tools(ctx: &mut Ctx) -> Vec<Value> {
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let params = match &cursor {
            Some(c) => json!({"cursor": c}),
            None => json!({}),
        };
        let Sent::Answer(a) = ctx
            .call("tools/list", Call::new("tools/list", params))
            .await
        else {
            break;
        };
        let Some(result) = a.result() else { break };
        if let Some(list) = result.get("tools").and_then(Value::as_array) {
            tools.extend(list.iter().cloned());
        }
        cursor = result
            .get("nextCursor")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    tools
}

/// Whether the server still answers a harmless request (one retry after a pause).
/// Records `server.down` after `group` when it does not.
pub(crate) async fn check_alive(ctx: &mut Ctx, group: &str) -> bool {
    if ctx.down {
        return false;
    }
    for attempt in 0..2 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let call = match ctx.era {
            Some(Spoken::Legacy) => Call::new("ping", json!({})),
            _ => Call::new("server/discover", json!({})),
        };
        match ctx.call("liveness", call).await {
            Sent::OutOfBudget => return true,
            Sent::Answer(a) if a.response().is_some() || a.status == Some(401) => return true,
            _ => {}
        }
    }
    ctx.down = true;
    ctx.find(
        "server.down",
        crate::report::Severity::Critical,
        format!("the server stopped answering after the {group} probes"),
        "a liveness request failed twice",
    );
    false
}

/// Whether `_meta` of modern requests carries this version key (for probes that forge it).
pub(crate) fn meta_with_version(version: &str) -> Value {
    json!({
        META_VERSION: version,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "keel-audit", "version": "0"},
    })
}
