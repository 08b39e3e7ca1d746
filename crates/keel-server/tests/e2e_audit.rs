//! End to end, real `keel` binary with `[auth]` (two API keys), per-principal caching, a rate
//! limit and `[audit]`: every tool call is one line in the file — refused ones too —, two
//! principals never share a private cached result, the arguments never reach the file, and
//! SIGTERM loses no record.

mod support;

use std::time::Duration;

use http::StatusCode;
use serde_json::{Value, json};
use support::{KeelHttp, http::Http, request, with_modern_meta};

const ALICE: &str = "k-alice-5b1e0c3a9d7f4e2b8a6c";
const BOB: &str = "k-bob-2f8d6b4a1c9e7d5b3a0f";

fn call(id: i64, tool: &str, arguments: Value) -> Value {
    request(
        id,
        "tools/call",
        with_modern_meta(json!({ "name": tool, "arguments": arguments })),
    )
}

async fn as_(node: &Http, key: &str, body: &Value) -> support::http::Reply {
    node.modern_with(&[("authorization", &format!("Bearer {key}"))], body)
        .await
}

#[tokio::test]
async fn every_call_is_recorded_and_private_results_stay_with_their_principal() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.log");
    let config = format!(
        "[auth]\nresource = \"https://mcp.test/mcp\"\n\
         [[auth.api_keys]]\nname = \"alice\"\nsha256 = \"{}\"\nscopes = [\"db:read\"]\n\
         [[auth.api_keys]]\nname = \"bob\"\nsha256 = \"{}\"\nscopes = []\n\
         [auth.tools]\nquery = [\"db:read\"]\n\
         [cache.tools.analyze]\nscope = \"principal\"\n\
         [rate_limits.principal_tools.echo]\nper_second = 1\nburst = 1\n\
         [audit]\nfile = \"{}\"\n",
        keel_auth::api_key_digest(ALICE),
        keel_auth::api_key_digest(BOB),
        file.display()
    );
    let mut node = Http::over(KeelHttp::start_with_config(&config).await);
    let secret = "card_4111_1111_1111_1111";
    let analyze = |id| {
        call(
            id,
            "analyze",
            json!({ "csv": format!("{secret}\n1\n2\n3"), "operations": [{ "op": "mean" }] }),
        )
    };
    for (key, id) in [(ALICE, 1), (BOB, 2), (ALICE, 3), (BOB, 4)] {
        let r = as_(&node, key, &analyze(id)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let r = as_(&node, BOB, &call(5, "query", json!({ "sql": "SELECT 1" }))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = as_(
        &node,
        ALICE,
        &call(6, "query", json!({ "sql": "SELECT 1" })),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for id in [7, 8] {
        as_(&node, ALICE, &call(id, "echo", json!({ "text": "hi" }))).await;
    }

    // The writer's counters are on /metrics.
    let metrics = node.server.url.replace("/mcp", "/metrics");
    support::within("eight records written", async {
        loop {
            let text = node
                .client
                .get(&metrics)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if text.contains("keel_audit_records_total{result=\"written\"} 8")
                && text.contains("keel_audit_records_total{result=\"failed\"} 0")
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    // SIGTERM: the log is flushed before the process ends.
    node.server.terminate();
    assert!(
        node.server
            .exit_within(Duration::from_secs(15))
            .await
            .is_some()
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(secret), "arguments reached the audit log");
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 8, "{text}");
    let by_id = |id: i64| -> &Value {
        records
            .iter()
            .find(|r| r["request_id"].as_str().and_then(|s| s.parse().ok()) == Some(id))
            .unwrap_or_else(|| panic!("no record of call {id}: {text}"))
    };
    let (alice, bob) = (&by_id(1)["principal"], &by_id(2)["principal"]);
    assert!(alice != bob && *alice != "anonymous", "{alice} {bob}");

    // Bob's identical call was computed for him, never served from Alice's entry; each
    // then found their own.
    assert_eq!(by_id(1)["cache"], "computed");
    assert_eq!(by_id(2)["cache"], "computed");
    assert_eq!(by_id(3)["cache"], "l1");
    assert_eq!(by_id(4)["cache"], "l1");
    assert_eq!(by_id(1)["arguments_sha256"], by_id(2)["arguments_sha256"]);

    assert_eq!(by_id(5)["outcome"], "forbidden");
    assert_eq!(by_id(5)["error_code"], -32003);
    assert_eq!(by_id(6)["outcome"], "ok");
    assert_eq!(by_id(1)["outcome"], "ok");
    assert_eq!(by_id(6)["dependencies"]["db:main"]["breaker"], "closed");
    assert_eq!(by_id(7)["outcome"], "ok");
    assert_eq!(by_id(8)["outcome"], "rate_limited");
    for r in &records {
        assert_eq!(r["event"], "tool_call");
        assert!(r["duration_us"].is_u64() && r["ts"].is_string(), "{r}");
    }
}
