//! The PostgreSQL backend: a sqlx pool whose sessions start read-only.
//!
//! Each connection is opened with `default_transaction_read_only=on`, the configured
//! `statement_timeout` and `standard_conforming_strings=on` as startup options, so they
//! cost no round trip and every statement runs in a read-only transaction that the
//! server refuses to write in (SQLSTATE 25006).
//!
//! A read-only transaction can still change its session: `set_config(…, false)` (under
//! any spelling, or inside a function) switches read-only mode or the timeout off for
//! every later statement on that connection. So after a statement that may have done
//! so, the connection is reset ([`RESET_SESSION`]) before it goes back to the pool:
//! startup options are the values `RESET ALL` returns to, and the rest of `DISCARD ALL`
//! but the prepared statements (sqlx's statement cache) goes with it. A connection whose
//! reset fails, or whose call is dropped before the reset ends, is closed instead.
//! "May have" is decided by the guard ([`crate::guard`]'s `session` module): any call
//! of a function it does not know to be a pure built-in. A reset costs a round trip and
//! halves the throughput of a point query (BENCHMARKS.md), so statements that call
//! nothing skip it; a view or operator that calls a session-changing function is the
//! schema owner's code and is not seen. For hostile SQL, connect as a role that only has
//! SELECT grants.
//!
//! The server cancels statements at the timeout (SQLSTATE 57014, mapped to
//! [`QueryError::Timeout`]); if no answer arrives within [`TIMEOUT_GRACE`] after that,
//! the call gives up and the connection is closed rather than returned to the pool.

mod binary;
mod decode;
mod params;
mod schema;
#[cfg(test)]
mod tests;

use std::str::FromStr;

use futures_util::TryStreamExt as _;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgColumn, PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{
    AssertSqlSafe, Column as _, Executor as _, Postgres, SqlSafeStr as _, Statement as _,
    TypeInfo as _,
};

use self::decode::RowDecoder;
use crate::config::{DatabaseConfig, Engine, Limits, STATEMENT_CACHE_CAPACITY, TIMEOUT_GRACE};
use crate::error::{ConfigProblem, QueryError};
use crate::output::{Column, Fetched};
use crate::params::Param;
use crate::schema::TableInfo;

/// Returns a session to the state it was opened in: `DISCARD ALL` without
/// `DEALLOCATE ALL` / `DISCARD PLANS` / `DISCARD SEQUENCES` (prepared statements are
/// sqlx's cache; sequences cannot advance in a read-only transaction).
pub(crate) const RESET_SESSION: &str = "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; \
     UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD TEMP";

pub(crate) struct PgBackend {
    name: String,
    pool: PgPool,
    limits: Limits,
}

impl PgBackend {
    pub(crate) async fn open(config: &DatabaseConfig) -> Result<Self, QueryError> {
        let options = PgConnectOptions::from_str(&config.url)
            .map_err(|e| QueryError::InvalidConfig {
                database: config.name.clone(),
                problem: ConfigProblem::MalformedUrl(e),
            })?
            .application_name("keel-query")
            .statement_cache_capacity(STATEMENT_CACHE_CAPACITY)
            // Appended after any options in the URL, so these win.
            .options([
                ("default_transaction_read_only", "on".to_owned()),
                (
                    "statement_timeout",
                    format!("{}ms", config.statement_timeout.as_millis().max(1)),
                ),
                ("standard_conforming_strings", "on".to_owned()),
            ]);
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .min_connections(0)
            .acquire_timeout(config.statement_timeout)
            // A ping per checkout would double the round trips; broken connections are
            // closed when a statement fails on them instead.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(|source| QueryError::Connect {
                database: config.name.clone(),
                source,
            })?;
        Ok(Self {
            name: config.name.clone(),
            pool,
            limits: config.limits(),
        })
    }

    async fn acquire(&self) -> Result<PoolConnection<Postgres>, QueryError> {
        self.pool.acquire().await.map_err(|e| match e {
            sqlx::Error::PoolTimedOut => QueryError::Busy {
                database: self.name.clone(),
                waited: self.limits.statement_timeout,
            },
            sqlx::Error::PoolClosed => QueryError::Closed {
                database: self.name.clone(),
            },
            source => QueryError::Connect {
                database: self.name.clone(),
                source,
            },
        })
    }

    pub(crate) async fn query(
        &self,
        sql: &str,
        params: Vec<Param>,
        max_rows: usize,
        reset: bool,
    ) -> Result<Fetched, QueryError> {
        let timeout = self.limits.statement_timeout;
        let mut conn = Returned {
            conn: self.acquire().await?,
            clean: !reset,
        };
        let result = tokio::time::timeout(
            timeout + TIMEOUT_GRACE,
            fetch(&mut conn.conn, sql, params, max_rows),
        )
        .await;
        if result.is_ok() && reset {
            conn.reset().await;
        }
        match result {
            Ok(Ok(fetched)) => Ok(fetched),
            Ok(Err(error)) => {
                if is_connection_failure(&error) {
                    conn.conn.close_on_drop();
                }
                Err(QueryError::from_statement(error, Engine::Postgres, timeout))
            }
            Err(_elapsed) => {
                conn.conn.close_on_drop();
                Err(QueryError::Timeout { timeout })
            }
        }
    }

    pub(crate) async fn schema(&self) -> Result<Vec<TableInfo>, QueryError> {
        let timeout = self.limits.statement_timeout;
        let mut conn = self.acquire().await?;
        schema::tables(&mut conn).await.map_err(|error| {
            if is_connection_failure(&error) {
                conn.close_on_drop();
            }
            QueryError::from_statement(error, Engine::Postgres, timeout)
        })
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool_stats(&self) -> crate::PoolStats {
        let open = self.pool.size();
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        crate::PoolStats {
            max: self.pool.options().get_max_connections(),
            open,
            in_use: open.saturating_sub(idle),
        }
    }

    /// Runs `sql` without the guard (but with the reset), to show what the engine holds.
    #[cfg(test)]
    pub(crate) async fn query_unguarded(&self, sql: &str) -> Result<Fetched, QueryError> {
        self.query(sql, Vec::new(), 10, true).await
    }
}

/// A pooled connection on its way back to the pool: closed instead of returned unless it
/// is known clean (nothing ran that may have changed its session, or the reset ran).
struct Returned {
    conn: PoolConnection<Postgres>,
    clean: bool,
}

impl Returned {
    /// Runs [`RESET_SESSION`]; on failure the connection stays unclean and is closed.
    async fn reset(&mut self) {
        // A failed reset needs no report of its own: the connection is closed and the next
        // call opens a fresh one.
        self.clean = sqlx::raw_sql(RESET_SESSION)
            .execute(&mut *self.conn)
            .await
            .is_ok();
    }
}

impl Drop for Returned {
    fn drop(&mut self) {
        if !self.clean {
            self.conn.close_on_drop();
        }
    }
}

fn is_connection_failure(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed
    )
}

/// Column names and lower-case type names (`int4`, `timestamptz`, `text[]`).
fn columns(columns: &[PgColumn]) -> Vec<Column> {
    columns
        .iter()
        .map(|c| Column {
            name: c.name().to_owned(),
            type_name: c.type_info().name().to_ascii_lowercase(),
        })
        .collect()
}

/// Streams at most `max_rows + 1` rows; the extra one only sets `truncated`. Rows the
/// server already sent past that are read and dropped by sqlx before the connection's
/// next statement.
async fn fetch(
    conn: &mut PoolConnection<Postgres>,
    sql: &str,
    params: Vec<Param>,
    max_rows: usize,
) -> Result<Fetched, sqlx::Error> {
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for param in params {
        query = params::bind(query, param);
    }
    let mut decoder: Option<RowDecoder> = None;
    let mut rows = Vec::new();
    let mut truncated = false;
    {
        let mut stream = query.fetch(&mut **conn);
        while let Some(row) = stream.try_next().await? {
            if rows.len() == max_rows {
                truncated = true;
                break;
            }
            let decoder = decoder.get_or_insert_with(|| RowDecoder::new(sqlx::Row::columns(&row)));
            rows.push(decoder.decode(&row)?);
        }
    }
    let columns = match decoder {
        Some(decoder) => decoder.into_columns(),
        // The statement was just prepared and cached, so this is a cache hit.
        None => columns(
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
