//! The probes, one file per group.

pub(crate) mod auth;
pub(crate) mod http;
pub(crate) mod injection;
pub(crate) mod principals;
pub(crate) mod protocol;
pub(crate) mod transport;

use crate::{
    audit::ctx::{Ctx, Sent},
    report::Severity,
    wire::WireError,
};

/// Judges the answer to something the server must refuse: a result is a finding at
/// `accepted`; a hang is medium; a 5xx or a non-JSON-RPC answer is low.
pub(crate) fn expect_refusal(
    ctx: &mut Ctx,
    rule: &'static str,
    what: &str,
    sent: Sent,
    accepted: Severity,
) {
    let timeout = ctx.opts.request_timeout;
    match sent {
        Sent::OutOfBudget => {}
        Sent::Answer(a) if a.is_refusal() => {}
        Sent::Answer(a)
            if a.is_success() || a.messages.iter().any(|m| m.get("result").is_some()) =>
        {
            ctx.find(rule, accepted, format!("{what} was accepted"), a.summary());
        }
        Sent::Answer(a) if a.status.is_some_and(|s| s >= 500) => {
            ctx.find(
                rule,
                Severity::Low,
                format!(
                    "{what} got HTTP {} instead of a JSON-RPC error",
                    a.status.unwrap_or(0)
                ),
                a.summary(),
            );
        }
        Sent::Answer(a) => ctx.find(
            rule,
            Severity::Low,
            format!("{what} got no JSON-RPC error"),
            a.summary(),
        ),
        Sent::Failed(WireError::Timeout) => ctx.find(
            rule,
            Severity::Medium,
            format!("{what} got no answer within {}s", timeout.as_secs_f32()),
            "",
        ),
        Sent::Failed(e) => ctx.find(
            rule,
            Severity::Low,
            format!("{what} got no answer: the connection ended"),
            e.to_string(),
        ),
    }
}
