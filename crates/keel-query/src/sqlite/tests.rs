//! Engine-level checks that need the backend without the guard in front of it.

use std::time::Duration;

use crate::{Database, DatabaseConfig, QueryError};

async fn demo(dir: &tempfile::TempDir) -> Database {
    let mut config = DatabaseConfig::new(
        "demo",
        format!("sqlite://{}", dir.path().join("demo.db").display()),
    );
    config.max_connections = 1;
    config.statement_timeout = Duration::from_secs(10);
    Database::open(&config).await.unwrap()
}

#[tokio::test]
async fn the_engine_refuses_writes_that_skip_the_guard() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo(&dir).await;
    let backend = db.sqlite_backend().unwrap();
    for sql in [
        "INSERT INTO customers (id, first_name, last_name, email, city, country, signed_up_at) \
         VALUES (9999, 'Eve', 'Mallory', 'eve@example.com', 'Nowhere', 'XX', '2024-01-01')",
        "UPDATE products SET price_cents = 1",
        "DELETE FROM order_items",
        "CREATE TABLE notes (body TEXT)",
        "DROP VIEW customer_totals",
    ] {
        let err = backend.query_unguarded(sql).await.unwrap_err();
        assert!(matches!(err, QueryError::ReadOnly { .. }), "{sql}: {err}");
    }
    // Even with query_only switched off on the (only) connection, the file is open read-only.
    backend
        .query_unguarded("PRAGMA query_only = OFF")
        .await
        .unwrap();
    let err = backend
        .query_unguarded("DELETE FROM orders")
        .await
        .unwrap_err();
    assert!(matches!(err, QueryError::ReadOnly { .. }), "{err}");

    let rows = db
        .query("SELECT count(*) FROM orders", &[], None)
        .await
        .unwrap();
    assert_eq!(rows.rows, [[serde_json::json!(2000)]]);
}

#[tokio::test]
async fn timeouts_interrupt_the_statement_instead_of_dropping_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = DatabaseConfig::new(
        "slow",
        format!("sqlite://{}", dir.path().join("slow.db").display()),
    );
    config.max_connections = 1;
    config.statement_timeout = Duration::from_millis(100);
    let db = Database::open(&config).await.unwrap();
    let forever =
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n";
    for _ in 0..3 {
        let err = db.query(forever, &[], None).await.unwrap_err();
        assert!(matches!(err, QueryError::Timeout { .. }), "{err}");
    }
    db.query("SELECT 1", &[], None).await.unwrap();
    // SQLite reported SQLITE_INTERRUPT each time, so the first connection was never replaced.
    assert_eq!(db.sqlite_backend().unwrap().connections_opened(), 1);
}

/// The connection is as it was opened: `query_only` on, writes refused, the statement
/// timeout still interrupting a runaway query.
async fn assert_pristine(db: &Database, after: &str) {
    let backend = db.sqlite_backend().unwrap();
    let only = db.query("PRAGMA query_only", &[], None).await.unwrap();
    assert_eq!(only.rows, [[serde_json::json!(1)]], "after {after}");
    let err = backend
        .query_unguarded("DELETE FROM order_items")
        .await
        .unwrap_err();
    assert!(
        matches!(err, QueryError::ReadOnly { .. }),
        "after {after}: {err}"
    );
    let forever =
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n";
    let err = db.query(forever, &[], None).await.unwrap_err();
    assert!(
        matches!(err, QueryError::Timeout { .. }),
        "after {after}: {err}"
    );
}

async fn one_connection(dir: &tempfile::TempDir) -> Database {
    let mut config = DatabaseConfig::new(
        "demo",
        format!("sqlite://{}", dir.path().join("demo.db").display()),
    );
    config.max_connections = 1;
    config.statement_timeout = Duration::from_millis(200);
    Database::open(&config).await.unwrap()
}

#[tokio::test]
async fn guarded_session_changes_are_refused_and_leave_the_connection_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = one_connection(&dir).await;
    assert_pristine(&db, "opening").await;
    for attack in [
        "PRAGMA query_only = OFF",
        "PRAGMA query_only(0)",
        "pragma main.query_only = false",
        "PRAGMA temp.query_only = 0",
        "PRAGMA writable_schema = ON",
        "ATTACH DATABASE ':memory:' AS scratch",
        "ATTACH 'file:other.db?mode=rwc' AS other",
        "DETACH DATABASE main",
        "SELECT load_extension('/tmp/evil.so')",
        "VACUUM INTO '/tmp/copy.db'",
        "CREATE TEMP TABLE notes (body TEXT)",
        "WITH x AS (SELECT 1) INSERT INTO temp.notes SELECT * FROM x",
        "REPLACE INTO customers (id) VALUES (1)",
        "BEGIN IMMEDIATE",
    ] {
        let err = db.query(attack, &[], None).await.unwrap_err();
        assert!(matches!(err, QueryError::Rejected(_)), "{attack}: {err}");
        assert_pristine(&db, attack).await;
    }
    assert!(!dir.path().join("other.db").exists());
}

#[tokio::test]
async fn nothing_written_persists_even_with_query_only_off() {
    let dir = tempfile::tempdir().unwrap();
    let db = one_connection(&dir).await;
    let backend = db.sqlite_backend().unwrap();
    backend
        .query_unguarded("PRAGMA query_only = OFF")
        .await
        .unwrap();
    // The temp schema and an attached in-memory database are writable storage; the commit
    // hook rolls every write back.
    for write in [
        "CREATE TEMP TABLE notes (body TEXT)",
        "ATTACH DATABASE ':memory:' AS scratch",
        "CREATE TABLE scratch.notes (body TEXT)",
    ] {
        match backend.query_unguarded(write).await {
            Err(QueryError::ReadOnly { .. }) => {}
            // ATTACH itself writes nothing.
            Ok(_) if write.starts_with("ATTACH") => {}
            other => panic!("{write}: {other:?}"),
        }
    }
    let tables = backend
        .query_unguarded(
            "SELECT count(*) FROM temp.sqlite_master UNION ALL SELECT count(*) FROM scratch.sqlite_master",
        )
        .await
        .unwrap();
    assert_eq!(
        tables.rows,
        [[serde_json::json!(0)], [serde_json::json!(0)]]
    );
    // Functions that would write or load code are not there.
    for call in [
        "SELECT load_extension('/tmp/evil.so')",
        "SELECT writefile('/tmp/x', 'y')",
    ] {
        let err = backend.query_unguarded(call).await.unwrap_err();
        assert!(matches!(err, QueryError::Sql { .. }), "{call}: {err}");
    }
    let rows = db
        .query("SELECT count(*) FROM orders", &[], None)
        .await
        .unwrap();
    assert_eq!(rows.rows, [[serde_json::json!(2000)]]);
}

#[tokio::test]
async fn pool_stats_follow_leases_and_closed_connections() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = DatabaseConfig::new(
        "stats",
        format!("sqlite://{}", dir.path().join("stats.db").display()),
    );
    config.max_connections = 3;
    let db = Database::open(&config).await.unwrap();
    let stats = |open, in_use| crate::PoolStats {
        max: 3,
        open,
        in_use,
    };
    assert_eq!(db.pool_stats(), stats(1, 0));
    let backend = db.sqlite_backend().unwrap();
    let first = backend.lease().await;
    let second = backend.lease().await;
    assert_eq!(db.pool_stats(), stats(2, 2));
    drop(first);
    assert_eq!(db.pool_stats(), stats(2, 1));
    second.discard();
    assert_eq!(db.pool_stats(), stats(1, 0));
    db.close().await;
    assert_eq!(db.pool_stats(), stats(0, 0));
}
