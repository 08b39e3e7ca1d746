//! The demo retail database: customers, products, orders and order items.
//!
//! A SQLite URL whose file does not exist gets the dataset when its database opens. The
//! file is built under a temporary name in one transaction and renamed into place, so a
//! crash never leaves a half-seeded database behind. PostgreSQL databases are seeded
//! only on request, through [`seed_demo_database`].

mod catalog;
mod data;
mod sql;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection, SqliteConnection};

use crate::config::{DatabaseConfig, Engine};
use crate::error::{QueryError, SeedFailure};

/// Creates the demo tables and rows in the database at `url` unless they are there.
///
/// SQLite: when the file does not exist it is created and seeded; an existing file is
/// left alone. PostgreSQL: when `public.customers` does not exist the tables, a view and
/// the rows are created in one transaction (serialized with an advisory lock), then
/// analyzed; otherwise nothing happens. Returns whether data was written.
pub async fn seed_demo_database(url: &str) -> Result<bool, QueryError> {
    let config = DatabaseConfig::new("demo", url);
    match config.engine()? {
        Engine::Sqlite => {
            let options =
                SqliteConnectOptions::from_str(url).map_err(|e| QueryError::InvalidConfig {
                    database: config.name.clone(),
                    problem: crate::error::ConfigProblem::MalformedUrl(e),
                })?;
            seed_sqlite_file(options.get_filename()).await
        }
        Engine::Postgres => seed_postgres(url).await.map_err(|source| QueryError::Seed {
            target: config.redacted_url(),
            source: source.into(),
        }),
    }
}

/// Seeds a new SQLite file at `path`; does nothing when the file exists.
pub(crate) async fn seed_sqlite_file(path: &Path) -> Result<bool, QueryError> {
    let fail = |source: SeedFailure| QueryError::Seed {
        target: path.display().to_string(),
        source,
    };
    if path.exists() {
        return Ok(false);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| fail(e.into()))?;
    }
    let staging = staging_path(path);
    remove_if_present(&staging).map_err(|e| fail(e.into()))?;
    if let Err(e) = build_sqlite(&staging).await {
        let _ = remove_if_present(&staging);
        return Err(fail(e.into()));
    }
    if path.exists() {
        // Another process finished first; its file holds the same rows.
        let _ = remove_if_present(&staging);
        return Ok(false);
    }
    std::fs::rename(&staging, path).map_err(|e| fail(e.into()))?;
    Ok(true)
}

fn staging_path(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(
        || "keel-demo.db".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    path.with_file_name(format!(".{name}.seeding-{}", std::process::id()))
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

async fn build_sqlite(path: &Path) -> Result<(), sqlx::Error> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    let mut conn = SqliteConnection::connect_with(&options).await?;
    let mut tx = conn.begin().await?;
    sqlx::raw_sql(AssertSqlSafe(sql::schema(Engine::Sqlite)))
        .execute(&mut *tx)
        .await?;
    for statement in sql::inserts(&data::generate(), Engine::Sqlite) {
        sqlx::raw_sql(AssertSqlSafe(statement))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    sqlx::raw_sql("ANALYZE").execute(&mut conn).await?;
    conn.close().await
}

async fn seed_postgres(url: &str) -> Result<bool, sqlx::Error> {
    let mut conn = PgConnection::connect(url).await?;
    let mut tx = conn.begin().await?;
    // Two processes seeding at once would otherwise race on CREATE TABLE.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('keel-query demo seed'))")
        .execute(&mut *tx)
        .await?;
    let missing: bool = sqlx::query_scalar("SELECT to_regclass('public.customers') IS NULL")
        .fetch_one(&mut *tx)
        .await?;
    if !missing {
        tx.rollback().await?;
        conn.close().await?;
        return Ok(false);
    }
    sqlx::raw_sql(AssertSqlSafe(sql::schema(Engine::Postgres)))
        .execute(&mut *tx)
        .await?;
    for statement in sql::inserts(&data::generate(), Engine::Postgres) {
        sqlx::raw_sql(AssertSqlSafe(statement))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    sqlx::raw_sql("ANALYZE customers, products, orders, order_items")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn seeds_a_new_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/demo.db");
        assert!(seed_sqlite_file(&path).await.unwrap());
        assert!(!seed_sqlite_file(&path).await.unwrap());
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["demo.db"]);

        let mut conn = SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&path))
            .await
            .unwrap();
        let counts: (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM products),
                    (SELECT count(*) FROM orders), (SELECT count(*) FROM order_items)",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!((counts.0, counts.1, counts.2), (500, 120, 2_000));
        assert!(counts.3 > 4_000);
    }
}
