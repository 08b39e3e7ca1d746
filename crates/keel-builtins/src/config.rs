//! Configuration of the built-in tools as plain data: parsed by the server (TOML or any serde
//! format), validated and turned into engine settings by [`builtins`](crate::builtins).

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use keel_analyze::PoolConfig;
use keel_embed::{BatcherConfig, ModelStore};
use serde::Deserialize;

use crate::error::BuiltinsError;

/// Settings of every built-in tool. `Default` is the embedded configuration: all tools on,
/// the analysis pool as wide as the machine, and the model in keel-embed's cache directory.
///
/// ```toml
/// [analyze]
/// enabled = true
/// threads = 4          # default: the number of cores
/// max_in_flight = 4
///
/// [embed]
/// enabled = true
/// model_dir = "/var/lib/keel/all-minilm-l6-v2"   # default: $KEEL_MODEL_DIR, else the cache
/// batching = true
/// flush_deadline_ms = 3
/// token_budget = 4096
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BuiltinsConfig {
    /// The `analyze` tool.
    pub analyze: AnalyzeConfig,
    /// The `embed`, `similarity` and `classify` tools.
    pub embed: EmbedConfig,
}

/// The `analyze` tool and its CPU pool.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyzeConfig {
    /// Whether the tool is offered (default true).
    pub enabled: bool,
    /// Worker threads of the analysis pool. Default (absent): the number of cores.
    pub threads: Option<NonZeroUsize>,
    /// Analyses admitted at once; further calls fail at once with a "busy" tool error
    /// (default 4).
    pub max_in_flight: NonZeroUsize,
}

impl Default for AnalyzeConfig {
    fn default() -> Self {
        let pool = PoolConfig::default();
        Self {
            enabled: true,
            threads: pool.threads,
            max_in_flight: pool.max_in_flight,
        }
    }
}

impl AnalyzeConfig {
    pub(crate) fn pool(&self) -> PoolConfig {
        PoolConfig {
            threads: self.threads,
            max_in_flight: self.max_in_flight,
        }
    }
}

/// The embedding tools and their dynamic batcher.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbedConfig {
    /// Whether `embed`, `similarity` and `classify` are offered (default true).
    pub enabled: bool,
    /// Directory holding the all-MiniLM-L6-v2 files. Default (absent): `$KEEL_MODEL_DIR`,
    /// else `$XDG_CACHE_HOME/keel/models/all-minilm-l6-v2` (`~/.cache/…`).
    pub model_dir: Option<PathBuf>,
    /// Merge concurrent requests into shared forward passes (default true).
    pub batching: bool,
    /// Longest a queued text waits for its batch to fill, in milliseconds (default 3).
    pub flush_deadline_ms: u64,
    /// Most padded token positions in one batch (default 4096; at least the model's window).
    pub token_budget: usize,
    /// Most texts in one batch (default 32).
    pub max_batch_size: usize,
    /// Most texts queued at once, and the largest request (default 1024).
    pub queue_capacity: usize,
    /// Batches run at the same time, each on its own thread (default 1).
    pub inference_threads: usize,
    /// Threads one forward pass spreads its kernels over (default 1; see keel-embed's
    /// `BatcherConfig::kernel_threads`).
    pub kernel_threads: usize,
    /// Threads tokenizing texts (default 1).
    pub tokenizer_threads: usize,
}

impl Default for EmbedConfig {
    fn default() -> Self {
        let batcher = BatcherConfig::default();
        Self {
            enabled: true,
            model_dir: None,
            batching: batcher.batching,
            flush_deadline_ms: u64::try_from(batcher.flush_deadline.as_millis())
                .unwrap_or(u64::MAX),
            token_budget: batcher.token_budget,
            max_batch_size: batcher.max_batch_size,
            queue_capacity: batcher.queue_capacity,
            inference_threads: batcher.inference_threads,
            kernel_threads: batcher.kernel_threads,
            tokenizer_threads: batcher.tokenizer_threads,
        }
    }
}

impl EmbedConfig {
    /// The batcher settings, checked as far as they can be without the model (the token
    /// budget is checked against the model's window when it loads).
    pub(crate) fn batcher(&self) -> Result<BatcherConfig, BuiltinsError> {
        let config = BatcherConfig {
            batching: self.batching,
            max_batch_size: self.max_batch_size,
            token_budget: self.token_budget,
            flush_deadline: Duration::from_millis(self.flush_deadline_ms),
            queue_capacity: self.queue_capacity,
            inference_threads: self.inference_threads,
            kernel_threads: self.kernel_threads,
            tokenizer_threads: self.tokenizer_threads,
        };
        config.validate(0).map_err(BuiltinsError::Embed)?;
        Ok(config)
    }

    /// The model store: the configured directory, else keel-embed's default; `None` when
    /// neither is configured nor derivable (the tools then report how to set one).
    pub(crate) fn store(&self) -> Option<ModelStore> {
        match &self.model_dir {
            Some(dir) => Some(ModelStore::new(dir)),
            None => ModelStore::from_env().ok(),
        }
    }
}
