//! Row limits, refused input and timeouts.

use super::*;

#[tokio::test]
async fn row_limits_truncate_explicitly() {
    let (_dir, db) = demo().await;
    let out = db
        .query("SELECT id FROM orders ORDER BY id", &[], Some(10))
        .await
        .unwrap();
    assert_eq!((out.row_count, out.truncated), (10, true));
    assert_eq!(out.rows.last().unwrap()[0], json!(10));

    let exact = db
        .query("SELECT id FROM orders LIMIT 10", &[], Some(10))
        .await
        .unwrap();
    assert_eq!((exact.row_count, exact.truncated), (10, false));

    let default = db
        .query("SELECT id FROM order_items", &[], None)
        .await
        .unwrap();
    assert_eq!(
        (default.row_count, default.truncated),
        (db.max_rows_default(), true)
    );

    let none = db
        .query("SELECT id, status FROM orders WHERE id < 0", &[], None)
        .await
        .unwrap();
    assert_eq!((none.row_count, none.truncated), (0, false));
    let names: Vec<&str> = none.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["id", "status"]);

    let zero = db
        .query("SELECT id FROM orders", &[], Some(0))
        .await
        .unwrap();
    assert_eq!(
        (zero.row_count, zero.truncated, zero.columns.len()),
        (0, true, 1)
    );

    let err = db
        .query("SELECT 1", &[], Some(db.max_rows_limit() + 1))
        .await
        .unwrap_err();
    assert!(matches!(err, QueryError::MaxRowsAboveLimit { .. }), "{err}");
}

#[tokio::test]
async fn bad_input_gets_typed_errors() {
    let (_dir, db) = demo().await;
    let cases: Vec<(&str, Vec<Value>)> = vec![
        ("SELECT id FROM orders WHERE", vec![]),
        ("SELECT * FROM no_such_table", vec![]),
    ];
    for (sql, params) in cases {
        let err = db.query(sql, &params, None).await.unwrap_err();
        assert!(
            matches!(err, QueryError::Sql { code: Some(_), .. }),
            "{sql}: {err}"
        );
    }
    let rejected = |err: QueryError| match err {
        QueryError::Rejected(r) => r,
        other => panic!("not a rejection: {other}"),
    };
    for sql in [
        "DELETE FROM orders",
        "INSERT INTO orders SELECT * FROM orders",
        "WITH x AS (SELECT 1) DELETE FROM orders",
        "ATTACH DATABASE '/tmp/other.db' AS other",
        "PRAGMA query_only = 0",
    ] {
        let r = rejected(db.query(sql, &[], None).await.unwrap_err());
        assert!(
            matches!(
                r,
                Rejection::NotReadOnly { .. }
                    | Rejection::WriteKeyword { .. }
                    | Rejection::Pragma { .. }
            ),
            "{sql}: {r}"
        );
    }
    let r = rejected(
        db.query("SELECT 1; DROP TABLE orders", &[], None)
            .await
            .unwrap_err(),
    );
    assert_eq!(r, Rejection::MultipleStatements);
    let r = rejected(
        db.query("SELECT 'unterminated", &[], None)
            .await
            .unwrap_err(),
    );
    assert!(matches!(r, Rejection::Unterminated(_)));
    let r = rejected(db.query("SELECT :id", &[json!(1)], None).await.unwrap_err());
    assert!(matches!(r, Rejection::NamedParameter { .. }));

    let err = db
        .query("SELECT ? + ?", &[json!(1)], None)
        .await
        .unwrap_err();
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
    let err = db.query("SELECT 1", &[json!(1)], None).await.unwrap_err();
    assert!(
        matches!(
            err,
            QueryError::ParameterCount {
                expected: 0,
                given: 1
            }
        ),
        "{err}"
    );
    let err = db
        .query("SELECT ?", &[json!(u64::MAX)], None)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        QueryError::InvalidParameter {
            position: 1,
            problem: ParameterProblem::IntegerOutOfRange(_)
        }
    ));
    let huge = json!("x".repeat(2 * 1024 * 1024));
    let err = db
        .query("SELECT length(?)", &[huge], None)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        QueryError::InvalidParameter {
            problem: ParameterProblem::TooLarge { .. },
            ..
        }
    ));
    let many = vec![json!(1); MAX_PARAMS + 1];
    let err = db.query("SELECT 1", &many, None).await.unwrap_err();
    assert!(matches!(err, QueryError::TooManyParameters { .. }));
    let long = format!("SELECT 1 -- {}", "x".repeat(MAX_SQL_BYTES));
    let err = db.query(&long, &[], None).await.unwrap_err();
    assert!(matches!(err, QueryError::SqlTooLong { .. }));
}

#[tokio::test]
async fn runaway_statements_are_interrupted_and_the_connection_reused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir, "slow.db");
    config.statement_timeout = Duration::from_millis(200);
    config.max_connections = 1;
    let db = Database::open(&config).await.unwrap();
    let forever =
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n";
    for _ in 0..2 {
        let err = db.query(forever, &[], None).await.unwrap_err();
        assert!(
            matches!(err, QueryError::Timeout { timeout } if timeout == config.statement_timeout),
            "{err}"
        );
        // The single connection is free again: the statement stopped rather than running on.
        let out = db
            .query("SELECT count(*) FROM products", &[], None)
            .await
            .unwrap();
        assert_eq!(out.rows, [[json!(120)]]);
    }
}
