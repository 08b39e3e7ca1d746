//! The query engine against a real PostgreSQL server that each test starts itself.
//!
//! Without PostgreSQL binaries these tests fail and say how to install them.

mod support;

use std::time::Duration;

use keel_query::{
    Database, DatabaseConfig, Databases, Engine, QueryError, Rejection, TableKind,
    seed_demo_database,
};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use support::PgServer;

fn config(server: &PgServer) -> DatabaseConfig {
    let mut config = DatabaseConfig::new("pg", server.url.clone());
    config.statement_timeout = Duration::from_secs(5);
    config
}

async fn admin(server: &PgServer, sql: &str) {
    let mut conn = PgConnection::connect(&server.url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

fn rejection(err: QueryError) -> Rejection {
    match err {
        QueryError::Rejected(r) => r,
        other => panic!("expected a rejection, got: {other}"),
    }
}

#[tokio::test]
async fn demo_data_matches_sqlite_and_values_follow_types() {
    let server = PgServer::start();
    assert!(seed_demo_database(&server.url).await.unwrap());
    assert!(!seed_demo_database(&server.url).await.unwrap());
    admin(&server, "CREATE TYPE mood AS ENUM ('sad', 'happy')").await;

    let dir = tempfile::tempdir().unwrap();
    let lite = DatabaseConfig::new(
        "lite",
        format!("sqlite://{}", dir.path().join("demo.db").display()),
    );
    let dbs = Databases::connect([config(&server), lite]).await.unwrap();
    let pg = dbs.get("pg").unwrap();
    assert_eq!(pg.engine(), Engine::Postgres);

    // The generated dataset is the same in both engines.
    let totals = "SELECT count(*), sum(total_cents), sum(length(email)) FROM orders JOIN customers c ON c.id = customer_id";
    let from_pg = pg.query(totals, &[], None).await.unwrap();
    let from_lite = dbs
        .get("lite")
        .unwrap()
        .query(totals, &[], None)
        .await
        .unwrap();
    assert_eq!(from_pg.rows[0][0], json!(2000));
    assert_eq!(from_pg.rows[0][1], from_lite.rows[0][1]);
    assert_eq!(from_pg.rows[0][2], from_lite.rows[0][2]);

    let out = pg
        .query(
            "SELECT id, email, signed_up_at, is_vip, country FROM customers WHERE id = $1",
            &[json!(7)],
            None,
        )
        .await
        .unwrap();
    let types: Vec<&str> = out.columns.iter().map(|c| c.type_name.as_str()).collect();
    assert_eq!(types, ["int4", "text", "timestamptz", "bool", "char"]);
    let row = &out.rows[0];
    assert_eq!(row[0], json!(7));
    assert!(row[2].as_str().unwrap().ends_with('Z'), "{row:?}");
    assert!(row[3].is_boolean());

    let out = pg
        .query(
            r#"SELECT 1::int2, 2::int4, 3::int8, 1.5::float4, 'NaN'::float8, 12.345::numeric(10,3),
                      -0.5::numeric, 'NaN'::numeric, true, 'x'::text, 'ab'::char(3),
                      '2024-02-29'::date, 'infinity'::date, '2024-02-29 13:14:15.5'::timestamp,
                      '2024-02-29 13:14:15+02'::timestamptz, '13:14:15'::time, '13:14:15+05:30'::timetz,
                      '1 year 2 mons 3 days 04:05:06'::interval,
                      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{"a": 1}'::json,
                      '{"b": [1, 2]}'::jsonb, '\xdeadbeef'::bytea, ARRAY[1, NULL, 3],
                      ARRAY[['a', 'b'], ['c', 'd']], '192.168.0.1/24'::inet, '10.0.0.0/8'::cidr,
                      '08:00:2b:01:02:03'::macaddr, 12.34::money, NULL::int, ROW(1, 'a'::text),
                      'happy'::mood, ARRAY['sad'::mood], 'fat & rat'::tsvector"#,
            &[],
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        out.rows[0],
        [
            json!(1),
            json!(2),
            json!(3),
            json!(1.5),
            json!("NaN"),
            json!("12.345"),
            json!("-0.5"),
            json!("NaN"),
            json!(true),
            json!("x"),
            json!("ab "),
            json!("2024-02-29"),
            json!("infinity"),
            json!("2024-02-29T13:14:15.5"),
            json!("2024-02-29T11:14:15Z"),
            json!("13:14:15"),
            json!("13:14:15+05:30"),
            json!("P1Y2M3DT4H5M6S"),
            json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            json!({"a": 1}),
            json!({"b": [1, 2]}),
            json!("3q2+7w=="),
            json!([1, null, 3]),
            json!([["a", "b"], ["c", "d"]]),
            json!("192.168.0.1/24"),
            json!("10.0.0.0/8"),
            json!("08:00:2b:01:02:03"),
            json!("12.34"),
            Value::Null,
            json!([1, "a"]),
            json!("happy"),
            json!(["sad"]),
            json!("<unsupported tsvector value>"),
        ]
    );
    let types: Vec<&str> = out.columns.iter().map(|c| c.type_name.as_str()).collect();
    assert_eq!(&types[..3], ["int2", "int4", "int8"]);
    assert!(
        types.contains(&"int4[]") && types.contains(&"mood"),
        "{types:?}"
    );
}

#[tokio::test]
async fn parameters_bind_by_json_type() {
    let server = PgServer::start();
    seed_demo_database(&server.url).await.unwrap();
    let db = Database::open(&config(&server)).await.unwrap();
    let out = db
        .query(
            "SELECT $1::int IS NULL, $2::text, $3 + 1, $4 * 2, $5::date + 1, $6 ->> 'k', $7 AND true",
            &[json!(null), json!("hi"), json!(41), json!(1.25), json!("2024-02-28"), json!({"k": "v"}), json!(true)],
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        out.rows,
        [[
            json!(true),
            json!("hi"),
            json!(42),
            json!(2.5),
            json!("2024-02-29"),
            json!("v"),
            json!(true)
        ]]
    );
    // An untyped NULL takes its type from the context.
    let none = db
        .query(
            "SELECT id FROM customers WHERE id = $1",
            &[Value::Null],
            None,
        )
        .await
        .unwrap();
    assert_eq!((none.row_count, none.columns[0].name.as_str()), (0, "id"));

    let err = db.query("SELECT $2", &[json!(1)], None).await.unwrap_err();
    assert!(
        matches!(
            err,
            QueryError::ParameterCount {
                expected: 2,
                given: 1
            }
        ),
        "{err}"
    );
    let err = db.query("SELECT FROM WHERE", &[], None).await.unwrap_err();
    assert!(
        matches!(&err, QueryError::Sql { code: Some(c), .. } if c == "42601"),
        "{err}"
    );
    let err = db
        .query("SELECT nope FROM customers", &[], None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, QueryError::Sql { code: Some(c), .. } if c == "42703"),
        "{err}"
    );
    let err = db
        .query("SELECT * FROM customers WHERE id = $1", &[json!("7")], None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, QueryError::Sql { code: Some(c), .. } if c == "42883"),
        "{err}"
    );
}

#[tokio::test]
async fn writes_are_refused_by_keel_and_by_the_server() {
    let server = PgServer::start();
    seed_demo_database(&server.url).await.unwrap();
    admin(
        &server,
        "CREATE SEQUENCE ticket; CREATE TABLE audit (x int);
         CREATE FUNCTION sneaky_write() RETURNS int LANGUAGE sql AS $$ INSERT INTO audit VALUES (1) RETURNING x $$;",
    )
    .await;
    let db = Database::open(&config(&server)).await.unwrap();

    for sql in [
        "DELETE FROM orders",
        "UPDATE products SET price_cents = 1",
        "INSERT INTO audit VALUES (2)",
        "WITH gone AS (DELETE FROM orders RETURNING id) SELECT count(*) FROM gone",
        "SET default_transaction_read_only = off",
        "SELECT set_config('default_transaction_read_only', 'off', false)",
        "SELECT * FROM customers FOR UPDATE",
        "EXPLAIN ANALYZE SELECT 1",
        "SELECT * INTO copy_of_orders FROM orders",
        "COPY orders TO STDOUT",
        "SELECT 1; DROP TABLE orders",
        "TRUNCATE audit",
    ] {
        rejection(db.query(sql, &[], None).await.unwrap_err());
    }

    // Writes hidden inside a SELECT pass the keyword check; the server refuses them.
    for sql in ["SELECT sneaky_write()", "SELECT nextval('ticket')"] {
        let err = db.query(sql, &[], None).await.unwrap_err();
        assert!(matches!(err, QueryError::ReadOnly { .. }), "{sql}: {err}");
    }
    let audit = PgConnection::connect(&server.url).await.unwrap();
    let mut audit = audit;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM audit")
        .fetch_one(&mut audit)
        .await
        .unwrap();
    assert_eq!(rows, 0);

    let settings = db
        .query("SHOW default_transaction_read_only", &[], None)
        .await
        .unwrap();
    assert_eq!(settings.rows, [[json!("on")]]);
    let plan = db
        .query("EXPLAIN SELECT * FROM orders WHERE id = 1", &[], None)
        .await
        .unwrap();
    assert!(plan.row_count >= 1);
}

#[tokio::test]
async fn timeouts_and_row_limits_keep_connections_usable() {
    let server = PgServer::start();
    let mut config = config(&server);
    config.statement_timeout = Duration::from_millis(300);
    config.max_connections = 1;
    let db = Database::open(&config).await.unwrap();

    let err = db.query("SELECT pg_sleep(5)", &[], None).await.unwrap_err();
    assert!(
        matches!(err, QueryError::Timeout { timeout } if timeout == config.statement_timeout),
        "{err}"
    );
    assert_eq!(
        db.query("SELECT 42", &[], None).await.unwrap().rows,
        [[json!(42)]]
    );

    let many = db
        .query("SELECT generate_series(1, 100000) AS n", &[], Some(5))
        .await
        .unwrap();
    assert_eq!((many.row_count, many.truncated), (5, true));
    assert_eq!(many.rows[4], [json!(5)]);
    // The single connection drained the rest and serves the next call.
    let exact = db
        .query("SELECT generate_series(1, 5) AS n", &[], Some(5))
        .await
        .unwrap();
    assert_eq!((exact.row_count, exact.truncated), (5, false));

    let empty = db
        .query("SELECT 1 AS a, 'x'::text AS b WHERE false", &[], None)
        .await
        .unwrap();
    let columns: Vec<(&str, &str)> = empty
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.type_name.as_str()))
        .collect();
    assert_eq!(columns, [("a", "int4"), ("b", "text")]);

    let err = db
        .query("SELECT 1", &[], Some(config.max_rows_limit + 1))
        .await
        .unwrap_err();
    assert!(matches!(err, QueryError::MaxRowsAboveLimit { .. }));
}

#[tokio::test]
async fn schema_covers_user_schemas_with_keys_and_counts() {
    let server = PgServer::start();
    seed_demo_database(&server.url).await.unwrap();
    admin(
        &server,
        r#"CREATE SCHEMA analytics;
           CREATE TABLE analytics."Daily Stats" (day date PRIMARY KEY, visits integer, ratio numeric(5,2));
           INSERT INTO analytics."Daily Stats" VALUES ('2024-01-01', 10, 0.5), ('2024-01-02', 12, NULL);"#,
    )
    .await;
    let db = Database::open(&config(&server)).await.unwrap();
    let schema = db.schema().await.unwrap();
    let names: Vec<String> = schema.iter().map(|t| t.qualified_name()).collect();
    assert_eq!(
        names,
        [
            r#""analytics"."Daily Stats""#,
            r#""public"."customer_totals""#,
            r#""public"."customers""#,
            r#""public"."order_items""#,
            r#""public"."orders""#,
            r#""public"."products""#,
        ]
    );
    let stats = &schema[0];
    assert_eq!(
        (stats.row_count, stats.row_count_estimated),
        (Some(2), false)
    );
    let cols: Vec<(&str, &str, bool, bool)> = stats
        .columns
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.type_name.as_str(),
                c.nullable,
                c.primary_key,
            )
        })
        .collect();
    assert_eq!(
        cols,
        [
            ("day", "date", false, true),
            ("visits", "integer", true, false),
            ("ratio", "numeric(5,2)", true, false)
        ]
    );
    assert_eq!(
        (schema[1].kind, schema[1].row_count),
        (TableKind::View, None)
    );
    let customers = &schema[2];
    assert_eq!(customers.row_count, Some(500));
    let signed_up = customers
        .columns
        .iter()
        .find(|c| c.name == "signed_up_at")
        .unwrap();
    assert_eq!(signed_up.type_name, "timestamp with time zone");
    let country = customers
        .columns
        .iter()
        .find(|c| c.name == "country")
        .unwrap();
    assert_eq!(country.type_name, "character(2)");
}
