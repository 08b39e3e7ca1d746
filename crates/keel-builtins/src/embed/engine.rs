//! The embedding model behind the tools, loaded at start-up, or after the background fetch
//! installs it, or (when its files were missing and no fetch runs) on the first call after
//! they appear.

use std::sync::Arc;

use keel_embed::{
    AnyModel, Batcher, BatcherConfig, EmbedError, EngineKind, ModelStore, OnnxOptions,
};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use super::fetch::{FetchStatus, fetch_model, fetch_with_retry};

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
    /// The model is being fetched in the background (what the fetch is doing).
    #[error(
        "all-MiniLM-L6-v2 is not available yet: {0}. The tool works once it is installed, \
         without a restart; retry later"
    )]
    Fetching(String),
}

impl Unavailable {
    /// Whether the model files are missing (as opposed to present but unusable).
    pub(crate) fn is_missing_model(&self) -> bool {
        matches!(self, Self::Embed(EmbedError::ModelMissing(_)))
    }
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
    fetch: Arc<FetchStatus>,
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
            fetch: Arc::default(),
        }
    }

    /// The batcher, loading the model first if it is not loaded yet. Concurrent first
    /// calls wait for one load; a failed load is tried again by the next call. While the
    /// model is being fetched, says so instead.
    pub(crate) async fn batcher(&self) -> Result<&Batcher<AnyModel>, Unavailable> {
        if let Some(batcher) = self.batcher.get() {
            return Ok(batcher);
        }
        if let Some(fetching) = self.fetch.describe() {
            return Err(Unavailable::Fetching(fetching));
        }
        self.load_once().await
    }

    async fn load_once(&self) -> Result<&Batcher<AnyModel>, Unavailable> {
        self.batcher.get_or_try_init(|| self.load()).await
    }

    /// The batcher's counters, once the model is loaded.
    pub(crate) fn stats(&self) -> Option<keel_embed::BatcherStats> {
        self.batcher.get().map(Batcher::stats)
    }

    /// Whether the model can be fetched in the background: a model directory is known.
    pub(crate) fn can_fetch(&self) -> bool {
        self.store.is_some()
    }

    /// Marks a background fetch as started; readiness and the tools say so from now on.
    /// Call before spawning [`EmbedEngine::fetch_and_load`].
    pub(crate) fn fetch_starting(&self) {
        self.fetch.starting();
    }

    /// Fetches the model (retrying failures) then loads it, so the tools serve without a
    /// restart; returns early when `cancel` fires.
    pub(crate) async fn fetch_and_load(self: Arc<Self>, cancel: CancellationToken) {
        let Some(store) = self.store.clone() else {
            self.fetch.idle();
            return;
        };
        tracing::info!(dir = %store.dir().display(), source = %store.source(), "fetching the embedding model in the background");
        if !fetch_with_retry(&self.fetch, &cancel, fetch_model(store)).await {
            self.fetch.idle();
            return;
        }
        self.fetch.loading();
        match self.load_once().await {
            Ok(_) => tracing::info!(
                "embedding model fetched and loaded: embed, similarity and classify are ready"
            ),
            Err(e) => tracing::warn!(reason = %e, "the fetched embedding model did not load"),
        }
        self.fetch.idle();
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
        if let Some(fetching) = self.fetch.describe() {
            return Some(fetching);
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
