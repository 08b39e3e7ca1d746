//! End to end: a per-principal tool limit over real HTTP. Past its burst a call is answered
//! 429 with `Retry-After` and JSON-RPC -32029 naming when to come back; other methods pass.

mod support;

use http::StatusCode;
use serde_json::json;
use support::{KeelHttp, http::Http, http::modern_call};

#[tokio::test]
async fn past_the_burst_a_call_is_refused_with_when_to_return() {
    let node = Http::over(
        KeelHttp::start_with_config(
            "[rate_limits.principal_tools.echo]\nper_second = 1\nburst = 2\n",
        )
        .await,
    );
    for id in 1..=2 {
        let r = node.modern(&modern_call(id, "hi")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let r = node.modern(&modern_call(3, "hi")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    let after: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=2).contains(&after), "{after}");
    let error = &r.json()["error"];
    assert_eq!(error["code"], -32029);
    assert_eq!(error["data"]["limit"], "principal_tool");
    assert!(error["data"]["retryAfterMs"].as_u64().unwrap() > 0);
    let list = json!({ "jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": { "_meta": support::modern_meta() } });
    assert_eq!(node.modern(&list).await.status, StatusCode::OK);
    // The bucket refills.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        node.modern(&modern_call(5, "hi")).await.status,
        StatusCode::OK
    );
}
