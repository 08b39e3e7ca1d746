//! Named databases and the query entry point.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::{DatabaseConfig, Engine, Limits};
use crate::error::{ConfigProblem, QueryError};
use crate::guard::{MAX_SQL_BYTES, VerdictCache};
use crate::output::{Fetched, QueryOutput};
use crate::params;
use crate::postgres::PgBackend;
use crate::schema::TableInfo;
use crate::sqlite::SqliteBackend;

/// The configured databases, by name, in configuration order.
#[derive(Clone, Default)]
pub struct Databases {
    databases: Vec<Database>,
}

impl Databases {
    /// Validates every configuration, then opens each database in order (creating and
    /// seeding missing SQLite files). Nothing is opened when any configuration is invalid;
    /// databases already opened are closed again when a later one fails to open.
    pub async fn connect(
        configs: impl IntoIterator<Item = DatabaseConfig>,
    ) -> Result<Self, QueryError> {
        let configs: Vec<DatabaseConfig> = configs.into_iter().collect();
        for (i, config) in configs.iter().enumerate() {
            config.engine()?;
            if configs[..i].iter().any(|c| c.name == config.name) {
                return Err(QueryError::InvalidConfig {
                    database: config.name.clone(),
                    problem: ConfigProblem::DuplicateName,
                });
            }
        }
        let mut databases = Vec::with_capacity(configs.len());
        for config in &configs {
            match Database::open(config).await {
                Ok(database) => databases.push(database),
                Err(error) => {
                    for database in &databases {
                        database.close().await;
                    }
                    return Err(error);
                }
            }
        }
        Ok(Self { databases })
    }

    /// The database called `name`, or [`QueryError::UnknownDatabase`] listing the names.
    pub fn get(&self, name: &str) -> Result<&Database, QueryError> {
        self.databases
            .iter()
            .find(|d| d.name() == name)
            .ok_or_else(|| QueryError::UnknownDatabase {
                name: name.to_owned(),
                available: self.names().map(str::to_owned).collect(),
            })
    }

    /// The first configured database: the one to use when a caller names none.
    pub fn default_database(&self) -> Option<&Database> {
        self.databases.first()
    }

    /// Database names in configuration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.databases.iter().map(Database::name)
    }

    /// The databases in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &Database> {
        self.databases.iter()
    }

    /// Number of databases.
    pub fn len(&self) -> usize {
        self.databases.len()
    }

    /// True when no database is configured.
    pub fn is_empty(&self) -> bool {
        self.databases.is_empty()
    }

    /// Closes every database; see [`Database::close`].
    pub async fn close(&self) {
        for database in &self.databases {
            database.close().await;
        }
    }
}

/// A connection pool's size and load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections it may open.
    pub max: u32,
    /// Connections open now, idle or leased.
    pub open: u32,
    /// Connections leased to a query now.
    pub in_use: u32,
}

/// One open database. Cloning is cheap and shares the connection pool.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    engine: Engine,
    limits: Limits,
    verdicts: VerdictCache,
    backend: Backend,
}

enum Backend {
    Sqlite(SqliteBackend),
    Postgres(PgBackend),
}

impl Database {
    /// Validates `config` and opens its pool (creating and seeding a missing SQLite file).
    pub async fn open(config: &DatabaseConfig) -> Result<Self, QueryError> {
        let engine = config.engine()?;
        let backend = match engine {
            Engine::Sqlite => Backend::Sqlite(SqliteBackend::open(config).await?),
            Engine::Postgres => Backend::Postgres(PgBackend::open(config).await?),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                name: config.name.clone(),
                engine,
                limits: config.limits(),
                verdicts: VerdictCache::new(engine),
                backend,
            }),
        })
    }

    /// The configured name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The engine behind this database.
    pub fn engine(&self) -> Engine {
        self.inner.engine
    }

    /// The longest a statement may run.
    pub fn statement_timeout(&self) -> Duration {
        self.inner.limits.statement_timeout
    }

    /// Rows returned when a call does not ask for a number.
    pub fn max_rows_default(&self) -> usize {
        self.inner.limits.max_rows_default
    }

    /// The most rows a call may ask for.
    pub fn max_rows_limit(&self) -> usize {
        self.inner.limits.max_rows_limit
    }

    /// Runs one read-only statement with bound parameters and returns at most `max_rows`
    /// rows (the configured default when `None`).
    ///
    /// Before the database sees anything the call checks the SQL length, that the text is
    /// exactly one read statement (a trailing `;` is fine), that the parameter values fit
    /// and match the placeholders (`$1…$n` for PostgreSQL; `?`, `?NNN` or `$N` for
    /// SQLite), and that `max_rows` is within the limit. The statement then runs on a
    /// read-only connection under the statement timeout. Rows are streamed and only
    /// `max_rows + 1` are read; `truncated` says whether the extra one existed.
    pub async fn query(
        &self,
        sql: &str,
        params: &[Value],
        max_rows: Option<usize>,
    ) -> Result<QueryOutput, QueryError> {
        let started = Instant::now();
        if sql.len() > MAX_SQL_BYTES {
            return Err(QueryError::SqlTooLong {
                bytes: sql.len(),
                limit: MAX_SQL_BYTES,
            });
        }
        let max_rows = self.inner.limits.max_rows(max_rows)?;
        let checked = self.inner.verdicts.check(sql)?;
        let params = params::convert(params)?;
        if checked.placeholders != params.len() {
            return Err(QueryError::ParameterCount {
                expected: checked.placeholders,
                given: params.len(),
            });
        }
        let Fetched {
            columns,
            rows,
            truncated,
        } = match &self.inner.backend {
            Backend::Sqlite(b) => b.query(checked.sql, params, max_rows).await?,
            Backend::Postgres(b) => {
                let reset = checked.may_change_session;
                b.query(checked.sql, params, max_rows, reset).await?
            }
        };
        Ok(QueryOutput {
            columns,
            row_count: rows.len(),
            rows,
            truncated,
            elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    /// Tables and views with their columns and row counts, ordered by schema and name.
    ///
    /// SQLite: from `sqlite_master` and `pragma_table_info`. PostgreSQL: every schema but
    /// the system ones, limited to relations the session may SELECT from.
    pub async fn schema(&self) -> Result<Vec<TableInfo>, QueryError> {
        match &self.inner.backend {
            Backend::Sqlite(b) => b.schema().await,
            Backend::Postgres(b) => b.schema().await,
        }
    }

    /// Its connection pool now.
    pub fn pool_stats(&self) -> PoolStats {
        match &self.inner.backend {
            Backend::Sqlite(b) => b.pool_stats(),
            Backend::Postgres(b) => b.pool_stats(),
        }
    }

    /// Stops handing out connections and closes idle ones; calls in flight finish, later
    /// calls fail with [`QueryError::Closed`].
    pub async fn close(&self) {
        match &self.inner.backend {
            Backend::Sqlite(b) => b.close().await,
            Backend::Postgres(b) => b.close().await,
        }
    }

    /// The SQLite backend, for tests that bypass the guard.
    #[cfg(test)]
    pub(crate) fn sqlite_backend(&self) -> Option<&SqliteBackend> {
        match &self.inner.backend {
            Backend::Sqlite(b) => Some(b),
            Backend::Postgres(_) => None,
        }
    }

    #[cfg(test)]
    pub(crate) fn postgres_backend(&self) -> Option<&PgBackend> {
        match &self.inner.backend {
            Backend::Postgres(b) => Some(b),
            Backend::Sqlite(_) => None,
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("name", &self.inner.name)
            .field("engine", &self.inner.engine)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Databases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.databases).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shareable<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn handles_are_shareable_across_tasks() {
        shareable::<Database>();
        shareable::<Databases>();
    }
}
