//! Slow request heads (slowloris) and connections that say nothing: the server must cut
//! both within a bound. One socket each, held at most `slow_bound`, side by side.

use crate::{
    audit::ctx::Ctx,
    report::Severity,
    wire::{RawOutcome, held_open},
};

/// Runs the transport probes (the caller checked the target is HTTP).
pub(crate) async fn run(ctx: &mut Ctx) {
    let Some(t) = ctx.http().cloned() else { return };
    if !ctx.spend(2) {
        ctx.skip("transport.*", "request budget or deadline exhausted");
        return;
    }
    ctx.ran("transport.slow-head");
    ctx.ran("transport.half-open");
    let bound = ctx.opts.slow_bound;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n",
        t.path, t.authority
    );
    let (slow, silent) = tokio::join!(
        held_open(t.addr, head.as_bytes(), ctx.opts.trickle_interval, bound),
        held_open(t.addr, b"", ctx.opts.trickle_interval, bound),
    );
    let secs = bound.as_secs_f32();
    if slow == RawOutcome::StillOpen {
        ctx.find(
            "transport.slow-head",
            Severity::Medium,
            format!(
                "a request head trickled one byte per {:.1}s was still open after {secs}s",
                ctx.opts.trickle_interval.as_secs_f32()
            ),
            "",
        );
    }
    if silent == RawOutcome::StillOpen {
        ctx.find(
            "transport.half-open",
            Severity::Medium,
            format!("a connection that sent nothing was still open after {secs}s"),
            "",
        );
    }
}
