//! Engine selection: ONNX Runtime when its files load, candle otherwise, or one of them by
//! name.

use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::Deserialize;

use crate::engine::EmbeddingModel;
use crate::error::EmbedError;
use crate::model::Model;
use crate::onnx::{OnnxModel, OnnxOptions};
use crate::store::ModelFiles;
use crate::tokenize::TokenizedText;

/// Which engine runs the model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// ONNX Runtime if its library and graph load, else candle (the default).
    #[default]
    Auto,
    /// ONNX Runtime only: loading fails if it cannot run.
    Onnx,
    /// candle (pure Rust) only.
    Candle,
}

impl std::fmt::Display for EngineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Onnx => "onnx",
            Self::Candle => "candle",
        })
    }
}

/// The model on whichever engine loaded.
#[derive(Debug)]
pub enum AnyModel {
    /// ONNX Runtime.
    Onnx(Box<OnnxModel>),
    /// candle.
    Candle(Box<Model>),
}

/// What [`AnyModel::load`] loaded, and why ONNX Runtime was passed over, if it was.
#[derive(Debug)]
pub struct LoadedModel {
    /// The model.
    pub model: AnyModel,
    /// Set when `auto` fell back to candle: why ONNX Runtime could not be used.
    pub onnx_unavailable: Option<EmbedError>,
}

impl AnyModel {
    /// Loads the model on the chosen engine. With [`EngineKind::Auto`], a missing or
    /// failing ONNX engine (even a panicking one) falls back to candle and says why.
    pub fn load(
        files: &ModelFiles,
        kind: EngineKind,
        onnx: &OnnxOptions,
    ) -> Result<LoadedModel, EmbedError> {
        let loaded = |model, onnx_unavailable| LoadedModel {
            model,
            onnx_unavailable,
        };
        match kind {
            EngineKind::Candle => Ok(loaded(Self::Candle(Box::new(Model::load(files)?)), None)),
            EngineKind::Onnx => Ok(loaded(Self::Onnx(Box::new(load_onnx(files, onnx)?)), None)),
            EngineKind::Auto => match load_onnx(files, onnx) {
                Ok(model) => Ok(loaded(Self::Onnx(Box::new(model)), None)),
                Err(why) => Ok(loaded(
                    Self::Candle(Box::new(Model::load(files)?)),
                    Some(why),
                )),
            },
        }
    }

    /// The engine's name: `"onnx"` or `"candle"`.
    pub fn engine(&self) -> &'static str {
        match self {
            Self::Onnx(_) => "onnx",
            Self::Candle(_) => "candle",
        }
    }

    /// Tokenizes one text as the model will see it.
    pub fn tokenize(&self, text: &str) -> Result<TokenizedText, EmbedError> {
        self.prepare(text)
    }
}

fn load_onnx(files: &ModelFiles, options: &OnnxOptions) -> Result<OnnxModel, EmbedError> {
    if let Some(file) = files.onnx_missing() {
        return Err(EmbedError::OnnxFileMissing {
            dir: files.dir.clone(),
            file,
        });
    }
    // A foreign shared library is involved: a panic in its bindings must not take the
    // server down when candle can serve instead.
    catch_unwind(AssertUnwindSafe(|| OnnxModel::load(files, options)))
        .unwrap_or(Err(EmbedError::ModelPanicked))
}

impl EmbeddingModel for AnyModel {
    type Input = TokenizedText;

    fn prepare(&self, text: &str) -> Result<TokenizedText, EmbedError> {
        match self {
            Self::Onnx(m) => m.prepare(text),
            Self::Candle(m) => m.prepare(text),
        }
    }

    fn token_len(&self, input: &TokenizedText) -> usize {
        input.len()
    }

    fn max_tokens(&self) -> usize {
        match self {
            Self::Onnx(m) => m.max_tokens(),
            Self::Candle(m) => m.max_tokens(),
        }
    }

    fn dimension(&self) -> usize {
        match self {
            Self::Onnx(m) => m.dimension(),
            Self::Candle(m) => m.dimension(),
        }
    }

    fn embed_prepared(&self, batch: &[&TokenizedText]) -> Result<Vec<Vec<f32>>, EmbedError> {
        match self {
            Self::Onnx(m) => m.embed_prepared(batch),
            Self::Candle(m) => m.embed_prepared(batch),
        }
    }
}
