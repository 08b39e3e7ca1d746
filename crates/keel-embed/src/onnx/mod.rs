//! all-MiniLM-L6-v2 on ONNX Runtime: the encoder graph written from the safetensors
//! weights (`graph`, over the protobuf writer in `proto`), and the model that runs it
//! (`model`) with a shared library loaded at run time (`runtime`).

mod graph;
mod model;
mod proto;
mod runtime;

pub(crate) use graph::write_graph;
pub use model::{OnnxModel, OnnxOptions};
