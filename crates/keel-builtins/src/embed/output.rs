//! Structured results of the embedding tools and their short text renderings.

use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::Serialize;

/// Name of the model, as reported in every result.
pub(crate) const MODEL_NAME: &str = "all-MiniLM-L6-v2";

/// Most matrix cells or rows a text rendering shows; the structured result has them all.
const SHOWN: usize = 20;

/// Result of `embed`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Embeddings {
    /// The model that produced the vectors.
    pub(crate) model: String,
    /// Length of every vector.
    pub(crate) dimensions: usize,
    /// One unit-length vector per input text, in input order.
    pub(crate) embeddings: Vec<Vec<f32>>,
}

/// Result of `similarity`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct SimilarityMatrix {
    /// The model that embedded the texts.
    pub(crate) model: String,
    /// Cosine similarities in `[-1, 1]`: `matrix[i][j]` compares `a[i]` with `b[j]` (with
    /// `a[j]` when `b` was not given).
    pub(crate) matrix: Vec<Vec<f32>>,
}

/// Result of `classify`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Classification {
    /// The model that embedded the text and labels.
    pub(crate) model: String,
    /// The labels ranked by cosine similarity to the text, best first.
    pub(crate) labels: Vec<RankedLabel>,
}

/// One label of a [`Classification`].
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct RankedLabel {
    /// The label as given.
    pub(crate) label: String,
    /// Cosine similarity between the text and the label, in `[-1, 1]`.
    pub(crate) score: f32,
}

pub(crate) fn render_embeddings(out: &Embeddings) -> String {
    let n = out.embeddings.len();
    format!(
        "Embedded {n} text{} with {} into {}-dimensional unit vectors; the vectors are in \
         structuredContent.embeddings.",
        if n == 1 { "" } else { "s" },
        out.model,
        out.dimensions
    )
}

pub(crate) fn render_similarity(out: &SimilarityMatrix) -> String {
    let rows = out.matrix.len();
    let cols = out.matrix.first().map_or(0, Vec::len);
    let mut text = format!("Cosine similarity matrix, {rows} x {cols} ({}):", out.model);
    for (i, row) in out.matrix.iter().enumerate().take(SHOWN) {
        let cells: Vec<String> = row.iter().take(SHOWN).map(|s| format!("{s:.3}")).collect();
        let more = if row.len() > SHOWN { " …" } else { "" };
        let _ = write!(text, "\n  a[{i}]: {}{more}", cells.join(" "));
    }
    if rows > SHOWN {
        let _ = write!(
            text,
            "\n  … {} more rows in structuredContent.matrix",
            rows - SHOWN
        );
    }
    text
}

pub(crate) fn render_classification(out: &Classification) -> String {
    let mut text = format!("Labels ranked by similarity ({}):", out.model);
    for ranked in out.labels.iter().take(SHOWN) {
        let _ = write!(text, "\n  {:.3}  {}", ranked.score, ranked.label);
    }
    if out.labels.len() > SHOWN {
        let _ = write!(text, "\n  … {} more labels", out.labels.len() - SHOWN);
    }
    text
}
