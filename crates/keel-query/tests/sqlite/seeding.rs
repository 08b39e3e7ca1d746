//! Creating, seeding and describing SQLite files.

use super::*;

#[tokio::test]
async fn first_start_creates_and_seeds_the_demo_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(&dir, "shop.db");
    let db = Database::open(&config).await.unwrap();
    assert_eq!(db.engine(), Engine::Sqlite);
    let out = db
        .query(
            "SELECT (SELECT count(*) FROM customers) AS customers, \
                    (SELECT count(*) FROM products) AS products, \
                    (SELECT count(*) FROM orders) AS orders",
            &[],
            None,
        )
        .await
        .unwrap();
    assert_eq!(out.rows, [[json!(500), json!(120), json!(2000)]]);
    // The file now exists, so seeding again does nothing.
    assert!(!seed_demo_database(&config.url).await.unwrap());
    db.close().await;
    let again = Database::open(&config).await.unwrap();
    let out = again
        .query("SELECT count(*) FROM orders", &[], None)
        .await
        .unwrap();
    assert_eq!(out.rows, [[json!(2000)]]);
}

#[tokio::test]
async fn an_existing_database_is_opened_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.db");
    {
        use sqlx::{Connection, SqliteConnection};
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let mut conn = SqliteConnection::connect(&url).await.unwrap();
        sqlx::raw_sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, data BLOB, score REAL); \
                       INSERT INTO notes VALUES (1, 'hello', x'00ff10', 2.5), (2, 'line\nbreak', NULL, 1e999)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    let db = Database::open(&config(&dir, "mine.db")).await.unwrap();
    let schema = db.schema().await.unwrap();
    assert_eq!(schema.len(), 1);
    assert_eq!(schema[0].name, "notes");
    assert_eq!(schema[0].row_count, Some(2));

    let out = db
        .query("SELECT * FROM notes ORDER BY id", &[], None)
        .await
        .unwrap();
    let types: Vec<&str> = out.columns.iter().map(|c| c.type_name.as_str()).collect();
    assert_eq!(types, ["INTEGER", "TEXT", "BLOB", "REAL"]);
    assert_eq!(
        out.rows,
        [
            vec![json!(1), json!("hello"), json!("AP8Q"), json!(2.5)],
            vec![
                json!(2),
                json!("line\nbreak"),
                Value::Null,
                json!("Infinity")
            ],
        ]
    );
}

#[tokio::test]
async fn schema_lists_tables_views_columns_and_counts() {
    let (_dir, db) = demo().await;
    let schema = db.schema().await.unwrap();
    let names: Vec<&str> = schema.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "customer_totals",
            "customers",
            "order_items",
            "orders",
            "products"
        ]
    );
    let view = &schema[0];
    assert_eq!((view.kind, view.row_count), (TableKind::View, None));
    let customers = &schema[1];
    assert_eq!(customers.kind, TableKind::Table);
    assert_eq!(customers.row_count, Some(500));
    let id = &customers.columns[0];
    assert_eq!(
        (
            id.name.as_str(),
            id.type_name.as_str(),
            id.nullable,
            id.primary_key
        ),
        ("id", "INTEGER", false, true)
    );
    let vip = customers
        .columns
        .iter()
        .find(|c| c.name == "is_vip")
        .unwrap();
    assert_eq!(
        (vip.type_name.as_str(), vip.nullable, vip.primary_key),
        ("BOOLEAN", false, false)
    );
    assert_eq!(customers.qualified_name(), "\"customers\"");
    let json = serde_json::to_value(customers).unwrap();
    assert_eq!(json["columns"][0]["type"], "INTEGER");
}
