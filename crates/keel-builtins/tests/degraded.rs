//! Without the model files (and with the background fetch off, as on an offline machine)
//! the server still starts: the embedding tools are listed, each call is a tool error naming
//! the fetch command, readiness says degraded, and the other tools work.

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
    config.embed.auto_fetch = false;
    let h = Harness::start(&config).await;

    let readiness = h.builtins.readiness();
    assert!(!readiness.ready);
    assert_eq!(readiness.degraded.len(), 1, "{readiness:?}");
    assert!(
        readiness.degraded[0].contains("keel model fetch --dir"),
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
        let text = h.call_err(tool, args.clone()).await;
        assert!(text.contains("keel model fetch"), "{tool}: {text}");
        assert!(text.contains("model.safetensors"), "{tool}: {text}");
        // A missing model is a dependency outage, named, not the caller's fault.
        let result = h.call(tool, args).await;
        let failure = &result["_meta"]["io.keel/failure"];
        assert_eq!(
            failure["kind"], "dependency_unavailable",
            "{tool}: {result}"
        );
        assert_eq!(
            failure["dependency"], "model:all-minilm-l6-v2",
            "{tool}: {result}"
        );
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

/// A model directory holding the real model's candle files (linked from the cache) but not
/// the ONNX engine's `model.onnx` and library.
#[cfg(unix)]
fn candle_only_model_dir() -> tempfile::TempDir {
    let store = keel_embed::ModelStore::from_env().unwrap();
    let files = store.locate().unwrap_or_else(|missing| panic!("{missing}"));
    let tmp = tempfile::tempdir().unwrap();
    for name in [
        "model.safetensors",
        "tokenizer.json",
        "config.json",
        "1_Pooling/config.json",
        "sentence_bert_config.json",
        "modules.json",
    ] {
        let target = tmp.path().join(name);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(files.dir.join(name), target).unwrap();
    }
    tmp
}

#[cfg(unix)]
#[tokio::test]
async fn without_the_onnx_files_auto_serves_on_candle_and_onnx_alone_degrades() {
    let dir = candle_only_model_dir();
    let mut config = BuiltinsConfig::default();
    config.query.enabled = false;
    config.embed.model_dir = Some(dir.path().to_path_buf());

    let h = Harness::start(&config).await;
    assert!(h.builtins.readiness().ready);
    let out = h.call_ok("embed", json!({ "texts": ["hello"] })).await;
    assert_eq!(out["embeddings"][0].as_array().unwrap().len(), 384);

    config.embed.engine = keel_embed::EngineKind::Onnx;
    let h = Harness::start(&config).await;
    let readiness = h.builtins.readiness();
    assert!(!readiness.ready);
    assert!(
        readiness.degraded[0].contains("model.onnx")
            && readiness.degraded[0].contains("keel model fetch"),
        "{readiness:?}"
    );
    let text = h.call_err("embed", json!({ "texts": ["hello"] })).await;
    assert!(text.contains("model.onnx"), "{text}");
}
