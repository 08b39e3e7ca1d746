//! Values, parameters and output formats.

use super::*;

#[tokio::test]
async fn values_follow_column_types() {
    let (_dir, db) = demo().await;
    let out = db
        .query(
            "SELECT id, first_name, email, signed_up_at, is_vip, 1.5 AS ratio, NULL AS missing, \
                    x'cafe' AS raw, id * 2 AS doubled \
             FROM customers WHERE id = ?",
            &[json!(1)],
            None,
        )
        .await
        .unwrap();
    let names: Vec<&str> = out.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "id",
            "first_name",
            "email",
            "signed_up_at",
            "is_vip",
            "ratio",
            "missing",
            "raw",
            "doubled"
        ]
    );
    let types: Vec<&str> = out.columns.iter().map(|c| c.type_name.as_str()).collect();
    assert_eq!(
        types,
        [
            "INTEGER", "TEXT", "TEXT", "DATETIME", "BOOLEAN", "REAL", "NULL", "BLOB", "INTEGER"
        ]
    );
    let row = &out.rows[0];
    assert_eq!(row[0], json!(1));
    assert!(row[2].as_str().unwrap().contains('@'));
    assert_eq!(row[3].as_str().unwrap().len(), "2023-01-01 00:00:00".len());
    assert!(row[4].is_boolean());
    assert_eq!(row[5], json!(1.5));
    assert_eq!(row[6], Value::Null);
    assert_eq!(row[7], json!("yv4="));
    assert_eq!(row[8], json!(2));
    assert_eq!((out.row_count, out.truncated), (1, false));
}

#[tokio::test]
async fn parameters_bind_by_json_type_in_every_placeholder_style() {
    let (_dir, db) = demo().await;
    let out = db
        .query(
            "SELECT ? IS NULL, ?, ?, ?, ?, json_extract(?, '$.a[1]')",
            &[
                json!(null),
                json!(true),
                json!(-42),
                json!(0.25),
                json!("ünïcode"),
                json!({"a": [1, 2]}),
            ],
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        out.rows,
        [[
            json!(1),
            json!(1),
            json!(-42),
            json!(0.25),
            json!("ünïcode"),
            json!(2)
        ]]
    );

    let numbered = db
        .query("SELECT ?2 - ?1, ?2", &[json!(1), json!(10)], None)
        .await
        .unwrap();
    assert_eq!(numbered.rows, [[json!(9), json!(10)]]);
    let dollar = db
        .query(
            "SELECT name FROM products WHERE id = $1 OR id = $1",
            &[json!(3)],
            None,
        )
        .await
        .unwrap();
    assert_eq!(dollar.row_count, 1);
}

#[tokio::test]
async fn output_serializes_with_a_schema_and_renders_as_text() {
    let (_dir, db) = demo().await;
    let out = db
        .query(
            "SELECT id, sku, price_cents FROM products ORDER BY id",
            &[],
            Some(3),
        )
        .await
        .unwrap();
    let json = serde_json::to_value(&out).unwrap();
    assert_eq!(
        json["columns"][1],
        json!({"name": "sku", "type_name": "TEXT"})
    );
    assert_eq!(json["row_count"], 3);
    assert_eq!(json["truncated"], true);

    let schema = serde_json::to_value(schemars::schema_for!(keel_query::QueryOutput)).unwrap();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        required,
        ["columns", "rows", "row_count", "truncated", "elapsed_ms"]
    );

    let table = render_table(&out, 60);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "id | sku      | price_cents");
    assert_eq!(lines.len(), 6);
    assert!(lines[5].starts_with("(3 rows; more rows exist"), "{table}");
}
