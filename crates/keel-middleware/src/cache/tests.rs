//! The cache layer over a real L1 and the real base service (schema check + handler), with
//! tools that count their runs and fail on demand.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU8, AtomicU32, Ordering::SeqCst},
    },
    time::Duration,
};

use keel_cache::Cache;
use keel_core::{
    CachePolicy, CacheScope, CallToolResult, Context, Dispatcher, Failure, Principal, Registry,
    ToolBuilder, ToolCall, ToolError, ToolService,
};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt, util::BoxCloneSyncService};

use super::*;

/// What the `lookup` tool does on its next runs.
const OK: u8 = 0;
const DB_DOWN: u8 = 1;
const BAD_INPUT: u8 = 2;

struct Tools {
    runs: Arc<AtomicU32>,
    mode: Arc<AtomicU8>,
    registry: Registry,
}

fn tools(policy: CachePolicy) -> Tools {
    let runs = Arc::new(AtomicU32::new(0));
    let mode = Arc::new(AtomicU8::new(OK));
    let (r, m) = (Arc::clone(&runs), Arc::clone(&mode));
    let lookup = ToolBuilder::new("lookup", json!({"type": "object"}))
        .cache(policy)
        .handler(move |args: Value, cx: Context| {
            let (runs, mode) = (Arc::clone(&r), Arc::clone(&m));
            async move {
                let n = runs.fetch_add(1, SeqCst) + 1;
                if args.get("slow").is_some() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                match mode.load(SeqCst) {
                    DB_DOWN => Err(Failure::dependency("db:main", "db down").into()),
                    BAD_INPUT => Ok(CallToolResult::error("no such row")),
                    _ => Ok(CallToolResult::structured(
                        json!({ "run": n, "who": cx.principal().key() }),
                        format!("run {n}"),
                    )),
                }
            }
        });
    let counted = Arc::clone(&runs);
    let echo = ToolBuilder::new("echo", json!({"type": "object"})).handler(move |_, _| {
        counted.fetch_add(1, SeqCst);
        async { Ok(CallToolResult::text("echo")) }
    });
    let write = ToolBuilder::new("write", json!({"type": "object"}))
        .invalidates("lookup")
        .handler(|_, _| async { Ok(CallToolResult::text("written")) });
    let registry = Registry::builder()
        .tool(lookup)
        .tool(echo)
        .tool(write)
        .build()
        .expect("registry");
    Tools {
        runs,
        mode,
        registry,
    }
}

fn stack(t: &Tools) -> (ToolService, CacheHandle) {
    let cache = Cache::builder()
        .l1_max_bytes(1 << 20)
        .build()
        .expect("cache");
    let layer = CacheLayer::new(cache, &t.registry, &HashMap::new());
    let handle = layer.handle();
    let svc = BoxCloneSyncService::new(layer.layer(Dispatcher::base_tool_service()));
    (svc, handle)
}

fn call_as(t: &Tools, tool: &str, args: Value, who: Principal) -> ToolCall {
    ToolCall {
        tool: t.registry.tool(tool).cloned().expect("tool"),
        arguments: args,
        context: Context::detached_as(who),
    }
}

async fn run(svc: &ToolService, t: &Tools, tool: &str, args: Value) -> CallToolResult {
    svc.clone()
        .oneshot(call_as(t, tool, args, Principal::anonymous()))
        .await
        .expect("call succeeds")
}

fn body(r: &CallToolResult) -> Value {
    Value::Object(r.clone().into_object())
}

#[tokio::test]
async fn a_hit_answers_the_stored_bytes_without_running_the_tool() {
    let t = tools(CachePolicy::new(Duration::from_secs(60)));
    let (svc, handle) = stack(&t);
    let first = run(&svc, &t, "lookup", json!({"a": 1, "b": [1, 2]})).await;
    let again = run(&svc, &t, "lookup", json!({"b": [1, 2], "a": 1})).await;
    assert_eq!(
        t.runs.load(SeqCst),
        1,
        "argument order does not split the key"
    );
    assert_eq!(body(&first), body(&again));
    assert!(again.shared().is_some(), "a hit is the shared encoding");
    assert_eq!(first.shared(), again.shared());
    run(&svc, &t, "lookup", json!({"a": 2})).await;
    assert_eq!(t.runs.load(SeqCst), 2, "other arguments, other entry");
    let report = handle.report();
    assert_eq!((report.computed, report.levels.l1.hits), (2, 1));
    assert_eq!(report.cached_tools, ["lookup"]);
}

#[tokio::test]
async fn tools_without_a_policy_are_never_cached() {
    let t = tools(CachePolicy::new(Duration::from_secs(60)));
    let (svc, _) = stack(&t);
    for _ in 0..3 {
        let r = run(&svc, &t, "echo", json!({})).await;
        assert!(r.shared().is_none());
    }
    assert_eq!(t.runs.load(SeqCst), 3);
}

#[tokio::test]
async fn errors_and_failures_are_not_cached() {
    let t = tools(CachePolicy::new(Duration::from_secs(60)));
    let (svc, _) = stack(&t);
    t.mode.store(BAD_INPUT, SeqCst);
    assert!(run(&svc, &t, "lookup", json!({})).await.is_error);
    t.mode.store(DB_DOWN, SeqCst);
    let failed = svc
        .clone()
        .oneshot(call_as(&t, "lookup", json!({}), Principal::anonymous()))
        .await;
    assert!(matches!(failed, Err(ToolError::Failed(_))));
    t.mode.store(OK, SeqCst);
    assert!(!run(&svc, &t, "lookup", json!({})).await.is_error);
    assert_eq!(
        t.runs.load(SeqCst),
        3,
        "each call ran: nothing failed was kept"
    );
}

#[tokio::test]
async fn per_principal_results_are_never_shared() {
    let t = tools(CachePolicy::new(Duration::from_secs(60)).scope(CacheScope::PerPrincipal));
    let (svc, _) = stack(&t);
    let alice = Principal::local("alice");
    let bob = Principal::local("bob");
    let call = |who: &Principal| call_as(&t, "lookup", json!({"q": 1}), who.clone());
    let a1 = svc.clone().oneshot(call(&alice)).await.unwrap();
    let b1 = svc.clone().oneshot(call(&bob)).await.unwrap();
    let a2 = svc.clone().oneshot(call(&alice)).await.unwrap();
    assert_eq!(t.runs.load(SeqCst), 2);
    assert_eq!(body(&a1), body(&a2));
    assert_ne!(
        body(&a1)["structuredContent"]["who"],
        body(&b1)["structuredContent"]["who"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_dependency_failure_is_answered_stale_within_the_window() {
    let t = tools(
        CachePolicy::new(Duration::from_secs(10))
            .ttl_bounds(Duration::from_secs(10), Duration::from_secs(10))
            .serve_stale(Duration::from_secs(60)),
    );
    let (svc, handle) = stack(&t);
    let fresh = run(&svc, &t, "lookup", json!({})).await;
    tokio::time::advance(Duration::from_secs(20)).await;
    t.mode.store(DB_DOWN, SeqCst);
    let stale = run(&svc, &t, "lookup", json!({})).await;
    let meta = &body(&stale)["_meta"][CACHE_META_KEY];
    assert_eq!(meta["stale"], true, "{meta}");
    assert_eq!(meta["because"]["kind"], "dependency_unavailable");
    assert_eq!(
        body(&stale)["structuredContent"],
        body(&fresh)["structuredContent"]
    );
    assert_eq!(handle.report().stale_served, 1);

    // Invalid input is the caller's problem: no stale answer hides it.
    t.mode.store(BAD_INPUT, SeqCst);
    assert!(run(&svc, &t, "lookup", json!({})).await.is_error);

    // Past the stale window the failure goes through.
    t.mode.store(DB_DOWN, SeqCst);
    tokio::time::advance(Duration::from_secs(120)).await;
    let late = svc
        .clone()
        .oneshot(call_as(&t, "lookup", json!({}), Principal::anonymous()))
        .await;
    assert!(matches!(late, Err(ToolError::Failed(_))));
}

#[tokio::test]
async fn a_declared_writer_invalidates_the_readers_results() {
    let t = tools(CachePolicy::new(Duration::from_secs(60)));
    let (svc, handle) = stack(&t);
    run(&svc, &t, "lookup", json!({})).await;
    run(&svc, &t, "lookup", json!({})).await;
    assert_eq!(t.runs.load(SeqCst), 1);
    run(&svc, &t, "write", json!({})).await;
    run(&svc, &t, "lookup", json!({})).await;
    assert_eq!(
        t.runs.load(SeqCst),
        2,
        "the write made the cached read obsolete"
    );
    assert_eq!(handle.report().invalidations, 1);

    handle.invalidate_tool("lookup").await;
    run(&svc, &t, "lookup", json!({})).await;
    assert_eq!(t.runs.load(SeqCst), 3, "invalidated from the API");
}

#[tokio::test]
async fn a_writer_that_also_declares_a_policy_runs_every_call() {
    let writes = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&writes);
    let registry = Registry::builder()
        .tool(
            ToolBuilder::new("upsert", json!({"type": "object"}))
                .cache(CachePolicy::new(Duration::from_secs(60)))
                .invalidates("reports")
                .handler(move |_, _| {
                    counted.fetch_add(1, SeqCst);
                    async { Ok(CallToolResult::text("written")) }
                }),
        )
        .build()
        .expect("registry");
    let t = Tools {
        runs: Arc::new(AtomicU32::new(0)),
        mode: Arc::new(AtomicU8::new(OK)),
        registry,
    };
    let (svc, handle) = stack(&t);
    for _ in 0..3 {
        run(&svc, &t, "upsert", json!({ "id": 1 })).await;
    }
    assert_eq!(
        writes.load(SeqCst),
        3,
        "a write is never answered from the cache"
    );
    let report = handle.report();
    assert!(report.cached_tools.is_empty(), "{:?}", report.cached_tools);
    assert_eq!(report.invalidations, 3);
}

#[tokio::test(start_paused = true)]
async fn identical_concurrent_calls_run_the_tool_once() {
    let t = tools(CachePolicy::new(Duration::from_secs(60)));
    let (svc, handle) = stack(&t);
    let calls: Vec<_> = (0..200)
        .map(|_| {
            let svc = svc.clone();
            let call = call_as(&t, "lookup", json!({"slow": true}), Principal::anonymous());
            tokio::spawn(async move { svc.oneshot(call).await })
        })
        .collect();
    let mut bodies = Vec::new();
    for c in calls {
        bodies.push(body(&c.await.unwrap().unwrap()));
    }
    assert_eq!(t.runs.load(SeqCst), 1);
    assert!(bodies.iter().all(|b| *b == bodies[0]));
    let report = handle.report();
    assert_eq!((report.computed, report.coalesced), (1, 199));
}
