//! End to end: `keel serve` with `[auth]` over real HTTP. Without a valid bearer token the MCP
//! endpoint answers 401 with a challenge naming the Protected Resource Metadata; with one it
//! serves; the metadata is served at the path-suffixed and bare well-known URLs; health
//! endpoints stay open. Tokens are real ES256 JWTs minted here.

mod support;

use http::StatusCode;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, get_current_timestamp};
use serde_json::{Value, json};
use support::{KeelHttp, http::Http, http::modern_call, within};

const RESOURCE: &str = "https://mcp.test/mcp";
const ISSUER: &str = "https://idp.test";
const METADATA: &str = "https://mcp.test/.well-known/oauth-protected-resource/mcp";

fn key(name: &str) -> EncodingKey {
    let path = format!(
        "{}/../keel-auth/tests/keys/{name}.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    EncodingKey::from_ec_pem(&std::fs::read(path).expect("test key")).expect("EC key")
}

fn token(signer: &str, aud: &str) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("a".into());
    let now = get_current_timestamp();
    let claims = json!({ "iss": ISSUER, "aud": aud, "sub": "alice", "exp": now + 300, "scope": "tools:echo" });
    encode(&header, &claims, &key(signer)).expect("sign")
}

async fn node() -> Http {
    let mut jwk = Jwk::from_encoding_key(&key("signer-a"), Algorithm::ES256).expect("JWK");
    jwk.common.key_id = Some("a".into());
    let jwks = serde_json::to_string(&JwkSet { keys: vec![jwk] }).unwrap();
    let server = KeelHttp::start_with(|cmd| {
        let dir = cmd.get_current_dir().expect("working directory").to_owned();
        std::fs::write(dir.join("jwks.json"), &jwks).expect("write JWKS");
        let config = format!(
            "[auth]\nresource = \"{RESOURCE}\"\nissuer = \"{ISSUER}\"\njwks_file = \"{}\"\n\
             algorithms = [\"ES256\"]\nscopes_supported = [\"tools:echo\"]\n\
             [auth.tools]\necho = [\"tools:echo\"]\nquery = [\"db:read\"]\n",
            dir.join("jwks.json").display()
        );
        std::fs::write(dir.join("keel.toml"), config).expect("write config");
        cmd.env("KEEL_CONFIG", dir.join("keel.toml"));
    })
    .await;
    Http::over(server)
}

async fn get(node: &Http, path: &str) -> (StatusCode, String) {
    let url = format!("http://127.0.0.1:{}{path}", node.server.port);
    within(path, async {
        let r = reqwest::get(&url).await?;
        Ok::<_, reqwest::Error>((r.status(), r.text().await?))
    })
    .await
    .expect("GET")
}

#[tokio::test]
async fn the_endpoint_wants_a_valid_bearer_token_and_says_where_to_get_one() {
    let node = node().await;
    let call = modern_call(1, "hi");
    let headers = |t: &str| vec![("authorization".to_owned(), format!("Bearer {t}"))];
    let send = |extra: Vec<(String, String)>| {
        let call = call.clone();
        let node = &node;
        async move {
            let extra: Vec<(&str, &str)> = extra
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            node.modern_with(&extra, &call).await
        }
    };
    // No token: a challenge naming the metadata, no error code (RFC 6750 §3.1).
    let r = send(vec![]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert_eq!(
        r.header("www-authenticate"),
        Some(format!("Bearer resource_metadata=\"{METADATA}\"").as_str())
    );
    // Forged, or for another audience: invalid_token.
    for bad in [
        token("stranger", RESOURCE),
        token("signer-a", "https://other.test/mcp"),
        "garbage".into(),
    ] {
        let r = send(headers(&bad)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
        let challenge = r.header("www-authenticate").unwrap_or_default();
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        assert!(!r.text.contains(&bad), "the token is never echoed");
    }
    // A valid one is served.
    let r = send(headers(&token("signer-a", RESOURCE))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.result(&json!(1))["content"][0]["text"], "hi");

    // The metadata, at both well-known URLs, naming this resource and its issuer.
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let (status, body) = get(&node, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let m: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(m["resource"], RESOURCE);
        assert_eq!(m["authorization_servers"][0], ISSUER);
        assert_eq!(m["scopes_supported"][0], "tools:echo");
    }
    // Liveness stays open to probes.
    assert_eq!(get(&node, "/healthz").await.0, StatusCode::OK);

    // A tool whose scope the token lacks: 403, naming what is missing.
    let query = json!({
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": { "name": "query", "arguments": { "sql": "SELECT 1" }, "_meta": support::modern_meta() }
    });
    let auth = format!("Bearer {}", token("signer-a", RESOURCE));
    let r = node
        .modern_with(&[("authorization", auth.as_str())], &query)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let challenge = r.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.contains("error=\"insufficient_scope\"")
            && challenge.contains("scope=\"db:read\""),
        "{challenge}"
    );
    let error = &r.json()["error"];
    assert_eq!(error["code"], -32003);
    assert_eq!(error["data"]["missingScopes"][0], "db:read");

    // What the caller may not call is not listed to it, and the list is private to it.
    let list = json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": { "_meta": support::modern_meta() } });
    let r = node
        .modern_with(&[("authorization", auth.as_str())], &list)
        .await;
    let result = r.result(&json!(3));
    let names: Vec<&str> = result["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"echo") && names.contains(&"analyze"),
        "{names:?}"
    );
    assert!(!names.contains(&"query"), "{names:?}");
    assert_eq!(result["cacheScope"], "private", "{result}");
}

#[tokio::test]
async fn static_api_keys_authenticate_without_an_issuer() {
    const KEY: &str = "k-ci-3f9a1c0e7b5d4e2a9c8b7a6f5e4d3c2b";
    let digest = keel_auth::api_key_digest(KEY);
    let server = KeelHttp::start_with_config(&format!(
        "[auth]\nresource = \"{RESOURCE}\"\n[[auth.api_keys]]\nname = \"ci\"\nsha256 = \"{digest}\"\n\
         scopes = [\"tools:echo\"]\n[auth.tools]\nquery = [\"db:read\"]\n"
    ))
    .await;
    let node = Http::over(server);
    let good = format!("Bearer {KEY}");
    let r = node
        .modern_with(&[("authorization", good.as_str())], &modern_call(1, "hi"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.result(&json!(1))["content"][0]["text"], "hi");
    let bad = format!("Bearer {KEY}x");
    let r = node
        .modern_with(&[("authorization", bad.as_str())], &modern_call(2, "hi"))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let query = json!({
        "jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": { "name": "query", "arguments": { "sql": "SELECT 1" }, "_meta": support::modern_meta() }
    });
    let r = node
        .modern_with(&[("authorization", good.as_str())], &query)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let (status, body) = get(&node, "/.well-known/oauth-protected-resource/mcp").await;
    assert_eq!(status, StatusCode::OK);
    let m: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(m["resource"], RESOURCE);
    assert!(m.get("authorization_servers").is_none(), "{m}");
}

#[tokio::test]
async fn metrics_on_their_own_listener_are_not_behind_the_endpoint_and_count_refusals() {
    const KEY: &str = "k-metrics-8d2f4b6a1c3e5f7a9b0c";
    let metrics_port = support::free_port();
    let server = KeelHttp::start_with_config(&format!(
        "[http]\nmetrics_listen = \"127.0.0.1:{metrics_port}\"\n\
         [auth]\nresource = \"{RESOURCE}\"\n[[auth.api_keys]]\nname = \"ci\"\nsha256 = \"{}\"\n\
         scopes = []\n",
        keel_auth::api_key_digest(KEY)
    ))
    .await;
    let client = reqwest::Client::new();
    let main_metrics = server.url.replace("/mcp", "/metrics");
    assert_eq!(
        client.get(&main_metrics).send().await.unwrap().status(),
        reqwest::StatusCode::NOT_FOUND,
        "/metrics still served beside MCP"
    );
    let mut node = Http::over(server);
    let r = node
        .modern_with(&[("authorization", "Bearer wrong")], &modern_call(1, "hi"))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let text = support::within(
        "metrics apart",
        client
            .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .send(),
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(
        text.contains("keel_auth_failures_total{reason=\"malformed\"} 1"),
        "{text}"
    );
    assert!(text.contains("keel_requests_total{"), "{text}");
    // Both listeners drain on SIGTERM: the process ends.
    node.server.terminate();
    let status = node
        .server
        .exit_within(std::time::Duration::from_secs(15))
        .await;
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}
