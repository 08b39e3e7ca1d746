//! Limits per principal, per tool and per principal × tool, refused with one error shape.

use std::collections::HashMap;
use std::num::NonZeroU32;

use keel_core::Reply;
use keel_protocol::ErrorCode;
use serde_json::{Value, json};
use tower::{Layer, Service, ServiceExt};

use super::{RateLimitLayer, RateLimits, RateQuota};
use crate::test_support::{method_request, request_registry};

/// The routing: answers every request that gets through.
fn route() -> impl Service<
    keel_core::MethodRequest,
    Response = Reply,
    Error = std::convert::Infallible,
    Future = std::future::Ready<Result<Reply, std::convert::Infallible>>,
> + Clone {
    tower::service_fn(|_| std::future::ready(Ok(Reply::default())))
}

fn quota(per_second: u32, burst: u32) -> RateQuota {
    RateQuota {
        per_second: NonZeroU32::new(per_second).unwrap(),
        burst: NonZeroU32::new(burst).unwrap(),
    }
}

async fn send(
    svc: &mut (
             impl Service<keel_core::MethodRequest, Response = Reply, Error = std::convert::Infallible>
             + Clone
         ),
    method: &str,
    params: Value,
) -> Reply {
    let request = method_request(&request_registry(), method, params);
    svc.ready().await.unwrap().call(request).await.unwrap()
}

fn refused(reply: &Reply) -> Option<Value> {
    (reply.error == Some(ErrorCode::RATE_LIMITED)).then(|| {
        let body: Value = serde_json::from_slice(reply.body.as_deref().unwrap()).unwrap();
        body["error"]["data"].clone()
    })
}

#[tokio::test]
async fn a_tool_limit_refuses_past_its_burst_and_says_when_to_return() {
    let limits = RateLimits {
        per_tool: HashMap::from([("io".to_owned(), quota(1, 3))]),
        ..RateLimits::default()
    };
    let mut svc = RateLimitLayer::new(&limits).layer(route());
    for _ in 0..3 {
        let r = send(&mut svc, "tools/call", json!({"name": "io"})).await;
        assert!(refused(&r).is_none());
    }
    let r = send(&mut svc, "tools/call", json!({"name": "io"})).await;
    let data = refused(&r).expect("the fourth call is refused");
    assert_eq!(data["limit"], "tool");
    assert!(data["retryAfterMs"].as_u64().unwrap() > 0);
    assert!(r.retry_after.is_some());
    // Other tools and other methods are not limited.
    let r = send(&mut svc, "tools/call", json!({"name": "cpu"})).await;
    assert!(refused(&r).is_none());
    let r = send(&mut svc, "tools/list", json!({})).await;
    assert!(refused(&r).is_none());
}

#[tokio::test]
async fn a_principal_limit_covers_every_method() {
    let limits = RateLimits {
        per_principal: Some(quota(1, 2)),
        ..RateLimits::default()
    };
    let mut svc = RateLimitLayer::new(&limits).layer(route());
    assert!(refused(&send(&mut svc, "tools/list", json!({})).await).is_none());
    assert!(refused(&send(&mut svc, "prompts/list", json!({})).await).is_none());
    let data = refused(&send(&mut svc, "tools/call", json!({"name": "io"})).await).unwrap();
    assert_eq!(data["limit"], "principal");
    assert!(RateLimits::default().is_empty() && !limits.is_empty());
}
