//! Tables, views and columns from the PostgreSQL catalogs.

use sqlx::AssertSqlSafe;
use sqlx::postgres::PgConnection;

use crate::schema::{ColumnInfo, TableInfo, TableKind};

/// Tables below this many estimated rows are counted exactly.
const EXACT_COUNT_BELOW: f64 = 100_000.0;

/// Every table and view the session may SELECT from, outside the system schemas.
///
/// `pg_catalog` rather than `information_schema`: it is much faster, `format_type`
/// gives declared types with modifiers (`numeric(10,2)`, `integer[]`), and
/// `has_table_privilege` keeps the same "only what you can read" rule.
const COLUMNS_SQL: &str = r"
SELECT n.nspname::text,
       c.relname::text,
       c.relkind::text,
       a.attname::text,
       format_type(a.atttypid, a.atttypmod),
       NOT a.attnotnull,
       coalesce(a.attnum = ANY (i.indkey), false),
       c.reltuples::float8
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
  AND n.nspname NOT LIKE 'pg\_temp\_%'
  AND has_table_privilege(c.oid, 'SELECT')
ORDER BY n.nspname, c.relname, a.attnum";

type ColumnRow = (String, String, String, String, String, bool, bool, f64);

pub(super) async fn tables(conn: &mut PgConnection) -> Result<Vec<TableInfo>, sqlx::Error> {
    let rows: Vec<ColumnRow> = sqlx::query_as(COLUMNS_SQL).fetch_all(&mut *conn).await?;
    let mut tables: Vec<(TableInfo, f64)> = Vec::new();
    for (schema, table, relkind, column, type_name, nullable, primary_key, estimate) in rows {
        let same = tables
            .last()
            .is_some_and(|(t, _)| t.name == table && t.schema.as_deref() == Some(schema.as_str()));
        if !same {
            let kind = if matches!(relkind.as_str(), "v" | "m") {
                TableKind::View
            } else {
                TableKind::Table
            };
            tables.push((
                TableInfo {
                    schema: Some(schema),
                    name: table,
                    kind,
                    columns: Vec::new(),
                    row_count: None,
                    row_count_estimated: false,
                },
                if relkind == "f" { f64::NAN } else { estimate },
            ));
        }
        if let Some((t, _)) = tables.last_mut() {
            t.columns.push(ColumnInfo {
                name: column,
                type_name,
                nullable,
                primary_key,
            });
        }
    }
    let mut out = Vec::with_capacity(tables.len());
    for (mut table, estimate) in tables {
        if table.kind == TableKind::Table && !estimate.is_nan() {
            if estimate >= EXACT_COUNT_BELOW {
                // reltuples is a whole number of rows well inside u64's range.
                table.row_count = Some(estimate as u64);
                table.row_count_estimated = true;
            } else {
                let sql = format!("SELECT count(*) FROM {}", table.qualified_name());
                let count: Result<i64, _> = sqlx::query_scalar(AssertSqlSafe(sql))
                    .persistent(false)
                    .fetch_one(&mut *conn)
                    .await;
                table.row_count = count.ok().and_then(|n| u64::try_from(n).ok());
            }
        }
        out.push(table);
    }
    Ok(out)
}
