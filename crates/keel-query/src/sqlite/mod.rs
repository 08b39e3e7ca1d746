//! The SQLite backend: a read-only file behind [`pool::Pool`].
//!
//! Writes are refused four times over: the guard, `SQLITE_OPEN_READONLY`,
//! `PRAGMA query_only = ON` on every connection, and a commit hook that turns every
//! commit of a write transaction into a rollback (so even with `query_only` switched off,
//! nothing written to the temp schema or an attached database persists on a pooled
//! connection). Statement timeouts interrupt the running
//! statement through the connection's progress handler (see [`pool`]); should SQLite not
//! report the interrupt within [`TIMEOUT_GRACE`], the call returns
//! [`QueryError::Timeout`] anyway and closes that connection rather than reusing it.

mod decode;
mod pool;
mod schema;
#[cfg(test)]
mod tests;

use std::str::FromStr;

use futures_util::TryStreamExt as _;
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteConnectOptions, SqliteConnection};
use sqlx::{AssertSqlSafe, Executor as _, SqlSafeStr as _, Sqlite, Statement as _};

use self::decode::RowDecoder;
use self::pool::Pool;
use crate::config::{DatabaseConfig, Engine, Limits, STATEMENT_CACHE_CAPACITY, TIMEOUT_GRACE};
use crate::demo::seed_sqlite_file;
use crate::error::{ConfigProblem, QueryError};
use crate::output::Fetched;
use crate::params::Param;
use crate::schema::TableInfo;

pub(crate) struct SqliteBackend {
    pool: Pool,
    limits: Limits,
}

impl SqliteBackend {
    /// Creates and seeds the file when missing, then opens the read-only pool.
    pub(crate) async fn open(config: &DatabaseConfig) -> Result<Self, QueryError> {
        let invalid = |problem| QueryError::InvalidConfig {
            database: config.name.clone(),
            problem,
        };
        if config.url.contains(":memory:") || config.url.contains("mode=memory") {
            return Err(invalid(ConfigProblem::InMemorySqlite));
        }
        let options = SqliteConnectOptions::from_str(&config.url)
            .map_err(|e| invalid(ConfigProblem::MalformedUrl(e)))?;
        seed_sqlite_file(options.get_filename()).await?;
        let options = options
            .read_only(true)
            .create_if_missing(false)
            .pragma("query_only", "ON")
            .busy_timeout(config.statement_timeout)
            .statement_cache_capacity(STATEMENT_CACHE_CAPACITY)
            .thread_name(|id| format!("keel-sqlite-{id}"));
        let pool = Pool::open(&config.name, options, config.max_connections).await?;
        Ok(Self {
            pool,
            limits: config.limits(),
        })
    }

    pub(crate) async fn query(
        &self,
        sql: &str,
        params: Vec<Param>,
        max_rows: usize,
    ) -> Result<Fetched, QueryError> {
        let timeout = self.limits.statement_timeout;
        let mut lease = self.pool.acquire(timeout).await?;
        lease.arm(timeout);
        let result = tokio::time::timeout(
            timeout + TIMEOUT_GRACE,
            fetch(lease.conn(), sql, params, max_rows),
        )
        .await;
        match result {
            Ok(fetched) => {
                fetched.map_err(|e| QueryError::from_statement(e, Engine::Sqlite, timeout))
            }
            Err(_elapsed) => {
                lease.discard();
                Err(QueryError::Timeout { timeout })
            }
        }
    }

    pub(crate) async fn schema(&self) -> Result<Vec<TableInfo>, QueryError> {
        let timeout = self.limits.statement_timeout;
        let mut lease = self.pool.acquire(timeout).await?;
        schema::tables(&mut lease, timeout)
            .await
            .map_err(|e| QueryError::from_statement(e, Engine::Sqlite, timeout))
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool_stats(&self) -> crate::PoolStats {
        self.pool.stats()
    }

    /// A connection on loan, for tests that watch the pool.
    #[cfg(test)]
    pub(crate) async fn lease(&self) -> pool::Lease {
        self.pool
            .acquire(std::time::Duration::from_secs(5))
            .await
            .unwrap()
    }

    #[cfg(test)]
    pub(crate) fn connections_opened(&self) -> u64 {
        self.pool.connections_opened()
    }

    /// Runs `sql` without the guard, to show what the engine alone refuses.
    #[cfg(test)]
    pub(crate) async fn query_unguarded(&self, sql: &str) -> Result<Fetched, QueryError> {
        self.query(sql, Vec::new(), 10).await
    }
}

fn bind(
    query: Query<'_, Sqlite, SqliteArguments>,
    param: Param,
) -> Query<'_, Sqlite, SqliteArguments> {
    match param {
        Param::Null => query.bind(None::<i64>),
        Param::Bool(b) => query.bind(b),
        Param::Int(i) => query.bind(i),
        Param::Float(f) => query.bind(f),
        Param::Text(s) | Param::Json(s) => query.bind(s),
    }
}

/// Streams at most `max_rows + 1` rows; the extra one only sets `truncated`.
async fn fetch(
    conn: &mut SqliteConnection,
    sql: &str,
    params: Vec<Param>,
    max_rows: usize,
) -> Result<Fetched, sqlx::Error> {
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for param in params {
        query = bind(query, param);
    }
    let mut decoder: Option<RowDecoder> = None;
    let mut rows = Vec::new();
    let mut truncated = false;
    {
        let mut stream = query.fetch(&mut *conn);
        while let Some(row) = stream.try_next().await? {
            if rows.len() == max_rows {
                truncated = true;
                break;
            }
            let decoder = decoder.get_or_insert_with(|| RowDecoder::new(sqlx::Row::columns(&row)));
            rows.push(decoder.decode(&row)?);
        }
        // Dropping the stream makes the worker stop at its next row.
    }
    let columns = match decoder {
        Some(decoder) => decoder.into_columns(),
        None => decode::columns(
            conn.prepare(AssertSqlSafe(sql).into_sql_str())
                .await?
                .columns(),
        ),
    };
    Ok(Fetched {
        columns,
        rows,
        truncated,
    })
}
