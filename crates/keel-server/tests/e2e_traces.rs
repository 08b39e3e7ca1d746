//! End to end, real `keel` binary with `[traces]` exporting OTLP/HTTP to a collector on
//! loopback: a caller's trace is continued from `_meta.traceparent` and from the HTTP
//! `traceparent` header, the cache lookup, an admission wait and dependency calls are spans
//! nested in the request's, a caller's "not sampled" is followed, a malformed `traceparent` starts a
//! trace of its own, the audit record names the trace, and SIGTERM exports what is left.

mod support;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use http::StatusCode;
use serde_json::{Value, json};
use support::{KeelHttp, http::Http, request, with_modern_meta};

/// What the collector received: each export's content type and body.
type Received = Arc<Mutex<Vec<(String, Bytes)>>>;

/// An OTLP/HTTP traces receiver on a loopback port, answering as a collector does.
async fn collector() -> (SocketAddr, Received) {
    let received: Received = Arc::default();
    let app = Router::new()
        .route(
            "/v1/traces",
            post(
                |State(r): State<Received>, headers: HeaderMap, body: Bytes| async move {
                    let kind = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let json = kind.starts_with("application/json");
                    r.lock().unwrap().push((kind, body));
                    if json {
                        (
                            [("content-type", "application/json")],
                            Bytes::from_static(b"{}"),
                        )
                    } else {
                        ([("content-type", "application/x-protobuf")], Bytes::new())
                    }
                },
            ),
        )
        .with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, received)
}

fn call(id: i64, tool: &str, arguments: Value, traceparent: Option<&str>) -> Value {
    let mut params = with_modern_meta(json!({ "name": tool, "arguments": arguments }));
    if let Some(parent) = traceparent {
        params["_meta"]["traceparent"] = parent.into();
        params["_meta"]["tracestate"] = "vendor=opaque".into();
    }
    request(id, "tools/call", params)
}

/// Every span of every JSON export.
fn spans(received: &Received) -> Vec<Value> {
    let mut out = Vec::new();
    for (kind, body) in received.lock().unwrap().iter() {
        assert!(kind.starts_with("application/json"), "{kind}");
        let export: Value = serde_json::from_slice(body).unwrap();
        for rs in export["resourceSpans"].as_array().unwrap() {
            let service = rs["resource"]["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["key"] == "service.name")
                .map(|a| a["value"]["stringValue"].clone());
            assert_eq!(service, Some(json!("keel-traced")), "{rs}");
            for ss in rs["scopeSpans"].as_array().unwrap() {
                out.extend(ss["spans"].as_array().unwrap().iter().cloned());
            }
        }
    }
    out
}

fn attr<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

fn id(span: &Value, field: &str) -> String {
    span[field].as_str().unwrap_or("").to_ascii_lowercase()
}

fn in_trace<'a>(spans: &'a [Value], trace: &str) -> Vec<&'a Value> {
    spans.iter().filter(|s| id(s, "traceId") == trace).collect()
}

fn named<'a>(spans: &[&'a Value], name: &str) -> &'a Value {
    spans
        .iter()
        .copied()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no span {name} among {spans:#?}"))
}

const T_META: &str = "0af7651916cd43dd8448eb211c80319c";
const P_META: &str = "00f067aa0ba902b7";
const T_HEADER: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const P_HEADER: &str = "a3ce929d0e0e4736";
const T_BOTH: &str = "5c1e2f3a4b5c6d7e8f90a1b2c3d4e5f6";
const T_ANALYZE: &str = "6d2f3a4b5c6d7e8f90a1b2c3d4e5f607";
const T_QUERY: &str = "7e3a4b5c6d7e8f90a1b2c3d4e5f60718";
const T_UNSAMPLED: &str = "8f4b5c6d7e8f90a1b2c3d4e5f6071829";

#[tokio::test]
async fn a_callers_trace_is_continued_through_every_layer() {
    let (collector, received) = collector().await;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let config = format!(
        "[traces]\nendpoint = \"http://{collector}/v1/traces\"\nprotocol = \"http/json\"\n\
         service_name = \"keel-traced\"\n\
         [admission.cpu]\ncapacity = 1\nqueue = 16\n\
         [audit]\nfile = \"{}\"\n",
        audit.display()
    );
    let mut node = Http::over(KeelHttp::start_with_config(&config).await);
    let parent = |trace: &str, span: &str, flags: &str| format!("00-{trace}-{span}-{flags}");

    // From `_meta`.
    let r = node
        .modern(&call(
            1,
            "echo",
            json!({ "text": "hi" }),
            Some(&parent(T_META, P_META, "01")),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // From the HTTP header alone.
    let header = parent(T_HEADER, P_HEADER, "01");
    let r = node
        .modern_with(
            &[("traceparent", &header)],
            &call(2, "echo", json!({ "text": "hi" }), None),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // Both: `_meta` names the MCP request's parent, the header the HTTP request's.
    let r = node
        .modern_with(
            &[("traceparent", &header)],
            &call(
                3,
                "echo",
                json!({ "text": "hi" }),
                Some(&parent(T_BOTH, P_META, "01")),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // A cached tool: the cache lookup nests in the request. Four heavy analyses at once
    // through one permit: those that wait for it show their wait as an admission span.
    let heavy = |n: i64| {
        let values: Vec<f64> = (0..100_000)
            .map(|i| ((i * 7919 + n) % 100_003) as f64)
            .collect();
        let percentiles: Vec<f64> = (1..1000).map(|p| p as f64 / 10.0).collect();
        json!({ "values": values, "operations": [
            { "op": "percentiles", "p": percentiles },
            { "op": "histogram", "bins": 10_000 },
        ] })
    };
    let analyses = (0..4).map(|n| {
        let body = call(
            40 + n,
            "analyze",
            heavy(n),
            Some(&parent(T_ANALYZE, &format!("00f067aa0ba902b{n}"), "01")),
        );
        let node = &node;
        async move { node.modern(&body).await }
    });
    for r in futures_util::future::join_all(analyses).await {
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(!r.text.contains("\"isError\":true"), "{}", r.text);
    }
    // A dependency call.
    let r = node
        .modern(&call(
            5,
            "query",
            json!({ "sql": "SELECT 1 AS one" }),
            Some(&parent(T_QUERY, P_META, "01")),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // The caller did not sample: nothing is recorded for its trace.
    let r = node
        .modern(&call(
            6,
            "echo",
            json!({ "text": "hi" }),
            Some(&parent(T_UNSAMPLED, P_META, "00")),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // Malformed parents are ignored, never refused.
    for (n, bad) in [
        "00-zzzz",
        "ff-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    ]
    .into_iter()
    .enumerate()
    {
        let r = node
            .modern_with(
                &[("traceparent", bad)],
                &call(10 + n as i64, "echo", json!({ "text": "hi" }), Some(bad)),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{bad}: {}", r.text);
    }

    // SIGTERM exports the spans still buffered.
    node.server.terminate();
    assert!(
        node.server
            .exit_within(Duration::from_secs(15))
            .await
            .is_some()
    );
    let spans = spans(&received);

    let meta = in_trace(&spans, T_META);
    let request = named(&meta, "tools/call echo");
    assert_eq!(id(request, "parentSpanId"), P_META);
    assert_eq!(request["kind"], json!(2), "server kind: {request}");
    assert_eq!(
        attr(request, "mcp.method.name"),
        Some(&json!({ "stringValue": "tools/call" }))
    );
    assert_eq!(
        attr(request, "gen_ai.tool.name"),
        Some(&json!({ "stringValue": "echo" }))
    );
    assert_eq!(
        attr(request, "jsonrpc.request.id"),
        Some(&json!({ "stringValue": "1" }))
    );
    assert_eq!(
        request["traceState"], "vendor=opaque",
        "tracestate kept: {request}"
    );

    let header = in_trace(&spans, T_HEADER);
    let http_span = named(&header, "POST /mcp");
    assert_eq!(id(http_span, "parentSpanId"), P_HEADER);
    assert_eq!(
        attr(http_span, "http.response.status_code"),
        Some(&json!({ "intValue": "200" }))
    );
    let request = named(&header, "tools/call echo");
    assert_eq!(
        id(request, "parentSpanId"),
        id(http_span, "spanId"),
        "the MCP request nests in the HTTP request"
    );

    let both = in_trace(&spans, T_BOTH);
    assert_eq!(id(named(&both, "tools/call echo"), "parentSpanId"), P_META);
    assert!(
        both.iter().all(|s| s["name"] != "POST /mcp"),
        "the HTTP span stays in the header's trace"
    );

    let analyze = in_trace(&spans, T_ANALYZE);
    let requests: Vec<_> = analyze
        .iter()
        .filter(|s| s["name"] == "tools/call analyze")
        .collect();
    assert_eq!(requests.len(), 4, "{analyze:#?}");
    let caches: Vec<_> = analyze
        .iter()
        .filter(|s| s["name"] == "cache lookup")
        .collect();
    assert_eq!(caches.len(), 4);
    for cache in &caches {
        assert!(
            requests
                .iter()
                .any(|r| id(r, "spanId") == id(cache, "parentSpanId")),
            "{cache} nests in a request"
        );
        assert_eq!(
            attr(cache, "keel.cache.level"),
            Some(&json!({ "stringValue": "computed" }))
        );
    }
    let admissions: Vec<_> = analyze
        .iter()
        .filter(|s| s["name"] == "admission")
        .collect();
    assert!(!admissions.is_empty(), "no call waited for the one permit");
    for admission in admissions {
        assert_eq!(
            attr(admission, "keel.admission.decision"),
            Some(&json!({ "stringValue": "queued" }))
        );
        assert_eq!(
            attr(admission, "keel.workload"),
            Some(&json!({ "stringValue": "cpu" }))
        );
        // The wait nests under the call's cache lookup, whose computation it holds up.
        assert!(
            caches
                .iter()
                .any(|c| id(c, "spanId") == id(admission, "parentSpanId"))
        );
    }

    let query = in_trace(&spans, T_QUERY);
    let request = named(&query, "tools/call query");
    let dependency = named(&query, "call db:main");
    assert_eq!(dependency["kind"], json!(3), "client kind: {dependency}");
    assert_eq!(
        attr(dependency, "keel.breaker.state"),
        Some(&json!({ "stringValue": "closed" }))
    );
    // The dependency span descends from the request (through the cache, which `query`
    // opts into, and admission).
    let by_id = |span_id: &str| query.iter().copied().find(|s| id(s, "spanId") == span_id);
    let mut up = dependency;
    while id(up, "spanId") != id(request, "spanId") {
        up = by_id(&id(up, "parentSpanId"))
            .unwrap_or_else(|| panic!("{dependency} does not descend from {request}"));
    }

    assert!(
        in_trace(&spans, T_UNSAMPLED).is_empty(),
        "a caller's unsampled trace was recorded"
    );
    for malformed in [T_META, "00000000000000000000000000000000"] {
        let requests = spans
            .iter()
            .filter(|s| {
                attr(s, "jsonrpc.request.id").is_some_and(|v| {
                    ["10", "11", "12"].contains(&v["stringValue"].as_str().unwrap_or(""))
                })
            })
            .collect::<Vec<_>>();
        assert_eq!(requests.len(), 3, "three malformed-parent requests traced");
        assert!(requests.iter().all(|s| id(s, "traceId") != malformed));
    }

    // The audit record names the trace.
    let text = std::fs::read_to_string(&audit).unwrap();
    let record = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["request_id"] == "1")
        .unwrap_or_else(|| panic!("no record of call 1: {text}"));
    assert_eq!(record["trace_id"], T_META);
}

#[tokio::test]
async fn protobuf_exports_carry_the_callers_trace() {
    let (collector, received) = collector().await;
    let config = format!("[traces]\nendpoint = \"http://{collector}/v1/traces\"\n");
    let mut node = Http::over(KeelHttp::start_with_config(&config).await);
    let r = node
        .modern(&call(
            1,
            "echo",
            json!({ "text": "hi" }),
            Some(&format!("00-{T_META}-{P_META}-01")),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    node.server.terminate();
    assert!(
        node.server
            .exit_within(Duration::from_secs(15))
            .await
            .is_some()
    );
    let received = received.lock().unwrap();
    assert!(!received.is_empty(), "nothing exported");
    let trace: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&T_META[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert!(
        received
            .iter()
            .any(|(kind, body)| kind == "application/x-protobuf"
                && body.windows(16).any(|w| w == trace)),
        "no protobuf export carries the caller's trace id"
    );
}

#[tokio::test]
async fn a_malformed_traces_section_is_refused_at_start() {
    for section in [
        "endpoint = \"ftp://collector/v1/traces\"",
        "endpoint = \"http://127.0.0.1:4318/v1/traces\"\nsample_ratio = 1.5",
        "endpoint = \"http://127.0.0.1:4318/v1/traces\"\nprotocol = \"grpc\"",
        "endpoint = \"http://127.0.0.1:4318/v1/traces\"\nheaders = { \"bad header\" = \"x\" }",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keel.toml");
        std::fs::write(&path, format!("[traces]\n{section}\n")).unwrap();
        let out = support::keel_command("error")
            .env("KEEL_CONFIG", &path)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{section}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("configuration refused"),
            "{section}: {stderr}"
        );
    }
}
