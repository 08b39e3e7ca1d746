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
