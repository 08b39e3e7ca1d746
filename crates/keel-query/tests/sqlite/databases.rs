//! Several databases, pools and closing.

use super::*;

#[tokio::test]
async fn concurrent_calls_share_a_small_pool() {
    let (_dir, db) = demo().await;
    let mut tasks = Vec::new();
    for i in 1..=40 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            db.query("SELECT id FROM customers WHERE id = ?", &[json!(i)], None)
                .await
        }));
    }
    for (i, task) in (1..=40).zip(tasks) {
        assert_eq!(task.await.unwrap().unwrap().rows, [[json!(i)]]);
    }
}

#[tokio::test]
async fn databases_are_named_validated_and_closable() {
    let dir = tempfile::tempdir().unwrap();
    let dbs = Databases::connect([config(&dir, "a.db"), config(&dir, "b.db")])
        .await
        .unwrap();
    assert_eq!(dbs.names().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(dbs.default_database().unwrap().name(), "a");
    assert_eq!(dbs.get("b").unwrap().name(), "b");
    let err = dbs.get("sales").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown database `sales`; configured databases: a, b"
    );

    let dup = Databases::connect([config(&dir, "a.db"), config(&dir, "a.db")])
        .await
        .unwrap_err();
    assert!(matches!(
        dup,
        QueryError::InvalidConfig {
            problem: ConfigProblem::DuplicateName,
            ..
        }
    ));
    let mysql = Databases::connect([DatabaseConfig::new("m", "mysql://localhost/db")])
        .await
        .unwrap_err();
    assert!(matches!(
        mysql,
        QueryError::InvalidConfig {
            problem: ConfigProblem::UnsupportedScheme { .. },
            ..
        }
    ));
    let memory = Database::open(&DatabaseConfig::new("m", "sqlite::memory:"))
        .await
        .unwrap_err();
    assert!(matches!(
        memory,
        QueryError::InvalidConfig {
            problem: ConfigProblem::InMemorySqlite,
            ..
        }
    ));

    let a = dbs.get("a").unwrap().clone();
    dbs.close().await;
    let err = a.query("SELECT 1", &[], None).await.unwrap_err();
    assert!(matches!(err, QueryError::Closed { .. }), "{err}");
}
