//! The seam between the batcher and a model: tokenize on one thread, run batches on another.

use crate::error::EmbedError;

/// A text-embedding model as the [`crate::Batcher`] drives it.
///
/// Work is split in two so batches can be formed by token count: `prepare` turns one
/// text into model input (tokenization) and `embed_prepared` runs a whole batch. Both are
/// called on the batcher's own threads, never on the async runtime.
pub trait EmbeddingModel: Send + Sync + 'static {
    /// One text, ready for a batch (token ids for a transformer).
    type Input: Send + 'static;

    /// Converts one text into model input, truncated to [`EmbeddingModel::max_tokens`].
    fn prepare(&self, text: &str) -> Result<Self::Input, EmbedError>;

    /// The number of positions `input` takes in a batch before padding.
    fn token_len(&self, input: &Self::Input) -> usize;

    /// The longest input `prepare` can return, in tokens.
    fn max_tokens(&self) -> usize;

    /// The width of every returned vector.
    fn dimension(&self) -> usize;

    /// Embeds a batch, one vector per input, in order.
    fn embed_prepared(&self, batch: &[&Self::Input]) -> Result<Vec<Vec<f32>>, EmbedError>;

    /// Prepares and embeds `texts` in one batch on the calling thread.
    fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let inputs = texts
            .iter()
            .map(|text| self.prepare(text))
            .collect::<Result<Vec<_>, _>>()?;
        self.embed_prepared(&inputs.iter().collect::<Vec<_>>())
    }
}
