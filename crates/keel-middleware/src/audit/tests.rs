//! One line per tool call, hashing the arguments unless told otherwise, with what the layers
//! below noted; refusals recorded too; nothing lost at close.

use std::convert::Infallible;
use std::sync::Arc;

use keel_core::{Failure, MethodRequest, Reply};
use keel_protocol::{ErrorCode, RpcError};
use keel_resilience::{Dependency, DependencyConfig, Idempotency};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt, service_fn};

use super::{AuditConfig, AuditLayer, AuditLog, AuditSink};
use crate::test_support::{method_request, request_registry};

/// The route: a call reaches `db:main` and the tool stack notes its outcome, as the real
/// stack does; `{"limited": true}` is refused as a rate limit would, before any tool runs.
fn route(
    db: Dependency,
) -> impl tower::Service<MethodRequest, Response = Reply, Error = Infallible, Future: Send> + Clone
{
    service_fn(move |request: MethodRequest| {
        let db = db.clone();
        async move {
            let arguments = request.request().params.get("arguments");
            if arguments.is_some_and(|a| a["limited"] == true) {
                return Ok(request.refuse(&RpcError::new(ErrorCode::RATE_LIMITED, "limited")));
            }
            db.call(Idempotency::Idempotent, || async { Ok::<_, Failure>(()) })
                .await
                .unwrap();
            keel_core::note_cache("l1");
            keel_core::note_outcome("ok");
            Ok(Reply::default())
        }
    })
}

fn log_at(path: &std::path::Path, include_arguments: bool) -> Arc<AuditLog> {
    Arc::new(
        AuditLog::open(&AuditConfig {
            sink: AuditSink::File(path.to_owned()),
            include_arguments,
            capacity: 4,
        })
        .unwrap(),
    )
}

fn records(path: &std::path::Path) -> (String, Vec<Value>) {
    let text = std::fs::read_to_string(path).unwrap();
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (text, lines)
}

fn temp_path(name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("keel-audit-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

fn tool_call(arguments: Value) -> MethodRequest {
    method_request(
        &request_registry(),
        "tools/call",
        json!({ "name": "io", "arguments": arguments }),
    )
}

#[tokio::test]
async fn each_call_is_one_line_with_its_hash_outcome_and_notes_never_its_arguments() {
    let path = temp_path("hashed");
    let log = log_at(&path, false);
    let svc = AuditLayer::new(Arc::clone(&log)).layer(route(Dependency::new(
        "db:main",
        DependencyConfig::default(),
    )));
    let secret = json!({ "user": "alice", "password": "hunter2" });
    // More calls than the channel holds: the writer keeps up, nothing is dropped.
    for _ in 0..10 {
        svc.clone()
            .oneshot(tool_call(secret.clone()))
            .await
            .unwrap();
    }
    svc.clone()
        .oneshot(tool_call(json!({ "limited": true })))
        .await
        .unwrap();
    // Other methods are not tool calls: no record.
    svc.clone()
        .oneshot(method_request(&request_registry(), "tools/list", json!({})))
        .await
        .unwrap();
    log.close().await;
    assert_eq!((log.written(), log.failed()), (11, 0));

    let (text, records) = records(&path);
    assert!(
        !text.contains("hunter2") && !text.contains("alice"),
        "{text}"
    );
    assert_eq!(records.len(), 11);
    let first = &records[0];
    assert_eq!(first["event"], "tool_call");
    assert_eq!(first["tool"], "io");
    assert_eq!(first["request_id"], "7");
    assert_eq!(first["outcome"], "ok");
    assert_eq!(first["principal"], "anonymous");
    assert_eq!(first["cache"], "l1");
    assert_eq!(first["dependencies"]["db:main"]["breaker"], "closed");
    assert!(first["duration_us"].is_u64());
    assert!(first["ts"].as_str().unwrap().ends_with('Z'));
    // Member order does not change the hash: equal arguments are recognisable.
    let reordered = super::hex(&crate::cache::arguments_digest(
        &json!({ "password": "hunter2", "user": "alice" }),
    ));
    assert_eq!(first["arguments_sha256"], reordered);
    let refused = &records[10];
    assert_eq!(refused["outcome"], "rate_limited");
    assert_eq!(refused["error_code"], -32029);
    assert_eq!(refused["dependencies"], json!({}));
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn arguments_are_recorded_only_when_configured() {
    let path = temp_path("arguments");
    let log = log_at(&path, true);
    let svc = AuditLayer::new(Arc::clone(&log)).layer(route(Dependency::new(
        "db:main",
        DependencyConfig::default(),
    )));
    svc.oneshot(tool_call(json!({ "id": 7 }))).await.unwrap();
    log.close().await;
    assert_eq!(records(&path).1[0]["arguments"], json!({ "id": 7 }));
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_sink_that_cannot_be_opened_is_an_error_at_start() {
    let refused = AuditLog::open(&AuditConfig {
        sink: AuditSink::File("/nonexistent-dir/audit.log".into()),
        include_arguments: false,
        capacity: 4,
    });
    assert!(refused.is_err());
}

#[tokio::test]
async fn a_call_whose_client_went_away_is_recorded_as_cancelled() {
    let path = temp_path("cancelled");
    let log = log_at(&path, false);
    let never = service_fn(|_: MethodRequest| std::future::pending::<Result<Reply, Infallible>>());
    let svc = AuditLayer::new(Arc::clone(&log)).layer(never);
    let call = svc.oneshot(tool_call(json!({ "id": 1 })));
    // The client gives up: the future is dropped before it finishes.
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(20), call)
            .await
            .is_err()
    );
    log.close().await;
    let (_, records) = records(&path);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["outcome"], "cancelled");
    assert_eq!(records[0]["tool"], "io");
    let _ = std::fs::remove_file(&path);
}
