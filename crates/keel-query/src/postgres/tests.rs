//! What the PostgreSQL engine holds on its own, with the guard out of the way: every way
//! found to change a session from SQL, each followed by calls on the same (only) pooled
//! connection proving it is still read-only, still times out and still runs as its role.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::{Connection, PgConnection};

use self::support::PgServer;
use crate::{Database, DatabaseConfig, QueryError};

const TIMEOUT: Duration = Duration::from_millis(300);

async fn admin(server: &PgServer, sql: &str) {
    let mut conn = PgConnection::connect(&server.url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

async fn one_connection(server: &PgServer) -> Database {
    let mut config = DatabaseConfig::new("pg", server.url.clone());
    config.statement_timeout = TIMEOUT;
    config.max_connections = 1;
    Database::open(&config).await.unwrap()
}

async fn scalar(db: &Database, sql: &str) -> serde_json::Value {
    let backend = db.postgres_backend().unwrap();
    let out = backend
        .query_unguarded(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    out.rows[0][0].clone()
}

/// The session is as it was opened: read-only, with its timeout, its role and search path,
/// no advisory lock and no listener; a write fails and a long statement is cancelled.
async fn assert_pristine(db: &Database, after: &str) {
    let backend = db.postgres_backend().unwrap();
    for (sql, expected) in [
        ("SHOW default_transaction_read_only", json!("on")),
        ("SHOW transaction_read_only", json!("on")),
        ("SHOW statement_timeout", json!("300ms")),
        ("SHOW search_path", json!("\"$user\", public")),
        ("SELECT current_user::text", json!("postgres")),
        (
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'",
            json!(0),
        ),
        ("SELECT count(*) FROM pg_listening_channels()", json!(0)),
    ] {
        assert_eq!(scalar(db, sql).await, expected, "{sql} after {after}");
    }
    let err = backend
        .query_unguarded("SELECT nextval('ticket')")
        .await
        .unwrap_err();
    assert!(
        matches!(err, QueryError::ReadOnly { .. }),
        "after {after}: {err}"
    );
    let started = Instant::now();
    let err = backend
        .query_unguarded("SELECT pg_sleep(10)")
        .await
        .unwrap_err();
    assert!(
        matches!(err, QueryError::Timeout { .. }) && started.elapsed() < Duration::from_secs(3),
        "after {after}: {err} in {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn session_changes_do_not_outlive_the_call() {
    let server = PgServer::start();
    admin(
        &server,
        "CREATE SEQUENCE ticket; CREATE ROLE writer; CREATE SCHEMA evil;",
    )
    .await;
    let db = one_connection(&server).await;
    assert_pristine(&db, "opening").await;

    for attack in [
        r#"SELECT U&"\0073et_config"('default_transaction_read_only', 'off', false)"#,
        r#"SELECT U&"!0073et_config" UESCAPE '!' ('statement_timeout', '0', false)"#,
        "SELECT set_config('statement_timeout', '0', false)",
        "SELECT * FROM pg_catalog.set_config('default_transaction_read_only', 'off', false)",
        r#"SELECT "pg_catalog"."set_config"('search_path', 'evil', false)"#,
        "SELECT set_config('role', 'writer', false)",
        "SELECT query_to_xml('SELECT set_config(''default_transaction_read_only'', ''off'', false)', true, false, '')",
        "SET default_transaction_read_only = off",
        "SET SESSION statement_timeout = 0",
        "SET ROLE writer",
        "SET search_path = evil",
        "DO $$ BEGIN PERFORM set_config('default_transaction_read_only', 'off', false); END $$",
        "PREPARE sneak AS SELECT set_config('statement_timeout', '0', false)",
        "EXECUTE sneak",
        "SELECT pg_advisory_lock(42)",
        "LISTEN keel_channel",
    ] {
        // Each attack is run, and must have had its effect within its own call...
        db.postgres_backend()
            .unwrap()
            .query_unguarded(attack)
            .await
            .unwrap_or_else(|e| panic!("{attack}: {e}"));
        // ...and none after it.
        assert_pristine(&db, attack).await;
    }

    // The timeout holds even when the same statement switches it off before sleeping.
    let started = Instant::now();
    let err = db
        .postgres_backend()
        .unwrap()
        .query_unguarded("SELECT set_config('statement_timeout', '0', false), pg_sleep(10)")
        .await
        .unwrap_err();
    assert!(matches!(err, QueryError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_pristine(&db, "set_config then pg_sleep").await;
}

#[tokio::test]
async fn the_effect_is_real_within_the_call() {
    // Proof that the attacks above are not no-ops: in one statement, the change is visible.
    let server = PgServer::start();
    let db = one_connection(&server).await;
    let out = db
        .postgres_backend()
        .unwrap()
        .query_unguarded(
            "SELECT set_config('statement_timeout', '0', false), current_setting('statement_timeout')",
        )
        .await
        .unwrap();
    assert_eq!(out.rows[0], [json!("0"), json!("0")]);
    assert_eq!(scalar(&db, "SHOW statement_timeout").await, json!("300ms"));
}

#[tokio::test]
async fn guarded_spellings_are_refused_with_the_function_named() {
    let server = PgServer::start();
    let db = one_connection(&server).await;
    for sql in [
        r#"SELECT U&"\0073et_config"('default_transaction_read_only', 'off', false)"#,
        r#"SELECT u&"\+000073et_config"('statement_timeout', '0', false)"#,
        r#"SELECT * FROM "pg_catalog".U&"!0073et_config" UESCAPE '!' ('a', 'b', false)"#,
    ] {
        let err = db.query(sql, &[], None).await.unwrap_err();
        assert!(
            matches!(&err, QueryError::Rejected(crate::Rejection::Function { name, .. }) if name == "set_config"),
            "{sql}: {err}"
        );
    }
    assert_eq!(scalar(&db, "SHOW statement_timeout").await, json!("300ms"));
}

#[tokio::test]
async fn a_function_the_guard_does_not_know_costs_a_reset() {
    let server = PgServer::start();
    admin(
        &server,
        "CREATE SEQUENCE ticket;
         CREATE FUNCTION loosen() RETURNS text LANGUAGE sql
           AS $$ SELECT set_config('default_transaction_read_only', 'off', false)
                     || set_config('statement_timeout', '0', false) $$;",
    )
    .await;
    let db = one_connection(&server).await;
    for sql in [
        "SELECT loosen()",
        "SELECT * FROM public.loosen()",
        r#"SELECT U&"\006Coosen"()"#,
    ] {
        let out = db.query(sql, &[], None).await.unwrap();
        assert_eq!(out.rows[0], [json!("off0")], "{sql}");
        assert_pristine(&db, sql).await;
    }
}
