//! `POST /admin/cache/invalidate`: cache invalidation for operators, behind a bearer token
//! (`[cache] admin_token`); absent when no token is configured.

use axum::{
    Router,
    body::Bytes,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use keel_middleware::CacheHandle;
use serde::Deserialize;
use serde_json::json;

/// The path of the invalidation endpoint.
pub const INVALIDATE_PATH: &str = "/admin/cache/invalidate";

/// Largest request body the endpoint reads.
const MAX_BODY: usize = 4096;

/// What to invalidate: exactly one of the fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Invalidate {
    tool: Option<String>,
    tag: Option<String>,
    pattern: Option<String>,
    key: Option<String>,
}

/// The route, for a router serving MCP.
pub(crate) fn routes(cache: CacheHandle, token: String) -> Router {
    Router::new().route(
        INVALIDATE_PATH,
        post(move |headers: HeaderMap, body: Bytes| {
            let cache = cache.clone();
            let token = token.clone();
            async move { invalidate(&cache, &token, &headers, &body).await }
        }),
    )
}

async fn invalidate(
    cache: &CacheHandle,
    token: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    if !authorized(headers, token) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is required",
        )
            .into_response();
    }
    if body.len() > MAX_BODY {
        return (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response();
    }
    let request: Invalidate = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return bad_request(&format!("invalid body: {e}")),
    };
    let answer = match request {
        Invalidate {
            tool: Some(tool),
            tag: None,
            pattern: None,
            key: None,
        } => {
            cache.invalidate_tool(&tool).await;
            json!({ "invalidated": { "tool": tool } })
        }
        Invalidate {
            tool: None,
            tag: Some(tag),
            pattern: None,
            key: None,
        } => {
            cache.invalidate_tag(&tag).await;
            json!({ "invalidated": { "tag": tag } })
        }
        Invalidate {
            tool: None,
            tag: None,
            pattern: Some(pattern),
            key: None,
        } => {
            let tags = cache.invalidate_pattern(&pattern).await;
            json!({ "invalidated": { "pattern": pattern, "tags": tags } })
        }
        Invalidate {
            tool: None,
            tag: None,
            pattern: None,
            key: Some(key),
        } => {
            if !cache.invalidate_key(&key).await {
                return bad_request("key must be 64 hex digits");
            }
            json!({ "invalidated": { "key": key } })
        }
        _ => return bad_request("give exactly one of tool, tag, pattern, key"),
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        answer.to_string(),
    )
        .into_response()
}

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "error": message }).to_string(),
    )
        .into_response()
}

/// Compares the bearer token in constant time (its length is not secret).
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}
