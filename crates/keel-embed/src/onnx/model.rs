//! all-MiniLM-L6-v2 on ONNX Runtime's CPU kernels: the same tokenizer and pooling as the
//! candle [`crate::Model`], with the encoder run by an ONNX Runtime session.

use std::sync::{Mutex, PoisonError};

use candle_core::{Device, Tensor};
use candle_transformers::models::bert::Config;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor as OrtTensor;

use super::graph::{ATTENTION_MASK, INPUT_IDS, LAST_HIDDEN_STATE};
use super::runtime::environment;
use crate::engine::EmbeddingModel;
use crate::error::EmbedError;
use crate::pipeline::{Pipeline, read_json};
use crate::pooling::mean_pool;
use crate::store::{ModelFiles, ONNX_GRAPH, ONNX_RUNTIME};
use crate::tokenize::{TextTokenizer, TokenizedText, pad_batch};

/// How the ONNX Runtime session runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnnxOptions {
    /// Threads one forward pass spreads its kernels over (default: the number of cores).
    pub intra_op_threads: usize,
}

impl Default for OnnxOptions {
    fn default() -> Self {
        Self {
            intra_op_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// The sentence-embedding model on ONNX Runtime: tokenizer, the encoder graph
/// (`model.onnx`) in a session, and mean pooling.
///
/// `Send + Sync`. A session runs one batch at a time, so concurrent calls take turns;
/// each batch already spreads over [`OnnxOptions::intra_op_threads`].
pub struct OnnxModel {
    session: Mutex<Session>,
    tokenizer: TextTokenizer,
    pipeline: Pipeline,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel")
            .field("max_tokens", &self.pipeline.max_tokens)
            .field("dimension", &self.pipeline.dimension)
            .field("normalize", &self.pipeline.normalize)
            .finish_non_exhaustive()
    }
}

impl OnnxModel {
    /// Loads ONNX Runtime from the model directory's library (once per process) and the
    /// graph `model.onnx` into an optimized session; fails if either file is missing.
    pub fn load(files: &ModelFiles, options: &OnnxOptions) -> Result<Self, EmbedError> {
        let graph = files
            .onnx_graph
            .as_ref()
            .ok_or(EmbedError::OnnxFileMissing {
                dir: files.dir.clone(),
                file: ONNX_GRAPH,
            })?;
        let library = files
            .onnx_runtime
            .as_ref()
            .ok_or(EmbedError::OnnxFileMissing {
                dir: files.dir.clone(),
                file: ONNX_RUNTIME,
            })?;
        let config: Config = read_json(&files.config)?;
        let pipeline = Pipeline::load(files, config.hidden_size, config.max_position_embeddings)?;
        let tokenizer = TextTokenizer::load(&files.tokenizer, pipeline.max_tokens)?;
        let env = environment(library)?;
        let session = Session::builder(&env)?
            .with_optimization_level(GraphOptimizationLevel::All)?
            .with_intra_threads(options.intra_op_threads.max(1))?
            .with_inter_threads(1)?
            // Spinning workers keep cores busy between batches, taking them from the
            // server's own threads on a small machine.
            .with_intra_op_spinning(false)?
            .commit_from_file(graph)?;
        Ok(Self {
            session: Mutex::new(session),
            tokenizer,
            pipeline,
        })
    }

    /// Embeds texts in one forward pass, like [`crate::Model::embed_batch`].
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed_texts(texts)
    }

    /// Tokenizes one text as the model will see it.
    pub fn tokenize(&self, text: &str) -> Result<TokenizedText, EmbedError> {
        self.tokenizer.tokenize(text)
    }
}

impl EmbeddingModel for OnnxModel {
    type Input = TokenizedText;

    fn prepare(&self, text: &str) -> Result<TokenizedText, EmbedError> {
        self.tokenizer.tokenize(text)
    }

    fn token_len(&self, input: &TokenizedText) -> usize {
        input.len()
    }

    fn max_tokens(&self) -> usize {
        self.pipeline.max_tokens
    }

    fn dimension(&self) -> usize {
        self.pipeline.dimension
    }

    fn embed_prepared(&self, batch: &[&TokenizedText]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let padded = pad_batch(batch, self.tokenizer.pad_id());
        let width = padded.width;
        let shape = [padded.rows, width];
        let wide = |v: &[u32]| v.iter().map(|&x| i64::from(x)).collect::<Vec<_>>();
        let ids = OrtTensor::from_array((shape, wide(&padded.ids)))?;
        let mask = OrtTensor::from_array((shape, wide(&padded.mask)))?;

        let mut session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        let outputs = session.run(ort::inputs![INPUT_IDS => ids, ATTENTION_MASK => mask])?;
        let (dims, states) = outputs[LAST_HIDDEN_STATE].try_extract_tensor::<f32>()?;
        let hidden = self.pipeline.dimension;
        let expected = [batch.len() as i64, width as i64, hidden as i64];
        if dims[..] != expected {
            return Err(EmbedError::Unsupported {
                reason: format!("model.onnx returned shape {dims:?}, expected {expected:?}"),
            });
        }
        let states = Tensor::from_slice(states, (batch.len(), width, hidden), &Device::Cpu)?;
        drop(outputs);
        drop(session);
        let mask = Tensor::from_vec(padded.mask, (shape[0], shape[1]), &Device::Cpu)?;
        mean_pool(&states, &mask, self.pipeline.normalize).map_err(EmbedError::from)
    }
}
