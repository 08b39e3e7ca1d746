//! End to end, real `keel` binary on a loopback port. The modern revision (2026-07-28) over Streamable HTTP: stateless requests, result decoration and header validation.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::http::*;
use support::{
    LATEST_LEGACY, META_SERVER_INFO, META_VERSION, MODERN, echoed_text, initialize, request,
    with_modern_meta,
};

// ---------------------------------------------------------------------------------------
// Modern (2026-07-28) revision
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn modern_echo_call_is_complete_and_names_the_server() {
    let http = Http::start().await;
    let r = http.modern(&modern_call(1, "modern hello")).await;
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "content-type {:?}",
        r.header("content-type")
    );
    assert!(
        r.header(SESSION).is_none(),
        "modern responses mint no session"
    );
    let result = r.result(&json!(1));
    assert_eq!(echoed_text(&result), "modern hello");
    assert_eq!(result["resultType"], "complete", "{result}");
    let info = &result["_meta"][META_SERVER_INFO];
    assert_eq!(info["name"], "keel", "{result}");
    assert!(info["version"].is_string(), "{result}");
}

#[tokio::test]
async fn resource_reads_carry_their_own_freshness_and_legacy_reads_none() {
    let http = Http::start().await;
    let read = |id: i64, uri: &str| {
        request(
            id,
            "resources/read",
            with_modern_meta(json!({ "uri": uri })),
        )
    };
    // The schema of a table changes with its data: ten seconds.
    let tables = http
        .modern(&read(1, "keel://db/main/tables"))
        .await
        .result(&json!(1));
    assert_eq!(tables["ttlMs"], 10_000, "{tables}");
    assert_eq!(tables["cacheScope"], "public", "{tables}");
    // The list of databases is configuration: the server's default.
    let databases = http
        .modern(&read(2, "keel://databases"))
        .await
        .result(&json!(2));
    assert_eq!(databases["ttlMs"], 60_000, "{databases}");
    // Cache statistics are never fresh.
    let stats = http
        .modern(&read(3, "keel://cache/stats"))
        .await
        .result(&json!(3));
    assert_eq!(stats["ttlMs"], 0, "{stats}");

    let legacy = http
        .post(
            &[],
            &request(
                4,
                "resources/read",
                json!({ "uri": "keel://db/main/tables" }),
            ),
        )
        .await
        .result(&json!(4));
    assert!(legacy["contents"].is_array(), "{legacy}");
    assert!(legacy.get("ttlMs").is_none(), "{legacy}");
    assert!(legacy.get("cacheScope").is_none(), "{legacy}");
}

#[tokio::test]
async fn modern_tools_list_is_cacheable() {
    let http = Http::start().await;
    let result = http
        .modern(&request(1, "tools/list", with_modern_meta(json!({}))))
        .await
        .result(&json!(1));
    assert!(
        result["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == "echo")),
        "{result}"
    );
    assert!(result["ttlMs"].is_u64(), "ttlMs: {result}");
    assert!(
        matches!(result["cacheScope"].as_str(), Some("public" | "private")),
        "cacheScope: {result}"
    );
    assert_eq!(result["resultType"], "complete");
}

#[tokio::test]
async fn modern_discover_lists_supported_versions() {
    let http = Http::start().await;
    let result = http
        .modern(&request(1, "server/discover", with_modern_meta(json!({}))))
        .await
        .result(&json!(1));
    let versions: Vec<&str> = result["supportedVersions"]
        .as_array()
        .unwrap_or_else(|| panic!("no supportedVersions: {result}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for v in [
        "2026-07-28",
        "2025-11-25",
        "2025-06-18",
        "2025-03-26",
        "2024-11-05",
    ] {
        assert!(versions.contains(&v), "{v} missing from {versions:?}");
    }
    assert!(result["capabilities"]["tools"].is_object(), "{result}");
}

#[tokio::test]
async fn modern_method_header_mismatch_is_header_mismatch() {
    let mut http = Http::start().await;
    let r = http
        .post(
            &[
                ("mcp-protocol-version", MODERN),
                ("mcp-method", "tools/list"),
                ("mcp-name", "echo"),
            ],
            &modern_call(1, "x"),
        )
        .await;
    r.error(StatusCode::BAD_REQUEST, -32020, &json!(1));
    http.assert_alive().await;
}

#[tokio::test]
async fn modern_missing_name_header_on_tools_call_is_header_mismatch() {
    let http = Http::start().await;
    let r = http
        .post(
            &[
                ("mcp-protocol-version", MODERN),
                ("mcp-method", "tools/call"),
            ],
            &modern_call(1, "x"),
        )
        .await;
    r.error(StatusCode::BAD_REQUEST, -32020, &json!(1));
}

#[tokio::test]
async fn modern_name_header_mismatch_is_header_mismatch() {
    let http = Http::start().await;
    let r = http
        .post(
            &[
                ("mcp-protocol-version", MODERN),
                ("mcp-method", "tools/call"),
                ("mcp-name", "not-echo"),
            ],
            &modern_call(1, "x"),
        )
        .await;
    r.error(StatusCode::BAD_REQUEST, -32020, &json!(1));
}

#[tokio::test]
async fn modern_version_header_differing_from_meta_is_header_mismatch() {
    let http = Http::start().await;
    let mut body = modern_call(1, "x");
    body["params"]["_meta"][META_VERSION] = json!(LATEST_LEGACY);
    let r = http
        .post(
            &[
                ("mcp-protocol-version", MODERN),
                ("mcp-method", "tools/call"),
                ("mcp-name", "echo"),
            ],
            &body,
        )
        .await;
    r.error(StatusCode::BAD_REQUEST, -32020, &json!(1));
}

/// The same mismatch the other way round: a modern `_meta` version under a legacy header
/// value must not be served as a legacy request.
#[tokio::test]
async fn modern_meta_under_a_legacy_version_header_is_header_mismatch() {
    let http = Http::start().await;
    let r = http
        .post(
            &[
                ("mcp-protocol-version", LATEST_LEGACY),
                ("mcp-method", "tools/call"),
                ("mcp-name", "echo"),
            ],
            &modern_call(1, "x"),
        )
        .await;
    r.error(StatusCode::BAD_REQUEST, -32020, &json!(1));
}

#[tokio::test]
async fn modern_unsupported_version_lists_the_supported_ones() {
    let http = Http::start().await;
    let mut body = modern_call(1, "x");
    body["params"]["_meta"][META_VERSION] = json!("1900-01-01");
    let r = http
        .post(
            &[
                ("mcp-protocol-version", "1900-01-01"),
                ("mcp-method", "tools/call"),
                ("mcp-name", "echo"),
            ],
            &body,
        )
        .await;
    let body = r.error(StatusCode::BAD_REQUEST, -32022, &json!(1));
    let data = &body["error"]["data"];
    assert!(
        data["supported"]
            .as_array()
            .is_some_and(|s| s.contains(&json!(MODERN))),
        "data.supported: {body}"
    );
    assert_eq!(data["requested"], "1900-01-01", "{body}");
}

#[tokio::test]
async fn modern_unknown_method_is_404_method_not_found() {
    let mut http = Http::start().await;
    let r = http
        .modern(&request(1, "no/such/method", with_modern_meta(json!({}))))
        .await;
    r.error(StatusCode::NOT_FOUND, -32601, &json!(1));
    http.assert_alive().await;
}

#[tokio::test]
async fn modern_initialize_is_404_method_not_found() {
    let http = Http::start().await;
    let mut body = initialize(1, MODERN);
    body["params"]["_meta"] = support::modern_meta();
    let r = http.modern(&body).await;
    r.error(StatusCode::NOT_FOUND, -32601, &json!(1));
    assert!(r.header(SESSION).is_none(), "no session in the modern era");
}

#[tokio::test]
async fn modern_missing_client_capabilities_is_invalid_params() {
    let http = Http::start().await;
    let body = request(
        1,
        "tools/call",
        json!({
            "name": "echo",
            "arguments": { "text": "x" },
            "_meta": { META_VERSION: MODERN },
        }),
    );
    let r = http.modern(&body).await;
    r.error(StatusCode::BAD_REQUEST, -32602, &json!(1));
}

#[tokio::test]
async fn modern_base64_name_header_is_decoded() {
    let http = Http::start().await;
    let r = http
        .post(
            &[
                ("mcp-protocol-version", MODERN),
                ("mcp-method", "tools/call"),
                ("mcp-name", "=?base64?ZWNobw==?="),
            ],
            &modern_call(1, "encoded"),
        )
        .await;
    assert_eq!(echoed_text(&r.result(&json!(1))), "encoded");
}
