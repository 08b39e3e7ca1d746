//! The real all-MiniLM-L6-v2, on both engines (ONNX Runtime and candle), against the
//! independent numpy reference (`reference/make_reference.py`, fixture
//! `tests/fixtures/reference.json`).
//!
//! Needs the model files, including the ONNX engine's: `keel model fetch`
//! puts them in the default cache directory, or set `KEEL_MODEL_DIR`. Without them these
//! tests fail and say how to fetch.

use std::sync::{Arc, OnceLock};

use keel_embed::{
    AnyModel, Batcher, BatcherConfig, EmbeddingModel, EngineKind, ModelStore, OnnxOptions,
};
use serde::Deserialize;

const TOLERANCE: f32 = 1e-5;

#[derive(Deserialize)]
struct Reference {
    max_seq_length: usize,
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    text: String,
    tokens: usize,
    vector: Vec<f32>,
}

fn reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference.json");
        let bytes = std::fs::read(path).expect("the committed reference fixture");
        serde_json::from_slice(&bytes).expect("a well-formed reference fixture")
    })
}

fn load(kind: EngineKind) -> Arc<AnyModel> {
    let store = ModelStore::from_env().unwrap_or_else(|err| panic!("{err}"));
    let files = store.locate().unwrap_or_else(|missing| panic!("{missing}"));
    let loaded = AnyModel::load(&files, kind, &OnnxOptions::default())
        .unwrap_or_else(|err| panic!("loading the model on {kind}: {err}"));
    assert_eq!(loaded.model.engine(), kind.to_string());
    Arc::new(loaded.model)
}

/// The model on each engine, loaded once per test binary.
fn models() -> [Arc<AnyModel>; 2] {
    static MODELS: OnceLock<[Arc<AnyModel>; 2]> = OnceLock::new();
    MODELS
        .get_or_init(|| [load(EngineKind::Onnx), load(EngineKind::Candle)])
        .clone()
}

fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: dimension");
    let worst = got
        .iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst <= TOLERANCE,
        "{what}: max |difference| {worst:e} > {TOLERANCE:e}"
    );
}

fn long_entry() -> &'static Entry {
    reference()
        .entries
        .iter()
        .find(|e| e.tokens == reference().max_seq_length)
        .expect("the fixture holds a text that fills the window")
}

#[test]
fn each_text_matches_the_reference_vector_and_token_count() {
    for model in models() {
        each_text_matches(&model);
    }
}

fn each_text_matches(model: &AnyModel) {
    let engine = model.engine();
    for entry in &reference().entries {
        let tokens = model.tokenize(&entry.text).unwrap();
        assert_eq!(
            tokens.len(),
            entry.tokens,
            "token count of {:?}",
            entry.text
        );
        let got = model.embed_texts(&[entry.text.as_str()]).unwrap();
        assert_eq!(got.len(), 1);
        assert_close(
            &format!("{engine} {:?}", entry.text),
            &got[0],
            &entry.vector,
        );
        let norm: f32 = got[0].iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "unit length, got {norm}");
    }
}

#[test]
fn a_mixed_length_batch_gives_the_same_vectors_as_single_texts() {
    for model in models() {
        mixed_batch_matches(&model);
    }
}

fn mixed_batch_matches(model: &AnyModel) {
    let engine = model.engine();
    let texts: Vec<&str> = reference()
        .entries
        .iter()
        .map(|e| e.text.as_str())
        .collect();
    let batch = model.embed_texts(&texts).unwrap();
    assert_eq!(batch.len(), texts.len());
    for (entry, got) in reference().entries.iter().zip(&batch) {
        let single = model.embed_texts(&[entry.text.as_str()]).unwrap();
        assert_close(
            &format!("{engine} batched {:?} vs alone", entry.text),
            got,
            &single[0],
        );
        assert_close(
            &format!("{engine} batched {:?} vs reference", entry.text),
            got,
            &entry.vector,
        );
    }
}

#[test]
fn a_megabyte_text_embeds_as_its_first_window() {
    for model in models() {
        megabyte_text_is_its_first_window(&model);
    }
}

fn megabyte_text_is_its_first_window(model: &AnyModel) {
    let long = long_entry();
    let mut huge = String::with_capacity(1 << 20);
    while huge.len() < 1 << 20 {
        huge.push_str(&long.text);
        huge.push(' ');
    }
    let got = model.embed_texts(&[huge.as_str()]).unwrap();
    assert_close(
        &format!("{} 1 MB text", model.engine()),
        &got[0],
        &long.vector,
    );

    // Texts with no whitespace to cut at still truncate to the window.
    let unbroken = "a".repeat(1 << 20);
    let dotted = "a.".repeat(1 << 19);
    for text in [&unbroken, &dotted] {
        let tokens = model.tokenize(text).unwrap();
        assert!(tokens.len() <= reference().max_seq_length);
        let got = model.embed_texts(&[text.as_str()]).unwrap();
        assert_eq!(got[0].len(), 384);
        assert!(got[0].iter().all(|x| x.is_finite()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_batcher_answers_concurrent_callers_with_reference_vectors() {
    for model in models() {
        batcher_matches(model).await;
    }
}

async fn batcher_matches(model: Arc<AnyModel>) {
    let engine = model.engine();
    let batcher = Batcher::new(model, BatcherConfig::default()).unwrap();
    assert_eq!(batcher.dimension(), 384);
    let calls: Vec<_> = reference()
        .entries
        .iter()
        .map(|entry| {
            let batcher = batcher.clone();
            let text = entry.text.clone();
            tokio::spawn(async move { batcher.embed(vec![text]).await })
        })
        .collect();
    for (entry, call) in reference().entries.iter().zip(calls) {
        let got = call.await.unwrap().unwrap();
        assert_close(
            &format!("{engine} via batcher {:?}", entry.text),
            &got[0],
            &entry.vector,
        );
    }
    assert!(batcher.stats().batches >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn similarity_and_classify_rank_related_texts_first() {
    let [onnx, _] = models();
    let batcher = Batcher::new(onnx, BatcherConfig::default()).unwrap();
    let scores = batcher
        .similarity(
            vec!["A cat sleeps on the sofa.".into()],
            vec![
                "A kitten naps on the couch.".into(),
                "Quarterly revenue grew by ten percent.".into(),
            ],
        )
        .await
        .unwrap();
    assert_eq!((scores.len(), scores[0].len()), (1, 2));
    assert!(scores[0][0] > scores[0][1] + 0.3, "{scores:?}");

    let ranked = batcher
        .classify(
            "The striker scored twice in the cup final.".into(),
            vec!["cooking".into(), "football".into(), "banking".into()],
        )
        .await
        .unwrap();
    assert_eq!(ranked[0].label, "football", "{ranked:?}");
    assert!(ranked.windows(2).all(|w| w[0].score >= w[1].score));
}
