//! The embedding model behind the tools, loaded at start-up or, when its files were missing
//! then, on the first call after they appear.

use std::sync::Arc;

use keel_embed::{
    AnyModel, Batcher, BatcherConfig, EmbedError, EngineKind, ModelStore, OnnxOptions,
};
use tokio::sync::OnceCell;

/// Why the model cannot serve a call.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unavailable {
    /// The model files are missing (the message names the fetch command), unreadable or
    /// invalid, or no model directory could be derived.
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// Loading the model panicked.
    #[error("loading the embedding model failed unexpectedly: {0}")]
    LoadPanicked(String),
}

/// Which inference engine to load, and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EngineChoice {
    pub(crate) kind: EngineKind,
    pub(crate) onnx: OnnxOptions,
}

/// The model store and the batcher, once the model has loaded.
pub(crate) struct EmbedEngine {
    /// `None` when no model directory could be derived (no `KEEL_MODEL_DIR`, cache or home).
    store: Option<ModelStore>,
    choice: EngineChoice,
    config: BatcherConfig,
    batcher: OnceCell<Batcher<AnyModel>>,
}

impl EmbedEngine {
    /// An engine that has not tried to load the model yet.
    pub(crate) fn new(
        store: Option<ModelStore>,
        choice: EngineChoice,
        config: BatcherConfig,
    ) -> Self {
        Self {
            store,
            choice,
            config,
            batcher: OnceCell::new(),
        }
    }

    /// The batcher, loading the model first if it is not loaded yet. Concurrent first
    /// calls wait for one load; a failed load is tried again by the next call.
    pub(crate) async fn batcher(&self) -> Result<&Batcher<AnyModel>, Unavailable> {
        self.batcher.get_or_try_init(|| self.load()).await
    }

    async fn load(&self) -> Result<Batcher<AnyModel>, Unavailable> {
        let store = self.store.clone().ok_or(EmbedError::NoCacheDir)?;
        let choice = self.choice.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let files = store.locate()?;
            AnyModel::load(&files, choice.kind, &choice.onnx)
        })
        .await
        .map_err(|e| Unavailable::LoadPanicked(e.to_string()))??;
        if let Some(reason) = &loaded.onnx_unavailable {
            tracing::warn!(%reason, "ONNX Runtime engine unavailable; embeddings run on candle");
        }
        tracing::info!(
            engine = loaded.model.engine(),
            requested = %self.choice.kind,
            "embedding model loaded"
        );
        Ok(Batcher::new(Arc::new(loaded.model), self.config.clone())?)
    }

    /// `None` when the model is loaded, else why the tools cannot serve yet. Only looks at
    /// the files; never loads.
    pub(crate) fn problem(&self) -> Option<String> {
        if self.batcher.initialized() {
            return None;
        }
        Some(match &self.store {
            None => EmbedError::NoCacheDir.to_string(),
            Some(store) => match store.locate() {
                Err(missing) => missing.to_string(),
                Ok(files)
                    if self.choice.kind == EngineKind::Onnx && files.onnx_missing().is_some() =>
                {
                    let file = files.onnx_missing().unwrap_or_default();
                    EmbedError::OnnxFileMissing {
                        dir: files.dir,
                        file,
                    }
                    .to_string()
                }
                Ok(files) => format!(
                    "the model files in {} are present but not loaded; they load on the next \
                     embedding call",
                    files.dir.display()
                ),
            },
        })
    }
}
