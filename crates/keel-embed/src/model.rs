//! all-MiniLM-L6-v2 on the CPU: candle's BERT, fp32, with keel's tokenizer settings and
//! pooling.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};

use crate::engine::EmbeddingModel;
use crate::error::EmbedError;
use crate::pipeline::{Pipeline, read_json};
use crate::pooling::mean_pool;
use crate::store::ModelFiles;
use crate::tokenize::{TextTokenizer, TokenizedText, pad_batch};

/// The loaded sentence-embedding model: tokenizer, BERT encoder and pooling.
///
/// Holds about 90 MB of weights in memory. `Send + Sync`: share one behind an `Arc`
/// (the [`crate::Batcher`] does).
pub struct Model {
    bert: BertModel,
    tokenizer: TextTokenizer,
    pipeline: Pipeline,
    device: Device,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("max_tokens", &self.pipeline.max_tokens)
            .field("dimension", &self.pipeline.dimension)
            .field("normalize", &self.pipeline.normalize)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// Loads the model from located files. The weights are read into memory (no mmap, so
    /// no `unsafe`); takes a few hundred milliseconds.
    pub fn load(files: &ModelFiles) -> Result<Self, EmbedError> {
        let config: Config = read_json(&files.config)?;
        let pipeline = Pipeline::load(files, config.hidden_size, config.max_position_embeddings)?;
        let tokenizer = TextTokenizer::load(&files.tokenizer, pipeline.max_tokens)?;
        let device = Device::Cpu;
        let weights = std::fs::read(&files.weights).map_err(|source| EmbedError::Io {
            action: "read",
            path: files.weights.clone(),
            source,
        })?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)?;
        let bert = BertModel::load(vb, &config)?;
        Ok(Self {
            bert,
            tokenizer,
            pipeline,
            device,
        })
    }

    /// Embeds texts in one forward pass; one vector of [`EmbeddingModel::dimension`]
    /// floats per text, in order, unit length. Texts longer than the window are truncated;
    /// an empty text embeds as `[CLS] [SEP]`, as sentence-transformers does.
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed_texts(texts)
    }

    /// Tokenizes one text as the model will see it.
    pub fn tokenize(&self, text: &str) -> Result<TokenizedText, EmbedError> {
        self.tokenizer.tokenize(text)
    }

    /// Pads the batch to its longest input and returns `(ids, mask)` as `[batch, seq]`.
    fn batch_tensors(&self, batch: &[&TokenizedText]) -> Result<(Tensor, Tensor), EmbedError> {
        let padded = pad_batch(batch, self.tokenizer.pad_id());
        let shape = (padded.rows, padded.width);
        Ok((
            Tensor::from_vec(padded.ids, shape, &self.device)?,
            Tensor::from_vec(padded.mask, shape, &self.device)?,
        ))
    }
}

impl EmbeddingModel for Model {
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
        let (ids, mask) = self.batch_tensors(batch)?;
        let token_types = ids.zeros_like()?;
        let states = self.bert.forward(&ids, &token_types, Some(&mask))?;
        let vectors = mean_pool(&states, &mask, self.pipeline.normalize)?;
        if vectors.len() != batch.len() {
            return Err(EmbedError::BadOutput {
                expected: batch.len(),
                got: vectors.len(),
            });
        }
        Ok(vectors)
    }
}
