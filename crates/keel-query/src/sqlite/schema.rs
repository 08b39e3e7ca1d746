//! Tables, views and columns from `sqlite_master` and `pragma_table_info`.

use std::time::Duration;

use sqlx::AssertSqlSafe;

use super::pool::Lease;
use crate::schema::{ColumnInfo, TableInfo, TableKind};

const COLUMNS_SQL: &str = r"
SELECT m.name, m.type, p.name, p.type, p.[notnull], p.pk
FROM sqlite_master AS m
JOIN pragma_table_info(m.name) AS p
WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
ORDER BY m.name, p.cid";

type ColumnRow = (String, String, String, String, bool, i64);

/// Every user table and view with its columns; tables get an exact `count(*)`, each
/// under the statement timeout (a count that is interrupted is reported as unknown).
pub(super) async fn tables(
    lease: &mut Lease,
    timeout: Duration,
) -> Result<Vec<TableInfo>, sqlx::Error> {
    lease.arm(timeout);
    let rows: Vec<ColumnRow> = sqlx::query_as(COLUMNS_SQL)
        .fetch_all(&mut *lease.conn())
        .await?;
    let mut tables: Vec<TableInfo> = Vec::new();
    for (table, kind, column, declared, not_null, pk) in rows {
        if tables.last().is_none_or(|t| t.name != table) {
            tables.push(TableInfo {
                schema: None,
                name: table,
                kind: if kind == "view" {
                    TableKind::View
                } else {
                    TableKind::Table
                },
                columns: Vec::new(),
                row_count: None,
                row_count_estimated: false,
            });
        }
        // An INTEGER PRIMARY KEY is the rowid and never NULL; SQLite lets other key
        // columns hold NULL unless declared NOT NULL.
        let rowid = pk > 0 && declared.eq_ignore_ascii_case("INTEGER");
        if let Some(t) = tables.last_mut() {
            t.columns.push(ColumnInfo {
                name: column,
                type_name: declared,
                nullable: !not_null && !rowid,
                primary_key: pk > 0,
            });
        }
    }
    for table in tables.iter_mut().filter(|t| t.kind == TableKind::Table) {
        let sql = format!("SELECT count(*) FROM {}", table.qualified_name());
        lease.arm(timeout);
        let count: Result<i64, _> = sqlx::query_scalar(AssertSqlSafe(sql))
            .fetch_one(&mut *lease.conn())
            .await;
        table.row_count = count.ok().and_then(|n| u64::try_from(n).ok());
    }
    Ok(tables)
}
