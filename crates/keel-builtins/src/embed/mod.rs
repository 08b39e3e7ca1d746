//! The `embed`, `similarity` and `classify` tools over all-MiniLM-L6-v2 and keel-embed's
//! dynamic batcher.
//!
//! While the model files are missing the tools are still listed. With `auto_fetch` a
//! background task downloads the model and loads it, and each call meanwhile returns an
//! `isError` result saying the model is downloading; without it, each call returns
//! keel-embed's fetch instructions, and the model loads on the first call after the files
//! appear.

mod engine;
mod fetch;
mod output;

use std::{sync::Arc, time::Duration};

use keel_core::{Annotations, CachePolicy, Context, Tool, ToolBuilder, Workload};
use keel_embed::cosine;
use schemars::JsonSchema;
use serde::Deserialize;

pub(crate) use self::engine::{EmbedEngine, EngineChoice, Unavailable};
use self::output::{
    Classification, Embeddings, MODEL_NAME, RankedLabel, SimilarityMatrix, render_classification,
    render_embeddings, render_similarity,
};
use crate::{
    failure::{embed_failure, model_unavailable},
    schema::inline_schema,
};

/// Arguments of `embed`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct EmbedArgs {
    /// Texts to embed. Texts longer than the model's window (256 tokens) are truncated.
    #[schemars(length(min = 1))]
    texts: Vec<String>,
}

/// Arguments of `similarity`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SimilarityArgs {
    /// Texts compared with every text of `b`: the rows of the matrix.
    #[schemars(length(min = 1))]
    a: Vec<String>,
    /// Texts each row is compared with: the columns. Default: `a` itself (pairwise).
    #[serde(default)]
    #[schemars(length(min = 1))]
    b: Option<Vec<String>>,
}

/// Arguments of `classify`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ClassifyArgs {
    /// The text to classify.
    text: String,
    /// Candidate labels (a word or a short description each).
    #[schemars(length(min = 1))]
    labels: Vec<String>,
}

fn builder(name: &str, title: &str, description: &str, input: serde_json::Value) -> ToolBuilder {
    ToolBuilder::new(name, input)
        .title(title)
        .description(description)
        .annotations(Annotations::read_only())
        .workload(Workload::Ml)
        // A pure function of the texts for one model.
        .cache(
            CachePolicy::new(Duration::from_secs(600))
                .ttl_bounds(Duration::from_secs(600), Duration::from_secs(3600))
                .version(MODEL_NAME),
        )
}

/// The three tools, sharing one engine.
pub(crate) fn tools(engine: &Arc<EmbedEngine>) -> Vec<Tool> {
    vec![
        embed_tool(engine),
        similarity_tool(engine),
        classify_tool(engine),
    ]
}

fn embed_tool(engine: &Arc<EmbedEngine>) -> Tool {
    let engine = Arc::clone(engine);
    builder(
        "embed",
        "Embed texts",
        "Sentence embeddings with all-MiniLM-L6-v2: one 384-dimensional unit vector per text, \
         returned in structuredContent.embeddings.",
        inline_schema::<EmbedArgs>(),
    )
    .output_schema(inline_schema::<Embeddings>())
    .structured_handler(render_embeddings, move |args: EmbedArgs, _cx: Context| {
        let engine = Arc::clone(&engine);
        async move {
            let batcher = engine.batcher().await.map_err(model_unavailable)?;
            let embeddings = batcher.embed(args.texts).await.map_err(embed_failure)?;
            Ok(Embeddings {
                model: MODEL_NAME.to_owned(),
                dimensions: batcher.dimension(),
                embeddings,
            })
        }
    })
}

fn similarity_tool(engine: &Arc<EmbedEngine>) -> Tool {
    let engine = Arc::clone(engine);
    builder(
        "similarity",
        "Text similarity",
        "Cosine similarity of sentence embeddings (all-MiniLM-L6-v2): matrix[i][j] compares \
         a[i] with b[j]; without b, every text of a with every other (pairwise).",
        inline_schema::<SimilarityArgs>(),
    )
    .output_schema(inline_schema::<SimilarityMatrix>())
    .structured_handler(
        render_similarity,
        move |args: SimilarityArgs, _cx: Context| {
            let engine = Arc::clone(&engine);
            async move {
                let batcher = engine.batcher().await.map_err(model_unavailable)?;
                let matrix = match args.b {
                    Some(b) => batcher.similarity(args.a, b).await.map_err(embed_failure)?,
                    None => {
                        // Pairwise: embed each text once and compare the vectors here.
                        let vectors = batcher.embed(args.a).await.map_err(embed_failure)?;
                        vectors
                            .iter()
                            .map(|x| vectors.iter().map(|y| cosine(x, y)).collect())
                            .collect::<Result<_, _>>()
                            .map_err(embed_failure)?
                    }
                };
                Ok(SimilarityMatrix {
                    model: MODEL_NAME.to_owned(),
                    matrix,
                })
            }
        },
    )
}

fn classify_tool(engine: &Arc<EmbedEngine>) -> Tool {
    let engine = Arc::clone(engine);
    builder(
        "classify",
        "Classify text",
        "Zero-shot classification: ranks the labels by cosine similarity between the \
         embedding of the text and the embedding of each label (all-MiniLM-L6-v2), best first.",
        inline_schema::<ClassifyArgs>(),
    )
    .output_schema(inline_schema::<Classification>())
    .structured_handler(
        render_classification,
        move |args: ClassifyArgs, _cx: Context| {
            let engine = Arc::clone(&engine);
            async move {
                let batcher = engine.batcher().await.map_err(model_unavailable)?;
                let ranked = batcher
                    .classify(args.text, args.labels)
                    .await
                    .map_err(embed_failure)?;
                Ok(Classification {
                    model: MODEL_NAME.to_owned(),
                    labels: ranked
                        .into_iter()
                        .map(|s| RankedLabel {
                            label: s.label,
                            score: s.score,
                        })
                        .collect(),
                })
            }
        },
    )
}
