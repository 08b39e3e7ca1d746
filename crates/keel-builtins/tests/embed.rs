//! `embed`, `similarity` and `classify` through the dispatcher with the real
//! all-MiniLM-L6-v2.
//!
//! The model comes from `KEEL_MODEL_DIR`, else keel-embed's cache directory; fetch it with
//! `keel model fetch`. Without it these tests fail and print that command.

mod support;

use keel_builtins::BuiltinsConfig;
use serde::Deserialize;
use serde_json::{Value, json};
use support::Harness;

/// Vectors agree with keel-embed's numpy reference to this much per element.
const TOLERANCE: f64 = 1e-5;

async fn harness() -> Harness {
    let mut config = BuiltinsConfig::default();
    config.analyze.enabled = false;
    config.query.enabled = false;
    // A missing model fails these tests with the fetch command rather than downloading it.
    config.embed.auto_fetch = false;
    let h = Harness::start(&config).await;
    let readiness = h.builtins.readiness();
    assert!(
        readiness.ready,
        "the embedding model is needed for these tests:\n{}",
        readiness.degraded.join("\n")
    );
    h
}

#[derive(Deserialize)]
struct Reference {
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    text: String,
    vector: Vec<f64>,
}

fn reference() -> Reference {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../keel-embed/tests/fixtures/reference.json"
    );
    serde_json::from_slice(&std::fs::read(path).expect("keel-embed's reference fixture"))
        .expect("a well-formed fixture")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[tokio::test]
async fn embeddings_match_the_reference_vectors() {
    let h = harness().await;
    let reference = reference();
    let texts: Vec<&str> = reference.entries.iter().map(|e| e.text.as_str()).collect();
    let result = h.call("embed", json!({ "texts": texts })).await;
    assert_eq!(result["isError"], false, "{result}");
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("384-dimensional") && text.len() < 300,
        "the text is a summary, not the vectors: {text}"
    );
    let out = &result["structuredContent"];
    h.assert_fits_output_schema("embed", out);
    assert_eq!(out["model"], "all-MiniLM-L6-v2");
    assert_eq!(out["dimensions"], 384);
    let vectors = out["embeddings"].as_array().unwrap();
    assert_eq!(vectors.len(), reference.entries.len());
    for (entry, got) in reference.entries.iter().zip(vectors) {
        let got = floats(got);
        assert_eq!(got.len(), 384);
        let worst = got
            .iter()
            .zip(&entry.vector)
            .map(|(g, w)| (g - w).abs())
            .fold(0.0, f64::max);
        assert!(worst <= TOLERANCE, "{:?}: off by {worst:e}", entry.text);
    }
}

#[tokio::test]
async fn similarity_ranks_paraphrases_above_unrelated_texts() {
    let h = harness().await;
    let out = h
        .call_ok(
            "similarity",
            json!({
                "a": ["The cat sits on the mat.", "How do I reset my password?"],
                "b": ["A kitten is resting on a rug.", "I forgot my login credentials.", "Stock markets fell sharply today."]
            }),
        )
        .await;
    let m: Vec<Vec<f64>> = out["matrix"]
        .as_array()
        .unwrap()
        .iter()
        .map(floats)
        .collect();
    assert_eq!((m.len(), m[0].len()), (2, 3));
    assert!(m[0][0] > m[0][1] && m[0][0] > m[0][2], "{m:?}");
    assert!(m[1][1] > m[1][0] && m[1][1] > m[1][2], "{m:?}");

    // Without b: every text against every other, symmetric with a unit diagonal.
    let out = h
        .call_ok(
            "similarity",
            json!({ "a": ["red apple", "green apple", "tax law"] }),
        )
        .await;
    let m: Vec<Vec<f64>> = out["matrix"]
        .as_array()
        .unwrap()
        .iter()
        .map(floats)
        .collect();
    assert_eq!(m.len(), 3);
    for i in 0..3 {
        assert!((m[i][i] - 1.0).abs() < 1e-5, "{m:?}");
        for j in 0..3 {
            assert!((m[i][j] - m[j][i]).abs() < 1e-6, "{m:?}");
        }
    }
    assert!(m[0][1] > m[0][2], "{m:?}");
}

#[tokio::test]
async fn classify_ranks_the_fitting_label_first() {
    let h = harness().await;
    let result = h
        .call(
            "classify",
            json!({
                "text": "The striker scored twice and the team won the championship final.",
                "labels": ["cooking", "sports", "tax law", "astronomy"]
            }),
        )
        .await;
    assert_eq!(result["isError"], false, "{result}");
    let out = &result["structuredContent"];
    h.assert_fits_output_schema("classify", out);
    let labels = out["labels"].as_array().unwrap();
    assert_eq!(labels.len(), 4);
    assert_eq!(labels[0]["label"], "sports");
    let scores: Vec<f64> = labels
        .iter()
        .map(|l| l["score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("sports"), "{text}");
}

#[tokio::test]
async fn a_one_megabyte_text_is_embedded_or_refused_cleanly() {
    let h = harness().await;
    let huge = "lorem ipsum dolor sit amet ".repeat(40_000);
    assert!(huge.len() > 1_000_000);
    let result = h.call("embed", json!({ "texts": [huge, "short"] })).await;
    if result["isError"] == true {
        let text = result["content"][0]["text"].as_str().unwrap();
        assert!(!text.is_empty(), "{result}");
    } else {
        let vectors = result["structuredContent"]["embeddings"]
            .as_array()
            .unwrap();
        assert_eq!(vectors.len(), 2);
        let norm: f64 = floats(&vectors[0])
            .iter()
            .map(|x| x * x)
            .sum::<f64>()
            .sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    }
    // The server still answers afterwards.
    h.call_ok("embed", json!({ "texts": ["still here"] })).await;
}

#[tokio::test]
async fn bad_arguments_are_tool_errors() {
    let h = harness().await;
    let text = h.call_err("embed", json!({ "texts": [] })).await;
    assert!(text.contains("Invalid arguments"), "{text}");
    let text = h
        .call_err("classify", json!({ "text": "x", "labels": [] }))
        .await;
    assert!(text.contains("Invalid arguments"), "{text}");
    let text = h
        .call_err("similarity", json!({ "a": ["x"], "c": [] }))
        .await;
    assert!(text.contains("Invalid arguments"), "{text}");
    let many = vec!["x"; 5000];
    let text = h.call_err("embed", json!({ "texts": many })).await;
    assert!(text.contains("at most 1024"), "{text}");
}
