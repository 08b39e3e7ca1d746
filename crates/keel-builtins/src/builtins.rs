//! The entry point: engines started from a [`BuiltinsConfig`], registered as tools.

use std::sync::Arc;
use std::time::Duration;

use keel_core::RegistryBuilder;
use keel_query::Databases;
use keel_resilience::Dependencies;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::analyze::Analyzer;
use crate::config::BuiltinsConfig;
use crate::embed::{self, EmbedEngine};
use crate::error::BuiltinsError;
use crate::query::{database_resources, database_templates, query_tool};

/// How long [`Builtins::close`] waits for background work (a model download) to stop.
const BACKGROUND_STOP_WAIT: Duration = Duration::from_secs(10);

/// The started engines of the enabled built-in tools. Register them with
/// [`Builtins::register`]; keep the value to ask for [`Builtins::readiness`], and call
/// [`Builtins::close`] on shutdown (it stops the background model download).
pub struct Builtins {
    analyzer: Option<Arc<Analyzer>>,
    databases: Option<Databases>,
    embed: Option<Arc<EmbedEngine>>,
    background: TaskTracker,
    cancel: CancellationToken,
    dependencies: Dependencies,
}

/// Whether every enabled built-in can serve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Readiness {
    /// True when no built-in is degraded.
    pub ready: bool,
    /// One line per built-in that cannot serve yet, saying why and how to fix it (for the
    /// embedding tools without their model: the fetch command).
    pub degraded: Vec<String>,
}

/// Starts the engines of the enabled built-ins: the databases (opening their pools, and
/// creating a missing SQLite file with the demo data), the analysis pool with its read thread
/// and its own connections to the same databases, and the embedding model (loaded now when
/// its files are present; otherwise the tools start degraded and, with `auto_fetch`, a
/// background task downloads and loads the model, else it loads on the first call after the
/// files appear). Must run within a Tokio runtime.
///
/// # Errors
/// [`BuiltinsError`] for settings out of range, a database that cannot be opened (nothing
/// stays open then), or an analysis pool that cannot start.
pub async fn builtins(config: &BuiltinsConfig) -> Result<Builtins, BuiltinsError> {
    let databases = if config.query.enabled {
        if config.query.databases.is_empty() {
            return Err(BuiltinsError::NoDatabases);
        }
        let configs = config.query.databases.iter().map(|d| d.to_engine());
        Some(Databases::connect(configs).await?)
    } else {
        None
    };
    let analyzer = if config.analyze.enabled {
        // The analyzer reads the same databases on connections of its own.
        let configs = databases.is_some().then(|| {
            config
                .query
                .databases
                .iter()
                .map(|d| d.to_engine())
                .collect()
        });
        match Analyzer::start(&config.analyze, configs).await {
            Ok(analyzer) => Some(Arc::new(analyzer)),
            Err(e) => {
                close(databases.as_ref()).await;
                return Err(e);
            }
        }
    } else {
        None
    };
    let (background, cancel) = (TaskTracker::new(), CancellationToken::new());
    let embed = if config.embed.enabled {
        let batcher = match config.embed.batcher() {
            Ok(batcher) => batcher,
            Err(e) => {
                close(databases.as_ref()).await;
                return Err(e);
            }
        };
        let engine = Arc::new(EmbedEngine::new(
            config.embed.store(),
            config.embed.engine(),
            batcher,
        ));
        if let Err(e) = engine.batcher().await {
            if config.embed.auto_fetch && e.is_missing_model() && engine.can_fetch() {
                engine.fetch_starting();
                background.spawn(Arc::clone(&engine).fetch_and_load(cancel.clone()));
            } else {
                tracing::warn!(reason = %e, "embedding tools start degraded");
            }
        }
        Some(engine)
    } else {
        None
    };
    background.close();
    Ok(Builtins {
        analyzer,
        databases,
        embed,
        background,
        cancel,
        dependencies: Dependencies::default(),
    })
}

async fn close(databases: Option<&Databases>) {
    if let Some(databases) = databases {
        databases.close().await;
    }
}

impl Builtins {
    /// Guards every database read (`db:NAME`) with these dependency guards instead of
    /// default ones: the server's configured breakers, timeouts and retries.
    pub fn with_dependencies(mut self, dependencies: Dependencies) -> Self {
        self.dependencies = dependencies;
        self
    }

    /// The dependency guards the tools use.
    pub fn dependencies(&self) -> &Dependencies {
        &self.dependencies
    }

    /// The databases, when `query` is enabled (for health checks).
    pub fn databases(&self) -> Option<&Databases> {
        self.databases.as_ref()
    }

    /// The analyzer's own pools to the same databases, when `analyze` and `query` are both
    /// enabled (for metrics: they are connections to the same servers).
    pub fn analyze_databases(&self) -> Option<&Databases> {
        self.analyzer.as_ref().and_then(|a| a.databases())
    }

    /// The analysis pool's `(threads, capacity, in flight)`, when `analyze` is enabled.
    pub fn analyze_pool(&self) -> Option<(usize, usize, usize)> {
        self.analyzer.as_ref().map(|a| a.pool_load())
    }

    /// The embedding batcher's counters, once its model is loaded.
    pub fn embed_batcher(&self) -> Option<keel_embed::BatcherStats> {
        self.embed.as_ref().and_then(|engine| engine.stats())
    }

    /// The engines' state for a status page: the analysis pool's load, the databases, the
    /// embedding batcher's counters and what is degraded.
    pub fn status(&self) -> serde_json::Value {
        let databases: Vec<_> = self
            .databases
            .iter()
            .flat_map(Databases::iter)
            .map(|d| serde_json::json!({ "name": d.name(), "engine": d.engine() }))
            .collect();
        let embed = self.embed.as_ref().map(|engine| {
            let stats = engine.stats();
            serde_json::json!({
                "problem": engine.problem(),
                "batcher": stats.map(|s| serde_json::json!({
                    "queued_texts": s.queued_texts,
                    "waiting_texts": s.waiting_texts,
                    "running_batches": s.running_batches,
                    "batches": s.batches,
                    "embedded_texts": s.embedded_texts,
                    "skipped_texts": s.skipped_texts,
                })),
            })
        });
        serde_json::json!({
            "analyze": self.analyzer.as_ref().map(|a| a.pool_status()),
            "databases": databases,
            "embed": embed,
        })
    }

    /// Adds the enabled tools to `builder`, and with `query` the schema resources
    /// (`keel://databases`, `keel://db/{database}/tables`,
    /// `keel://db/{database}/tables/{table}`).
    pub fn register(&self, mut builder: RegistryBuilder) -> RegistryBuilder {
        if let Some(analyzer) = &self.analyzer {
            builder = builder.tool(analyzer.tool(&self.dependencies));
        }
        if let Some(databases) = &self.databases {
            builder = builder.tool(query_tool(databases, &self.dependencies));
            for resource in database_resources(databases) {
                builder = builder.resource(resource);
            }
            for template in database_templates(databases, &self.dependencies) {
                builder = builder.template(template);
            }
        }
        if let Some(engine) = &self.embed {
            for tool in embed::tools(engine) {
                builder = builder.tool(tool);
            }
        }
        builder
    }

    /// What cannot serve right now. Cheap (looks at files, loads nothing): suitable for a
    /// health endpoint.
    pub fn readiness(&self) -> Readiness {
        let degraded: Vec<String> = self
            .embed
            .as_ref()
            .and_then(|engine| engine.problem())
            .map(|problem| format!("embed, similarity, classify: {problem}"))
            .into_iter()
            .collect();
        Readiness {
            ready: degraded.is_empty(),
            degraded,
        }
    }
}

impl Builtins {
    /// Stops the background model download (waiting a bounded time for it to clean up)
    /// and closes the database pools: statements in flight finish, later queries fail. Call
    /// it on shutdown.
    pub async fn close(&self) {
        self.cancel.cancel();
        if tokio::time::timeout(BACKGROUND_STOP_WAIT, self.background.wait())
            .await
            .is_err()
        {
            tracing::warn!("the model download did not stop in time; leaving it behind");
        }
        if let Some(analyzer) = &self.analyzer {
            analyzer.close().await;
        }
        close(self.databases.as_ref()).await;
    }
}

impl std::fmt::Debug for Builtins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builtins")
            .field("analyze", &self.analyzer.is_some())
            .field("databases", &self.databases)
            .field("embed", &self.embed.is_some())
            .finish()
    }
}
