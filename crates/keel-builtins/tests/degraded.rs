//! Without the model files the server still starts: the embedding tools are listed, each
//! call is a tool error naming the fetch command, readiness says degraded, and the other
//! tools work.

mod support;

use keel_builtins::BuiltinsConfig;
use serde_json::json;
use support::Harness;

#[tokio::test]
async fn missing_model_degrades_only_the_embedding_tools() {
    let empty = tempfile::tempdir().unwrap();
    let mut config = BuiltinsConfig::default();
    config.query.enabled = false;
    config.embed.model_dir = Some(empty.path().join("all-minilm-l6-v2"));
    let h = Harness::start(&config).await;

    let readiness = h.builtins.readiness();
    assert!(!readiness.ready);
    assert_eq!(readiness.degraded.len(), 1, "{readiness:?}");
    assert!(
        readiness.degraded[0].contains("fetch-model.sh"),
        "{readiness:?}"
    );

    for (tool, args) in [
        ("embed", json!({ "texts": ["hello"] })),
        ("similarity", json!({ "a": ["a"], "b": ["b"] })),
        (
            "classify",
            json!({ "text": "hello", "labels": ["greeting"] }),
        ),
    ] {
        let text = h.call_err(tool, args).await;
        assert!(text.contains("fetch-model.sh"), "{tool}: {text}");
        assert!(text.contains("model.safetensors"), "{tool}: {text}");
    }

    let out = h.call_ok("analyze", json!({ "values": [2, 4] })).await;
    assert_eq!(out["columns"][0]["mean"], 3.0);
}

#[tokio::test]
async fn disabled_tools_are_not_registered() {
    let mut config = BuiltinsConfig::default();
    config.embed.enabled = false;
    config.query.enabled = false;
    let h = Harness::start(&config).await;
    assert!(h.builtins.readiness().ready);
    let registry = h.dispatcher.registry();
    assert!(registry.tool("analyze").is_some());
    assert!(registry.tool("embed").is_none());
    assert!(registry.tool("classify").is_none());
    assert!(registry.tool("query").is_none());
}
