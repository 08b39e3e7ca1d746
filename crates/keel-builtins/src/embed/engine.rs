//! The embedding model behind the tools, loaded at start-up or, when its files were missing
//! then, on the first call after they appear.

use std::sync::Arc;

use keel_embed::{Batcher, BatcherConfig, EmbedError, Model, ModelStore};
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

/// The model store and the batcher, once the model has loaded.
pub(crate) struct EmbedEngine {
    /// `None` when no model directory could be derived (no `KEEL_MODEL_DIR`, cache or home).
    store: Option<ModelStore>,
    config: BatcherConfig,
    batcher: OnceCell<Batcher>,
}

impl EmbedEngine {
    /// An engine that has not tried to load the model yet.
    pub(crate) fn new(store: Option<ModelStore>, config: BatcherConfig) -> Self {
        Self {
            store,
            config,
            batcher: OnceCell::new(),
        }
    }

    /// The batcher, loading the model first if it is not loaded yet. Concurrent first
    /// calls wait for one load; a failed load is tried again by the next call.
    pub(crate) async fn batcher(&self) -> Result<&Batcher, Unavailable> {
        self.batcher.get_or_try_init(|| self.load()).await
    }

    async fn load(&self) -> Result<Batcher, Unavailable> {
        let store = self.store.clone().ok_or(EmbedError::NoCacheDir)?;
        let model = tokio::task::spawn_blocking(move || {
            let files = store.locate()?;
            Model::load(&files)
        })
        .await
        .map_err(|e| Unavailable::LoadPanicked(e.to_string()))??;
        Ok(Batcher::new(Arc::new(model), self.config.clone())?)
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
                Ok(files) => format!(
                    "the model files in {} are present but not loaded; they load on the next \
                     embedding call",
                    files.dir.display()
                ),
            },
        })
    }
}
