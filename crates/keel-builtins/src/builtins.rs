//! The entry point: engines started from a [`BuiltinsConfig`], registered as tools.

use std::sync::Arc;

use keel_core::RegistryBuilder;
use keel_query::Databases;
use serde::Serialize;

use crate::analyze::Analyzer;
use crate::config::BuiltinsConfig;
use crate::embed::{self, EmbedEngine};
use crate::error::BuiltinsError;
use crate::query::{database_resources, database_templates, query_tool};

/// The started engines of the enabled built-in tools. Register them with
/// [`Builtins::register`]; keep the value to ask for [`Builtins::readiness`].
pub struct Builtins {
    analyzer: Option<Arc<Analyzer>>,
    databases: Option<Databases>,
    embed: Option<Arc<EmbedEngine>>,
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
/// creating a missing SQLite file with the demo data), the analysis pool, and the embedding
/// model (loaded now when its files are present; otherwise the tools start degraded and load
/// it on the first call after the files appear). Must run within a Tokio runtime.
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
        match Analyzer::new(&config.analyze, databases.clone()) {
            Ok(analyzer) => Some(Arc::new(analyzer)),
            Err(e) => {
                close(databases.as_ref()).await;
                return Err(e);
            }
        }
    } else {
        None
    };
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
            tracing::warn!(reason = %e, "embedding tools start degraded");
        }
        Some(engine)
    } else {
        None
    };
    Ok(Builtins {
        analyzer,
        databases,
        embed,
    })
}

async fn close(databases: Option<&Databases>) {
    if let Some(databases) = databases {
        databases.close().await;
    }
}

impl Builtins {
    /// Adds the enabled tools to `builder`, and with `query` the schema resources
    /// (`keel://databases`, `keel://db/{database}/tables`,
    /// `keel://db/{database}/tables/{table}`).
    pub fn register(&self, mut builder: RegistryBuilder) -> RegistryBuilder {
        if let Some(analyzer) = &self.analyzer {
            builder = builder.tool(analyzer.tool());
        }
        if let Some(databases) = &self.databases {
            builder = builder.tool(query_tool(databases));
            for resource in database_resources(databases) {
                builder = builder.resource(resource);
            }
            for template in database_templates(databases) {
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
    /// Closes the database pools: statements in flight finish, later queries fail. Call it
    /// on shutdown.
    pub async fn close(&self) {
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
