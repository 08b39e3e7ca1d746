//! Comparisons built on embeddings: cosine similarity, similarity matrices and
//! zero-shot classification against labels.

use crate::batcher::Batcher;
use crate::engine::EmbeddingModel;
use crate::error::EmbedError;

/// One label and how similar the text is to it.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelScore {
    /// The label as given.
    pub label: String,
    /// Cosine similarity between the text and the label, in `[-1, 1]`.
    pub score: f32,
}

/// Cosine similarity of two vectors, in `[-1, 1]`; `0.0` if either is all zeros.
/// Fails if their lengths differ.
pub fn cosine(a: &[f32], b: &[f32]) -> Result<f32, EmbedError> {
    if a.len() != b.len() {
        return Err(EmbedError::DimensionMismatch {
            left: a.len(),
            right: b.len(),
        });
    }
    let (mut dot, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        return Ok(0.0);
    }
    // Accumulated in f64 for accuracy, returned in the inputs' precision.
    let score = (dot / (aa.sqrt() * bb.sqrt())).clamp(-1.0, 1.0) as f32;
    Ok(score)
}

impl<M: EmbeddingModel> Batcher<M> {
    /// The cosine similarity of every text in `left` with every text in `right`:
    /// `result[i][j]` compares `left[i]` with `right[j]`. Both lists are embedded in one
    /// request. Fails with [`EmbedError::EmptyInput`] if either list is empty.
    pub async fn similarity(
        &self,
        left: Vec<String>,
        right: Vec<String>,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        if left.is_empty() || right.is_empty() {
            return Err(EmbedError::EmptyInput);
        }
        let split = left.len();
        let mut texts = left;
        texts.extend(right);
        let vectors = self.embed(texts).await?;
        let (left, right) = vectors.split_at(split);
        left.iter()
            .map(|a| right.iter().map(|b| cosine(a, b)).collect())
            .collect()
    }

    /// Ranks `labels` by similarity to `text`, best first (ties keep the given order).
    /// Text and labels are embedded in one request. Fails with [`EmbedError::EmptyInput`]
    /// if there are no labels.
    pub async fn classify(
        &self,
        text: String,
        labels: Vec<String>,
    ) -> Result<Vec<LabelScore>, EmbedError> {
        if labels.is_empty() {
            return Err(EmbedError::EmptyInput);
        }
        let mut texts = Vec::with_capacity(labels.len() + 1);
        texts.push(text);
        texts.extend(labels.iter().cloned());
        let vectors = self.embed(texts).await?;
        let (subject, label_vectors) = vectors.split_at(1);
        let mut ranked = labels
            .into_iter()
            .zip(label_vectors)
            .map(|(label, v)| {
                Ok(LabelScore {
                    score: cosine(&subject[0], v)?,
                    label,
                })
            })
            .collect::<Result<Vec<_>, EmbedError>>()?;
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(ranked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_of_known_vectors() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]).unwrap() - 1.0).abs() < 1e-7);
        assert!(cosine(&[1.0, 0.0], &[0.0, 3.0]).unwrap().abs() < 1e-7);
        assert!((cosine(&[1.0, 1.0], &[-2.0, -2.0]).unwrap() + 1.0).abs() < 1e-7);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 2.0]).unwrap(), 0.0);
        assert!(matches!(
            cosine(&[1.0], &[1.0, 2.0]),
            Err(EmbedError::DimensionMismatch { left: 1, right: 2 })
        ));
    }
}
