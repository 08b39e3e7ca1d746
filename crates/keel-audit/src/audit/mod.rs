//! One audit from start to report.

pub(crate) mod ctx;
pub(crate) mod mcp;

use serde_json::Value;

pub use mcp::AuditError;

use crate::{
    options::{Options, Target},
    probes,
    report::Report,
    schema::synthesize,
    wire::{HttpTarget, StdioChild},
};
use ctx::{Ctx, Spoken, Wire};

/// Audits `target`: settles the era, lists the tools, runs every probe group that applies
/// (a liveness request after each), and reports. Fails only when the server cannot be
/// reached at all.
pub async fn audit(target: &Target, options: Options) -> Result<Report, AuditError> {
    let wire = match target {
        Target::Http(url) => Wire::Http(HttpTarget::resolve(url).await?),
        Target::Stdio(cmd) => {
            Wire::Stdio(StdioChild::spawn(cmd).map_err(|e| AuditError::Unreachable(e.to_string()))?)
        }
    };
    let mut ctx = Ctx::new(wire, options, target.location());
    mcp::connect(&mut ctx).await?;
    if ctx.era.is_none() && !ctx.auth_demanded {
        return Err(AuditError::Unreachable(
            "neither server/discover (2026-07-28) nor initialize (2025-11-25) succeeded".into(),
        ));
    }
    if ctx.era.is_some() {
        ctx.tools = mcp::list_tools(&mut ctx).await;
    } else {
        ctx.skip(
            "tools",
            "the server demands a token and none was given (--token)",
        );
    }
    let callable = callable_tools(&mut ctx);
    let pairs: Vec<(String, Value)> = callable
        .iter()
        .map(|(n, a, _)| (n.clone(), a.clone()))
        .collect();
    let http = ctx.http().is_some();
    if ctx.era.is_some() {
        probes::protocol::run(&mut ctx).await;
        mcp::check_alive(&mut ctx, "protocol").await;
    }
    if http {
        if !ctx.down {
            probes::http::run(&mut ctx, pairs.first().cloned()).await;
            mcp::check_alive(&mut ctx, "HTTP").await;
        }
        if !ctx.down {
            probes::transport::run(&mut ctx).await;
            mcp::check_alive(&mut ctx, "transport").await;
        }
        if !ctx.down {
            probes::auth::run(&mut ctx, &pairs).await;
        }
    } else {
        for group in [
            "http.*",
            "session.*",
            "transport.*",
            "auth.*",
            "cache.cross-principal",
        ] {
            ctx.skip(group, "HTTP only (the target is a stdio command)");
        }
    }
    if !ctx.down && ctx.era.is_some() {
        probes::injection::run(&mut ctx, &callable).await;
        mcp::check_alive(&mut ctx, "injection").await;
        if http && !ctx.down {
            probes::principals::run(&mut ctx, &pairs).await;
        }
    }
    if let Wire::Stdio(child) = &mut ctx.wire
        && child.exited()
        && !ctx.down
    {
        ctx.find(
            "server.down",
            crate::report::Severity::Critical,
            "the server process exited during the audit",
            "",
        );
    }
    Ok(report(ctx))
}

/// The tools the audit may call, with valid arguments and their schema: those annotated
/// `readOnlyHint: true`, or all with `allow_mutating`. Others are listed as skipped.
fn callable_tools(ctx: &mut Ctx) -> Vec<(String, Value, Value)> {
    let mut out = Vec::new();
    for tool in ctx.tools.clone() {
        let Some(name) = tool.get("name").and_then(Value::as_str) else {
            continue;
        };
        let read_only = tool
            .get("annotations")
            .and_then(|a| a.get("readOnlyHint"))
            .and_then(Value::as_bool)
            == Some(true);
        if !read_only && !ctx.opts.allow_mutating {
            ctx.skip(
                &format!("tool {name}"),
                "not annotated readOnlyHint: true (--allow-mutating calls it)",
            );
            continue;
        }
        let schema = tool.get("inputSchema").cloned().unwrap_or(Value::Null);
        out.push((name.to_owned(), synthesize(&schema), schema));
    }
    out
}

fn report(ctx: Ctx) -> Report {
    Report {
        target: ctx.location,
        era: match ctx.era {
            Some(Spoken::Modern) => "modern".into(),
            Some(Spoken::Legacy) => format!("legacy ({})", ctx.version),
            None => "unknown".into(),
        },
        server: ctx.server,
        auth_demanded: ctx.auth_demanded,
        probes_run: ctx.probes_run,
        findings: ctx.findings,
        skipped: ctx.skipped,
        requests: ctx.requests,
        tools_called: ctx.tools_called,
    }
}
