//! Two principals, same request: no answer computed for one may reach the other.

use serde_json::{Value, json};

use crate::{
    audit::ctx::{Auth, Call, Ctx, Sent},
    jwt::Jwt,
    report::Severity,
};

/// Calls each callable tool as the first then the second principal.
pub(crate) async fn run(ctx: &mut Ctx, callable: &[(String, Value)]) {
    const RULE: &str = "cache.cross-principal";
    let (Some(first), Some(second)) = (ctx.opts.token.clone(), ctx.opts.second_token.clone())
    else {
        ctx.skip(RULE, "needs --token and --second-token");
        return;
    };
    ctx.ran(RULE);
    let identity = Jwt::decode(&first)
        .and_then(|j| j.subject().map(str::to_owned))
        .unwrap_or_else(|| first.clone());
    let second_identity = Jwt::decode(&second).and_then(|j| j.subject().map(str::to_owned));
    if second_identity.as_deref() == Some(identity.as_str()) {
        ctx.skip(RULE, "both tokens name the same subject");
        return;
    }
    for (tool, args) in callable {
        let params = json!({"name": tool, "arguments": args});
        let Sent::Answer(a1) = ctx
            .call(RULE, Call::new("tools/call", params.clone()))
            .await
        else {
            return;
        };
        let call = Call::new("tools/call", params).auth(Auth::Bearer(second.clone()));
        let Sent::Answer(a2) = ctx.call(RULE, call).await else {
            return;
        };
        let (Some(r1), Some(r2)) = (a1.result(), a2.result()) else {
            continue;
        };
        let text1 = r1.to_string();
        let text2 = r2.to_string();
        let leaked = text2.contains(&identity);
        let same_named = text1.contains(&identity) && text1 == text2;
        if leaked || same_named {
            ctx.find(
                RULE,
                Severity::Critical,
                format!("tools/call {tool} as the second principal returned the first principal's result"),
                crate::wire::shorten(&text2, 160),
            );
        }
    }
}
