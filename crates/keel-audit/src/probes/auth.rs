//! Bearer-token checks: missing, forged (unsigned, tampered, expired, wrong audience or
//! issuer) and misplaced tokens; Protected Resource Metadata; the 401 and 403 shapes.

use bytes::Bytes;
use serde_json::{Value, json};

use super::expect_refusal;
use crate::{
    audit::ctx::{Auth, Call, Ctx, Sent},
    jwt::{Jwt, now},
    report::Severity,
    wire::{Answer, HttpRequest, HttpTarget},
};

/// Runs the auth probes (the caller checked the target is HTTP).
pub(crate) async fn run(ctx: &mut Ctx, callable: &[(String, Value)]) {
    let loopback = ctx.http().is_some_and(|t| t.loopback);
    if !ctx.auth_demanded && ctx.opts.token.is_none() {
        ctx.ran("auth.none");
        let (severity, where_) = if loopback {
            (Severity::Info, "on a loopback address")
        } else {
            (Severity::Low, "on a non-loopback address")
        };
        ctx.find(
            "auth.none",
            severity,
            format!("the server demands no authentication ({where_})"),
            "requests without Authorization are served",
        );
        ctx.skip(
            "auth.*",
            "the server demands no authentication and no --token was given",
        );
        return;
    }
    ctx.ran("auth.no-token");
    ctx.ran("auth.www-authenticate");
    let call = Call::new("tools/list", json!({})).auth(Auth::Without);
    let mut challenge = None;
    match ctx.call("auth.no-token", call).await {
        Sent::Answer(a) if a.is_success() => ctx.find(
            "auth.no-token",
            Severity::Critical,
            "tools/list without a bearer token was served",
            a.summary(),
        ),
        Sent::Answer(a) if a.status == Some(401) => challenge = Some(a),
        Sent::Answer(a) => ctx.find(
            "auth.www-authenticate",
            Severity::Medium,
            format!(
                "a request without a token got HTTP {} instead of 401",
                a.status.unwrap_or(0)
            ),
            a.summary(),
        ),
        _ => {}
    }
    let metadata_url = challenge.as_ref().and_then(|a| www_authenticate(ctx, a));
    prm(ctx, metadata_url).await;
    let Some(token) = ctx.opts.token.clone() else {
        ctx.skip("auth.forged-tokens", "needs --token");
        return;
    };
    let baseline = ctx
        .call("auth.baseline", Call::new("tools/list", json!({})))
        .await;
    if !matches!(&baseline, Sent::Answer(a) if a.is_success()) {
        ctx.skip("auth.forged-tokens", "the given --token was refused");
        return;
    }
    forged(ctx, &token).await;
    ctx.ran("auth.query-token");
    let mut call = Call::new("tools/list", json!({})).auth(Auth::Without);
    call.query = Some(format!("access_token={}", percent_encode(&token)));
    let sent = ctx.call("auth.query-token", call).await;
    expect_refusal(
        ctx,
        "auth.query-token",
        "a token in the query string (no Authorization header)",
        sent,
        Severity::High,
    );
    scope(ctx, &token, callable).await;
}

/// Checks a 401's WWW-Authenticate; returns its `resource_metadata` URL.
fn www_authenticate(ctx: &mut Ctx, answer: &Answer) -> Option<String> {
    let Some(value) = answer.header("www-authenticate").map(str::to_owned) else {
        ctx.find(
            "auth.www-authenticate",
            Severity::Medium,
            "a 401 carried no WWW-Authenticate header",
            answer.summary(),
        );
        return None;
    };
    let lower = value.to_ascii_lowercase();
    if !lower.starts_with("bearer") || !lower.contains("resource_metadata=") {
        ctx.find(
            "auth.www-authenticate",
            Severity::Medium,
            "a 401's WWW-Authenticate lacks Bearer with resource_metadata=",
            value.clone(),
        );
    }
    let start = lower.find("resource_metadata=")? + "resource_metadata=".len();
    let rest = value[start..].trim_start_matches('"');
    let end = rest.find(['"', ',', ' ']).unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

/// Fetches Protected Resource Metadata from `url`, or the well-known locations.
async fn prm(ctx: &mut Ctx, url: Option<String>) {
    const RULE: &str = "auth.prm";
    ctx.ran(RULE);
    let Some(t) = ctx.http().cloned() else { return };
    let mut places: Vec<(HttpTarget, String)> = Vec::new();
    if let Some(u) = &url
        && let Ok(other) = HttpTarget::resolve(u).await
    {
        let path = other.path.clone();
        places.push((other, path));
    }
    let suffix = t.path.split('?').next().unwrap_or("").trim_end_matches('/');
    places.push((
        t.clone(),
        format!("/.well-known/oauth-protected-resource{suffix}"),
    ));
    places.push((t.clone(), "/.well-known/oauth-protected-resource".into()));
    let mut seen = Vec::new();
    for (target, path) in places {
        if !ctx.spend(1) {
            ctx.skip(RULE, "request budget or deadline exhausted");
            return;
        }
        let req = HttpRequest {
            method: "GET".into(),
            path: path.clone(),
            headers: vec![("accept".into(), "application/json".into())],
            body: Bytes::new(),
        };
        let Ok(a) = target.send(req, ctx.opts.request_timeout).await else {
            continue;
        };
        let doc: Option<Value> = serde_json::from_str(&a.body).ok();
        let good = a.status == Some(200)
            && doc.as_ref().is_some_and(|d| {
                d.get("resource").is_some_and(Value::is_string)
                    && d.get("authorization_servers")
                        .and_then(Value::as_array)
                        .is_some_and(|s| !s.is_empty())
            });
        if good {
            return;
        }
        seen.push(format!("{path}: HTTP {}", a.status.unwrap_or(0)));
    }
    ctx.find(
        RULE,
        Severity::Medium,
        "no Protected Resource Metadata with resource and authorization_servers",
        seen.join("; "),
    );
}

async fn forged(ctx: &mut Ctx, token: &str) {
    let secret = ctx.opts.hs256_secret.clone();
    let mut cases: Vec<(&'static str, &'static str, String)> = Vec::new();
    match Jwt::decode(token) {
        Some(jwt) => {
            let s = secret.as_deref();
            let t = now();
            cases.push((
                "auth.alg-none",
                "an unsigned token (alg: none)",
                jwt.alg_none(),
            ));
            cases.push((
                "auth.bad-signature",
                "a token with a tampered signature",
                jwt.bad_signature(),
            ));
            cases.push((
                "auth.expired-token",
                "a token that expired an hour ago",
                jwt.forge(
                    |c| {
                        c["exp"] = json!(t - 3600);
                        c["iat"] = json!(t - 7200);
                        c["nbf"] = json!(t - 7200);
                    },
                    s,
                ),
            ));
            cases.push((
                "auth.wrong-audience",
                "a token for another audience",
                jwt.forge(
                    |c| c["aud"] = json!("https://audit.invalid/other-resource"),
                    s,
                ),
            ));
            cases.push((
                "auth.wrong-issuer",
                "a token from a foreign issuer",
                jwt.forge(|c| c["iss"] = json!("https://audit.invalid/issuer"), s),
            ));
        }
        None => {
            cases.push((
                "auth.bad-signature",
                "a tampered opaque token",
                format!("{token}x"),
            ));
        }
    }
    for (rule, what, forged) in cases {
        ctx.ran(rule);
        let call = Call::new("tools/list", json!({})).auth(Auth::Bearer(forged));
        let sent = ctx.call(rule, call).await;
        expect_refusal(ctx, rule, what, sent, Severity::Critical);
    }
}

/// With the signing key: a token without scopes must get 403 insufficient_scope (or be
/// served, if the server has no scopes); checks the shape of any 403.
async fn scope(ctx: &mut Ctx, token: &str, callable: &[(String, Value)]) {
    let (Some(secret), Some(jwt)) = (ctx.opts.hs256_secret.clone(), Jwt::decode(token)) else {
        return;
    };
    ctx.ran("auth.insufficient-scope");
    let scopeless = jwt.forge(
        |c| {
            if let Some(m) = c.as_object_mut() {
                m.remove("scope");
                m.remove("scp");
            }
        },
        Some(&secret),
    );
    for (name, args) in callable.iter().take(4) {
        let call = Call::new("tools/call", json!({"name": name, "arguments": args}))
            .auth(Auth::Bearer(scopeless.clone()));
        if let Sent::Answer(a) = ctx.call("auth.insufficient-scope", call).await {
            check_scope_shape(ctx, &a);
        }
    }
}

/// A 403 to an authenticated request must say `insufficient_scope`.
pub(crate) fn check_scope_shape(ctx: &mut Ctx, answer: &Answer) {
    if answer.status != Some(403) {
        return;
    }
    let ok = answer.header("www-authenticate").is_some_and(|v| {
        v.to_ascii_lowercase().starts_with("bearer") && v.contains("insufficient_scope")
    });
    if !ok {
        ctx.ran("auth.insufficient-scope");
        ctx.find(
            "auth.insufficient-scope",
            Severity::Low,
            "a 403 lacks WWW-Authenticate: Bearer error=\"insufficient_scope\"",
            answer.summary(),
        );
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
